# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules on facts recorded from real lab hosts (tests/unit/fixtures/facts/lab/).

Each file holds what ``gateway_facts`` returned on the lab host right after the lab's fault
catalog (tests/lab/faults.toml, faults_containers.toml) injected the fault named in the file and sent its traffic. The
faults ran one after another on the same host, so the logs also hold the earlier faults'
lines: the rules must name the current cause, not history. The expected code and the route
come from the lab's fault catalog itself.
"""
from __future__ import annotations

import glob
import json
import os

import pytest

from facts_fixtures import FIXTURES, REPO, expanded, hosts_of, load_fixture, wire

from ansible_collections.badgateway.doctor.plugins.plugin_utils import rules

try:
    import tomllib
except ImportError:   # Python < 3.11 (ansible-core 2.17's controllers): tomli is the same parser
    try:
        import tomli as tomllib
    except ImportError:
        tomllib = None

LAB = os.path.join(FIXTURES, "lab")
FAULTS_TOML = os.path.join(REPO, "tests", "lab", "faults.toml")


def _catalog():
    """Every lab fault by name: tests/lab/faults.toml and the other topologies' faults_*.toml."""
    if tomllib is None or not os.path.exists(FAULTS_TOML):
        return {}
    out = {}
    for path in [FAULTS_TOML] + sorted(glob.glob(os.path.join(REPO, "tests", "lab", "faults_*.toml"))):
        with open(path, "rb") as fh:
            out.update({f["name"]: f for f in tomllib.load(fh).get("fault", [])})
    return out


CATALOG = _catalog()
RECORDED = sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(LAB, "*.json")))


def _evaluate(name):
    with open(os.path.join(LAB, f"{name}.json"), encoding="utf-8") as fh:
        data = json.load(fh)
    return data, rules.evaluate(hosts_of(data))


def _route_for(facts, path):
    """The route id whose (prefix) location is the longest match for ``path``."""
    best = None
    for r in expanded(facts)["nginx"]["routes"]:
        loc = r["location"]
        if not loc.startswith(("=", "~", "@")) and path.startswith(loc) and (best is None or len(loc) > len(best["location"])):
            best = r
    return best["id"] if best else None


@pytest.mark.parametrize("name", [n for n in RECORDED if n.startswith("healthy")])
def test_recorded_healthy_lab_is_quiet(name):
    _data, res = _evaluate(name)
    for host in res["hosts"].values():
        assert host["status"] == "ok"
        assert not [f for f in host["findings"] if f["severity"] in ("critical", "warning")]


@pytest.mark.parametrize("name", [n for n in RECORDED if not n.startswith("healthy")])
def test_recorded_fault_first_finding(name):
    fault = CATALOG.get(name)
    if fault is None:
        pytest.skip(f"fault {name} is not in tests/lab/faults.toml (renamed or removed)")
    data, res = _evaluate(name)
    host = data.get("target_host") or next(iter(res["hosts"]))
    first = res["hosts"][host]["findings"][0]
    assert first["code"] == fault["expect_code"], [f["code"] for f in res["hosts"][host]["findings"]]
    assert res["hosts"][host]["status"] in ("critical", "warning")
    expect_path = fault.get("expect", {}).get("path", "/").split("?")[0]
    if first["route"] is not None or not first["code"].startswith(("NGINX_CONFIG_", "NGINX_DOWN")):
        assert first["route"] == _route_for(data["hosts"][host], expect_path)


def test_a_crash_loop_caught_while_its_new_attempt_runs_still_names_the_previous_attempts_error():
    """Restart=always with RestartSec=1: the facts can see the unit active/running for a second before this attempt
    dies too. The error of the attempt before is the current one (the deploy gate met this under load)."""
    data = load_fixture("lab/crash_loop")
    name = next(iter(data["hosts"]))
    facts = expanded(data["hosts"][name])
    gunicorn = [a for a in facts["apps"]["servers"] if a["name"] == "gunicorn.service"][0]
    last_error = max(e["last"] for e in facts["logs"]["events"]
                     if e.get("class") == "python_exception" and e.get("source") == "journal:gunicorn.service")
    gunicorn["state"].update(active_state="active", sub_state="running", result="success", active_enter=last_error + 1.5,
                             main_pid=4242)
    facts["collected_at"] = last_error + 2.5
    data["hosts"][name] = wire(facts)
    first = rules.evaluate(hosts_of(data))["hosts"][name]["findings"][0]
    assert first["code"] == "APP_CRASH_LOOP" and "it is up now" in first["summary"], first["summary"]
    assert "every start dies with ConnectionRefusedError" in first["summary"], first["summary"]
