# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Container actions in a remediation run's backup store: recorded once with the container's state before,
undone by stopping a container the run started (through its engine), before the units are handled."""
from __future__ import annotations

import json

import pytest
from test_containers import INSPECT, engine  # noqa: F401  pylint: disable=unused-import  # the fake engine fixture

from ansible_collections.badgateway.doctor.plugins.module_utils import _remediation_backup as rb
from ansible_collections.badgateway.doctor.plugins.module_utils import _remediation_restore as rr
from ansible_collections.badgateway.doctor.plugins.module_utils import _remediation_undo as ru
from ansible_collections.badgateway.doctor.plugins.module_utils._engine_api import EngineError

ENGINE = "/run/podman/podman.sock"


@pytest.fixture
def store(tmp_path):
    return rb.Store(str(tmp_path / "backups"), "run-1")


def test_container_action_recorded_once_with_its_state_before(store):
    action = {"kind": "container_started", "container": "abc123", "engine": ENGINE}
    entry, new = rb.record_action(store, action, before={"state": "exited", "running": False})
    assert new and entry["before"]["state"] == "exited" and entry["container"] == "abc123"
    again, new = rb.record_action(store, action, before={"state": "running", "running": True})
    assert not new and again["before"]["state"] == "exited"      # the first record keeps the original state
    other, new = rb.record_action(store, dict(action, container="def456"))
    assert new and len(store.load()["actions"]) == 2


@pytest.mark.parametrize("action,message", [
    ({"kind": "container_started"}, "needs a container"),
    ({"kind": "container_started", "container": "a", "engine": "run/x.sock"}, "not an absolute socket path"),
    ({"kind": "container_started", "container": "a\nb"}, "not a valid name"),
])
def test_container_action_refused(store, action, message):
    with pytest.raises(rb.BackupError, match=message):
        rb.record_action(store, action)


def test_undo_plan_stops_only_containers_that_were_not_running():
    manifest = {"actions": [
        {"kind": "container_started", "container": "a", "engine": ENGINE, "before": {"state": "exited", "running": False}},
        {"kind": "container_restarted", "container": "b", "engine": ENGINE, "before": {"state": "running", "running": True}},
        {"kind": "container_restarted", "container": "c", "before": {}},
        {"kind": "container_started", "container": "d", "before": {"running": False}, "undone": "2026-01-01"},
    ]}
    plan = rr.undo_plan(manifest, [])
    assert plan["containers_stop"] == [{"container": "a", "engine": ENGINE}]
    # "c": its engine could not be asked before the run (before == {}): it may have been running, so it stays up
    assert plan["containers_kept"] == [{"container": "c", "engine": None}]
    assert not rr.plan_is_empty(plan)
    assert "containers_stop" not in rr.undo_plan({"actions": []}, [])     # the unit-only plan keeps its shape


class FakeClient:
    def __init__(self, fail=False):
        self.stopped = []
        self.fail = fail

    def stop(self, ref, stop_timeout=10):
        if self.fail:
            raise EngineError("the engine at /run/podman/podman.sock answered POST /containers/a/stop with HTTP 500: boom")
        self.stopped.append(ref)
        return True


def test_run_undo_stops_the_containers_first():
    client = FakeClient()
    calls = []
    steps = ru.run_undo({"containers_stop": [{"container": "a", "engine": ENGINE}], "daemon_reload": True},
                        run=lambda argv, timeout=30: calls.append(argv) or (0, "", ""),
                        find_container=lambda name, sockets: (client, {"Id": "a-full-id"}))
    assert client.stopped == ["a-full-id"]
    assert [s["step"] for s in steps] == ["container-stop", "daemon-reload"] and all(s["ok"] for s in steps)


def test_run_undo_reports_a_container_it_could_not_stop():
    steps = ru.run_undo({"containers_stop": [{"container": "a", "engine": ENGINE}]},
                        run=lambda argv, timeout=30: (0, "", ""),
                        find_container=lambda name, sockets: (FakeClient(fail=True), {"Id": "a"}))
    assert steps == [{"step": "container-stop", "target": "a", "ok": False,
                      "message": "the engine at /run/podman/podman.sock answered POST /containers/a/stop with HTTP 500: boom"}]


def test_container_before_without_an_engine_is_empty(monkeypatch):
    def no_engine(ref, sockets=None):
        raise ru.ControlError("no engine for %s" % ref)
    monkeypatch.setattr(ru, "find", no_engine)
    assert ru.container_before("a", ENGINE) == {}


def test_container_before_on_a_malformed_inspection_is_empty(engine):
    bad = json.dumps(dict(INSPECT, State=dict(INSPECT["State"], Error="E"))).encode().replace(
        b'"Error": "E"', b'"Error": ' + b"[" * 100000 + b"]" * 100000)
    e = engine({"/containers/": (200, bad)})
    assert ru.container_before(INSPECT["Id"], e.path) == {}


def test_run_undo_goes_on_when_stopping_a_container_breaks():
    def broken(name, sockets):
        raise RuntimeError("unexpected")
    steps = ru.run_undo({"containers_stop": [{"container": "a", "engine": ENGINE}], "daemon_reload": True},
                        run=lambda argv, timeout=30: (0, "", ""), find_container=broken)
    assert [(s["step"], s["ok"]) for s in steps] == [("container-stop", False), ("daemon-reload", True)]
    assert "unexpected" in steps[0]["message"]


def test_undo_of_a_restart_whose_state_before_is_unknown_leaves_it_running_and_says_so():
    manifest = {"actions": [{"kind": "container_restarted", "container": "web", "engine": ENGINE, "before": {}}]}
    plan = rr.undo_plan(manifest, [])
    assert not plan.get("containers_stop") and not rr.plan_is_empty(plan)
    stopped = []
    steps = ru.run_undo(plan, run=lambda argv, timeout=30: (0, "", ""),
                        find_container=lambda name, sockets: stopped.append(name))
    assert stopped == []
    assert steps == [{"step": "container-keep", "target": "web", "ok": True, "message": steps[0]["message"]}]
    assert "left running" in steps[0]["message"] and "unknown" in steps[0]["message"]
