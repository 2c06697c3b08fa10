# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start, restart and stop a container through the Engine API, and wait until it serves (remediation side).

The facts never import this file: :class:`EngineControl` is the only place that sends ``POST``
requests to a container engine (``_engine_api.EngineClient`` sends ``GET`` only). A container is
started with the engine's own start call, so it keeps its configuration, its Compose labels and its
restart policy: nothing is recreated or changed.

Public API:

``EngineControl(socket_path, timeout=10.0)``
    ``.start(ref)`` / ``.restart(ref, stop_timeout=10)`` / ``.stop(ref, stop_timeout=10)`` /
    ``.unpause(ref)`` -> True when the engine changed something (HTTP 204), False when it was already
    so (HTTP 304); EngineError otherwise. ``.exec_run(ref, argv, timeout=30)`` -> ``(exit code, output
    lines)`` of a command run in the container (``docker exec``), such as ``nginx -s reload``.
``find(ref, sockets=None, timeout=10.0)`` -> ``(EngineControl, inspect dict)``; ControlError when no
    engine or several have a container of that name / id, or an engine cannot be asked.
``summary(info)`` -> the container's state as the module returns it.
``Waiter(client, ref, listeners, timeout, ...)`` -> ``.wait()``: ``{state, ready, elapsed, listeners,
    container, msg, logs}``; fails fast when the container exits again, crash-loops or turns unhealthy.
"""
from __future__ import annotations

import time
from urllib.parse import quote

from ansible_collections.badgateway.doctor.plugins.module_utils import containers as _containers
from ansible_collections.badgateway.doctor.plugins.module_utils._engine_owner import rootless_problem, rootless_uid
from ansible_collections.badgateway.doctor.plugins.module_utils._engine_api import EngineClient, EngineError, demux_stream, loads
from ansible_collections.badgateway.doctor.plugins.module_utils._mask import mask_text
from ansible_collections.badgateway.doctor.plugins.module_utils._unit_ready import check_listeners

FIRST_PAUSE = 0.2
MAX_PAUSE = 2.0
CRASH_RESTARTS = 2
LOG_LINE_MAX = 300
EXEC_EXIT_WAIT = 5.0        # s the engine may take to report an exec's exit code after its output stream ended


class ControlError(Exception):
    """The container cannot be found or handled (one sentence)."""


class EngineControl(EngineClient):
    """EngineClient plus the calls that change a container (``POST``)."""

    def post(self, path, params=None, timeout=None, body=None, answer=None):
        """``POST path?params``; True for 2xx, False for 304 (nothing to do); with ``answer="json"`` the decoded JSON
        answer, with ``answer="raw"`` the answer's bytes."""
        saved = self.timeout
        if timeout is not None:
            self.timeout = max(self.timeout, float(timeout))
        try:
            status, data = self._request("POST", path, params, accept=(304,), body=body)
        finally:
            self.timeout = saved
        if answer == "raw":
            return data
        if answer == "json":
            try:
                return loads(data)
            except ValueError:
                raise EngineError("the engine at %s answered POST %s with something that is not JSON: %r"
                                  % (self.socket_path, path, data[:80]), kind="protocol")
        return status != 304

    def exec_run(self, ref, argv, timeout=30.0, clock=time.monotonic, sleep=time.sleep):
        """Run ``argv`` in the running container ``ref`` (``docker exec``): ``(exit code, output lines)``.

        The start is attached (the engine streams the output and closes the connection when the command ends;
        Podman 4.3 keeps a detached exec "Running" long after it ended), bounded by ``timeout``; then the engine has
        EXEC_EXIT_WAIT seconds to report the exit code."""
        made = self.post(self._path(ref, "exec"), body={"Cmd": list(argv), "AttachStdout": True, "AttachStderr": True},
                         answer="json")
        exec_id = made.get("Id") if isinstance(made, dict) else None
        if not exec_id:
            raise EngineError("the engine at %s made no exec instance in %s: %r" % (self.socket_path, ref, made), kind="protocol")
        stream = self.post("/exec/%s/start" % quote(str(exec_id), safe=""), body={"Detach": False, "Tty": False},
                           timeout=timeout, answer="raw")
        output = demux_stream(stream).decode("utf-8", "replace").splitlines()
        deadline = clock() + EXEC_EXIT_WAIT
        pause = FIRST_PAUSE
        while True:
            state = self.json("/exec/%s/json" % quote(str(exec_id), safe=""))
            if isinstance(state, dict) and not state.get("Running") and state.get("ExitCode") is not None:
                code = state["ExitCode"]
                if isinstance(code, bool) or not isinstance(code, int):
                    raise EngineError("the engine at %s gave %s in %s the exit code %r, not a number"
                                      % (self.socket_path, " ".join(argv), ref, code), kind="protocol")
                return code, output
            if clock() >= deadline:
                raise EngineError("%s in %s did not finish: the engine still reports it running %.0f s after its output "
                                  "ended" % (" ".join(argv), ref, EXEC_EXIT_WAIT), kind="timeout")
            sleep(pause)
            pause = min(pause * 1.5, MAX_PAUSE)

    def _path(self, ref, verb):
        return "/containers/%s/%s" % (quote(str(ref), safe=""), verb)

    def start(self, ref):
        return self.post(self._path(ref, "start"))

    def unpause(self, ref):
        return self.post(self._path(ref, "unpause"))

    def stop(self, ref, stop_timeout=10):
        return self.post(self._path(ref, "stop"), {"t": str(int(stop_timeout))}, timeout=stop_timeout + 15)

    def restart(self, ref, stop_timeout=10):
        return self.post(self._path(ref, "restart"), {"t": str(int(stop_timeout))}, timeout=stop_timeout + 30)


