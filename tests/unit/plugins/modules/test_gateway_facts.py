# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gateway_facts run as Ansible runs it (in-process): the probe limits and the timings."""
from __future__ import annotations

import os
import socket
import tempfile

import pytest

from ansible_collections.badgateway.doctor.plugins.modules import gateway_facts


def _conf(tmp_path, servers):
    body = "".join("server { listen 127.0.0.1:9; server_name s%d.example; location / { proxy_pass http://127.0.0.1:9; } }\n" % n
                   for n in range(servers))
    path = tmp_path / "nginx.conf"
    path.write_text("http {\n%s}\n" % body)
    return str(path)


@pytest.mark.parametrize("limit, probed, skipped", [(2, 4, 6), (0, 10, 0), (64, 10, 0)])
def test_probe_limit(tmp_path, run_module, limit, probed, skipped):
    """5 routes: with probe_limit 2, two routes are probed directly and through nginx, 6 probes skipped."""
    out = run_module(gateway_facts, {"sections": ["nginx", "probes"], "conf_path": _conf(tmp_path, 5),
                                     "nginx_binary": str(tmp_path / "none"), "probe_timeout": 0.5, "probe_limit": limit,
                                     "_ansible_check_mode": True})
    assert not out.get("failed"), out
    facts = out["ansible_facts"]["badgateway"]
    assert len(facts["probes"]["results"]) == probed and facts["probes"]["skipped"] == skipped
    assert set(facts["timings"]) == {"nginx", "probes", "total"}


@pytest.mark.parametrize("name", ["probe_limit", "probe_endpoint_limit"])
def test_negative_limits_fail(run_module, name):
    out = run_module(gateway_facts, {name: -1, "sections": ["system"]})
    assert out["failed"] is True and "Option %s must be 0 (no limit) or between 1 and 1000000, got -1." % name in out["msg"]


@pytest.mark.parametrize("value, expected", [(None, "auto"), ("auto", "auto"), ("always", "always"), ("never", "never"),
                                             (True, "always"), ("yes", "always"), (False, "never"), ("no", "never")])
def test_nginx_test_modes_reach_collect_nginx(run_module, monkeypatch, value, expected):
    seen = {}

    def fake_collect_all(**kwargs):
        seen.update(kwargs["nginx_options"])
        return {"version": 1}

    monkeypatch.setattr(gateway_facts, "collect_all", fake_collect_all)
    args = {"sections": ["nginx"]}
    if value is not None:
        args["nginx_test"] = value
    out = run_module(gateway_facts, args)
    assert not out.get("failed"), out
    assert seen["run_test"] == expected


@pytest.mark.parametrize("value", ["sometimes", 5])
def test_nginx_test_rejects_other_values(run_module, value):
    out = run_module(gateway_facts, {"nginx_test": value, "sections": ["system"]})
    assert out["failed"] is True
    assert "Option nginx_test must be one of auto, always, never" in out["msg"] and repr(value) in out["msg"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to probe as another user")
def test_probe_as_user_probes_as_nginx_worker_would(run_module):
    """A unix socket only root may connect to: probed as root it answers, as nobody it is EACCES."""
    with tempfile.TemporaryDirectory(dir="/tmp") as d:
        os.chmod(d, 0o755)
        path = os.path.join(d, "app.sock")
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(path)
        srv.listen(8)
        os.chmod(path, 0o600)
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as fh:
            fh.write("http { server { listen 127.0.0.1:9; location / { proxy_pass http://unix:%s; } } }\n" % path)
        try:
            args = {"sections": ["nginx", "probes"], "conf_path": conf, "nginx_binary": os.path.join(d, "none"),
                    "probe_timeout": 0.3}
            as_root = run_module(gateway_facts, args)["ansible_facts"]["badgateway"]["probes"]
            as_nobody = run_module(gateway_facts, dict(args, probe_as_user="nobody"))["ansible_facts"]["badgateway"]["probes"]
        finally:
            srv.close()
    direct = [r for r in as_root["results"] if r["via"] == "direct"]
    assert as_root["as_user"] is None and [r["error"] for r in direct] == ["ETIMEDOUT"]   # connected; no answer
    direct = [r for r in as_nobody["results"] if r["via"] == "direct"]
    assert as_nobody["as_user"] == "nobody" and [r["error"] for r in direct] == ["EACCES"]
