# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""upstream_probe run as Ansible runs it (in-process, arguments via patch_module_args)."""
from __future__ import annotations

import json

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
