# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""systemd helpers: is systemd running, list service units, ``systemctl show`` for many units at
once (drop-ins are merged by systemd itself), parsing of the ``show`` text and of unit files.

Standard library only; every function reports problems through an ``errors`` list.
"""

from __future__ import annotations

import os
import shlex
import shutil
import time

from ansible_collections.badgateway.doctor.plugins.module_utils import _runner
from ansible_collections.badgateway.doctor.plugins.module_utils._proc import error
from ansible_collections.badgateway.doctor.plugins.module_utils._safe_io import open_regular

SHOW_CHUNK = 150

SERVICE_PROPS = (
    "Id", "LoadState", "FragmentPath", "DropInPaths", "User", "Group", "SupplementaryGroups", "WorkingDirectory",
    "EnvironmentFiles", "Environment", "ExecStart", "RuntimeDirectory", "RuntimeDirectoryMode", "PrivateTmp", "UMask", "Restart",
    "MemoryMax", "Requires", "After", "ActiveState", "SubState", "Result", "NRestarts", "ExecMainStatus",
    "ExecMainCode", "ActiveEnterTimestampMonotonic", "MainPID", "TriggeredBy",
)
SOCKET_PROPS = ("Id", "LoadState", "Listen", "SocketUser", "SocketGroup", "SocketMode", "Triggers", "ActiveState")
# properties that systemctl may print once per list element
_MULTI = ("EnvironmentFiles", "ExecStart", "Listen", "DropInPaths")


def systemd_running():
    """(bool, reason): systemd is PID 1 and systemctl is present."""
    if not shutil.which("systemctl"):
        return False, "systemctl not found"
    if not os.path.isdir("/run/systemd/system"):
        return False, "systemd is not running as PID 1 on this host (/run/systemd/system is missing)"
    return True, None


def parse_show(text):
    """Parse ``systemctl show`` output for one or many units into a list of dicts.

    Blocks are separated by blank lines. Properties in ``_MULTI`` that appear several times are
    collected into lists (always lists for those keys).
    """
    blocks = []
    cur = {}
    for line in text.splitlines():
        if not line.strip():
            if cur:
                blocks.append(cur)
                cur = {}
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key in _MULTI:
            cur.setdefault(key, [])
            if value:
                cur[key].append(value)
        else:
            cur[key] = value
    if cur:
        blocks.append(cur)
    return blocks


def show(units, props, errors, run=None, timeout=_runner.DEFAULT_TIMEOUT):
    """``systemctl show -p ... UNIT...`` for many units with one call per chunk. Returns {unit: props}.

    ``run``: the command runner in its ``(rc, stdout, why)`` form (default ``_runner.call``).
    """
    result = {}
    units = list(units)
    for i in range(0, len(units), SHOW_CHUNK):
        chunk = units[i:i + SHOW_CHUNK]
        cmd = ["systemctl", "show", "--no-pager", "-p", ",".join(props), "--"] + chunk
        rc, out, why = (run or _runner.call)(cmd, timeout=timeout)
        blocks = parse_show(out or "") if rc == 0 or out else []
        if not blocks:
            errors.append(error("systemctl", None, "systemctl show %s failed: %s" % (
                ", ".join(chunk[:5]) + (" ..." if len(chunk) > 5 else ""),
                ((why or "").strip() or ("no output" if rc == 0 else "exit %s" % rc))[:300])))
            continue
        # systemctl prints the blocks in argument order; Id may be an alias target, so map by position
        for name, block in zip(chunk, blocks):
            result[name] = block
    return result


def show_unit(unit, props, run=None, timeout=_runner.DEFAULT_TIMEOUT):
    """``systemctl show`` of one unit: ``(properties, None)``, or ``({}, why)`` - a sentence naming
    the unit - when systemctl could not tell."""
    errors = []
    found = show([unit], props, errors, run, timeout).get(unit)
    if found is None:
        return {}, errors[0]["message"] if errors else "systemctl show %s printed no properties" % unit
    return found, None


def _each(values):
    """The values of a property ``systemctl show`` may print once or once per element, stripped."""
    for value in [values] if isinstance(values, str) else values or ():
        yield value.strip()


def parse_exec(values):
    """ExecStart values (list of ``{ path=... ; argv[]=... ; ... }`` strings) -> [{path, argv, ignore_errors}]."""
    out = []
    for value in _each(values):
        if value.startswith("{") and value.endswith("}"):
            value = value[1:-1]
        fields = {}
        for part in _split_fields(value):
            k, sep, v = part.strip().partition("=")
            if sep:
                fields[k.strip()] = v.strip()
        argv_text = fields.get("argv[]", "")
        try:
            argv = shlex.split(argv_text)
        except ValueError:
            argv = argv_text.split()
        out.append({"path": fields.get("path") or (argv[0] if argv else None), "argv": argv,
                    "ignore_errors": fields.get("ignore_errors") == "yes"})
    return out


def _split_fields(value):
    """Split ``path=/x ; argv[]=/x -a ; ignore_errors=no`` on `` ; `` boundaries that start a known key."""
    parts = []
    cur = []
    tokens = value.split(" ; ")
    known = ("path=", "argv[]=", "ignore_errors=", "start_time=", "stop_time=", "pid=", "code=", "status=", "flags=")
    for tok in tokens:
        if cur and tok.strip().startswith(known):
            parts.append(" ; ".join(cur))
            cur = [tok]
        else:
            cur.append(tok)
    if cur:
        parts.append(" ; ".join(cur))
    return parts


def parse_environment(value):
    """``Environment=`` show value -> {KEY: VALUE}. Callers must never return the values."""
    env = {}
    if not value:
        return env
    try:
        items = shlex.split(value)
    except ValueError:
        items = value.split()
    for item in items:
        k, sep, v = item.partition("=")
        if sep and k:
            env[k] = v
    return env


def parse_environment_files(values):
    """EnvironmentFiles show values (``/etc/x (ignore_errors=no)``) -> [{path, optional}]."""
    out = []
    for value in _each(values):
        optional = False
        if value.endswith(")") and " (ignore_errors=" in value:
            value, _sep, flag = value.rpartition(" (ignore_errors=")
            optional = flag.startswith("yes")
        if value.startswith("-"):
            optional = True
            value = value[1:]
        if value:
            out.append({"path": value, "optional": optional})
    return out


def parse_listen(values):
    """Socket ``Listen=`` values (``/run/x.sock (Stream)``) -> [str] of stream listeners."""
    out = []
    for value in _each(values):
        addr, _sep, kind = value.rpartition(" (")
        if not addr:
            addr, kind = value, "Stream)"
        if kind.rstrip(")") == "Stream":
            out.append(addr)
    return out


def split_list(value):
    return [v for v in (value or "").split() if v]


def to_int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def to_bool(value):
    if value is None or value == "":
        return None
    return value.strip().lower() in ("yes", "true", "1", "on")


def to_size(value):
    if value in (None, "", "infinity", "[not set]"):
        return None
    return to_int(value)


def to_mode(value):
    if value in (None, "", "[not set]"):
        return None
    try:
        return "%04o" % int(value, 8)
    except ValueError:
        return value


_EXIT_CODES = {"1": "exited", "2": "killed", "3": "dumped", "exited": "exited", "killed": "killed", "dumped": "dumped"}


def monotonic_to_epoch(usec, now=None, mono=None):
    """systemd CLOCK_MONOTONIC microseconds -> epoch seconds (None for 0 / invalid)."""
    usec = to_int(usec)
    if not usec:
        return None
    now = time.time() if now is None else now
    mono = time.monotonic() if mono is None else mono
    return now - (mono - usec / 1e6)


def state_from_show(props, now=None, mono=None):
    """The ``state`` dict of an AppServer from ``systemctl show`` properties."""
    main_pid = to_int(props.get("MainPID"))
    status = to_int(props.get("ExecMainStatus"))
    code = props.get("ExecMainCode")
    return {
        "active_state": props.get("ActiveState") or None,
        "sub_state": props.get("SubState") or None,
        "result": props.get("Result") or None,
        "n_restarts": to_int(props.get("NRestarts")) or 0,
        "exec_main_status": status,
        "exec_main_code": _EXIT_CODES.get(code) if code not in (None, "", "0") else None,
        "active_enter": monotonic_to_epoch(props.get("ActiveEnterTimestampMonotonic"), now, mono),
        "main_pid": main_pid or None,
        "load_state": props.get("LoadState") or None,
    }


# --------------------------------------------------------------------------- unit files (no systemctl)

def parse_unit_file(text):
    """Parse unit file text into {section: [(key, value)]} (continuation lines joined, comments dropped)."""
    sections = {}
    cur = None
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip() if pending else raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            cur = sections.setdefault(line[1:-1], [])
            continue
        if cur is None:
            continue
        key, sep, value = line.partition("=")
        if sep:
            cur.append((key.strip(), value.strip()))
    return sections


# Where unit files can live, including generated and transient units (systemd-run).
SCAN_DIRS = ("/etc/systemd/system", "/run/systemd/transient", "/run/systemd/generator", "/run/systemd/system",
             "/usr/local/lib/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system",
             "/run/systemd/generator.late")
_SCAN_MAX_BYTES = 256 * 1024


def scan_unit_files(keywords, dirs=SCAN_DIRS, errors=None):
    """Names of service units whose unit file or drop-ins mention one of ``keywords``.

    Reads the unit directories directly instead of asking systemd to enumerate every unit
    (``systemctl list-unit-files`` makes PID 1 load every unit file, which costs far more).
    Templates (``name@.service``) are skipped, as with list-unit-files. A directory that cannot
    be read is reported once in ``errors``.
    """
    needles = tuple(k.encode() for k in keywords)
    found = []
    seen = set()

    def mentions(path):
        try:
            with open_regular(path) as fh:  # a FIFO or device among unit files never blocks the scan
                data = fh.read(_SCAN_MAX_BYTES)
        except OSError:
            return False
        return any(n in data for n in needles)

    for d in dirs:
        try:
            entries = sorted(os.listdir(d))
        except FileNotFoundError:
            continue
        except OSError as exc:
            if errors is not None:
                errors.append(error("systemd_units", d, "The unit directory %s could not be read: %s."
                                    % (d, exc.strerror or exc)))
            continue
        for entry in entries:
            if entry.endswith(".service"):
                name, path = entry, os.path.join(d, entry)
                hit = os.path.isfile(path) and mentions(path)
            elif entry.endswith(".service.d"):
                name = entry[:-2]
                dd = os.path.join(d, entry)
                try:
                    hit = any(fn.endswith(".conf") and mentions(os.path.join(dd, fn)) for fn in sorted(os.listdir(dd)))
                except OSError:
                    hit = False
            else:
                continue
            if hit and "@." not in name and name not in seen:
                seen.add(name)
                found.append(name)
    return found
