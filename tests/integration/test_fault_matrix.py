# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fault matrix: every fault of the lab catalog, injected for real, named by the diagnosis.

For each fault in ``tests/lab/faults.toml``: inject it on a lab host, send the traffic its class
needs and check the symptom users see (HTTP status through nginx, the nginx error.log line) —
that is the lab's own ``verify`` — then run ``ansible-playbook badgateway.doctor.diagnose`` against
the lab exactly as a user would, and assert that the host's **first** finding has the fault's
expected code and names the right route. The healthy lab must yield no finding of ``warning`` or
above, and the deploy gate must fail on a fault and pass on a healthy host.

The diagnosis looks at logs from a little before the injection (``badgateway_since``: the time since
the injection plus the playbook's start-up, ``GATHER_DELAY``), as an operator would look at "the last
minute". Faults run one after another on the same host, so that window also holds the lines of the
previous, healed fault: the rules must not blame it for the next one (nginx events count only after
the newest restart of the workers or of the app behind the endpoint, journal events only from the
app's current run).
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "lab"))

import lab as labmod  # noqa: E402  pylint: disable=wrong-import-position

FAULTS = labmod.load_faults()
SINGLE = sorted(n for n, f in FAULTS.items() if f.topology == "single")
SPLIT = sorted(n for n, f in FAULTS.items() if f.topology == "split")
PLAYBOOK = [str(REPO / ".venv" / "bin" / "ansible-playbook")]
if not Path(PLAYBOOK[0]).exists():
    PLAYBOOK = ["ansible-playbook"]

# Upper bound of the time from starting ansible-playbook to the target reading its logs.
GATHER_DELAY = 30.0

# Codes about the configuration or the host as a whole: they name no route.
HOST_LEVEL = {"NGINX_CONFIG_INVALID", "NGINX_CONFIG_STALE", "OOM_KILL", "HOST_UNREACHABLE", "FACTS_INCOMPLETE", "NGINX_DOWN"}


def diagnose(the_lab, tmp_path: Path, since: float | None = None, limit: str | None = None,
             fail_on: str = "none", check: bool = False) -> tuple:
    """Run the diagnose playbook like a user; return (completed process, findings.json)."""
    report = tmp_path / f"report-{time.monotonic_ns()}"
    cmd = PLAYBOOK + ["-i", str(the_lab.inventory_path), "badgateway.doctor.diagnose",
                      "-e", f"badgateway_report_dir={report}", "-e", f"badgateway_fail_on={fail_on}"]
    if since is not None:
        # ``since`` is a window length that the target applies when it gathers, after the playbook has started
        # (seconds later, more under load): widen it by that delay so the window still covers the injection
        cmd += ["-e", f"badgateway_since={math.ceil(since + GATHER_DELAY)}"]
    if limit:
        cmd += ["--limit", limit]
    if check:
        cmd.append("--check")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "tests" / "output" / "collections"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="False")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    path = report / "findings.json"
    assert path.exists(), f"the playbook wrote no findings.json (rc={proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
    return proc, json.loads(path.read_text())


def location_of(path: str) -> str:
    """The lab site's location that serves ``path`` (longest prefix)."""
    return "/asgi/" if path.startswith("/asgi/") else "/"


def describe(host_result: dict) -> str:
    return "\n".join(f"  {f['severity']:8} {f['code']:26} {f.get('route')}: {f['summary']}"
                     for f in host_result.get("findings") or []) or "  (no findings)"


def check_fault(the_lab, tmp_path: Path, name: str, host: str | None = None) -> None:
    """Inject on ``host`` (default: the host the catalog names) and diagnose the host that serves users."""
    fault = FAULTS[name]
    started = time.time()
    mark = the_lab.inject(name, host)
    host, observe = mark["host"], mark["observe"]
    try:
        seen = the_lab.verify(name, mark)
        assert seen["ok"], f"the lab did not reproduce {name}: {seen}"
        _proc, data = diagnose(the_lab, tmp_path, since=time.time() - started)
        result = data["hosts"][observe]
        findings = result.get("findings") or []
        assert findings, f"{name}: no finding on {observe}"
        first = findings[0]
        assert first["code"] == fault.expect_code, (
            f"{name}: first finding is {first['code']}, expected {fault.expect_code}\n{describe(result)}")
        if fault.expect_code not in HOST_LEVEL:
            route = first.get("route") or ""
            want = location_of(fault.expect.get("path", "/"))
            assert route.split(" ", 1)[-1] == want, (
                f"{name}: the finding names route {route!r}, expected location {want!r}\n{describe(result)}")
        assert result["status"] in ("critical", "warning")
    finally:
        the_lab.heal(name, host)


def test_healthy_lab_is_quiet_and_passes_the_gate(lab, tmp_path):
    proc, data = diagnose(lab, tmp_path, since=60, fail_on="critical", check=True)
    assert set(data["hosts"]) == set(lab.hosts)
    for host, result in data["hosts"].items():
        loud = [f for f in result["findings"] if f["severity"] in ("critical", "warning")]
        assert not loud, f"healthy {host} has findings:\n{describe(result)}"
        assert result["status"] == "ok"
    assert proc.returncode == 0, proc.stdout[-3000:]
    for name in ("findings.json", "junit.xml", "report.html", "report.md"):
        assert any(tmp_path.glob(f"report-*/{name}")), f"{name} was not written"


def test_gate_fails_on_a_critical_fault(lab, tmp_path):
    host = lab.hosts[0]
    started = time.time()
    lab.inject("app_stopped", host)
    try:
        proc, data = diagnose(lab, tmp_path, since=time.time() - started + 5, fail_on="critical")
        assert data["hosts"][host]["status"] == "critical"
        assert proc.returncode != 0, "the gate let a critical finding through"
        proc_none, _data = diagnose(lab, tmp_path, since=time.time() - started + 5, fail_on="none")
        assert proc_none.returncode == 0, "badgateway_fail_on=none must never fail"
    finally:
        lab.heal("app_stopped", host)


@pytest.mark.parametrize("name", SINGLE)
def test_fault_is_named(lab, tmp_path, name):
    check_fault(lab, tmp_path, name, lab.hosts[0])


@pytest.mark.parametrize("name", SPLIT)
def test_split_fault_is_named(split_lab, tmp_path, name):
    check_fault(split_lab, tmp_path, name)
