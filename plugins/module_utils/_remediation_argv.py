# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rewrite app server options on a unit's live ``ExecStart`` argv (target side, standard library only).

Only gunicorn and uvicorn, with their own option names - taken from the apps specs
(``_apps_kinds``, the one table of every server's spellings), which follow gunicorn 23 ``config.py``
(``-b/--bind`` repeatable, ``-t/--timeout``, ``--keep-alive``, ``-w/--workers``, ``-m/--umask``,
``--backlog``) and uvicorn 0.34 ``main.py`` (``--host``/``--port`` or ``--uds`` or ``--fd``,
``--timeout-keep-alive``, ``--workers``, ``--backlog``). Every occurrence of an option being set is removed - ``--bind X``,
``--bind=X``, ``-b X``, ``-bX`` - and the new value is written where the first one was (else right
after the program and its wrapper), as ``--long-name value``.

gunicorn reads ``--umask`` with ``int(value, 0)`` after turning a leading ``0`` into ``0o``: ``007`` is
octal, ``22`` is decimal 22. Umasks are therefore always written with a leading zero (``0007``).
uvicorn has no umask (it makes its unix socket 0666 itself) and no worker timeout: asking for them is
an error that says so, as is an ``ExecStart`` that runs the server through a shell (``sh -c``).
"""

from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.module_utils import _apps_kinds, _endpoints
from ansible_collections.badgateway.doctor.plugins.module_utils._apps_cmdline import detect_kind

OPTIONS = ("bind", "timeout", "keep_alive", "workers", "umask", "backlog")
# our option name -> the fact key of the apps specs (``_apps_kinds``), the one table of each server's spellings
_SPEC_KEYS = {"bind": ("bind",), "timeout": ("timeout",), "keep_alive": ("keepalive",), "workers": ("workers",),
              "umask": ("umask",), "backlog": ("backlog",)}
_UVICORN_BIND_KEYS = ("host", "port", "uds", "fd")


def spellings(kind, name):
    """``(long flag written, every spelling removed)`` of option ``name`` for ``kind``, from the apps specs;
    None when the server has no such option."""
    spec = _apps_kinds.get(kind)
    keys = _UVICORN_BIND_KEYS if (kind, name) == ("uvicorn", "bind") else _SPEC_KEYS[name]
    flags = [flag for opt in spec.options if opt.key in keys for flag in opt.flags]
    if not flags:
        return None
    long_flags = [f for f in flags if f.startswith("--")]
    return (long_flags[0] if long_flags else flags[0]), tuple(flags)


UNSUPPORTED = {
    ("uvicorn", "timeout"): "uvicorn has no worker timeout (only --timeout-keep-alive and --timeout-graceful-shutdown)",
    ("uvicorn", "umask"): "uvicorn makes its unix socket mode 0666 itself; restrict the socket's directory instead "
                          "(RuntimeDirectoryMode and the group)",
}


class ArgvError(ValueError):
    """The options cannot be applied; the message says why."""


# ---------------------------------------------------------------- values

def _positive_int(name, value, minimum=1):
    if isinstance(value, bool):
        raise ArgvError("%s must be a whole number, got %r." % (name, value))
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ArgvError("%s must be a whole number, got %r." % (name, value)) from None
    if isinstance(value, float) and value != number:
        raise ArgvError("%s must be a whole number of seconds, got %r." % (name, value))
    if number < minimum:
        raise ArgvError("%s must be at least %d, got %r." % (name, minimum, value))
    return number


def umask_value(value):
    """A umask as int from ``"007"``, ``"0o007"``, ``"0007"`` (octal text) or an int (YAML reads 007 as 7)."""
    if isinstance(value, bool):
        raise ArgvError("umask must be octal digits such as \"007\", got %r." % (value,))
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip().lower()
        text = text[2:] if text.startswith("0o") else text
        if not text or any(c not in "01234567" for c in text):
            raise ArgvError("umask must be octal digits such as \"007\", got %r." % (value,))
        number = int(text, 8)
    if not 0 <= number <= 0o777:
        raise ArgvError("umask must be between 000 and 777 (octal), got %r." % (value,))
    if not number & 0o002:
        raise ArgvError("umask %04o would let every user write the unix socket (o+w); use 007 or 077." % number)
    return number


def _binds(value):
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ArgvError("bind %r is empty; use unix:/path, host:port or [v6]:port." % (item,))
        text = item.strip()
        try:
            if text.startswith("unix:"):
                out.append(("unix", _endpoints.unix(text[5:])["path"]))
                continue
            host, port = _endpoints.parse_host_port(text)
        except ValueError as exc:
            raise ArgvError("bind %r is not valid: %s." % (item, exc)) from None
        if port is None:
            raise ArgvError("bind %r has no port; use host:port or [v6]:port." % (item,))
        out.append(("tcp", (host, port)))
    if not out:
        raise ArgvError("bind needs at least one address.")
    return out


def normalize_options(options):
    """Check the requested options; returns ``{name: value}`` with values in canonical form."""
    if not isinstance(options, dict):
        raise ArgvError("exec_options must be a dict, got %r." % (options,))
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ArgvError("exec_options has unknown keys %s; known: %s." % (", ".join(unknown), ", ".join(OPTIONS)))
    out = {}
    for name, value in options.items():
        if value is None:
            continue
        if name == "bind":
            out[name] = _binds(value)
        elif name == "umask":
            out[name] = umask_value(value)
        elif name == "workers":
            out[name] = _positive_int(name, value)
        else:
            out[name] = _positive_int(name, value)
    return out


# ---------------------------------------------------------------- argv

def split_server(argv):
    """``(kind, start)``: the app server kind and the index of its first argument in ``argv``."""
    kind, args = detect_kind(list(argv))
    if kind not in ("gunicorn", "uvicorn"):
        if kind:
            raise ArgvError("ExecStart runs %s; only gunicorn and uvicorn options can be changed." % kind)
        raise ArgvError("ExecStart does not run gunicorn or uvicorn (%s)." % (argv[0] if argv else "empty"))
    start = len(argv) - len(args)
    if start < 1 or list(argv[start:]) != list(args):
        raise ArgvError("ExecStart runs %s through a shell (sh -c ...); change its options by hand." % kind)
    return kind, start


def _matches(token, spellings):
    """Does ``token`` set one of ``spellings``? Returns (True, takes_next) or (False, False)."""
    for flag in spellings:
        if token == flag:
            return True, True
        if flag.startswith("--") and token.startswith(flag + "="):
            return True, False
        if not flag.startswith("--") and token.startswith(flag) and len(token) > len(flag):
            return True, False  # -b127.0.0.1:8000, -t30, -m007
    return False, False


def _remove(argv, start, spellings):
    """argv without every occurrence of ``spellings`` (from ``start``); and where the first one was."""
    out = list(argv[:start])
    first = None
    i = start
    while i < len(argv):
        token = argv[i]
        if token == "--":
            out.extend(argv[i:])
            break
        hit, takes_next = _matches(token, spellings)
        if hit:
            if first is None:
                first = len(out)
            i += 2 if takes_next else 1
            continue
        out.append(token)
        i += 1
    return out, first


def _bind_words(kind, binds):
    if kind == "gunicorn":
        words = []
        for family, value in binds:
            words += ["--bind", "unix:" + value if family == "unix" else _endpoints.address_text(*value)]
        return words
    if len(binds) != 1:
        raise ArgvError("uvicorn binds one address (--host/--port, --uds or --fd); got %d binds." % len(binds))
    family, value = binds[0]
    if family == "unix":
        return ["--uds", value]
    host, port = value
    return ["--host", host or "0.0.0.0", "--port", str(port)]


def rewrite(argv, options):
    """The argv with ``options`` (from ``normalize_options``) applied. Raises ArgvError."""
    kind, start = split_server(argv)
    out = list(argv)
    for name in OPTIONS:
        if name not in options:
            continue
        if (kind, name) in UNSUPPORTED:
            raise ArgvError("Cannot set %s for %s: %s." % (name, kind, UNSUPPORTED[(kind, name)]))
        value = options[name]
        found = spellings(kind, name)
        if found is None:
            raise ArgvError("Cannot set %s for %s: it has no such option." % (name, kind))
        flag, spelled = found
        if name == "bind":
            words = _bind_words(kind, value)
        else:
            words = [flag, "0%03o" % value if name == "umask" else str(value)]
        out, first = _remove(out, start, spelled)
        at = start if first is None else first
        out[at:at] = words
    return out
