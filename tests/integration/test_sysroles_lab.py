# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The roles app_service, app_unit and socket_permissions on a real lab host, on the paths the molecule scenarios
do not take: a change that breaks the app is restored automatically (files byte-identical, the app back), a
drop-in that would be overridden or a method that is not enough is refused before anything changes, a crash-looping
unit fails the role in seconds, and a socket-activated service gets its socket unit fixed (stop, restart socket,
start). The happy paths (converge, idempotence, testinfra) are the molecule scenarios in extensions/molecule/.

Run:  BGD_LAB_NAME=bgd-sysroles BGD_LAB_HOSTS=1 .venv/bin/python -m pytest tests/integration/test_sysroles_lab.py
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
PLAYBOOK = str(REPO / ".venv" / "bin" / "ansible-playbook")
HOST = "web1"
SECRETS = ("lab-secret-DO-NOT-LEAK-7f3a", "pw-DO-NOT-LEAK")
# everything a unit change could touch, with content, mode and owner
WATCHED = ("/etc/systemd/system /lib/systemd/system/gunicorn.service /etc/nginx /etc/default/app-env /etc/group")


def role(lab, tmp_path, name, variables, check=False):
    """Run one role on web1 like a user's playbook; returns (rc, output, seconds)."""
    play = tmp_path / ("play-%d.yml" % time.monotonic_ns())
    play.write_text("- hosts: %s\n  gather_facts: false\n  roles:\n    - role: badgateway.doctor.%s\n" % (HOST, name))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="False",
               ANSIBLE_COLLECTIONS_PATH=str(REPO / "tests" / "output" / "collections"))
    cmd = [PLAYBOOK, "-i", str(lab.inventory_path), str(play), "-e", json.dumps(variables)]
    if check:
        cmd += ["--check", "--diff"]
    t0 = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, check=False)
    out = res.stdout + res.stderr
    for secret in SECRETS:
        assert secret not in out, "planted secret %s in the output" % secret
    assert "MODULE FAILURE" not in out, out[-4000:]
    return res.returncode, out, time.monotonic() - t0


def snapshot(lab):
    """Checksums, modes and owners of every watched file (and the drop-in directories)."""
    return lab.run(HOST, "find %s -xdev \\( -type f -o -type l -o -type d \\) -printf '%%p %%M %%u:%%g %%l\\n' | sort; "
                         "find %s -xdev -type f -exec sha256sum {} + | sort" % (WATCHED, WATCHED)).stdout


@pytest.fixture
def clean(lab):
    lab.run(HOST, "lab-heal")
    yield
    lab.run(HOST, "systemctl stop bgd-sa.service bgd-sa.socket 2>/dev/null; rm -f /etc/systemd/system/bgd-sa.* "
                  "/etc/systemd/system/gunicorn.service.d/zzz-local.conf; systemctl daemon-reload; lab-heal", check=False)


def test_app_unit_change_that_breaks_the_app_is_restored(lab, tmp_path, clean):
    before = snapshot(lab)
    # gunicorn (user app) cannot create a socket in /root: it exits at every start and systemd restarts it
    rc, out, seconds = role(lab, tmp_path, "app_unit", {
        "app_unit_name": "gunicorn", "app_unit_exec_options": {"bind": "unix:/root/forbidden.sock"},
        "app_unit_settings": {"Restart": "always", "RestartSec": "1"}, "app_unit_wait_timeout": 90})
    assert rc != 0 and "failed and was undone" in out, out[-4000:]
    assert "crash-looping" in out or "failed and is not being restarted" in out, out[-4000:]
    assert "Restored: /etc/systemd/system/gunicorn.service.d/zz-badgateway.conf" in out
    assert seconds < 60, seconds  # not the 90 s wait budget
    assert snapshot(lab) == before
    assert lab.run(HOST, "systemctl is-active gunicorn.service").stdout.strip() == "active"
    assert set(lab.wait_routes(HOST).values()) == {200}


def test_app_unit_refuses_a_later_overriding_dropin(lab, tmp_path, clean):
    lab.run(HOST, "mkdir -p /etc/systemd/system/gunicorn.service.d && printf '[Service]\\nUMask=0027\\n' > "
                  "/etc/systemd/system/gunicorn.service.d/zzz-local.conf && systemctl daemon-reload")
    before = snapshot(lab)
    rc, out, _s = role(lab, tmp_path, "app_unit", {"app_unit_name": "gunicorn", "app_unit_settings": {"UMask": "0007"}})
    assert rc != 0 and "zzz-local.conf sets UMask" in out and "sorts after zzz-local.conf" in out, out[-3000:]
    assert snapshot(lab) == before


