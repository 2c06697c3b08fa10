# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""upstream_probe run as Ansible runs it (in-process, arguments via patch_module_args)."""
from __future__ import annotations

import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.badgateway.doctor.plugins.modules import upstream_probe


def run(module, args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


def test_upstream_probe_targets_and_nginx(capsys, tmp_path):
    missing = str(tmp_path / "gone.sock")
    out = run(upstream_probe, {"targets": [{"url": "http://unix:%s:/" % missing, "route": "r"}], "timeout": 1}, capsys)
    assert out["probes"]["results"][0]["error"] == "ENOENT"
    assert out["ansible_facts"]["badgateway"]["probes"] == out["probes"]
    nginx = {"routes": [{"id": "x", "server_names": ["_"], "location": "/", "dynamic": False,
                         "listen": [], "endpoints": [{"kind": "unix", "path": missing}]}]}
    out = run(upstream_probe, {"nginx": nginx, "via": ["direct"]}, capsys)
    assert [(r["via"], r["error"]) for r in out["probes"]["results"]] == [("direct", "ENOENT")]


def test_upstream_probe_bad_timeout(capsys):
    with patch_module_args({"timeout": 0}):
        with pytest.raises(SystemExit):
            upstream_probe.main()
    out = json.loads(capsys.readouterr().out)
    assert out["failed"] and "timeout" in out["msg"]


def test_upstream_probe_limits_from_nginx(capsys, tmp_path):
    nginx = {"routes": [{"id": "r%d" % n, "server_names": ["_"], "location": "/", "dynamic": False, "listen": [],
                         "endpoints": [{"kind": "unix", "path": str(tmp_path / ("s%d.sock" % n))}]} for n in range(5)]}
    out = run(upstream_probe, {"nginx": nginx, "via": ["direct"], "limit": 3, "workers": 2, "timeout": 1}, capsys)
    assert [r["route"] for r in out["probes"]["results"]] == ["r0", "r1", "r2"]
    assert out["probes"]["skipped"] == 2
    out = run(upstream_probe, {"nginx": nginx, "via": ["direct"], "limit": 0, "endpoint_limit": 4, "timeout": 1}, capsys)
    assert len(out["probes"]["results"]) == 4 and out["probes"]["skipped"] == 1


@pytest.mark.parametrize("args, msg", [({"limit": -1}, "Option limit must be 0 (no limit) or positive"),
                                       ({"endpoint_limit": -2}, "Option endpoint_limit must be 0"),
                                       ({"workers": 0}, "Option workers must be at least 1")])
def test_upstream_probe_bad_limits(capsys, args, msg):
    out = run(upstream_probe, args, capsys)
    assert out["failed"] and msg in out["msg"]


@pytest.mark.parametrize("args, msg", [
    ({"as_user": "no-such-user-bgd"}, "Option as_user: there is no user no-such-user-bgd on this host."),
    ({"as_user": "nobody", "as_group": "no-such-group-bgd"}, "Option as_user: there is no group no-such-group-bgd on this host."),
    ({"as_group": "www-data"}, "Option as_group needs as_user."),
])
def test_upstream_probe_bad_as_user(capsys, args, msg):
    out = run(upstream_probe, args, capsys)
    assert out["failed"] and out["msg"] == msg


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_upstream_probe_as_user(capsys, tmp_path):
    out = run(upstream_probe, {"targets": [{"url": "http://unix:%s:/" % (tmp_path / "x.sock")}], "as_user": "nobody",
                               "timeout": 1}, capsys)
    assert out["probes"]["as_user"] == "nobody"
    # pytest's tmp_path is under a 0700 directory of root's: nobody cannot even look
    assert out["probes"]["results"][0]["error"] == "EACCES"
