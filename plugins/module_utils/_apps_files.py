# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The files around an app server, read without running anything: config files (Python read with
``ast``, TOML, uWSGI ini) and environment files.

Every reader returns ``(values, keys, problem)``: ``values`` {the server's setting name: value} for
the settings the kind's spec names (None when not a literal), ``keys`` every name assigned in the
file (names only: the other values never leave this module), ``problem`` a sentence or None.
"""

from __future__ import annotations

import ast
import re
import shlex

from ansible_collections.badgateway.doctor.plugins.module_utils import _safe_io
from ansible_collections.badgateway.doctor.plugins.module_utils._apps_spec import LIST, SECRET, STR

MAX_CONFIG_BYTES = 4 * 1024 * 1024


def read_text(path, max_bytes=MAX_CONFIG_BYTES):
    """Every file of this package is read here, through the one safe reader: regular files only (a FIFO
    or a device raises instead of blocking), at most ``max_bytes`` (larger raises); ``OSError`` otherwise."""
    return _safe_io.read_text(path, max_bytes)


def _config_text(path, what):
    """(text, None), or (None, a sentence) when the file cannot be read."""
    try:
        return read_text(path), None
    except OSError as exc:
        return None, "Cannot read %s: %s." % (what, _safe_io.describe(path, exc))


def _literal(opt, value):
    """A config value as the spec's type allows, else None (the value is dropped)."""
    if opt.type == LIST:
        if isinstance(value, str):
            return [value]
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return list(value)
        return None
    if opt.type == STR:
        return value if isinstance(value, str) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _wanted(kind, name):
    opt = kind.by_setting.get(name)
    return opt if opt is not None and opt.key is not None and opt.type != SECRET else None


# --------------------------------------------------------------------------- Python (gunicorn, hypercorn file:)

def read_python_config(path, kind):
    """Module-level ``name = <literal>`` assignments of a Python config file, read with ``ast``; never executed."""
    source, problem = _config_text(path, "%s config" % kind.name)
    if problem:
        return {}, [], problem
    try:
        tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        return {}, [], "Cannot parse %s config %s: %s." % (kind.name, path, getattr(exc, "msg", None) or exc)
    values = {}
    keys = []
    for node in tree.body:
        targets = []
        value = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        elif isinstance(node, ast.AugAssign):
            targets = [node.target]
        for t in targets:
            names = [t] if isinstance(t, ast.Name) else [e for e in getattr(t, "elts", []) if isinstance(e, ast.Name)]
            for nm in names:
                if nm.id not in keys:
                    keys.append(nm.id)
                opt = _wanted(kind, nm.id)
                if opt is None:
                    continue
                lit = None
                if value is not None and isinstance(t, ast.Name):
                    try:
                        lit = ast.literal_eval(value)
                    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                        lit = None
                values[nm.id] = _literal(opt, lit)
    return values, keys, None


# --------------------------------------------------------------------------- TOML (hypercorn)

_TOML_KEY = re.compile(r"^\s*([A-Za-z0-9_-]+|\"[^\"]*\")\s*=\s*(.*)$")
_TOML_ATOM = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'|[^,\[\]\s]+')


def _toml_atom(text):
    if text.startswith('"'):
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return None
    if text.startswith("'"):
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text.replace("_", ""), 0)
    except ValueError:
        pass
    try:
        return float(text.replace("_", ""))
    except ValueError:
        return None


def _toml_value(text):
    text = text.strip()
    if text.startswith("["):
        if not text.endswith("]"):
            return None
        items = _TOML_ATOM.findall(text[1:-1])
        return [_toml_atom(i) for i in items]
    return _toml_atom(text)


def _strip_toml_comment(line):
    out = []
    quote = None
    for ch in line:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            break
        out.append(ch)
    return "".join(out).rstrip()


def read_toml_config(path, kind):
    """Top-level keys of a TOML config (hypercorn reads only those): strings, numbers, booleans, arrays."""
    text, problem = _config_text(path, "%s config" % kind.name)
    if problem:
        return {}, [], problem
    values = {}
    keys = []
    pending = None
    for raw in text.splitlines():
        line = _strip_toml_comment(raw)
        if pending is not None:                      # a multi-line array
            pending[1] += " " + line.strip()
            if pending[1].count("[") > pending[1].count("]"):
                continue
            name, line = pending
            pending = None
        else:
            if line.lstrip().startswith("["):
                break                                # a table: no more top-level keys
            m = _TOML_KEY.match(line)
            if not m:
                continue
            name, line = m.group(1).strip('"'), m.group(2)
            if line.strip().startswith("[") and line.count("[") > line.count("]"):
                pending = [name, line]
                continue
        if name not in keys:
            keys.append(name)
        opt = _wanted(kind, name)
        if opt is not None:
            values[name] = _literal(opt, _toml_value(line))
    return values, keys, None


# --------------------------------------------------------------------------- ini (uWSGI)

def read_ini_config(path, kind, section="uwsgi"):
    """``[section]`` of a uWSGI ini file as uWSGI reads it: ``key = value`` (first ``=``), every occurrence counts."""
    text, problem = _config_text(path, "%s ini" % kind.name)
    if problem:
        return {}, [], problem
    values = {}
    keys = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip(" \t\r")
        if not line or line[0] in ";#":
            continue
        if line.startswith("["):
            current = line[1:-1] if line.endswith("]") else line[1:]
            continue
        if current != section:
            continue
        key, _sep, value = line.partition("=")
        key, value = key.strip(" \t"), value.strip(" \t")
        if key not in keys:
            keys.append(key)
        opt = _wanted(kind, key)
        if opt is None:
            continue
        if opt.type == LIST:
            values.setdefault(key, []).append(value)
        else:
            values[key] = value
    return values, keys, None


READERS = {"python": read_python_config, "toml": read_toml_config}


def read_config(path, kind, reader, section=None):
    """Read a config file with the named reader -> (values, keys, problem)."""
    if reader == "ini":
        return read_ini_config(path, kind, section or "uwsgi")
    return READERS[reader](path, kind)


# --------------------------------------------------------------------------- environment files

_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=")


def env_file_keys(path, want=frozenset()):
    """(keys [str], wanted {key: value}, problem|None). Only the keys in ``want`` keep their value (internal use)."""
    try:
        text = read_text(path)
    except OSError as exc:
        return [], {}, _safe_io.describe(path, exc)
    keys = []
    wanted = {}
    for line in text.splitlines():
        m = _ENV_LINE.match(line)
        if not m:
            continue
        key = m.group(1)
        if key not in keys:
            keys.append(key)
        if key in want:
            raw = line[m.end():].strip()
            try:
                parts = shlex.split(raw)
                wanted[key] = parts[0] if len(parts) == 1 else " ".join(parts)
            except ValueError:
                wanted[key] = raw.strip("\"'")
    return keys, wanted, None