def find(ref, sockets=None, timeout=10.0):
    """The engine that has the container ``ref`` (name or id) and its inspection."""
    ref = str(ref or "").strip().lstrip("/")
    if not ref or any(c in ref for c in "/\0\n\r ?#%"):
        raise ControlError("container %r is not a container name or id." % (ref,))
    paths = _containers.discover_sockets(sockets)
    if not paths:
        raise ControlError("no container engine socket found (looked at %s and %s)."
                           % (", ".join(_containers.DEFAULT_SOCKETS), _containers.ROOTLESS_GLOB))
    found, problems = [], []
    for path in paths:
        uid = rootless_uid(path)
        problem = rootless_problem(path, uid) if uid is not None else None
        if problem:
            problems.append(problem)
            continue
        client = EngineControl(path, timeout=timeout)
        try:
            client.check_socket()
            found.append((client, client.inspect(ref)))
        except EngineError as exc:
            if exc.status != 404:
                problems.append(str(exc))
    if len(found) > 1:
        raise ControlError("container %s exists on several engines (%s): give the engine's socket."
                           % (ref, ", ".join(c.socket_path for c, _i in found)))
    if not found:
        why = ("; " + "; ".join(problems)) if problems else ""
        raise ControlError("no container %s on %s%s." % (ref, ", ".join(paths), why))
    return found[0]


def summary(info):
    """What the module returns of a container: its identity, state, policy and health."""
    c = _containers.container_facts(info, read_proc=False)
    keep = ("id", "name", "image", "state", "running", "restarting", "paused", "exit_code", "oom_killed", "pid",
            "restart_count", "restart_policy", "health", "compose", "ports", "started_at", "finished_at")
    return {k: c.get(k) for k in keep}


def published_listeners(c):
    """``host:port`` texts of a summary's published tcp ports (what nginx on the host reaches)."""
    out = []
    for p in c.get("ports") or []:
        if p.get("protocol") == "tcp" and p.get("host_port"):
            host = p.get("host_ip") or "0.0.0.0"
            text = ("[%s]:%d" if ":" in host else "%s:%d") % (host, p["host_port"])
            if text not in out:
                out.append(text)
    return out


