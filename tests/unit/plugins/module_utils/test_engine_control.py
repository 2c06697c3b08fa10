# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The remediation side of the Engine API: POST start / stop / restart (a served unix socket), finding the
container's engine, the wait until the container serves (clock and engine injected), the module's decisions
and the facts staying read-only. The calls against the real Podman engine are in the container lab test."""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from test_containers import INSPECT, _j, _rootless_engine, engine, frame, user_run  # noqa: F401  pylint: disable=unused-import  # the fake engine fixture

from ansible_collections.badgateway.doctor.plugins.module_utils import _engine_control as E
from ansible_collections.badgateway.doctor.plugins.module_utils._engine_api import EngineClient, EngineError

REPO = Path(__file__).resolve().parents[4]
CID = INSPECT["Id"]


def info(state="running", restarts=0, health="healthy", pid=4242, exit_code=0, secret_log=False):
    data = copy.deepcopy(INSPECT)
    data["State"].update(Status=state, Running=state == "running", Restarting=state == "restarting", Pid=pid if state ==
                         "running" else 0, ExitCode=exit_code, Paused=state == "paused")
    data["RestartCount"] = restarts
    if health is None:
        data["State"].pop("Health", None)
    else:
        data["State"]["Health"]["Status"] = health
    return data


# ---------------------------------------------------------------- POST over the socket

def test_start_stop_restart_unpause_are_posts_and_304_means_no_change(engine):
    e = engine({f"/containers/{CID}/start": (204, b""), f"/containers/{CID}/stop": (304, b""),
                f"/containers/{CID}/restart": (204, b""), f"/containers/{CID}/unpause": (204, b"")})
    c = E.EngineControl(e.path, timeout=2)
    assert c.start(CID) is True
    assert c.stop(CID, stop_timeout=3) is False
    assert c.restart(CID) is True and c.unpause(CID) is True
    assert e.requests == [f"/containers/{CID}/start", f"/containers/{CID}/stop?t=3", f"/containers/{CID}/restart?t=10",
                          f"/containers/{CID}/unpause"]


def test_exec_run_waits_for_the_exit_code(engine):
    out = frame(2, 'nginx: [emerg] host not found in upstream "web" in /etc/nginx/nginx.conf:17\n')
    e = engine({f"/containers/{CID}/exec": (201, b'{"Id": "ex1"}'), "/exec/ex1/start": (200, out),
                "/exec/ex1/json": _j({"Running": False, "ExitCode": 1, "ID": "ex1"})})
    assert E.EngineControl(e.path, timeout=2).exec_run(CID, ["nginx", "-s", "reload"]) == (
        1, ['nginx: [emerg] host not found in upstream "web" in /etc/nginx/nginx.conf:17'])
    assert e.requests == [f"/containers/{CID}/exec", "/exec/ex1/start", "/exec/ex1/json"]


def test_exec_run_that_never_ends_is_bounded(engine):
    e = engine({f"/containers/{CID}/exec": (201, b'{"Id": "ex2"}'), "/exec/ex2/start": (200, b""),
                "/exec/ex2/json": _j({"Running": True, "ExitCode": None})})
    clock = Clock()
    # the stream closed, the engine says: running; the message gives the real wait (5 s), not the stream's 30 s
    with pytest.raises(EngineError, match="still reports it running 5 s after its output ended"):
        E.EngineControl(e.path, timeout=2).exec_run(CID, ["nginx", "-s", "reload"], timeout=30, clock=clock,
                                                    sleep=clock.sleep)
    assert clock.t < 10


def test_post_error_names_the_engine_message(engine):
    e = engine({"/containers/x/start": (500, b'{"message":"OCI runtime error: crun: keyring"}')})
    with pytest.raises(EngineError, match=r"answered POST /containers/x/start with HTTP 500: OCI runtime error"):
        E.EngineControl(e.path, timeout=2).start("x")


def test_facts_stay_read_only():
    # the client the facts use has no way to change a container, and no fact source imports the remediation side
    assert not hasattr(EngineClient, "post") and not hasattr(EngineClient, "start")
    for name in ("plugins/module_utils/containers.py", "plugins/module_utils/_container_nginx.py",
                 "plugins/module_utils/gateway.py", "plugins/modules/container_facts.py", "plugins/modules/gateway_facts.py"):
        text = (REPO / name).read_text()
        assert "_engine_control" not in text and '"POST"' not in text, name


# ---------------------------------------------------------------- finding the container

def test_find_on_the_one_engine_that_has_it(engine, tmp_path):
    other = engine({"/containers/": (404, b'{"message":"no such container"}')})
    os.rename(other.path, str(tmp_path / "other.sock"))
    other.path = str(tmp_path / "other.sock")
    mine = engine({"/containers/": _j(INSPECT)})
    client, data = E.find("shop_web_1", [other.path, mine.path])
    assert client.socket_path == mine.path and data["Id"] == CID


def test_find_refuses_bad_names_missing_and_ambiguous(engine, tmp_path):
    with pytest.raises(E.ControlError, match="not a container name"):
        E.find("../../etc", ["/nope.sock"])
    e = engine({"/containers/": (404, b'{"message":"no such container"}')})
    with pytest.raises(E.ControlError, match=r"no container ghost on .*engine.sock"):
        E.find("ghost", [e.path])
    with pytest.raises(E.ControlError, match=r"no container ghost on /nope.sock; no container engine socket at /nope.sock"):
        E.find("ghost", ["/nope.sock"])


def test_published_listeners():
    c = E.summary(INSPECT)
    assert E.published_listeners(c) == ["127.0.0.1:8080"]


# ---------------------------------------------------------------- the wait

class FakeEngine:
    """An EngineControl stand-in: inspections in order (the last one repeats), canned logs."""

    def __init__(self, inspections, logs=()):
        self.inspections = list(inspections)
        self.log_lines = list(logs)

    def inspect(self, _ref):
        return self.inspections.pop(0) if len(self.inspections) > 1 else self.inspections[0]

    def logs(self, _ref, tail=20, tty=False):
        return self.log_lines[-tail:]


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.t += s


def waiter(inspections, listeners=(), results=None, logs=(), timeout=30.0):
    clock = Clock()

    def check(ls):
        return results or [{"listen": x["listen"], "ok": True, "error": None} for x in ls]
    return E.Waiter(FakeEngine(inspections, logs), CID, list(listeners), timeout=timeout, check=check,
                    clock=clock, sleep=clock.sleep), clock


def test_ready_after_the_health_check_passes():
    w, _c = waiter([info(health="starting"), info(health="starting"), info(health="healthy")],
                   listeners=[{"listen": "127.0.0.1:8080", "kind": "tcp", "host": "127.0.0.1", "port": 8080}])
    res = w.wait()
    assert res["state"] == "ready" and res["ready"] and res["logs"] == []
    assert res["msg"] == "container shop_web_1 is running and healthy and accepts connections on 127.0.0.1:8080."


def test_exits_again_fails_fast_with_masked_logs():
    w, clock = waiter([info(), info(state="exited", exit_code=3)], logs=["booting", "DATABASE_URL=postgres://u:hunter2@db/x",
                                                                         "fatal: cannot bind"])
    w.settle = 0
    w.check = lambda ls: [{"listen": "127.0.0.1:8080", "ok": False, "error": "ECONNREFUSED"}]
    w.listeners = [{"listen": "127.0.0.1:8080"}]
    res = w.wait()
    assert res["state"] == "exited" and not res["ready"] and clock.t < 5
    assert "exit code 3" in res["msg"] and "fatal: cannot bind" in res["msg"]
    assert "hunter2" not in json.dumps(res)


def test_crash_loop_under_the_restart_policy_fails_fast():
    w, clock = waiter([info(restarts=4, health=None), info(state="restarting", restarts=5, health=None),
                       info(restarts=6, health=None)])
    res = w.wait()
    assert res["state"] == "crash_loop" and "restarted it 2 times" in res["msg"] and "unless-stopped" in res["msg"]
    assert clock.t < 5


def test_unhealthy_fails_with_the_checks_output():
    data = info(health="unhealthy")
    data["State"]["Health"]["Log"][-1]["Output"] = "curl: (7) Failed to connect; token=abc123secret"
    res = waiter([data])[0].wait()
    assert res["state"] == "unhealthy" and "curl: (7)" in res["msg"] and "abc123secret" not in res["msg"]


def test_timeout_says_what_is_missing():
    w, clock = waiter([info(health="starting")], timeout=10)
    res = w.wait()
    assert res["state"] == "timeout" and "health check has not passed yet" in res["msg"] and 10 <= clock.t < 13
    w, clock = waiter([info()], listeners=[{"listen": "127.0.0.1:8080"}], timeout=5,
                      results=[{"listen": "127.0.0.1:8080", "ok": False, "error": "ECONNREFUSED"}])
    res = w.wait()
    assert res["state"] == "timeout" and "do not accept connections (127.0.0.1:8080: ECONNREFUSED)" in res["msg"]


@pytest.mark.parametrize("code", ['"abc"', "1.5", "[1]", "true"])
def test_exec_run_with_a_malformed_exit_code_is_an_engine_error(engine, code):
    e = engine({f"/containers/{CID}/exec": (201, b'{"Id": "ex3"}'), "/exec/ex3/start": (200, b""),
                "/exec/ex3/json": (200, b'{"Running": false, "ExitCode": %s}' % code.encode())})
    with pytest.raises(EngineError, match="not a number"):
        E.EngineControl(e.path, timeout=2).exec_run(CID, ["nginx", "-s", "reload"])


def test_find_does_not_ask_a_rootless_socket_others_could_have_put_there(user_run):
    e = _rootless_engine(user_run, {"/containers/": _j(info())})
    try:
        os.chmod(user_run, 0o757)
        with pytest.raises(E.ControlError, match="writable by it alone"):
            E.find(CID, [e.path])
        assert e.requests == []
        os.chmod(user_run, 0o700)
        assert E.find(CID, [e.path])[1]["Id"] == CID
    finally:
        e.close()


def test_wait_logs_mask_a_private_key_spread_over_lines(engine):
    from test_containers import PEM_LOG
    e = engine({f"/containers/{CID}/logs": (200, frame(2, PEM_LOG)), "/containers/": _j(info(state="exited", exit_code=1))})
    res = E.Waiter(E.EngineControl(e.path, timeout=2), CID, [], timeout=5, check=lambda ls: []).wait()
    assert res["state"] == "exited" and "exiting" in res["logs"]
    assert "MIIEowIBAAKCAQEA" not in json.dumps(res) and "VTLw7onLRnrq0" not in json.dumps(res)