def test_app_unit_check_mode_diff_changes_nothing(lab, tmp_path, clean):
    lab.inject("runtime_directory_missing", HOST)
    before = snapshot(lab)
    variables = {"app_unit_name": "gunicorn", "app_unit_settings": {"RuntimeDirectory": "gunicorn"},
                 "app_unit_exec_options": {"timeout": 30}}
    rc, out, _s = role(lab, tmp_path, "app_unit", variables, check=True)
    assert rc == 0, out[-3000:]
    assert "+RuntimeDirectory=gunicorn" in out and "+ExecStart=\n" in out and "--timeout 30" in out
    assert snapshot(lab) == before
    assert lab.run(HOST, "test -e /var/lib/badgateway-doctor", check=False).returncode != 0


def test_app_service_crash_loop_fails_fast(lab, tmp_path, clean):
    lab.inject("db_down_at_boot", HOST)
    rc, out, seconds = role(lab, tmp_path, "app_service", {
        "app_service_unit": "gunicorn", "app_service_listen": ["unix:/run/gunicorn/gunicorn.sock"],
        "app_service_wait_timeout": 120})
    assert rc != 0 and "did not become ready" in out, out[-3000:]
    assert "crash-looping" in out or "failed" in out
    assert "ConnectionRefusedError" in out, out[-3000:]  # the journal's last error lines
    assert seconds < 60, seconds


def test_socket_permissions_refuses_a_method_that_is_not_enough(lab, tmp_path, clean):
    lab.inject("socket_group_not_shared", HOST)
    before = snapshot(lab)
    path = "/run/gunicorn/gunicorn.sock"
    rc, out, _s = role(lab, tmp_path, "socket_permissions", {"socket_permissions_path": path,
                                                             "socket_permissions_method": "umask"})
    assert rc != 0 and "use method group or auto" in out, out[-3000:]
    rc, out, _s = role(lab, tmp_path, "socket_permissions", {"socket_permissions_path": path,
                                                             "socket_permissions_method": "acl"})
    assert rc != 0 and "an ACL would be lost" in out, out[-3000:]
    assert snapshot(lab) == before


SA_SOCKET = """[Socket]
ListenStream=/run/bgd-sa.sock
SocketUser=app
SocketMode=0600
"""
SA_SERVICE = """[Unit]
Requires=bgd-sa.socket
[Service]
User=app
Group=app
WorkingDirectory=/srv/app
ExecStart=/srv/app/venv/bin/gunicorn --workers 1 wsgi:application
"""


def test_socket_permissions_socket_unit(lab, tmp_path, clean):
    lab.run(HOST, "cat > /etc/systemd/system/bgd-sa.socket", input_=SA_SOCKET)
    lab.run(HOST, "cat > /etc/systemd/system/bgd-sa.service", input_=SA_SERVICE)
    lab.run(HOST, "systemctl daemon-reload && systemctl start bgd-sa.socket && "
                  "curl -s -o /dev/null --unix-socket /run/bgd-sa.sock http://localhost/health")
    assert lab.run(HOST, "stat -c %a:%U:%G /run/bgd-sa.sock").stdout.strip() == "600:app:app"
    denied = lab.run(HOST, "runuser -u www-data -- curl -s --unix-socket /run/bgd-sa.sock http://localhost/health",
                     check=False)
    assert denied.returncode != 0
    rc, out, _s = role(lab, tmp_path, "socket_permissions", {"socket_permissions_path": "/run/bgd-sa.sock"})
    assert rc == 0, out[-4000:]
    assert "SocketGroup=www-data, SocketMode=0660" in out
    props = lab.run(HOST, "systemctl show -p SocketMode,SocketGroup,SocketUser bgd-sa.socket").stdout
    assert "SocketMode=0660" in props and "SocketGroup=www-data" in props and "SocketUser=app" in props
    assert lab.run(HOST, "stat -c %a:%U:%G /run/bgd-sa.sock").stdout.strip() == "660:app:www-data"
    ok = lab.run(HOST, "runuser -u www-data -- curl -s --unix-socket /run/bgd-sa.sock http://localhost/health")
    assert ok.stdout == "ok\n"
    rc, out, _s = role(lab, tmp_path, "socket_permissions", {"socket_permissions_path": "/run/bgd-sa.sock"})
    assert rc == 0 and "changed=0" in out, out[-3000:]
