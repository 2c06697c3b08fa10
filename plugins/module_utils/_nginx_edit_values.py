# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Values the nginx edit engine computes: pass targets in the form each directive needs, and
buffer settings that pass nginx's own checks.

Pure functions, standard library only (runs on the target).

Buffer rules, from the merge functions of ``ngx_http_{proxy,uwsgi,fastcgi,scgi}_module.c``
(nginx checks them for every server, location and ``if`` block after inheritance)::

    size = max(X_buffer_size, size of one of X_buffers)
    X_buffers: at least 2 buffers
    busy = X_busy_buffers_size if set, else 2 * size
    size <= busy <= (number of X_buffers - 1) * size of one X_buffers
    X_temp_file_write_size (default 2 * size) >= size
    X_max_temp_file_size (default 1024m) == 0 or >= size

Defaults: ``X_buffer_size`` one memory page, ``X_buffers 8 <page>``.
"""
from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_values import parse_size

PASS_DIRECTIVES = ("proxy_pass", "uwsgi_pass", "fastcgi_pass", "scgi_pass", "grpc_pass", "memcached_pass")
_SCHEMES = {
    "proxy_pass": ("http://", "https://"),
    "uwsgi_pass": ("uwsgi://", "suwsgi://"),
    "grpc_pass": ("grpc://", "grpcs://"),
}
# the scheme a directive gets when another one is turned into it: (plain, TLS)
_NEW_SCHEME = {
    "proxy_pass": ("http://", "https://"),
    "uwsgi_pass": ("", "suwsgi://"),
    "grpc_pass": ("", "grpcs://"),
}
_TLS_SCHEMES = ("https://", "suwsgi://", "grpcs://")
_ANY_SCHEME = ("http://", "https://", "uwsgi://", "suwsgi://", "grpc://", "grpcs://", "fastcgi://", "scgi://")

BUFFER_FAMILIES = ("proxy", "uwsgi", "fastcgi", "scgi")
_BUFFER_KEYS = ("buffer_size", "buffers", "busy_buffers_size", "temp_file_write_size", "max_temp_file_size")
MAX_BUFFERS = 64


# ------------------------------------------------------------------------------ pass targets

def split_pass(directive, arg):
    """``(scheme, address, uri)`` of a ``*_pass`` argument as nginx reads it.

    ``uri`` keeps its separator (``/api/`` after a host, ``:/api/`` after a unix path) and is
    only possible with ``proxy_pass``. Raises ValueError when the argument has no address this
    engine can replace (``proxy_pass $backend``).
    """
    lower = arg.lower()
    scheme = ""
    for prefix in _SCHEMES.get(directive, ()):
        if lower.startswith(prefix):
            scheme = arg[:len(prefix)]
            break
    if directive == "proxy_pass" and not scheme:
        raise ValueError("proxy_pass %r has no http:// or https:// prefix (the address comes from a variable)" % arg)
    rest = arg[len(scheme):]
    uri = ""
    if directive == "proxy_pass":
        if rest.lower().startswith("unix:"):
            colon = rest.find(":", 5)
            if colon >= 0:
                rest, uri = rest[:colon], rest[colon:]
        else:
            cut = [i for i in (rest.find("/"), rest.find("$request_uri"), rest.find("$uri"), rest.find("$is_args"))
                   if i > 0]
            if cut:
                rest, uri = rest[:min(cut)], rest[min(cut):]
    if not rest:
        raise ValueError("%s %r has no address" % (directive, arg))
    return scheme, rest, uri


def normalize_target(target):
    """The address part of ``target``: ``unix:/path``, ``host:port``, ``[v6]:port`` or a group name.

    Accepts the forms the facts and the rules write (``http://127.0.0.1:8000``, ``http://unix:/run/app.sock``,
    ``unix:/run/app.sock``, ``127.0.0.1:8000``). Raises ValueError for a target with a path.
    """
    if not isinstance(target, str) or not target.strip():
        raise ValueError("target %r is empty" % (target,))
    text = target.strip()
    lower = text.lower()
    for prefix in _ANY_SCHEME:
        if lower.startswith(prefix):
            text = text[len(prefix):]
            break
    if text.lower().startswith("unix:"):
        path = text[5:]
        if path.endswith(":"):
            path = path[:-1]
        if not path.startswith("/") or ":" in path or any(c.isspace() for c in path):
            raise ValueError("target %r is not a unix socket path nginx can use" % target)
        return "unix:" + path
    text = text.rstrip("/")
    if not text or "/" in text or any(c.isspace() for c in text) or any(c in text for c in ";{}'\"#"):
        raise ValueError("target %r is not an address (unix:/path, host:port or [v6]:port)" % target)
    return text


def pass_arg(old_directive, old_arg, new_directive=None, target=None):
    """The argument ``new_directive`` (default: the same) needs to send requests to ``target``
    (default: where ``old_arg`` sends them), keeping the scheme's TLS and ``proxy_pass``'s URI."""
    new_directive = new_directive or old_directive
    if new_directive not in PASS_DIRECTIVES:
        raise ValueError("%s is not a pass directive" % new_directive)
    scheme, address, uri = split_pass(old_directive, old_arg)
    if target is not None:
        address = normalize_target(target)
    if new_directive != old_directive:
        tls = scheme.lower() in _TLS_SCHEMES
        choices = _NEW_SCHEME.get(new_directive, ("", None))
        new_scheme = choices[1] if tls else choices[0]
        if new_scheme is None:
            raise ValueError("%s cannot speak TLS like %s %s" % (new_directive, old_directive, old_arg))
        scheme = new_scheme
    if uri and new_directive != "proxy_pass":
        raise ValueError("%s cannot keep the URI %r of %s %s" % (new_directive, uri.lstrip(":"), old_directive, old_arg))
    if uri:
        if address.lower().startswith("unix:") and not uri.startswith(":"):
            uri = ":" + uri
        elif not address.lower().startswith("unix:") and uri.startswith(":"):
            uri = uri[1:]
    return scheme + address + uri


def server_args(old_args, target):
    """An upstream ``server`` line sent to ``target``: the address replaced, its parameters kept."""
    address = normalize_target(target)
    if not old_args:
        return [address]
    return [address] + list(old_args[1:])


# ------------------------------------------------------------------------------ sizes

def format_size(size):
    if size and size % (1024 * 1024) == 0:
        return "%dm" % (size // (1024 * 1024))
    if size and size % 1024 == 0:
        return "%dk" % (size // 1024)
    return "%d" % size


def _buffers(args, where):
    if len(args) != 2:
        raise ValueError("%s: buffers take a number and a size, not %r" % (where, " ".join(args)))
    try:
        number = int(args[0])
    except ValueError:
        raise ValueError("%s: invalid number of buffers %r" % (where, args[0]))
    return number, parse_size(args[1])


def _size(args, where):
    if len(args) != 1:
        raise ValueError("%s: a size takes one value, not %r" % (where, " ".join(args)))
    try:
        return parse_size(args[0])
    except ValueError:
        raise ValueError("%s: invalid size %r" % (where, args[0]))


def buffer_family(name):
    """``proxy`` for ``proxy_buffer_size`` etc.; None when ``name`` is not a checked buffer directive."""
    for family in BUFFER_FAMILIES:
        if name.startswith(family + "_") and name[len(family) + 1:] in _BUFFER_KEYS:
            return family
    return None


class BufferState(object):
    """The buffer settings of one family at one level: what is set there (``own``) over what it inherits."""

    def __init__(self, family, page, inherited=None):
        self.family = family
        self.page = page
        self.values = dict(inherited.values) if inherited is not None else {}

    def child(self, own):
        state = BufferState(self.family, self.page, self)
        for key in _BUFFER_KEYS:
            name = "%s_%s" % (self.family, key)
            if name in own:
                state.values[key] = own[name]
        return state

    def numbers(self, where):
        """``(size, number, buffer, busy, busy_set, write, max_temp)`` in bytes after nginx's defaults."""
        values = self.values
        buffer_size = _size(values["buffer_size"], where) if "buffer_size" in values else self.page
        number, one = _buffers(values["buffers"], where) if "buffers" in values else (8, self.page)
        size = max(buffer_size, one)
        busy_set = "busy_buffers_size" in values
        busy = _size(values["busy_buffers_size"], where) if busy_set else 2 * size
        write = _size(values["temp_file_write_size"], where) if "temp_file_write_size" in values else 2 * size
        max_temp = _size(values["max_temp_file_size"], where) if "max_temp_file_size" in values else 1024 ** 3
        return size, number, one, busy, busy_set, write, max_temp

    def problems(self, where):
        """nginx's objections to these settings (the ``[emerg]`` it would log), as sentences."""
        try:
            size, number, one, busy, _busy_set, write, max_temp = self.numbers(where)
        except ValueError as exc:
            return [str(exc)]
        name = self.family
        out = []
        if number < 2:
            out.append('there must be at least 2 "%s_buffers"' % name)
        if busy < size:
            out.append('"%s_busy_buffers_size" must be equal to or greater than the maximum of the value of '
                       '"%s_buffer_size" and one of the "%s_buffers"' % (name, name, name))
        if busy > (number - 1) * one:
            out.append('"%s_busy_buffers_size" must be less than the size of all "%s_buffers" minus one buffer'
                       % (name, name))
        if write < size:
            out.append('"%s_temp_file_write_size" must be equal to or greater than the maximum of the value of '
                       '"%s_buffer_size" and one of the "%s_buffers"' % (name, name, name))
        if max_temp != 0 and max_temp < size:
            out.append('"%s_max_temp_file_size" must be equal to zero to disable temporary files usage or must be '
                       'equal to or greater than the maximum of the value of "%s_buffer_size" and one of the '
                       '"%s_buffers"' % (name, name, name))
        return out


