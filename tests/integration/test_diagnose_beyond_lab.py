# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The diagnose playbook beyond the fault catalog: host roles, what users got, one finding per cause.

- split topology with an app-only host (nginx installed from the same image, disabled and
  stopped: its configuration files on disk are not served) and the proxy host, both healthy: no
  warning or critical anywhere, the app-only host says so in one info line;
- 502s the app itself answers (no rule can explain them) are in the access log: the host is never
  "ok", the finding counts them as ``awk`` does on the same log;
- a stopped unit behind a TCP route: one critical (the unit), the route's refused direct probe folded
  under it, and the finding says how many requests got 502 since when.
"""
from __future__ import annotations

import re
import time

import pytest

from test_fault_matrix import describe, diagnose

pytestmark = pytest.mark.lab


def fresh_access_log(lab, host):
    """Start from an empty access log and new nginx workers: the window holds only this test's requests."""
    lab.run(host, ": > /var/log/nginx/access.log; lab-nginx-reload")
    time.sleep(1.1)      # access logs have whole seconds: this test's requests come after the workers' start


def awk_502(lab, host, prefix):
    """502 lines of the access log whose URI starts with ``prefix``, as awk counts them (the collection's own
    probes left out)."""
    out = lab.run(host, "awk -v prefix='" + prefix + "' "
                        "'$9 == 502 && index($7, prefix) == 1 && $0 !~ /badgateway.doctor-probe/' "
                        "/var/log/nginx/access.log | wc -l").stdout.strip()
    return int(out)


def loud(result):
    return [f for f in result["findings"] if f["severity"] in ("critical", "warning")]


def test_app_only_host_and_proxy_host_are_quiet(split_lab, tmp_path):
    app = split_lab.hosts_by_role("app")[0]
    proxy = split_lab.hosts_by_role("proxy")[0]
    split_lab.run(app, "systemctl disable --now nginx.service")
    try:
        # the proxy's nginx started before the app it proxies to when the lab booted (502s in its access log then):
        # reload it so that those are before its workers' start - history, not the present
        started = time.time()
        split_lab.run(proxy, "lab-nginx-reload")
        time.sleep(1.1)
        assert split_lab.http(proxy, "/")[0] == 200 and split_lab.http(proxy, "/asgi/")[0] == 200
        _proc, data = diagnose(split_lab, tmp_path, since=time.time() - started)
        for host, result in data["hosts"].items():
            assert not loud(result), f"healthy {host} has findings:\n{describe(result)}"
            assert result["status"] == "ok"
        codes = [f["code"] for f in data["hosts"][app]["findings"]]
        assert "NGINX_NOT_SERVING" in codes, describe(data["hosts"][app])
    finally:
        split_lab.run(app, "systemctl enable --now nginx.service")
        split_lab.wait_routes(app)


def test_unexplained_502s_in_the_access_log_are_never_ok(lab, tmp_path):
    host = lab.hosts[0]
    started = time.time()
    fresh_access_log(lab, host)
    for _i in range(4):
        assert lab.http(host, "/status?code=502")[0] == 502
    _proc, data = diagnose(lab, tmp_path, since=time.time() - started)
    result = data["hosts"][host]
    assert result["status"] == "critical", describe(result)
    first = result["findings"][0]
    assert first["code"] == "FACTS_INCOMPLETE" and first["route"] == "_:80 /", describe(result)
    assert re.search(r"\b4 requests got 502 on route '_:80 /' since ", first["summary"]), first["summary"]
    # the facts count what awk counts on the same log, over the same window
    assert awk_502(lab, host, "/status") == 4
    assert [a for a in result["access"] if a["route"] == "_:80 /"][0]["counts"]["502"] == 4


def test_one_finding_per_cause_for_a_stopped_tcp_app(lab, tmp_path):
    host = lab.hosts[0]
    started = time.time()
    fresh_access_log(lab, host)
    lab.run(host, "systemctl stop uvicorn.service")
    try:
        for _i in range(3):
            assert lab.http(host, "/asgi/")[0] == 502
        _proc, data = diagnose(lab, tmp_path, since=time.time() - started)
        result = data["hosts"][host]
        on_route = [f for f in loud(result) if f.get("route") == "_:80 /asgi/"]
        assert len(on_route) == 1 and on_route[0]["code"] == "APP_STOPPED", describe(result)
        # "N requests got 502 on route R since T": N is what awk counts on the same log (our own probes do not count)
        assert awk_502(lab, host, "/asgi/") == 3
        assert re.search(r"\b3 requests got 502 on route '_:80 /asgi/' since ", on_route[0]["summary"]), on_route[0]["summary"]
    finally:
        lab.run(host, "lab-heal", timeout=60)
