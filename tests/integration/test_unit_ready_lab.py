# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""unit_ready on a real lab host: a healthy unit, a slow-starting one within the budget, a crash-looping one
that fails in seconds (not the timeout), a failed one, one that never binds, and a socket that root can reach
but nginx's worker user (www-data) cannot.

Run:  BGD_LAB_NAME=bgd-sysroles BGD_LAB_HOSTS=1 .venv/bin/python -m pytest tests/integration/test_unit_ready_lab.py
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
ANSIBLE = REPO / ".venv" / "bin" / "ansible"
HOST = "web1"
SOCK = "unix:/run/gunicorn/gunicorn.sock"
SECRETS = ("lab-secret-DO-NOT-LEAK-7f3a", "pw-DO-NOT-LEAK")
TEST_UNITS = {
    # binds 127.0.0.1:8091 after 6 s
    "bgd-slow": "import socket, time\ntime.sleep(6)\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, "
                "socket.SO_REUSEADDR, 1)\ns.bind(('127.0.0.1', 8091))\ns.listen(8)\ntime.sleep(3600)\n",
    # runs, never listens
    "bgd-nobind": "import time\ntime.sleep(3600)\n",
}


def unit_ready(lab, args, check=False):
    """Run badgateway.doctor.unit_ready on web1; return (ok, result, seconds)."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_LOAD_CALLBACK_PLUGINS="0",
               ANSIBLE_COLLECTIONS_PATH=str(REPO / "tests" / "output" / "collections"))
    cmd = [str(ANSIBLE), "-i", str(lab.inventory_path), HOST, "-m", "badgateway.doctor.unit_ready", "-a", json.dumps(args)]
    if check:
        cmd.append("--check")
    t0 = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, check=False)
    seconds = time.monotonic() - t0
    out = res.stdout + res.stderr
    for secret in SECRETS:
        assert secret not in out, "planted secret %s in the output" % secret
    assert "MODULE FAILURE" not in out and "\"exception\"" not in out, out[-3000:]
    return res.returncode == 0, json.loads(res.stdout[res.stdout.index("=> {") + 3:]), seconds


@pytest.fixture
def test_units(lab):
    for name, code in TEST_UNITS.items():
        lab.run(HOST, "cat > /usr/local/bin/%s.py" % name, input_=code)
        lab.run(HOST, "printf '[Service]\\nExecStart=/usr/bin/python3 /usr/local/bin/%s.py\\n' > /etc/systemd/system/%s.service"
                % (name, name))
    lab.run(HOST, "systemctl daemon-reload")
    yield
    lab.run(HOST, "systemctl stop bgd-slow bgd-nobind; rm -f /etc/systemd/system/bgd-*.service /usr/local/bin/bgd-*.py; "
                  "systemctl daemon-reload; systemctl reset-failed", check=False)


def test_healthy_unit_as_nginx_worker_user(lab):
    ok, res, _s = unit_ready(lab, {"unit": "gunicorn", "listen": [SOCK], "as_user": "www-data", "timeout": 20})
    assert ok and res["state"] == "ready" and res["listeners"] == [{"listen": SOCK, "ok": True, "error": None}]
    assert 1.0 <= res["elapsed"] < 5 and res["status"]["active_state"] == "active"


def test_slow_start_within_budget(lab, test_units, tmp_path):
    # start and wait in one play: ansible's own start-up (seconds on a busy machine) must not eat the delay
    play = tmp_path / "slow.yml"
    play.write_text("""- hosts: web1
  gather_facts: false
  tasks:
    - ansible.builtin.command: systemctl start bgd-slow
      changed_when: true
    - badgateway.doctor.unit_ready: {unit: bgd-slow, listen: ["127.0.0.1:8091"], timeout: 30}
      register: slow
    - ansible.builtin.debug: {var: slow}
