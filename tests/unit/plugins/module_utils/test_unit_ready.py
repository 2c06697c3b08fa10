# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""unit_ready's wait: listener parsing, real connections to local sockets, the state machine over scripted
``systemctl show`` answers with a fake clock."""
from __future__ import annotations

import socket

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import _unit_ready as ur


# ---------------------------------------------------------------- listeners

@pytest.mark.parametrize("text, expected", [
    ("unix:/run/gunicorn/gunicorn.sock", {"kind": "unix", "path": "/run/gunicorn/gunicorn.sock"}),
    ("/run//app/./x.sock", {"kind": "unix", "path": "/run/app/x.sock"}),
    ("127.0.0.1:8000", {"kind": "tcp", "host": "127.0.0.1", "port": 8000}),
    ("[::1]:8001", {"kind": "tcp", "host": "::1", "port": 8001}),
    ("0.0.0.0:80", {"kind": "tcp", "host": "0.0.0.0", "port": 80}),
    ("localhost:6379", {"kind": "tcp", "host": "localhost", "port": 6379}),
])
def test_parse_listen(text, expected):
    parsed = ur.parse_listen(text)
    assert {k: parsed[k] for k in expected} == expected and parsed["listen"] == text


@pytest.mark.parametrize("bad", ["", "   ", "127.0.0.1", "::1:80", "host:0", "host:99999", "unix:", "h st:80", None])
def test_parse_listen_refuses(bad):
    with pytest.raises(ur.ListenError) as err:
        ur.parse_listen(bad)
    assert "listener" in str(err.value)


def test_unit_name():
    assert ur.unit_name("gunicorn") == "gunicorn.service"
    assert ur.unit_name("app.socket") == "app.socket"
    assert ur.unit_name("app@1") == "app@1.service"
    for bad in ("", "../x", "a\nb"):
        with pytest.raises(ValueError):
            ur.unit_name(bad)


def test_check_listeners_real_sockets(tmp_path):
    path = str(tmp_path / "app.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(1)
    port = tcp.getsockname()[1]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()
    stale = str(tmp_path / "stale.sock")
    s2 = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s2.bind(stale)
    s2.close()  # the file stays, nobody listens
    try:
        listeners = [ur.parse_listen(x) for x in ("unix:" + path, "127.0.0.1:%d" % port, "0.0.0.0:%d" % port,
                                                  "127.0.0.1:%d" % dead_port, "unix:" + str(tmp_path / "missing.sock"),
                                                  "unix:" + stale)]
        results = ur.check_listeners(listeners, timeout=1)
        assert [(r["ok"], r["error"]) for r in results] == [
            (True, None), (True, None), (True, None), (False, "ECONNREFUSED"), (False, "ENOENT"), (False, "ECONNREFUSED")]
    finally:
        srv.close()
        tcp.close()


def test_full_unix_backlog_is_eagain(tmp_path):
    path = str(tmp_path / "busy.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(0)
    held = []
    try:
        for _i in range(8):  # fill the accept queue (nobody accepts)
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.setblocking(False)
            try:
                c.connect(path)
            except BlockingIOError:
                c.close()
                break
            held.append(c)
        assert ur.check_listeners([ur.parse_listen(path)])[0]["error"] == "EAGAIN"
    finally:
        for c in held:
            c.close()
        srv.close()


# ---------------------------------------------------------------- the state machine

class Clock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def props(active, sub="running", restarts=0, pid=100, result="success", job="", load="loaded", triggered="", status=0):
    return {"Id": "app.service", "LoadState": load, "ActiveState": active, "SubState": sub, "Result": result,
            "NRestarts": str(restarts), "MainPID": str(pid), "ExecMainStatus": str(status), "Restart": "always",
            "Job": job, "TriggeredBy": triggered}


def scripted(sequence, sockets=None):
    """A fake ``run`` answering ``systemctl show`` with the next scripted props (the last one repeats)."""
    seq = list(sequence)

    def run(argv, timeout=15):
        unit = argv[-1]
        if sockets and unit in sockets:
            block = sockets[unit]
        else:
            block = seq.pop(0) if len(seq) > 1 else seq[0]
        return 0, "".join("%s=%s\n" % kv for kv in block.items()), ""
    return run


def waiter(sequence, check=None, timeout=30.0, settle=1.0, sockets=None, crash_restarts=2, listeners=True):
    clock = Clock()
    checks = []

    def default_check(ls):
        checks.append(clock.now)
        return [{"listen": item["listen"], "ok": True, "error": None} for item in ls]

    w = ur.Waiter("app.service", [ur.parse_listen("127.0.0.1:8000")] if listeners else [], timeout=timeout,
                  settle=settle, crash_restarts=crash_restarts, check=check or default_check,
                  run=scripted(sequence, sockets), clock=clock, sleep=clock.sleep)
    return w, clock, checks


def test_ready_at_once_then_settled():
    w, clock, checks = waiter([props("active")])
    res = w.wait()
    assert res["state"] == "ready" and res["ready"] and clock.now == 1.0 and len(checks) == 2
    assert res["status"]["active_state"] == "active" and "accepts connections on 127.0.0.1:8000" in res["msg"]


def test_slow_start_waits_with_backoff():
    seq = [props("activating", "start")] * 6 + [props("active")]
    w, clock, _checks = waiter(seq)
    res = w.wait()
    assert res["state"] == "ready"
    pauses = clock.sleeps[:-1]  # the last sleep is the settle
    assert pauses[0] == pytest.approx(0.1) and pauses[1] == pytest.approx(0.15) and pauses == sorted(pauses)


def test_listener_refuses_until_it_binds():
    answers = [False, False, False, True, True]
    clock_holder = {}

    def check(ls):
        ok = answers.pop(0) if answers else True
        return [{"listen": x["listen"], "ok": ok, "error": None if ok else "ECONNREFUSED"} for x in ls]

    w, clock, _checks = waiter([props("active")], check=check)
    clock_holder["c"] = clock
    res = w.wait()
    assert res["state"] == "ready" and res["attempts"] == 4


def test_never_binds_times_out_with_errno():
    def check(ls):
        return [{"listen": x["listen"], "ok": False, "error": "ECONNREFUSED"} for x in ls]

    w, clock, _checks = waiter([props("active")], check=check, timeout=10)
    res = w.wait()
    assert res["state"] == "timeout" and clock.now == pytest.approx(10.0)
    assert "127.0.0.1:8000: ECONNREFUSED" in res["msg"] and "after 10.0 s" in res["msg"]
    assert max(clock.sleeps) <= ur.MAX_PAUSE


def test_failed_fails_fast():
    failed = props("failed", "failed", result="exit-code", pid=0, status=3)
    w, clock, _checks = waiter([props("activating", "start"), failed])
    res = w.wait()
    assert res["state"] == "failed" and clock.now < 1
    assert "result exit-code" in res["msg"] and "exit status 3" in res["msg"]


def test_failed_with_a_start_job_queued_is_waited_for():
    seq = [props("failed", "failed", result="exit-code", job="42"), props("activating", "start"), props("active")]
    res = waiter(seq)[0].wait()
    assert res["state"] == "ready"


def test_crash_loop_fails_fast():
    seq = [props("activating", "auto-restart", restarts=5, pid=0),
           props("active", restarts=5, pid=200),
           props("activating", "auto-restart", restarts=6, pid=0),
           props("active", restarts=6, pid=201),
           props("activating", "auto-restart", restarts=7, pid=0)]
    w, clock, _checks = waiter(seq, settle=1.0)
    res = w.wait()
    assert res["state"] == "crash_loop" and clock.now < 5
    assert "restarted it 1 time in" in res["msg"] and "NRestarts 5 -> 6" in res["msg"]


def test_fresh_start_needs_two_restarts():
    seq = [props("activating", "start", restarts=0, pid=10),
           props("activating", "auto-restart", restarts=1, pid=0, result="exit-code"),
           props("activating", "start", restarts=1, pid=11),
           props("activating", "auto-restart", restarts=2, pid=0, result="exit-code")]
    w, _clock, _checks = waiter(seq)
    res = w.wait()
    assert res["state"] == "crash_loop" and "restarted it 2 times" in res["msg"] and res["attempts"] == 4


def test_already_crash_looping_needs_one_more_restart():
    seq = [props("activating", "auto-restart", restarts=4, pid=0, result="exit-code"),
           props("active", restarts=5, pid=300),
           props("activating", "auto-restart", restarts=5, pid=0, result="exit-code")]
    res = waiter(seq)[0].wait()
    assert res["state"] == "crash_loop" and "restarted it 1 time in" in res["msg"]


def test_active_but_dies_during_settle_is_not_ready():
    seq = [props("active", pid=300), props("failed", "failed", result="exit-code", pid=0, status=3)]
    res = waiter(seq)[0].wait()
    assert res["state"] == "failed"


def test_crash_restarts_zero_never_counts_restarts():
    seq = [props("activating", "auto-restart", restarts=n) for n in range(0, 4)] + [props("active", restarts=3)]
    res = waiter(seq, crash_restarts=0)[0].wait()
    assert res["state"] == "ready"


def test_inactive_fails_fast_unless_a_socket_starts_it():
    res = waiter([props("inactive", "dead", pid=0)])[0].wait()
    assert res["state"] == "inactive" and "nothing is starting it" in res["msg"]
    seq = [props("inactive", "dead", pid=0, triggered="app.socket"), props("active")]
    w, _clock, checks = waiter(seq, sockets={"app.socket": {"ActiveState": "active"}})
    res = w.wait()
    assert res["state"] == "ready" and len(checks) >= 2  # the first connection started it


def test_not_found():
    res = waiter([props("inactive", "dead", load="not-found")])[0].wait()
    assert res["state"] == "not_found"


def test_no_listeners_only_needs_active():
    res = waiter([props("active")], listeners=False)[0].wait()
    assert res["state"] == "ready" and res["listeners"] == []


def test_once_does_not_wait():
    w, clock, _checks = waiter([props("activating", "start")])
    res = w.wait(once=True)
    assert res["state"] == "not_ready" and clock.now == 0


def test_show_error_raises():
    with pytest.raises(RuntimeError, match="systemctl show x.service failed"):
        ur.show("x.service", run=lambda argv, timeout=15: (1, "", "Failed to connect to bus"))


def test_journal_errors_masked_and_filtered():
    out = "\n".join([
        "2026-12-02T05:33:10+0000 web1 gunicorn[1]: [INFO] Booting worker with pid: 2",
        "2026-12-02T05:33:10+0000 web1 gunicorn[2]: ConnectionRefusedError: [Errno 111] Connection refused",
        "2026-12-02T05:33:10+0000 web1 gunicorn[2]: django.core.exceptions.ImproperlyConfigured: "
        "DATABASE_URL=postgres://app:hunter2@db/app is wrong",
        "2026-12-02T05:33:11+0000 web1 systemd[1]: gunicorn.service: Failed to kill control group /x, ignoring: I/O error",
        "2026-12-02T05:33:11+0000 web1 gunicorn[1]: [ERROR] Reason: Worker failed to boot.",
        "2026-12-02T05:33:11+0000 web1 systemd[1]: gunicorn.service: Main process exited, code=exited, status=3/NOTIMPLEMENTED",
    ])
    lines = ur.journal_errors("gunicorn.service", 10, run=lambda argv, timeout=30: (0, out, ""))
    assert len(lines) == 4 and "hunter2" not in "".join(lines) and "Booting" not in "".join(lines)
    assert not any("control group" in line for line in lines)
    assert ur.journal_errors("x", 2, run=lambda argv, timeout=30: (0, "a\nb\nc\n", "")) == ["b", "c"]
    # the exception stays when the consequences after it fill the tail
    lines = ur.journal_errors("gunicorn.service", 2, run=lambda argv, timeout=30: (0, out, ""))
    assert len(lines) == 2 and "ImproperlyConfigured" in lines[0] and "status=3/NOTIMPLEMENTED" in lines[1]
    assert ur.journal_errors("x", 0, run=None) == []
