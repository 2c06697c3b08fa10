# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wait, bounded, until a systemd unit is active and its listeners accept connections (target side,
standard library only).

``wait_ready`` polls ``systemctl show`` with a growing pause (0.1 s, x1.5, at most 2 s) until the
deadline and decides from systemd's own state:

- ``ActiveState=failed`` (no start job queued): the unit gave up - fail at once;
- ``NRestarts`` grew by ``crash_restarts`` since the wait began (systemd restarted it
  automatically, ``SubState=auto-restart`` in between): a crash loop - fail at once instead of
  waiting out the timeout while systemd keeps restarting it;
- ``inactive`` with no start job queued and no active socket unit that would start it: nobody
  is starting it - fail at once;
- ``active``: connect to every listener (as ``as_user`` when given: uid, gid and supplementary
  groups of that user, as nginx's workers have them); when all accept, wait ``settle`` seconds and
  check that the unit is still active with the same main process and restart count (an app
  server binds its socket before its workers import the app; a worker that fails to boot takes the
  server down a moment later).

A connection to a unix socket is made without blocking, as nginx makes it: a full accept queue is
``EAGAIN``, not a wait. Listener text: ``unix:/run/app.sock`` (or a bare ``/path``), ``host:port``,
``[v6]:port``; a wildcard host (``0.0.0.0``, ``::``, ``*``) is reached over loopback; a host name
over each address it resolves to (ready when one accepts).

On failure the last error lines of the unit's journal come back, masked.
"""

from __future__ import annotations

import re
import socket
import time

from ansible_collections.badgateway.doctor.plugins.module_utils import _endpoints, _runner, systemd
from ansible_collections.badgateway.doctor.plugins.module_utils._mask import mask_text
from ansible_collections.badgateway.doctor.plugins.module_utils.probes import connect, errno_name

PROPS = ("Id", "LoadState", "ActiveState", "SubState", "Result", "NRestarts", "MainPID", "ExecMainCode",
         "ExecMainStatus", "Restart", "Job", "TriggeredBy")
MAX_PAUSE = 2.0
FIRST_PAUSE = 0.1
JOURNAL_SCAN = 200
LINE_MAX = 300
_ERROR_LINE = re.compile(
    r"Traceback|Error\b|Error:|Exception|ImproperlyConfigured|\b[a-z_][\w]*\.[\w.]*[A-Z]\w*: |"
    r"\[ERROR\]|\[CRITICAL\]|\bCRITICAL\b|\bFATAL\b|\bfatal\b|[Ff]ailed|"
    r"code=(?:exited|killed|dumped)|status=\d|Permission denied|No such file|Address already in use|"
    r"Connection refused|Can't connect|Worker failed to boot|Reason:")
_EXCEPTION_LINE = re.compile(r"\b(?:[a-z_][\w]*\.)*[A-Z]\w*(?:Error|Exception|Exit|Configured|Interrupt)\b(?::|$)")
# systemd noise inside containers (no cgroup kill permission); not the unit's own error
_NOISE = re.compile(r"Failed to kill control group .*ignoring")


class ListenError(ValueError):
    """A listener text that cannot be used; the message names it."""


def unit_name(unit):
    unit = (unit or "").strip()
    if not unit or "/" in unit or "\0" in unit or "\n" in unit:
        raise ValueError("unit %r is not a unit name." % (unit,))
    if "." not in unit.rsplit("@", 1)[-1]:
        unit += ".service"
    return unit


def parse_listen(text):
    """A listener text -> ``{listen, kind, path | host+port}``; raise ListenError."""
    if not isinstance(text, str) or not text.strip():
        raise ListenError("listener %r is empty; use unix:/path, host:port or [v6]:port." % (text,))
    value = text.strip()
    try:
        if value.startswith("unix:") or value.startswith("/") or value.startswith("@"):
            ep = _endpoints.unix(value[5:] if value.startswith("unix:") else value)
            return {"listen": value, "kind": "unix", "path": ep["path"]}
        host, port = _endpoints.parse_host_port(value, bare_port=True)
    except ValueError as exc:
        raise ListenError("listener %r is not valid: %s; use unix:/path, host:port or [v6]:port." % (text, exc)) from None
    if port is None:
        raise ListenError("listener %r has no port; use host:port or [v6]:port." % (text,))
    return {"listen": value, "kind": "tcp", "host": host, "port": port}


def _targets(listener):
    """The socket addresses to try for one parsed listener: ``[(family, address)]``."""
    if listener["kind"] == "unix":
        path = listener["path"]
        return [(socket.AF_UNIX, "\0" + path[1:] if path.startswith("@") else path)]
    host, port = _endpoints.reachable_host(listener["host"]), listener["port"]
    try:
        infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    out = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6) and (family, sockaddr) not in out:
            out.append((family, sockaddr))
    return out


def connect_once(family, address, timeout):
    """Connect and close at once. None when the connection was accepted, else the errno name."""
    try:
        connect(family, address, timeout).close()
        return None
    except OSError as exc:
        return errno_name(exc)


def check_listeners(listeners, timeout=1.0):
    """Connect to each parsed listener. Returns ``[{listen, ok, error}]`` (JSON-serialisable: this runs
    in a child process when the connections are made as another user)."""
    results = []
    for listener in listeners:
        targets = _targets(listener)
        if not targets:
            results.append({"listen": listener["listen"], "ok": False, "error": "EHOSTUNREACH"})
            continue
        error = None
        for family, address in targets:
            error = connect_once(family, address, timeout)
            if error is None:
                break
        results.append({"listen": listener["listen"], "ok": error is None, "error": error})
    return results


# ---------------------------------------------------------------- systemd

def show(unit, run=None):
    """``systemctl show`` properties of ``unit`` (dict), or raise RuntimeError with the reason."""
    props, why = systemd.show_unit(unit, PROPS, run, timeout=15)
    if why:
        raise RuntimeError(why)
    return props


_STATUS_KEYS = ("active_state", "sub_state", "result", "n_restarts", "main_pid", "exec_main_status")


def state_of(props):
    """The unit's state as returned: active_state, sub_state, result, n_restarts, main_pid, exit status, Restart=."""
    state = systemd.state_from_show(props)
    out = {key: state[key] for key in _STATUS_KEYS}
    out["restart"] = props.get("Restart") or None
    return out


def journal_errors(unit, lines=10, run=None):
    """The last ``lines`` error-looking lines of the unit's journal (masked, each at most 300 characters);
    the last lines whatever they say when none looks like an error."""
    if lines <= 0:
        return []
    argv = ["journalctl", "-u", unit, "-n", str(JOURNAL_SCAN), "-o", "short-iso", "--no-pager", "-q"]
    rc, out, _err = (run or _runner.call)(argv, 30)
    if rc != 0 or not out:
        return []
    all_lines = [line for line in out.splitlines() if line.strip() and not _NOISE.search(line)]
    picked = [line for line in all_lines if _ERROR_LINE.search(line)] or all_lines
    tail = picked[-lines:]
    # the app's own exception is the cause; the lines after it (workers exiting, systemd restarting) are consequences
    exceptions = [line for line in picked if _EXCEPTION_LINE.search(line)]
    if exceptions and exceptions[-1] not in tail:
        tail = [exceptions[-1]] + tail[1:] if lines > 1 else [exceptions[-1]]
    return [mask_text(line)[:LINE_MAX] for line in tail]


# ---------------------------------------------------------------- the wait

def _has_job(props):
    job = (props.get("Job") or "").strip()
    return bool(job) and job != "0"


def _socket_active(props, run):
    for sock in (props.get("TriggeredBy") or "").split():
        try:
            if show(sock, run).get("ActiveState") == "active":
                return True
        except RuntimeError:
            continue
    return False


def assess(props, baseline_restarts, crash_restarts, run=None):
    """One look at the unit: ``ready_to_probe``, ``wait``, ``failed``, ``crash_loop``, ``inactive``,
    ``not_found``, or ``socket`` (inactive, but an active socket unit starts it on connection)."""
    if props.get("LoadState") == "not-found":
        return "not_found"
    active = props.get("ActiveState")
    restarts = systemd.to_int(props.get("NRestarts")) or 0
    if crash_restarts and restarts - baseline_restarts >= crash_restarts:
        return "crash_loop"
    if active == "active" or active == "reloading":
        return "ready_to_probe"
    if active == "failed":
        return "wait" if _has_job(props) else "failed"
    if active == "inactive":
        if _has_job(props):
            return "wait"
        return "socket" if _socket_active(props, run) else "inactive"
    return "wait"  # activating (start, start-pre, auto-restart), deactivating (a restart in progress)


def _describe(unit, props):
    state = "%s (%s)" % (props.get("ActiveState"), props.get("SubState"))
    extra = []
    if props.get("Result") and props.get("Result") != "success":
        extra.append("result %s" % props["Result"])
    status = systemd.to_int(props.get("ExecMainStatus"))
    if status:
        extra.append("main process exit status %d" % status)
    return "%s is %s%s" % (unit, state, (", " + ", ".join(extra)) if extra else "")


class Waiter:
    """The wait, with its clock, pause, listener check and systemd access injectable for tests."""

    def __init__(self, unit, listeners, timeout=30.0, settle=1.0, crash_restarts=2, connect_timeout=1.0,
                 check=None, run=None, clock=time.monotonic, sleep=time.sleep):
        self.unit = unit
        self.listeners = listeners
        self.timeout = timeout
        self.settle = settle
        self.crash_restarts = crash_restarts
        self.connect_timeout = connect_timeout
        self.check = check or (lambda listeners: check_listeners(listeners, connect_timeout))
        self.run = run
        self.clock = clock
        self.sleep = sleep

    def _result(self, state, start, props, results, message, attempts):
        return {"state": state, "ready": state == "ready", "elapsed": round(self.clock() - start, 3),
                "listeners": results, "unit": self.unit, "status": state_of(props or {}), "attempts": attempts,
                "msg": message}

    def wait(self, once=False):
        start = self.clock()
        deadline = start + self.timeout
        props = show(self.unit, self.run)
        baseline = systemd.to_int(props.get("NRestarts")) or 0
        # already crashed and waiting to be restarted when the wait began: one more restart confirms the loop
        needed = self.crash_restarts
        if needed > 1 and baseline > 0 and (props.get("SubState") or "").startswith("auto-restart"):
            needed -= 1
        pause = FIRST_PAUSE
        results = []
        attempts = 0
        while True:
            attempts += 1
            if attempts > 1:
                props = show(self.unit, self.run)
            verdict = assess(props, baseline, needed, self.run)
            if verdict == "not_found":
                return self._result("not_found", start, props, results, "Unit %s not found." % self.unit, attempts)
            if verdict == "crash_loop":
                restarts = systemd.to_int(props.get("NRestarts")) or 0
                count = restarts - baseline
                message = ("%s is crash-looping: systemd restarted it %d time%s in %.1f s (NRestarts %d -> %d, "
                           "Restart=%s); it will not become ready."
                           % (self.unit, count, "" if count == 1 else "s", self.clock() - start, baseline, restarts,
                              props.get("Restart")))
                return self._result("crash_loop", start, props, results, message, attempts)
            if verdict == "failed":
                return self._result("failed", start, props, results, "%s: it failed and is not being restarted."
                                    % _describe(self.unit, props), attempts)
            if verdict == "inactive":
                return self._result("inactive", start, props, results, (
                    "%s and nothing is starting it (no start job, no active socket unit); start it first."
                    % _describe(self.unit, props)), attempts)
            if verdict in ("ready_to_probe", "socket"):
                results = self.check(self.listeners) if self.listeners else []
                if verdict == "ready_to_probe" and all(r["ok"] for r in results):
                    if self._settled(props, deadline):
                        return self._result("ready", start, props, results, "%s is active%s." % (
                            self.unit, " and accepts connections on " + ", ".join(r["listen"] for r in results)
                            if results else ""), attempts)
                    # it changed while settling: look again after the pause (the next verdict says why)
            now = self.clock()
            if once or now >= deadline:
                failing = ["%s: %s" % (r["listen"], r["error"]) for r in results if not r["ok"]]
                what = _describe(self.unit, props)
                if failing:
                    what += ", but its listeners do not accept connections (%s)" % "; ".join(failing)
                return self._result("timeout" if not once else "not_ready", start, props, results,
                                    "%s after %.1f s." % (what, now - start) if not once else what + ".", attempts)
            self.sleep(min(pause, deadline - now))
            pause = min(pause * 1.5, MAX_PAUSE)

    def _settled(self, props, deadline):
        """Still active with the same main process and restart count after ``settle`` seconds?"""
        if self.settle <= 0:
            return True
        self.sleep(max(0.0, min(self.settle, deadline - self.clock())))
        later = show(self.unit, self.run)
        same = (later.get("ActiveState") in ("active", "reloading") and later.get("MainPID") == props.get("MainPID")
                and later.get("NRestarts") == props.get("NRestarts"))
        if same and self.listeners:
            same = all(r["ok"] for r in self.check(self.listeners))
        return same
