# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nginx's own state and what users got, on a real lab host.

- ``nginx.service``: running; disabled and stopped (an app-only host); enabled but failing to
  start because the port is taken, because of a configuration error, because of a pid path it may
  not write - the cause read from the unit's journal by the facts, compared with what systemd and
  nginx said on the host;
- access logs: requests sent through nginx while the app is up and while it is stopped, then the
  ``access`` facts' counts per route compared with ``awk`` over the same log, in the default
  ``combined`` format and in a format with ``$upstream_status`` / ``$upstream_addr``.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parents[2]
ANSIBLE = REPO / ".venv" / "bin" / "ansible"
COLLECTIONS = REPO / "tests" / "output" / "collections"
HOST = "web1"


def module(lab, name, args="", host=HOST):
    argv = [str(ANSIBLE), "-i", str(lab.inventory_path), host, "-m", "badgateway.doctor." + name]
    if args:
        argv += ["-a", args]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="minimal", ANSIBLE_HOST_KEY_CHECKING="False")
    res = subprocess.run(argv, capture_output=True, text=True, timeout=180, env=env, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    text = res.stdout
    return json.loads(text[text.index("=>") + 2:])["ansible_facts"]["badgateway"]


def service(lab):
    return module(lab, "nginx_facts", "test=never")["nginx"]["service"]


@pytest.fixture
def restore(lab):
    yield
    lab.run(HOST, "systemctl stop bgd-port80 2>/dev/null || true; "
                  "systemctl enable nginx.service; systemctl reset-failed nginx.service; lab-heal", timeout=60)


pytestmark = [pytest.mark.lab, pytest.mark.skipif(not ANSIBLE.exists(), reason="no .venv/bin/ansible")]


def test_running_nginx(lab):
    got = service(lab)
    assert got["installed"] and got["running"] and got["enabled"] is True
    assert got["unit"] == "nginx.service" and got["managed_by"] == "systemd"
    assert got["state"]["active_state"] == "active" and got["start_failure"] is None


def test_installed_disabled_and_stopped(lab, restore):
    lab.run(HOST, "systemctl disable --now nginx.service")
    got = service(lab)
    assert got["installed"] and not got["running"] and got["enabled"] is False
    assert got["state"]["active_state"] == "inactive" and got["start_failure"] is None


def _fails_to_start(lab, setup):
    lab.run(HOST, setup)
    res = lab.run(HOST, "systemctl restart nginx.service", check=False)
    assert res.returncode != 0, "nginx started although it should not"
    got = service(lab)
    assert got["enabled"] is True and not got["running"] and got["state"]["active_state"] == "failed"
    said = lab.run(HOST, "journalctl -u nginx.service -n 30 --no-pager -o cat").stdout
    return got["start_failure"], said


def test_port_taken(lab, restore):
    failure, said = _fails_to_start(lab, "systemctl stop nginx.service; systemd-run --unit bgd-port80 "
                                         "python3 -c 'import socket,time; s=socket.socket(); "
                                         "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
                                         "s.bind((\"0.0.0.0\", 80)); s.listen(); time.sleep(600)'; "
                                         "sleep 0.5")
    assert "Address already in use" in said
    assert failure["cause"] == "address_in_use" and failure["target"] == "0.0.0.0:80"


def test_configuration_error(lab, restore):
    failure, said = _fails_to_start(lab, "printf 'bogus_directive on;\\n' > /etc/nginx/conf.d/fault-bad.conf")
    assert 'unknown directive "bogus_directive"' in said
    assert failure["cause"] == "config_error" and failure["target"] == "/etc/nginx/conf.d/fault-bad.conf:1"


def test_pid_path_not_writable(lab, restore):
    failure, said = _fails_to_start(lab, "mkdir -p /etc/systemd/system/nginx.service.d; "
                                         "printf '[Service]\\nUser=www-data\\n' > /etc/systemd/system/nginx.service.d/fault-user.conf; "
                                         "systemctl daemon-reload")
    assert "Permission denied" in said
    assert failure["cause"] == "permission_denied" and failure["target"] in ("/run/nginx.pid", "/var/log/nginx/error.log")
    assert failure["lines"] and all("DO-NOT-LEAK" not in line for line in failure["lines"])


# --------------------------------------------------------------------------- access logs

UP_FORMAT = ("log_format up '$remote_addr [$time_local] \"$request\" $status $upstream_status $upstream_addr "
             "$upstream_response_time $request_time';\naccess_log /var/log/nginx/up.log up;\n")
AWK = r"""awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^"(GET|HEAD|POST)$/) { uri = $(i + 1); st = $(i + 3); break }
  if (st !~ /^5/) next; r = (uri ~ /^\/asgi\//) ? "/asgi/" : "/"; k = (st == 502 || st == 503 || st == 504) ? st : "5xx_other"
  c[r " " k]++ } END { for (x in c) print x, c[x] }' """


def awk_counts(lab, path):
    out = lab.run(HOST, AWK + path).stdout
    counts = {}
    for line in out.splitlines():
        route, key, n = line.split()
        counts.setdefault(route, {})[key] = int(n)
    return counts


def fact_counts(access, path):
    counts = {}
    for r in access["routes"]:
        if r["log"] == path and r["route"]:
            got = {k: v for k, v in r["counts"].items() if v}
            if got:
                counts[r["route"].split(" ", 1)[1]] = got
    return counts


def test_access_log_counts_equal_awk(lab, restore):
    lab.run(HOST, "printf %s " + _quote(UP_FORMAT) + " > /etc/nginx/conf.d/fault-up.conf; lab-nginx-reload; "
                  ": > /var/log/nginx/access.log; : > /var/log/nginx/up.log")
    for _i in range(7):
        assert lab.http(HOST, "/")[0] == 200
        assert lab.http(HOST, "/asgi/?token=s3cr3t-DO-NOT-LEAK")[0] == 200
    lab.run(HOST, "systemctl stop gunicorn.service")
    for _i in range(5):
        assert lab.http(HOST, "/?page=1")[0] == 502
    lab.run(HOST, "systemctl stop uvicorn.service")
    for _i in range(3):
        assert lab.http(HOST, "/asgi/x?token=s3cr3t-DO-NOT-LEAK")[0] == 502
    time.sleep(1)
    facts = module(lab, "gateway_facts", "sections=nginx,logs since=600 kernel_log=false")
    access = facts["access"]
    assert access["errors"] == [], access["errors"]
    for path in ("/var/log/nginx/access.log", "/var/log/nginx/up.log"):
        want = awk_counts(lab, path)
        assert want == {"/": {"502": 5}, "/asgi/": {"502": 3}}
        assert fact_counts(access, path) == want, access["routes"]
        summary = next(s for s in access["logs"] if s["path"] == path)
        assert summary["in_window"] == 22 and summary["statuses"]["2xx"] == 14 and summary["unparsed"] == 0
    up = [r for r in access["routes"] if r["log"] == "/var/log/nginx/up.log" and r["route"] == "_:80 /"][0]
    assert up["upstream_addrs"] == ["unix:/run/gunicorn/gunicorn.sock"] and up["upstream_status"] == {"502": 5}
    assert sum(up["timeline"]["counts"]) == 5 and up["first"] <= up["last"]
    text = json.dumps(access)
    assert "s3cr3t" not in text and "DO-NOT-LEAK" not in text


def _quote(text):
    return "'" + text.replace("'", "'\\''") + "'"