def complete_buffers(family, wanted, state, where):
    """The directives to set beside ``wanted`` so that the block passes nginx's checks.

    ``wanted``: ``{directive: [args]}`` the caller asked to set in the block; ``state``: the
    block's :class:`BufferState` before the edit (inherited values plus its own). Values the
    caller asked for are never changed; a companion is added only when a check would fail
    otherwise, with the value closest to nginx's default. Raises ValueError when the values
    asked for cannot pass (for example an explicit busy size larger than the buffers allow).
    """
    name = family + "_%s"
    after = state.child(wanted)
    extra = {}
    size, number, one, busy, busy_set, write, max_temp = after.numbers(where)
    if number < 2:
        raise ValueError('%s: there must be at least 2 "%s"' % (where, name % "buffers"))
    if (number - 1) * one < size and name % "buffers" not in wanted:
        # the buffers cannot hold one response header buffer: more buffers of the same size,
        # or (past MAX_BUFFERS) buffers of the header buffer's size
        need = -(-2 * size // one) + 1
        if need <= MAX_BUFFERS:
            number = max(number, need)
        else:
            number, one = max(number, 3), size
        extra[name % "buffers"] = ["%d" % number, format_size(one)]
        after = after.child(extra)
        size, number, one, busy, busy_set, write, max_temp = after.numbers(where)
    if (busy < size or busy > (number - 1) * one) and name % "busy_buffers_size" not in wanted:
        busy = min(2 * size, (number - 1) * one)
        if busy >= size:
            extra[name % "busy_buffers_size"] = [format_size(busy)]
    if write < size and name % "temp_file_write_size" not in wanted:
        extra[name % "temp_file_write_size"] = [format_size(size)]
    if max_temp != 0 and max_temp < size and name % "max_temp_file_size" not in wanted:
        extra[name % "max_temp_file_size"] = [format_size(size)]
    final = state.child(dict(wanted, **extra))
    problems = final.problems(where)
    if problems:
        raise ValueError("%s: %s would not pass nginx -t: %s" % (
            where, ", ".join("%s %s" % (k, " ".join(v)) for k, v in sorted(wanted.items())), "; ".join(problems)))
    return extra
