# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Log tail + classification: the ``logs`` section of ``ansible_facts.badgateway``.

Reads nginx error logs from the end (cost bounded by the time window and ``max_bytes``, not by
the file size), the journal of the given units and the kernel log, and returns classified,
aggregated events with a few secret-masked samples. Standard library only.
"""

from __future__ import annotations

import grp
import json
import os
import re
import shutil
import time

from ansible_collections.badgateway.doctor.plugins.module_utils import _log_patterns as lp
from ansible_collections.badgateway.doctor.plugins.module_utils import _options
from ansible_collections.badgateway.doctor.plugins.module_utils import _runner
from ansible_collections.badgateway.doctor.plugins.module_utils._mask import mask_text
from ansible_collections.badgateway.doctor.plugins.module_utils._proc import boot_time, error
from ansible_collections.badgateway.doctor.plugins.module_utils._log_patterns import parse_generic_ts, parse_nginx_ts
from ansible_collections.badgateway.doctor.plugins.module_utils._safe_io import describe, open_regular
from ansible_collections.badgateway.doctor.plugins.module_utils.timeparse import parse_since

DEFAULT_NGINX_ERROR_LOG = "/var/log/nginx/error.log"
BLOCK_SIZE = 64 * 1024
MAX_LINE = 16 * 1024
SAMPLE_LEN = 500
MAX_TARGETS = 20
DEFAULT_SINCE = parse_since(_options.SINCE_DEFAULT)
JOURNAL_TIMEOUT = 60


# --------------------------------------------------------------------------- samples

def _sample(text):
    text = mask_text(text.rstrip("\r\n"))
    if len(text) > SAMPLE_LEN:
        text = text[:SAMPLE_LEN - 3] + "..."
    return text


# --------------------------------------------------------------------------- aggregation

class _Events:
    def __init__(self, samples):
        self.samples = max(0, min(int(samples), 3))
        self.events = {}
        self.order = []
        self.oom_seen = set()

    def add(self, cls, source, ts, detail, targets, sample, group=None):
        if cls == "oom_kill":
            key = (detail.get("pid"), detail.get("process"))
            if key in self.oom_seen:
                return
            self.oom_seen.add(key)
            group = detail.get("process")
        elif group is None:
            group = _GROUP_KEYS.get(cls)
            group = detail.get(group) if group else None
        key = (cls, source, group)
        ev = self.events.get(key)
        if ev is None:
            ev = {"class": cls, "source": source, "count": 0, "first": None, "last": None,
                  "targets": [], "detail": {}, "samples": []}
            self.events[key] = ev
            self.order.append(key)
        ev["count"] += 1
        if ts is not None:
            if ev["first"] is None or ts < ev["first"]:
                ev["first"] = ts
            if ev["last"] is None or ts >= ev["last"]:
                ev["last"] = ts
        for t in targets:
            if t and t not in ev["targets"] and len(ev["targets"]) < MAX_TARGETS:
                ev["targets"].append(t)
        for k, v in detail.items():
            if k == "connect_to":
                lst = ev["detail"].setdefault("connect_to", [])
                if v not in lst and len(lst) < MAX_TARGETS:
                    lst.append(v)
            elif v is not None or k not in ev["detail"]:
                ev["detail"][k] = v
        if self.samples:
            ev["samples"].append(sample)
            if len(ev["samples"]) > self.samples:
                del ev["samples"][0]

    def result(self):
        """The events, with secrets masked in samples, targets and details (done once, here)."""
        out = []
        for key in self.order:
            ev = self.events[key]
            ev["samples"] = [_sample(x) for x in ev["samples"]]
            targets = []
            for t in ev["targets"]:
                t = mask_text(t)[:SAMPLE_LEN]
                if t not in targets:
                    targets.append(t)
            ev["targets"] = targets
            ev["detail"] = {k: ([_mask_value(x) for x in v] if isinstance(v, list) else _mask_value(v)) for k, v in ev["detail"].items()}
            out.append(ev)
        return out


_GROUP_KEYS = {"python_exception": "exception", "exec_failed": "status", "unit_failed": "result"}


def _mask_value(v):
    return mask_text(v)[:SAMPLE_LEN] if isinstance(v, str) else v


def _classify_stream(events, kind, source, entries, unit=None):
    """Classify (ts, text[, pid]) entries in chronological order into ``events``.

    Tracebacks are followed per pid when entries carry one (journal), so that two workers failing
    at the same time do not mix their lines."""
    trackers = {}
    for entry in entries:
        ts, text = entry[0], entry[1]
        if len(text) > MAX_LINE:
            text = text[:MAX_LINE]
        if kind != "nginx_error" and kind != "kernel":
            key = entry[2] if len(entry) > 2 else None
            tracker = trackers.get(key)
            if tracker is None:
                tracker = trackers[key] = lp.TracebackTracker()
            for exc, exc_line, frame, ets, raw in tracker.feed(text, ts, text):
                _add_exception(events, source, exc, exc_line, frame, ets, unit)
        res = lp.classify_line(kind, text)
        if res:
            cls, detail, targets = res
            if unit and not targets:
                targets = [unit]
            events.add(cls, source, ts, detail, targets, text)
    for tracker in trackers.values():
        for exc, exc_line, frame, ets, raw in tracker.flush():
            _add_exception(events, source, exc, exc_line, frame, ets, unit)


def _add_exception(events, source, exc, exc_line, frame, ts, unit):
    sample = (frame + " | " + exc_line) if frame else exc_line
    events.add("python_exception", source, ts, {"exception": exc}, [unit] if unit else [], sample)


# --------------------------------------------------------------------------- reading files from the end

def read_tail(path, since, max_bytes, parse_ts=parse_nginx_ts, block_size=BLOCK_SIZE):
    """Read ``path`` backwards in blocks until a line older than ``since`` or ``max_bytes`` is reached.

    Returns a dict: entries [(ts, text)] in file order (continuation lines merged into the entry they
    follow, each entry's text joined with "\\n"), read_bytes, reached_start (bool), timestamps (bool),
    truncated (max_bytes hit before the window's start). Raises OSError for open/read failures, and
    ``_safe_io.UnsafeFile`` for anything but a regular file (a FIFO or a device never blocks here).
    """
    lines_rev = []
    read = 0
    stop = False
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        pos = size
        carry = b""
        while pos > 0 and read < max_bytes and not stop:
            n = min(block_size, pos, max_bytes - read)
            pos -= n
            f.seek(pos)
            data = f.read(n)
            read += len(data)
            if not data:
                break
            data += carry
            parts = data.split(b"\n")
            if pos > 0:
                carry = parts[0]
                parts = parts[1:]
                if len(carry) > MAX_LINE * 4:
                    # an absurdly long line (binary?): keep its tail only
                    carry = carry[-MAX_LINE:]
            else:
                carry = b""
            for raw in reversed(parts):
                if not raw:
                    continue
                text = raw[:MAX_LINE].decode("utf-8", "replace")
                ts = parse_ts(text)
                if ts is not None and ts < since:
                    stop = True
                    break
                lines_rev.append((ts, text))
    truncated = not stop and pos > 0
    lines_rev.reverse()
    entries = []
    seen_ts = False
    for ts, text in lines_rev:
        if ts is None:
            if entries and seen_ts:
                pts, ptext = entries[-1]
                if len(ptext) < MAX_LINE:
                    entries[-1] = (pts, ptext + "\n" + text)
                continue
            if not seen_ts and (stop or truncated):
                # continuation of an entry outside the window
                continue
            entries.append((None, text))
            continue
        seen_ts = True
        entries.append((ts, text))
    if seen_ts:
        entries = [e for e in entries if e[0] is not None]
    return {"entries": entries, "read_bytes": read, "reached_start": pos == 0 and not stop,
            "timestamps": seen_ts, "truncated": truncated, "size": size}


# --------------------------------------------------------------------------- commands

def _run_capped(cmd, max_bytes, timeout=JOURNAL_TIMEOUT):
    """Run cmd, keep at most max_bytes of stdout (then stop it, cut at the last whole line).

    Returns (rc, stdout bytes, stderr text, capped, problem); ``problem`` is a sentence when the
    command did not start or did not finish in time (what it printed until then is kept)."""
    res = _runner.run(cmd, timeout=timeout, max_bytes=max_bytes, text=False)
    data = res.stdout
    capped = res.truncated or res.timed_out
    if capped:
        nl = data.rfind(b"\n")
        data = data[:nl + 1] if nl >= 0 else b""
    err = res.stderr.decode("utf-8", "replace").strip()
    return res.rc, data, err, capped, res.error


def journal_available():
    """True when journald keeps journal files we can read (volatile or persistent)."""
    for d in ("/run/log/journal", "/var/log/journal"):
        try:
            if os.path.isdir(d) and os.listdir(d):
                return True
        except OSError:
            continue
    return False


def _journal_message(entry):
    msg = entry.get("MESSAGE")
    if isinstance(msg, list):
        try:
            msg = bytes(int(b) & 0xFF for b in msg).decode("utf-8", "replace")
        except (TypeError, ValueError):
            msg = None
    if msg is None or not isinstance(msg, str):
        return None
    return msg


def parse_journal_json(out, reverse=False):
    """``journalctl -o json`` output (bytes) -> [(ts, line)] oldest first. MESSAGE may be a byte array;
    multi-line messages give one entry per line. ``reverse``: the output came from ``--reverse``."""
    entries = []
    for line in out.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            entry = json.loads(line.decode("utf-8", "replace") if isinstance(line, bytes) else line)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        msg = _journal_message(entry)
        if msg is None:
            continue
        try:
            ts = int(entry.get("__REALTIME_TIMESTAMP")) / 1e6
        except (TypeError, ValueError):
            ts = None
        pid = entry.get("_PID")
        entries.append([(ts, part, pid) for part in msg.split("\n") if part.strip()])
    # --reverse gave newest record first; keep the line order inside one message
    if reverse:
        entries.reverse()
    return [e for record in entries for e in record]


def read_journal(args, since, max_bytes):
    """Run journalctl with ``args`` (+ json, since, reverse) and return (entries chronological, read_bytes, capped, err)."""
    cmd = ["journalctl"] + list(args) + ["-o", "json", "--since", "@%d" % int(since), "--no-pager", "--reverse",
                                         "--output-fields=MESSAGE,_COMM,_PID,SYSLOG_IDENTIFIER"]
    rc, out, err, capped, problem = _run_capped(cmd, max_bytes)
    if rc not in (0, None) and not capped and "output-fields" in err:
        cmd = [c for c in cmd if not c.startswith("--output-fields")]
        rc, out, err, capped, problem = _run_capped(cmd, max_bytes)
    if problem and not out:
        return None, 0, capped, problem
    if rc not in (0, None) and not capped and not out:
        return None, len(out), capped, "journalctl exited with %s: %s" % (rc, mask_text(err[:300]) or "no output")
    entries = parse_journal_json(out, reverse=True)
    hint = None
    if problem:
        hint = "%s; the newest %d bytes it wrote were classified" % (problem, len(out))
    elif "not seeing messages" in err:
        hint = "journalctl shows only part of the journal to this user: " + err.splitlines()[0][:200]
    return entries, len(out), capped, hint


_DMESG_LINE = re.compile(r"^(?:<\d+>)?\[\s*(\d+\.\d+)\]\s?(.*)$")


def parse_dmesg(text, btime):
    entries = []
    for line in text.splitlines():
        m = _DMESG_LINE.match(line)
        if m:
            ts = btime + float(m.group(1)) if btime is not None else None
            entries.append((ts, m.group(2)))
        elif line.strip():
            entries.append((None, line))
    return entries


# --------------------------------------------------------------------------- collection

def _err(errors, source, path, message):
    errors.append(error(source, path, message))


def _read_nginx_log(events, sources, errors, path, since, max_bytes, kind="nginx_error", parse_ts=parse_nginx_ts):
    source_name = "%s:%s" % (kind, path)
    budget = max_bytes
    parts = []
    try:
        res = read_tail(path, since, budget, parse_ts)
    except OSError as exc:
        sources.append({"kind": kind, "name": source_name, "path": path, "read_bytes": 0, "ok": False})
        _err(errors, "log_file", path, "Log file: %s." % describe(path, exc))
        return
    sources.append({"kind": kind, "name": source_name, "path": path, "read_bytes": res["read_bytes"], "ok": True})
    parts.append(res)
    budget -= res["read_bytes"]
    # logrotate: the window may reach into the previous file
    rotated = path + ".1"
    if res["reached_start"] and budget > 0 and os.path.isfile(rotated):
        try:
            old = read_tail(rotated, since, budget, parse_ts)
            sources.append({"kind": kind, "name": "%s:%s" % (kind, rotated), "path": rotated,
                            "read_bytes": old["read_bytes"], "ok": True})
            parts.insert(0, old)
        except OSError as exc:
            sources.append({"kind": kind, "name": "%s:%s" % (kind, rotated), "path": rotated, "read_bytes": 0, "ok": False})
            _err(errors, "log_file", rotated, "Rotated log file: %s." % describe(rotated, exc))
    for res in parts:
        if res["truncated"]:
            _err(errors, "log_file", path,
                 "Log file %s: read the last %d bytes (max_bytes) without reaching the start of the time window; "
                 "older events are not counted." % (path, res["read_bytes"]))
        if not res["timestamps"] and res["entries"]:
            _err(errors, "log_file", path,
                 "Log file %s: no timestamps recognised; classified the last %d bytes without a time window."
                 % (path, res["read_bytes"]))
        _classify_stream(events, kind, source_name, res["entries"])


def bounded_max_bytes(value):
    """``max_bytes`` as an int within the limits every log option shares (``_options``)."""
    try:
        value = int(value)
    except (TypeError, ValueError, OverflowError):
        return _options.LOG_BYTES_DEFAULT
    return min(max(value, _options.LOG_BYTES_MIN), _options.LOG_BYTES_MAX)


def _default_units(errors):
    """The app servers' units (and their socket units) and nginx's: ``gateway.unit_names``."""
    try:
        from ansible_collections.badgateway.doctor.plugins.module_utils import apps
        from ansible_collections.badgateway.doctor.plugins.module_utils.gateway import unit_names
        return unit_names({"servers": [{"unit": unit} for unit in apps.discover_app_units(errors)]})
    except Exception as exc:  # pylint: disable=broad-except
        _err(errors, "systemctl", None, "Could not discover app server units: %s." % exc)
        return []


def collect_logs(nginx_error_logs=None, units=None, since=DEFAULT_SINCE, max_bytes=_options.LOG_BYTES_DEFAULT,
                 kernel=True, samples=_options.LOG_SAMPLES_MAX, files=None, now=None):
    """Collect the ``logs`` facts section.

    ``since`` is a window length in seconds (events newer than now - since). ``units=None`` means:
    the app server units found on the host plus nginx.service; ``[]`` reads no journal.
    ``files`` are extra plain log files (gunicorn --error-logfile ...), classified like journal lines.
    """
    now = time.time() if now is None else now
    errors = []
    sources = []
    try:
        since = parse_since(since)
    except ValueError as exc:
        _err(errors, "logs", None, "Invalid since value %r (%s); using %d seconds." % (since, exc, DEFAULT_SINCE))
        since = DEFAULT_SINCE
    max_bytes = bounded_max_bytes(max_bytes)
    start = max(0.0, now - since)
    events = _Events(samples)
    result = {"window": {"since": start, "max_bytes": max_bytes}, "sources": sources, "events": [], "errors": errors}

    if nginx_error_logs is None:
        nginx_error_logs = [DEFAULT_NGINX_ERROR_LOG]
    for path in nginx_error_logs:
        if not path or path in ("stderr", "syslog") or str(path).startswith(("syslog:", "memory:")):
            continue
        try:
            _read_nginx_log(events, sources, errors, path, start, max_bytes)
        except Exception as exc:  # pylint: disable=broad-except
            _err(errors, "log_file", path, "Unexpected failure reading %s: %s." % (path, exc))

    for path in files or []:
        try:
            _read_nginx_log(events, sources, errors, path, start, max_bytes, kind="file", parse_ts=parse_generic_ts)
        except Exception as exc:  # pylint: disable=broad-except
            _err(errors, "log_file", path, "Unexpected failure reading %s: %s." % (path, exc))

    have_journalctl = shutil.which("journalctl") is not None
    have_journal = have_journalctl and journal_available()
    if units is None:
        units = _default_units(errors)
    if units:
        if not have_journalctl:
            _err(errors, "journalctl", None, "journalctl not found; the journal of %s was not read." % ", ".join(units))
        elif not have_journal:
            _err(errors, "journalctl", None,
                 "No journal files under /run/log/journal or /var/log/journal; the journal of %s was not read." % ", ".join(units))
        else:
            limited = _journal_limited()
            if limited:
                _err(errors, "journalctl", None, "%s; events of %s may be missing." % (limited, ", ".join(units)))
            for unit in units:
                _read_unit_journal(events, sources, errors, unit, start, max_bytes)

    if kernel:
        try:
            _read_kernel(events, sources, errors, start, max_bytes, have_journal)
        except Exception as exc:  # pylint: disable=broad-except
            _err(errors, "kernel", None, "Unexpected failure reading the kernel log: %s." % exc)

    result["events"] = events.result()
    return result


def _journal_limited():
    """A sentence when this user sees only part of the journal (not root, not in systemd-journal/adm/wheel)."""
    if os.geteuid() == 0:
        return None
    names = set()
    for gid in set(os.getgroups()) | {os.getegid()}:
        try:
            names.add(grp.getgrgid(gid).gr_name)
        except KeyError:
            continue
    if names & {"systemd-journal", "adm", "wheel"}:
        return None
    return "Not root and not in the systemd-journal or adm group: journalctl shows only this user's own messages"


def _read_unit_journal(events, sources, errors, unit, start, max_bytes):
    name = "journal:%s" % unit
    try:
        entries, nbytes, capped, problem = read_journal(["-u", unit], start, max_bytes)
    except (OSError, ValueError) as exc:
        entries, nbytes, capped, problem = None, 0, False, "journalctl failed: %s" % exc
    if entries is None:
        sources.append({"kind": "journal", "name": name, "path": None, "read_bytes": nbytes, "ok": False})
        _err(errors, "journalctl", None, "Cannot read the journal of %s: %s." % (unit, problem))
        return
    sources.append({"kind": "journal", "name": name, "path": None, "read_bytes": nbytes, "ok": True})
    if problem:
        _err(errors, "journalctl", None, problem)
    if capped:
        _err(errors, "journalctl", None, "Journal of %s: read the newest %d bytes (max_bytes); older events in the window "
                                         "are not counted." % (unit, nbytes))
    _classify_stream(events, "journal", name, entries, unit=unit)


def _read_kernel(events, sources, errors, start, max_bytes, have_journal):
    """Kernel messages for OOM kills: journalctl -k, else /var/log/kern.log, else dmesg.

    An empty journal window is not trusted on its own (containers and some hosts keep no kernel
    messages in the journal): the file / dmesg fallbacks are tried too, and when none can be read
    an error says that OOM kills may be missed."""
    problems = []
    journal_empty = False
    if have_journal:
        try:
            entries, nbytes, _capped, problem = read_journal(["-k"], start, max_bytes)
        except (OSError, ValueError) as exc:
            entries, nbytes, _capped, problem = None, 0, False, str(exc)
        if entries is not None:
            sources.append({"kind": "kernel", "name": "journal:kernel", "path": None, "read_bytes": nbytes, "ok": True})
            if entries:
                _classify_stream(events, "kernel", "kernel", entries)
                return
            journal_empty = True
            problems.append("the journal holds no kernel messages for the window")
        else:
            problems.append("journalctl -k: %s" % problem)
    else:
        problems.append("no journal")
    for path in ("/var/log/kern.log", "/var/log/messages"):
        if os.path.isfile(path):
            try:
                res = read_tail(path, start, max_bytes, parse_generic_ts)
            except OSError as exc:
                problems.append(describe(path, exc))
                continue
            sources.append({"kind": "kernel", "name": "kernel:%s" % path, "path": path, "read_bytes": res["read_bytes"], "ok": True})
            _classify_stream(events, "kernel", "kernel", [e for e in res["entries"] if "kernel" in e[1][:80] or path.endswith("kern.log")])
            return
    if shutil.which("dmesg"):
        rc, out, err, _capped, problem = _run_capped(["dmesg"], max_bytes * 4)
        err = problem or err
        if rc == 0 or out:
            entries = [(ts, t) for ts, t in parse_dmesg(out.decode("utf-8", "replace"), boot_time()) if ts is None or ts >= start]
            sources.append({"kind": "kernel", "name": "kernel:dmesg", "path": None, "read_bytes": len(out), "ok": True})
            _classify_stream(events, "kernel", "kernel", entries)
            if not have_journal:
                _err(errors, "kernel", None, "Kernel log read with dmesg (%s); times are approximate." % "; ".join(problems))
            return
        problems.append("dmesg: %s" % (err[:200] or "exit %s" % rc))
    else:
        problems.append("dmesg not found")
    if not journal_empty:
        sources.append({"kind": "kernel", "name": "kernel", "path": None, "read_bytes": 0, "ok": False})
        _err(errors, "kernel", None, "Cannot read the kernel log (%s)." % "; ".join(problems))
    else:
        _err(errors, "kernel", None, "Kernel messages are not visible here (%s); OOM kills may be missed." % "; ".join(problems))
