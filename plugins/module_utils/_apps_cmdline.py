# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which app server a command line runs: through ``sh -c``, ``env``, ``python -m``, ``poetry run`` ...

``detect_kind(argv)`` returns ``(kind name, the server's own arguments)`` or ``(None, [])``; the
names and process titles it knows come from the specs in ``_apps_kinds``.
"""

from __future__ import annotations

import os
import shlex

from ansible_collections.badgateway.doctor.plugins.module_utils import _apps_kinds as kinds

_SHELLS = ("sh", "bash", "dash", "zsh")
_RUNNERS = ("poetry", "pipenv", "uv", "pdm", "hatch", "rye")
_MAX_DEPTH = 4


def kind_of_program(name, python_only=False):
    """The kind whose program (or python module) ``name`` is, or None."""
    for kind in kinds.KINDS.values():
        if python_only and not kind.python_module:
            continue
        if kind.matches_program(name):
            return kind.name
    return None


def _by_title(first):
    for kind in kinds.KINDS.values():
        if first.startswith(kind.titles):
            return kind
    return None


def detect_kind(argv, _depth=0):
    """Return (kind, args) for an app server command line (also through sh -c, env, python -m, poetry run ...)."""
    if not argv or _depth > _MAX_DEPTH:
        return None, []
    first = argv[0]
    kind = _by_title(first) if first else None
    if kind is not None:
        return kind.name, (list(argv) if kind.title_is_args else [])   # a setproctitle'd process
    prog = os.path.basename(first or "")
    name = kind_of_program(prog)
    if name:
        return name, list(argv[1:])
    low = prog.lower()
    rest = list(argv[1:])
    if low == "env":
        return detect_kind(_after_env(rest), _depth + 1)
    if low in _SHELLS:
        return _shell(rest, _depth)
    if low in _RUNNERS and "run" in rest:
        return detect_kind(rest[rest.index("run") + 1:], _depth + 1)
    if low.startswith("python") or low in ("pypy", "pypy3"):
        return _python(rest)
    return None, []


def _after_env(rest):
    """The command ``env [-i] [-u NAME] [NAME=VALUE]... COMMAND`` runs."""
    while rest and (("=" in rest[0] and not rest[0].startswith("-")) or rest[0] in ("-i", "-", "-u", "-S")):
        rest = rest[2:] if rest[0] == "-u" else rest[1:]
    return rest


def _shell(rest, depth):
    if "-c" not in rest:
        return None, []
    idx = rest.index("-c")
    if idx + 1 >= len(rest):
        return None, []
    try:
        inner = shlex.split(rest[idx + 1])
    except ValueError:
        inner = rest[idx + 1].split()
    while inner and inner[0] in ("exec", "nohup"):
        inner = inner[1:]
    while inner and "=" in inner[0] and not inner[0].startswith("-"):
        inner = inner[1:]
    return detect_kind(inner, depth + 1)


def _python(rest):
    """``python [options] -m MODULE args`` or ``python [options] /path/to/SCRIPT args``."""
    i = 0
    while i < len(rest):
        a = rest[i]
        if a == "-m" and i + 1 < len(rest):
            name = kind_of_program(rest[i + 1].split(".")[0], python_only=True)
            return (name, rest[i + 2:]) if name else (None, [])
        if a.startswith("-m") and len(a) > 2:
            name = kind_of_program(a[2:].split(".")[0], python_only=True)
            return (name, rest[i + 1:]) if name else (None, [])
        if a in ("-X", "-W", "-Q"):
            i += 2
            continue
        if a.startswith("-"):
            i += 1
            continue
        name = kind_of_program(os.path.basename(a), python_only=True)
        return (name, rest[i + 1:]) if name else (None, [])
    return None, []
