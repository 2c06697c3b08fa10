# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The systemd drop-in the remediation roles own (target side, standard library only).

One file per unit, ``/etc/systemd/system/<unit>.d/<name>`` (never the vendor unit), written whole:

- the settings asked for, checked against an allow-list (a typo is an error here, where systemd
  would accept an unknown key with a warning in the journal) and for values that would widen
  access (a socket or directory mode with ``o+w``, a umask that lets others write);
- settings an earlier run wrote to the same file and that are not being changed, kept;
- ``ExecStart=`` cleared, then the live command line (read exactly over D-Bus with ``busctl``; the
  text of ``systemctl show`` is not quoted) with the app server's options rewritten
  (``_remediation_argv``), quoted the way systemd reads it.

Drop-ins are applied in file-name order across all directories: a drop-in that sorts after this
one and sets the same key wins. ``conflicts`` finds those before anything is written;
``verify`` compares the live values (``systemctl show`` and D-Bus, after a daemon-reload) with
what was written, because systemd accepts unknown or misspelled settings silently.
"""

from __future__ import annotations

import json
import os
import re

from ansible_collections.badgateway.doctor.plugins.module_utils import _runner, _safe_io, systemd

UNIT_DIR = "/etc/systemd/system"
HEADER = ("# Managed by badgateway.doctor (roles app_unit and socket_permissions). Restoring the remediation\n"
          "# run that wrote this file puts back what was here before (nothing, when it did not exist).\n")
SECTION_ORDER = ("Unit", "Service", "Socket")

# key -> (section, value kind, systemctl show property)
SETTINGS = {
    "After": ("Unit", "units", "After"),
    "Requires": ("Unit", "units", "Requires"),
    "Wants": ("Unit", "units", "Wants"),
    "WorkingDirectory": ("Service", "workdir", "WorkingDirectory"),
    "User": ("Service", "name", "User"),
    "Group": ("Service", "name", "Group"),
    "SupplementaryGroups": ("Service", "names", "SupplementaryGroups"),
    "RuntimeDirectory": ("Service", "relpaths", "RuntimeDirectory"),
    "RuntimeDirectoryMode": ("Service", "dirmode", "RuntimeDirectoryMode"),
    "RuntimeDirectoryPreserve": ("Service", ("no", "yes", "restart"), "RuntimeDirectoryPreserve"),
    "UMask": ("Service", "umask", "UMask"),
    "Restart": ("Service", ("no", "on-success", "on-failure", "on-abnormal", "on-watchdog", "on-abort", "always"),
                "Restart"),
    "RestartSec": ("Service", "timespan", "RestartUSec"),
    "PrivateTmp": ("Service", "bool", "PrivateTmp"),
    "SocketUser": ("Socket", "name", "SocketUser"),
    "SocketGroup": ("Socket", "name", "SocketGroup"),
    "SocketMode": ("Socket", "filemode", "SocketMode"),
    "DirectoryMode": ("Socket", "dirmode", "DirectoryMode"),
}
LIST_KINDS = ("units", "names", "relpaths")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\$?$")
_UNIT = re.compile(r"^[A-Za-z0-9:_.\\@-]+\.(service|socket|target|mount|path|timer|slice|scope|device|swap)$")
_DROPIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,100}\.conf$")
_TIMESPAN_UNITS = {"us": 1, "usec": 1, "ms": 1000, "msec": 1000, "s": 10 ** 6, "sec": 10 ** 6, "second": 10 ** 6,
                   "seconds": 10 ** 6, "m": 60 * 10 ** 6, "min": 60 * 10 ** 6, "minute": 60 * 10 ** 6,
                   "minutes": 60 * 10 ** 6, "h": 3600 * 10 ** 6, "hr": 3600 * 10 ** 6, "hour": 3600 * 10 ** 6,
                   "hours": 3600 * 10 ** 6, "d": 86400 * 10 ** 6, "day": 86400 * 10 ** 6, "days": 86400 * 10 ** 6}
_TIMESPAN_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")


class DropinError(ValueError):
    """A setting or a unit the role cannot handle; the message says which and why."""


# ---------------------------------------------------------------- names and values

def check_unit(unit):
    if not isinstance(unit, str) or not _UNIT.match(unit):
        raise DropinError("unit %r is not a unit name such as gunicorn.service." % (unit,))
    return unit


def dropin_path(unit, name):
    if not isinstance(name, str) or not _DROPIN.match(name):
        raise DropinError("drop-in name %r must be a plain file name ending in .conf." % (name,))
    return os.path.join(UNIT_DIR, check_unit(unit) + ".d", name)


def timespan_usec(value):
    """systemd time span (``5``, ``5s``, ``500ms``, ``1min 30s``) -> microseconds; DropinError otherwise."""
    if isinstance(value, bool):
        raise DropinError("RestartSec %r is not a time span." % (value,))
    if isinstance(value, (int, float)):
        if value < 0:
            raise DropinError("RestartSec must not be negative, got %r." % (value,))
        return int(round(value * 10 ** 6))
    text = str(value).strip().lower()
    if text in ("infinity",):
        raise DropinError("RestartSec=infinity is not a useful restart delay.")
    total, pos = 0, 0
    for m in _TIMESPAN_PART.finditer(text):
        if text[pos:m.start()].strip():
            break
        unit = m.group(2) or "s"
        if unit not in _TIMESPAN_UNITS:
            raise DropinError("RestartSec %r has an unknown unit %r." % (value, unit))
        total += int(round(float(m.group(1)) * _TIMESPAN_UNITS[unit]))
        pos = m.end()
    if not text or text[pos:].strip():
        raise DropinError("RestartSec %r is not a systemd time span (such as 5s, 500ms, 1min 30s)." % (value,))
    return total


def _mode(key, value, kind):
    if isinstance(value, bool):
        raise DropinError("%s %r is not an octal mode." % (key, value))
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if not text or any(c not in "01234567" for c in text) or len(text) > 4:
            raise DropinError("%s %r is not an octal mode such as 0750." % (key, value))
        number = int(text, 8)
    if not 0 <= number <= 0o7777:
        raise DropinError("%s %r is out of range." % (key, value))
    if kind in ("dirmode", "filemode") and number & 0o002:
        raise DropinError("%s %04o would let every user write (o+w); use a group instead (for example 0750 / 0660)."
                          % (key, number))
    if kind == "umask" and not number & 0o002:
        raise DropinError("%s %04o would let every user write new files (o+w); use 0007, 0027 or 0077." % (key, number))
    return "%04o" % number


def _words(key, value):
    items = value.split() if isinstance(value, str) else list(value) if isinstance(value, list) else None
    if not items or not all(isinstance(i, str) and i for i in items):
        raise DropinError("%s must be a name or a list of names, got %r." % (key, value))
    return items


def normalize_value(key, value):
    """The text written for one setting, or DropinError."""
    if key not in SETTINGS:
        raise DropinError("unknown setting %r; the roles write only %s." % (key, ", ".join(SETTINGS)))
    _section, kind, _prop = SETTINGS[key]
    if isinstance(value, str) and any(c in value for c in "\n\r\0"):
        raise DropinError("%s must be one line." % key)
    if isinstance(kind, tuple):
        text = ("yes" if value else "no") if isinstance(value, bool) and "yes" in kind else str(value)
        if text not in kind:
            raise DropinError("%s %r is not one of %s." % (key, value, ", ".join(kind)))
        return text
    if kind == "bool":
        if isinstance(value, bool):
            return "yes" if value else "no"
        if str(value).lower() in ("yes", "true", "on", "1"):
            return "yes"
        if str(value).lower() in ("no", "false", "off", "0"):
            return "no"
        raise DropinError("%s %r is not a boolean." % (key, value))
    if kind in ("dirmode", "filemode", "umask"):
        return _mode(key, value, kind)
    if kind == "timespan":
        usec = timespan_usec(value)
        return "%dms" % (usec // 1000) if usec % 10 ** 6 else "%ds" % (usec // 10 ** 6)
    if kind == "name":
        if not isinstance(value, (str, int)) or isinstance(value, bool) or not _NAME.match(str(value)):
            raise DropinError("%s %r is not a user or group name." % (key, value))
        return str(value)
    if kind == "workdir":
        text = str(value)
        if not (text.startswith(("/", "-/", "~")) and ".." not in text.split("/")):
            raise DropinError("WorkingDirectory %r must be an absolute path (or - followed by one, or ~)." % (value,))
        return text
    items = _words(key, value)
    for item in items:
        if kind == "units" and not _UNIT.match(item):
            raise DropinError("%s: %r is not a unit name." % (key, item))
        if kind == "names" and not _NAME.match(item):
            raise DropinError("%s: %r is not a group name." % (key, item))
        if kind == "relpaths" and (item.startswith("/") or ".." in item.split("/") or not re.match(r"^[\w.@/-]+$", item)):
            raise DropinError("%s: %r must be a relative directory name such as gunicorn." % (key, item))
    return " ".join(items)


def normalize_settings(settings, unit):
    """``{key: text}`` for the settings of ``unit`` (its type decides which sections are allowed)."""
    if not isinstance(settings, dict):
        raise DropinError("settings must be a dict of systemd settings, got %r." % (settings,))
    socket_unit = unit.endswith(".socket")
    out = {}
    for key, value in settings.items():
        if value is None:
            continue
        text = normalize_value(key, value)
        section = SETTINGS[key][0]
        if section == "Socket" and not socket_unit:
            raise DropinError("%s is a setting of .socket units; %s is not one." % (key, unit))
        if section == "Service" and socket_unit:
            raise DropinError("%s is a setting of .service units; %s is a socket unit." % (key, unit))
        out[key] = text
    return out


# ---------------------------------------------------------------- ExecStart, exactly

def _bus_path(unit):
    out = []
    for i, ch in enumerate(unit):
        if ch.isalnum() and ch.isascii() and not (i == 0 and ch.isdigit()):
            out.append(ch)
        else:
            out.append("_%02x" % ord(ch))
    return "/org/freedesktop/systemd1/unit/" + "".join(out)


def read_exec_start(unit, run=None):
    """The unit's live ExecStart as ``[{path, argv, ignore_errors}]``, exactly as systemd holds it (D-Bus)."""
    run = run or _runner.call
    errors = []
    for address in ([], ["--address=unix:path=/run/systemd/private"]):
        base = ["busctl"] + address + ["--json=short"]
        rc, _out, err = run(base + ["call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                    "org.freedesktop.systemd1.Manager", "LoadUnit", "s", unit])
        if rc != 0:
            errors.append((err or "").strip()[:200])
            continue
        rc, out, err = run(base + ["get-property", "org.freedesktop.systemd1", _bus_path(unit),
                                   "org.freedesktop.systemd1.Service", "ExecStart"])
        if rc != 0:
            errors.append((err or "").strip()[:200])
            continue
        try:
            data = json.loads(out)["data"]
            return [{"path": entry[0], "argv": list(entry[1]), "ignore_errors": bool(entry[2])} for entry in data]
        except (ValueError, KeyError, TypeError, IndexError):
            errors.append("unexpected busctl output")
    raise DropinError("Cannot read the ExecStart of %s exactly over D-Bus (busctl): %s."
                      % (unit, "; ".join(e for e in errors if e) or "busctl failed"))


def quote_word(word):
    """One argv word as systemd's ExecStart parser reads it back: ``%`` doubled (specifiers are resolved
    already), C escapes inside double quotes where needed, ``$`` kept (it was kept in the argv too)."""
    word = word.replace("%", "%%")
    if word == ";":
        return "\\;"
    if word and not re.search(r"[\s\"'\\]|[^\x21-\x7e]", word):
        return word
    out = []
    for ch in word:
        if ch in "\\\"":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7f:
            out.append("\\x%02x" % ord(ch))
        else:
            out.append(ch)
    return '"%s"' % "".join(out)


def exec_line(entry, argv):
    prefix = "-" if entry.get("ignore_errors") else ""
    if entry.get("path") and argv and entry["path"] != argv[0]:
        prefix += "@"
        words = [entry["path"]] + list(argv)
    else:
        words = list(argv)
    return prefix + " ".join(quote_word(w) for w in words)


# ---------------------------------------------------------------- the file

def parse_own(text):
    """Our drop-in's assignments: ``{section: [(key, value)]}`` (comments dropped)."""
    return systemd.parse_unit_file(text or "")


def render(settings, exec_entry=None, exec_argv=None, kept=None):
    """The drop-in text. ``settings``: ``{key: text}``; ``kept``: assignments of the existing file to keep
    (``{section: [(key, value)]}``); ``exec_argv``: the new command line (ExecStart cleared first)."""
    sections = {name: [] for name in SECTION_ORDER}
    for section, items in (kept or {}).items():
        for key, value in items:
            if key in settings or (key == "ExecStart" and exec_argv is not None):
                continue
            sections.setdefault(section, []).append((key, value))
    for key in SETTINGS:
        if key in settings:
            sections[SETTINGS[key][0]].append((key, settings[key]))
    if exec_argv is not None:
        sections["Service"].append(("ExecStart", ""))
        sections["Service"].append(("ExecStart", exec_line(exec_entry or {}, exec_argv)))
    out = [HEADER]
    for name in list(SECTION_ORDER) + sorted(set(sections) - set(SECTION_ORDER)):
        items = sections.get(name) or []
        if items:
            out.append("[%s]\n" % name)
            out.extend("%s=%s\n" % kv for kv in items)
    return "".join(out)


def read_text(path):
    """The file's text, or None when it does not exist."""
    try:
        return _safe_io.read_text(path, 1024 * 1024)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DropinError("Cannot read %s: %s." % (path, exc)) from None


def split_paths(value):
    """``DropInPaths`` as ``systemctl show`` prints it (one space-separated line, or a list of them) -> list."""
    items = value if isinstance(value, list) else [value or ""]
    return [p for item in items for p in str(item).split()]


def conflicts(dropin_paths, own_path, keys, exec_start, read=read_text):
    """Drop-ins applied after ours (file-name order, as systemd applies them) that set one of ``keys`` (or
    ExecStart): ``[{path, keys}]``. A list setting only conflicts when a later file resets it (empty value)."""
    name = os.path.basename(own_path)
    found = []
    for path in split_paths(dropin_paths):
        if path == own_path or os.path.basename(path) <= name:
            continue
        try:
            parsed = parse_own(read(path) or "")
        except DropinError:
            continue
        hit = []
        for _section, items in parsed.items():
            for key, value in items:
                if key == "ExecStart" and exec_start:
                    hit.append(key)
                elif key in keys:
                    kind = SETTINGS[key][1]
                    if kind not in LIST_KINDS or value == "":
                        hit.append(key)
        if hit:
            found.append({"path": path, "keys": sorted(set(hit))})
    return found


# ---------------------------------------------------------------- verification

def show_props(unit, props, run=None):
    """``systemctl show`` of ``unit`` (``systemd.show_unit``); raise DropinError when systemctl cannot tell."""
    found, why = systemd.show_unit(unit, props, run)
    if why:
        raise DropinError(why)
    return found


def _live_matches(kind, want, live):
    live = (live or "").strip()
    if kind in LIST_KINDS:
        return set(want.split()) <= set(live.split())
    if kind in ("dirmode", "filemode", "umask"):
        try:
            return int(live, 8) == int(want, 8)
        except ValueError:
            return False
    if kind == "timespan":
        try:
            return timespan_usec(live) == timespan_usec(want)
        except DropinError:
            return False
    if kind == "workdir":
        return live == want or (want.startswith("-") and live == "!" + want[1:])
    return live == want


def verify(unit, settings, exec_argv=None, run=None):
    """Mismatches between what the drop-in says and what systemd runs with: ``[{key, want, live}]``."""
    props = sorted({SETTINGS[k][2] for k in settings}) or ["Id"]
    live = show_props(unit, props, run)
    bad = []
    for key, want in settings.items():
        kind, prop = SETTINGS[key][1], SETTINGS[key][2]
        if not _live_matches(kind, want, live.get(prop)):
            bad.append({"key": key, "want": want, "live": live.get(prop)})
    if exec_argv is not None:
        entries = read_exec_start(unit, run)
        got = entries[-1]["argv"] if entries else []
        if len(entries) != 1 or got != list(exec_argv):
            bad.append({"key": "ExecStart", "want": list(exec_argv), "live": [e["argv"] for e in entries]})
    return bad