""")
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="False",
               ANSIBLE_COLLECTIONS_PATH=str(REPO / "tests" / "output" / "collections"))
    res = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(lab.inventory_path), str(play)],
                         capture_output=True, text=True, timeout=300, env=env, check=False)
    assert res.returncode == 0, res.stdout[-3000:]
    out = res.stdout
    result = json.loads(out[out.index('"slow": {') + 8:out.rindex("}", 0, out.rindex("}")) + 1])
    assert result["state"] == "ready" and result["attempts"] >= 3 and 2 <= result["elapsed"] < 15, result


def test_never_binds_times_out_with_errno(lab, test_units):
    lab.run(HOST, "systemctl start bgd-nobind")
    ok, res, seconds = unit_ready(lab, {"unit": "bgd-nobind", "listen": ["127.0.0.1:8092"], "timeout": 5})
    assert not ok and res["state"] == "timeout" and 5 <= res["elapsed"] < 8
    assert res["listeners"] == [{"listen": "127.0.0.1:8092", "ok": False, "error": "ECONNREFUSED"}]
    assert "127.0.0.1:8092: ECONNREFUSED" in res["msg"] and seconds < 20


def test_crash_loop_fails_fast_with_the_journal(lab):
    lab.inject("crash_loop", HOST)
    try:
        ok, res, seconds = unit_ready(lab, {"unit": "gunicorn.service", "listen": [SOCK], "timeout": 120})
        assert not ok and res["state"] == "crash_loop", res
        assert res["elapsed"] < 30 and seconds < 45, res  # seconds (3-8 s here), not the 120 s timeout
        journal = "\n".join(res["journal"])
        assert "ConnectionRefusedError" in journal or "Worker failed to boot" in journal, journal
        assert "crash-looping" in res["msg"] and "Last error lines of its journal" in res["msg"]
    finally:
        lab.heal("crash_loop", HOST)


def _given_up(lab, unit, timeout=60):
    """Wait until systemd gave up on ``unit``: failed, no job queued (Restart=on-failure retries a unit that
    fails at exec until its start limit - 5 starts in 10 s - is hit; until then it is crash-looping, not failed)."""
    deadline = time.monotonic() + timeout
    while True:
        out = lab.run(HOST, "systemctl show -p ActiveState,Job %s" % unit).stdout
        props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        if props.get("ActiveState") == "failed" and not props.get("Job"):
            return
        assert time.monotonic() < deadline, "%s was not failed after %d s: %s" % (unit, timeout, props)
        time.sleep(0.2)


def test_failed_unit_fails_fast(lab):
    lab.inject("exec_missing", HOST)
    try:
        _given_up(lab, "gunicorn.service")
        ok, res, _s = unit_ready(lab, {"unit": "gunicorn", "listen": [SOCK], "timeout": 120})
        assert not ok and res["state"] == "failed" and res["elapsed"] < 5, res
        assert "203/EXEC" in "\n".join(res["journal"]) or res["status"]["exec_main_status"] == 203
    finally:
        lab.heal("exec_missing", HOST)


def test_socket_reachable_by_root_but_not_by_www_data(lab):
    lab.inject("socket_file_mode", HOST)
    try:
        ok, res, _s = unit_ready(lab, {"unit": "gunicorn", "listen": [SOCK], "timeout": 10})
        assert ok and res["state"] == "ready"  # root ignores the socket's mode
        ok, res, _s = unit_ready(lab, {"unit": "gunicorn", "listen": [SOCK], "timeout": 3, "as_user": "www-data"})
        assert not ok and res["state"] == "timeout"
        assert res["listeners"] == [{"listen": SOCK, "ok": False, "error": "EACCES"}]
        ok, res, _s = unit_ready(lab, {"unit": "gunicorn", "listen": [SOCK], "timeout": 3, "as_user": "www-data"},
                                 check=True)
        assert ok and res["state"] == "not_ready" and res["elapsed"] < 1
    finally:
        lab.heal("socket_file_mode", HOST)


def test_bad_input_is_a_clear_error(lab):
    ok, res, _s = unit_ready(lab, {"unit": "gunicorn", "listen": ["::1:80"]})
    assert not ok and "IPv6 addresses need brackets" in res["msg"]
    ok, res, _s = unit_ready(lab, {"unit": "gunicorn", "listen": [SOCK], "as_user": "nobody-here"})
    assert not ok and "no user nobody-here" in res["msg"]
    ok, res, _s = unit_ready(lab, {"unit": "no-such-unit", "timeout": 5})
    assert not ok and res["state"] == "not_found"