class Waiter:
    """Wait until the container runs (not restarting), is healthy when it has a health check, and every
    listener accepts a connection; then check it is still the same process ``settle`` seconds later."""

    def __init__(self, client, ref, listeners, timeout=60.0, settle=1.0, wait_health=True, log_lines=20,
                 check=None, clock=time.monotonic, sleep=time.sleep):
        self.client = client
        self.ref = ref
        self.listeners = listeners
        self.timeout = float(timeout)
        self.settle = settle
        self.wait_health = wait_health
        self.log_lines = log_lines
        self.check = check or (lambda ls: check_listeners(ls, 1.0))
        self.clock = clock
        self.sleep = sleep

    def _logs(self, info):
        if not self.log_lines:
            return []
        try:
            tty = bool((info.get("Config") or {}).get("Tty"))
            lines = self.client.logs(self.ref, tail=self.log_lines, tty=tty)
        except EngineError as exc:
            return ["(logs not read: %s)" % exc]
        return [x[:LOG_LINE_MAX] for x in _containers.masked_lines(lines) if x.strip()]

    def _done(self, state, start, info, results, message):
        c = summary(info)
        logs = self._logs(info) if state != "ready" else []
        if logs:
            message += " Last log lines: " + " | ".join(logs[-5:])
        return {"state": state, "ready": state == "ready", "elapsed": round(self.clock() - start, 3),
                "listeners": results, "container": c, "msg": message, "logs": logs}

    def _verdict(self, c, baseline):
        health = (c.get("health") or {}).get("status")
        if (c.get("restart_count") or 0) - baseline >= CRASH_RESTARTS:
            return "crash_loop"
        if c.get("restarting"):
            return "waiting"
        if c.get("state") in ("exited", "dead", "removing"):
            return "exited"
        if c.get("state") == "paused":
            return "paused"
        if c.get("state") != "running":
            return "waiting"
        if self.wait_health and health == "unhealthy":
            return "unhealthy"
        if self.wait_health and health == "starting":
            return "health_starting"
        return "probe"

    def wait(self):
        start = self.clock()
        deadline = start + self.timeout
        info = self.client.inspect(self.ref)
        baseline = summary(info).get("restart_count") or 0
        pause = FIRST_PAUSE
        results = []
        name = summary(info).get("name") or self.ref
        while True:
            c = summary(info)
            verdict = self._verdict(c, baseline)
            if verdict == "crash_loop":
                return self._done("crash_loop", start, info, results, (
                    "container %s is crash-looping: the engine restarted it %d times in %.1f s (restart policy %s); it will "
                    "not become ready." % (name, c["restart_count"] - baseline, self.clock() - start,
                                           c["restart_policy"]["name"])))
            if verdict == "exited":
                return self._done("exited", start, info, results, "container %s is %s (exit code %s) and nothing restarts it."
                                  % (name, c["state"], c.get("exit_code")))
            if verdict == "unhealthy":
                last = ((c.get("health") or {}).get("last") or {}).get("output") or ""
                return self._done("unhealthy", start, info, results, "container %s runs but its health check fails: %s"
                                  % (name, mask_text(str(last).strip())[:LOG_LINE_MAX] or "(no output)"))
            if verdict == "probe":
                results = self.check(self.listeners) if self.listeners else []
                if all(r["ok"] for r in results) and self._settled(c, deadline):
                    return self._done("ready", start, info, results, "container %s is running%s%s." % (
                        name, " and healthy" if (c.get("health") or {}).get("status") == "healthy" else "",
                        (" and accepts connections on " + ", ".join(r["listen"] for r in results)) if results else ""))
            now = self.clock()
            if now >= deadline:
                what = "container %s is %s" % (name, c.get("state"))
                if verdict == "health_starting":
                    what += ", its health check has not passed yet"
                failing = ["%s: %s" % (r["listen"], r["error"]) for r in results if not r["ok"]]
                if failing:
                    what += ", but its listeners do not accept connections (%s)" % "; ".join(failing)
                return self._done("timeout", start, info, results, "%s after %.1f s." % (what, now - start))
            self.sleep(min(pause, max(0.0, deadline - now)))
            pause = min(pause * 1.5, MAX_PAUSE)
            info = self.client.inspect(self.ref)

    def _settled(self, c, deadline):
        if self.settle <= 0:
            return True
        self.sleep(max(0.0, min(self.settle, deadline - self.clock())))
        later = summary(self.client.inspect(self.ref))
        same = (later.get("state") == "running" and not later.get("restarting") and later.get("pid") == c.get("pid")
                and later.get("restart_count") == c.get("restart_count"))
        if same and self.listeners:
            same = all(r["ok"] for r in self.check(self.listeners))
        return same
