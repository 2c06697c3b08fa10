# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module container_control's decisions against a fake engine (a served unix socket). Beside the target-side
tests of _engine_control (tests/unit/plugins/module_utils/test_engine_control.py), which run without ansible-core
on Python 3.8 and 3.13 too; this file needs AnsibleModule."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "module_utils"))  # the fake engine of test_containers

from test_containers import INSPECT, _j, engine  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position
from test_engine_control import info  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.badgateway.doctor.plugins.module_utils import _engine_control as E  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.badgateway.doctor.plugins.modules import container_control  # noqa: E402  pylint: disable=wrong-import-position

CID = INSPECT["Id"]


@pytest.fixture
def served(engine, monkeypatch):
    """The module against a fake engine whose container is in ``state``; returns (run, engine)."""
    def make(state, run_module, **kw):
        data = info(state=state, **kw)
        e = engine({f"/containers/{CID}/start": (204, b""), f"/containers/{CID}/restart": (204, b""),
                    f"/containers/{CID}/unpause": (204, b""), "/containers/": _j(data)})
        monkeypatch.setattr(E._containers, "discover_sockets", lambda sockets=None: [e.path])

        def run(**args):
            return run_module(container_control, dict({"container": "shop_web_1", "wait_timeout": 0}, **args))
        return run, e
    return make


def test_module_start_is_idempotent_on_a_running_container(served, run_module):
    run, e = served("running", run_module)
    res = run(action="start")
    assert res["changed"] is False and res["action_taken"] is None and res["engine"] == e.path
    assert not any(r.endswith("/start") for r in e.requests)


def test_module_starts_an_exited_one_and_check_mode_does_not(served, run_module):
    run, e = served("exited", run_module)
    res = run(action="start", _ansible_check_mode=True)
    assert res["changed"] is True and res["action_taken"] == "started"
    assert not any(r.endswith("/start") for r in e.requests)
    res = run(action="start")
    assert res["changed"] is True and res["before"]["state"] == "exited"
    assert f"/containers/{CID}/start" in e.requests


def test_module_unpauses(served, run_module):
    run, e = served("paused", run_module)
    assert run(action="start")["action_taken"] == "unpaused" and f"/containers/{CID}/unpause" in e.requests


def test_module_reloads_nginx_in_a_running_container(served, run_module, monkeypatch):
    run, _e = served("running", run_module)
    calls = []
    monkeypatch.setattr(E.EngineControl, "exec_run", lambda self, ref, argv, timeout=30.0: calls.append(argv) or (0, []))
    assert run(action="reload_nginx", _ansible_check_mode=True)["changed"] is True and calls == []
    res = run(action="reload_nginx")
    assert res["changed"] is True and res["action_taken"] == "reloaded" and calls == [["nginx", "-s", "reload"]]
    monkeypatch.setattr(E.EngineControl, "exec_run", lambda self, ref, argv, timeout=30.0: (1, ["[emerg] token=s3cr3t bad"]))
    res = run(action="reload_nginx")
    assert res["failed"] and "nginx -s reload in container shop_web_1 exited 1: [emerg]" in res["msg"]
    assert "s3cr3t" not in json.dumps(res)


def test_module_refuses_a_crash_loop(served, run_module):
    run, e = served("restarting", run_module)
    res = run(action="start")
    assert res["failed"] and re.search(r"restarting it by its restart policy \(unless-stopped\)", res["msg"])
    assert not any(r.endswith("/start") for r in e.requests)


@pytest.mark.parametrize("args,message", [
    ({"wait_timeout": -1}, "wait_timeout must be between 0 and 3600"),
    ({"listen": ["nope"]}, "listener 'nope' has no port"),
    ({"timeout": 0}, "timeout must be between 0 and 300"),
])
def test_module_refuses_bad_options(run_module, args, message):
    res = run_module(container_control, dict({"container": "x"}, **args))
    assert res["failed"] and message in res["msg"]


def test_module_reload_output_masks_a_private_key_spread_over_lines(engine, monkeypatch, run_module):
    from test_containers import PEM_LOG, frame   # pylint: disable=import-outside-toplevel
    e = engine({f"/containers/{CID}/exec": (201, b'{"Id": "ex9"}'), "/exec/ex9/start": (200, frame(2, PEM_LOG)),
                "/exec/ex9/json": _j({"Running": False, "ExitCode": 1}), "/containers/": _j(info(state="running"))})
    monkeypatch.setattr(E._containers, "discover_sockets", lambda sockets=None: [e.path])
    res = run_module(container_control, {"container": "shop_web_1", "action": "reload_nginx"})
    assert res["failed"] and "exiting" in res["msg"]
    assert "MIIEowIBAAKCAQEA" not in json.dumps(res) and "VTLw7onLRnrq0" not in json.dumps(res)
