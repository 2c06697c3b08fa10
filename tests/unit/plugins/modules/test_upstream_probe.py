# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""upstream_probe run as Ansible runs it (in-process: the run_module fixture)."""
from __future__ import annotations

import os

import pytest

from ansible_collections.badgateway.doctor.plugins.modules import upstream_probe


def test_upstream_probe_targets_and_nginx(run_module, tmp_path):
    missing = str(tmp_path / "gone.sock")
    out = run_module(upstream_probe, {"targets": [{"url": "http://unix:%s:/" % missing, "route": "r"}], "timeout": 1})
    assert out["probes"]["results"][0]["error"] == "ENOENT"
    assert out["ansible_facts"]["badgateway"]["probes"] == out["probes"]
    nginx = {"routes": [{"id": "x", "server_names": ["_"], "location": "/", "dynamic": False,
                         "listen": [], "endpoints": [{"kind": "unix", "path": missing}]}]}
    out = run_module(upstream_probe, {"nginx": nginx, "via": ["direct"]})
    assert [(r["via"], r["error"]) for r in out["probes"]["results"]] == [("direct", "ENOENT")]


def test_upstream_probe_bad_timeout(run_module):
    out = run_module(upstream_probe, {"timeout": 0})
    assert out["failed"] and "timeout" in out["msg"]


def test_upstream_probe_limits_from_nginx(run_module, tmp_path):
    nginx = {"routes": [{"id": "r%d" % n, "server_names": ["_"], "location": "/", "dynamic": False, "listen": [],
                         "endpoints": [{"kind": "unix", "path": str(tmp_path / ("s%d.sock" % n))}]} for n in range(5)]}
    out = run_module(upstream_probe, {"nginx": nginx, "via": ["direct"], "limit": 3, "workers": 2, "timeout": 1})
    assert [r["route"] for r in out["probes"]["results"]] == ["r0", "r1", "r2"]
    assert out["probes"]["skipped"] == 2
    out = run_module(upstream_probe, {"nginx": nginx, "via": ["direct"], "limit": 0, "endpoint_limit": 4, "timeout": 1})
    assert len(out["probes"]["results"]) == 4 and out["probes"]["skipped"] == 1


@pytest.mark.parametrize("args, msg", [
    ({"limit": -1}, "Option limit must be 0 (no limit) or between 1 and 1000000, got -1."),
    ({"endpoint_limit": -2}, "Option endpoint_limit must be 0 (no limit) or between 1 and 1000000, got -2."),
    ({"workers": 0}, "Option workers must be between 1 and 256, got 0."),
    # defects of issue 8: these used to reach the sockets (OverflowError, or a second request on the wire)
    ({"timeout": "inf"}, "Option timeout must be a number of seconds between 0.001 and 300, got inf."),
    ({"timeout": 1e308}, "Option timeout must be a number of seconds between 0.001 and 300, got 1e+308."),
    ({"timeout": "nan"}, "Option timeout must be a number of seconds between 0.001 and 300, got nan."),
    ({"timeout": -1}, "Option timeout must be a number of seconds between 0.001 and 300, got -1.0."),
    ({"path": "/x HTTP/1.0\r\nX-Evil: 1"},
     "Option path must not contain spaces or control characters (such as CR or LF), got '/x HTTP/1.0\\r\\nX-Evil: 1'."),
    ({"path": "x"}, "Option path must start with /, got 'x'."),
    ({"host_header": "a\r\nb"},
     "Option host_header must not contain spaces or control characters (such as CR or LF), got 'a\\r\\nb'."),
    ({"targets": [{"url": "http://127.0.0.1:70000/"}]},
     "Option targets[0].url: URL 'http://127.0.0.1:70000/': invalid port in '127.0.0.1:70000': port 70000 is outside 1-65535."),
    ({"targets": [{"url": "http://127.0.0.1:0/"}]},
     "Option targets[0].url: URL 'http://127.0.0.1:0/': invalid port in '127.0.0.1:0': port 0 is outside 1-65535."),
    ({"targets": [{"url": "http://h/\r\nX: y"}]}, "Option targets[0].url: URL 'http://h/\\r\\nX: y' contains spaces or "
                                                  "control characters."),
    ({"targets": [{"url": "http://h/", "host_header": "h\nX: y"}]},
     "Option targets[0].host_header must not contain spaces or control characters (such as CR or LF), got 'h\\nX: y'."),
])
def test_upstream_probe_bad_limits(run_module, args, msg):
    out = run_module(upstream_probe, args)
    assert out["failed"] and out["msg"] == msg


@pytest.mark.parametrize("args, msg", [
    ({"as_user": "no-such-user-bgd"}, "Option as_user: there is no user no-such-user-bgd on this host."),
    ({"as_user": "nobody", "as_group": "no-such-group-bgd"}, "Option as_user: there is no group no-such-group-bgd on this host."),
    ({"as_group": "www-data"}, "Option as_group needs as_user."),
])
def test_upstream_probe_bad_as_user(run_module, args, msg):
    out = run_module(upstream_probe, args)
    assert out["failed"] and out["msg"] == msg


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_upstream_probe_as_user(run_module, tmp_path):
    out = run_module(upstream_probe, {"targets": [{"url": "http://unix:%s:/" % (tmp_path / "x.sock")}],
                                      "as_user": "nobody", "timeout": 1})
    assert out["probes"]["as_user"] == "nobody"
    # pytest's tmp_path is under a 0700 directory of root's: nobody cannot even look
    assert out["probes"]["results"][0]["error"] == "EACCES"


@pytest.mark.parametrize("nginx, message", [
    ({"routes": "abc"}, "nginx.routes is a str, not a list; nothing to probe"),
    ({"routes": [1, None]}, "nginx.routes[0] is not a route (a dict); skipped"),
    ({"routes": [{"id": "r", "endpoints": [{"kind": "tcp", "port": 70000, "host": "127.0.0.1"}]}]},
     "route r: endpoint 0 has port 70000, not 1-65535; not probed"),
    ({"routes": [{"id": "r", "endpoints": [{"kind": "tcp", "port": "80", "host": "127.0.0.1"}]}]},
     "route r: endpoint 0 has port '80', not 1-65535; not probed"),
    ({"routes": [{"id": "r", "endpoints": [{"kind": "unix", "path": "/run/x.sock:/\r\nX: y"}]}]},
     "route r: endpoint 0 has no usable path; not probed"),
    ({"routes": [{"id": "r", "endpoints": "x", "listen": [{"port": 99999}], "server_names": 5}]}, None),
])
def test_upstream_probe_malformed_nginx_is_errors_not_a_traceback(run_module, nginx, message):
    out = run_module(upstream_probe, {"nginx": nginx, "timeout": 1})
    assert not out.get("failed"), out
    assert out["probes"]["results"] == []
    assert [e["message"] for e in out["probes"]["errors"]][:1] == ([message] if message else [])
