# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy gate and the release rollback on a lab host with a releases/<id> + current layout.

The host's gunicorn.service runs from ``/srv/app/current`` (``tests/lab/releases.py``): v1 good,
v2 an import error, v3 an import error and a new migration, a release binding the wrong socket, a
slow one within the wait budget and one past it. Each test deploys what it needs the way a deploy
tool does (switch ``current``, restart) and runs the gate with the command of the CI examples in
``docs/ci/`` (``ci_examples.gate_command()``), with overrides appended for the variants. What
changed on the host is read with the lab's own tools (readlink, /proc/<pid>/cwd, sha256sum), never
with the collection's modules.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "lab"))

import ci_examples  # noqa: E402  pylint: disable=wrong-import-position
import releases  # noqa: E402  pylint: disable=wrong-import-position

BIN = REPO / ".venv" / "bin"
TIMES = REPO / "tests" / "output" / "deploy_gate_times.json"


@pytest.fixture(scope="module")
def host(lab):
    """The lab's last host, with the releases layout (current -> v1); put back to pristine afterwards."""
    name = lab.hosts[-1]
    releases.install(lab, name)
    try:
        yield name
    finally:
        releases.remove(lab, name)
        lab.run(name, "rm -rf /srv/edge")


def inventory(lab, name: str, tmp_path: Path) -> Path:
    """The lab's inventory with only ``name`` (the CI job gates exactly the hosts of its inventory)."""
    lines = [ln for ln in lab.inventory_path.read_text().splitlines()
             if not ln or ln.startswith(("[", "#", "bgd_")) or ln.split()[0] == name]
    path = tmp_path / "inventory.ini"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_gate(lab, name: str, tmp_path: Path, *extra: str, check: bool = False, timeout: float = 300) -> dict:
    """Run the CI examples' gate command (plus ``extra`` arguments) from a fresh directory, as the CI job does."""
    work = tmp_path / f"job-{time.monotonic_ns()}"
    work.mkdir()
    env = dict(os.environ, **ci_examples.github_env())
    env.update(BADGATEWAY_INVENTORY=str(inventory(lab, name, tmp_path)), PATH=f"{BIN}:{os.environ['PATH']}",
               ANSIBLE_COLLECTIONS_PATH=str(REPO / "tests" / "output" / "collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_HOST_KEY_CHECKING="False")
    command = ci_examples.gate_command() + "".join(" " + shlex.quote(a) for a in extra) + (" --check --diff" if check else "")
    started = time.monotonic()
    proc = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    elapsed = time.monotonic() - started
    reports = work / "reports"
    out = {"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr, "elapsed": elapsed, "dir": reports}
    path = reports / "findings.json"
    assert path.exists(), f"the gate wrote no findings.json (rc={proc.returncode}):\n{proc.stdout[-5000:]}\n{proc.stderr[-2000:]}"
    out["gate"] = json.loads(path.read_text())
    out["junit"] = ET.parse(reports / "junit.xml").getroot()
    out["md"] = (reports / "report.md").read_text()
    assert (reports / "report.html").stat().st_size > 1000
    return out


def checks(res: dict, name: str, pass_index: int = 0) -> dict:
    return {c["name"]: c for c in res["gate"]["passes"][pass_index]["hosts"][name]["checks"]}


def findings(res: dict, name: str, pass_index: int = 0) -> list:
    return res["gate"]["passes"][pass_index]["diagnosis"]["hosts"][name]["findings"]


def record_time(label: str, res: dict, name: str) -> None:
    """Append this run's time to verdict (whole playbook) and wait (unit_ready) to tests/output/deploy_gate_times.json."""
    TIMES.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(TIMES.read_text()) if TIMES.exists() else {}
    data.setdefault(label, []).append({"gate_s": round(res["elapsed"], 2), "wait_s": round(checks(res, name)["unit"]["elapsed"] or 0, 2)})
    TIMES.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def running(lab, name: str) -> str:
    """The working directory of gunicorn's master, read on the host (not through the collection)."""
    return lab.run(name, "readlink /proc/$(systemctl show -p MainPID --value gunicorn.service)/cwd", check=False).stdout.strip()


def deploy_broken_and_settled(lab, name: str, release: str) -> None:
    """Deploy ``release`` with Restart=no, so that the unit fails once and stays failed (a state to compare)."""
    releases.restart_policy(lab, name, "no_restart")
    releases.deploy(lab, name, release)
    deadline = time.time() + 30
    while lab.run(name, "systemctl is-failed gunicorn.service", check=False).stdout.strip() != "failed":
        if time.time() > deadline:
            raise AssertionError(f"gunicorn.service on {name} did not fail with {release}")
        time.sleep(0.3)


def describe(res: dict) -> str:
    return f"rc={res['rc']}\n{res['md'][:3000]}\n{res['stdout'][-3000:]}"


# ----------------------------------------------------------------------------- the gate

def test_good_release_passes(lab, host, tmp_path):
    releases.install(lab, host, current="v1")
    res = run_gate(lab, host, tmp_path, "-e", "badgateway_rollback=false")
    assert res["rc"] == 0, describe(res)
    record_time("good release (v1)", res, host)
    c = checks(res, host)
    assert [c[n]["ok"] for n in ("unit", "listener", "health_direct", "health_nginx", "release")] == [True] * 5, describe(res)
    assert "as www-data" in c["health_direct"]["evidence"][0]
    suite = res["junit"].find("testsuite")
    names = [tc.get("name") for tc in suite.findall("testcase")]
    assert names[:5] == ["unit", "listener", "direct health", "via-nginx health", "release"] and "APP_BOOT_IMPORT_ERROR" in names
    assert suite.get("failures") == "0"
    assert "deploy gate: \u2705 passed" in res["md"]
    history = json.loads(lab.run(host, "cat /srv/app/.badgateway-releases.json").stdout)["history"]
    assert history[-1]["release"] == "v1" and history[-1]["event"] == "passed"


def test_broken_release_fails_within_seconds_naming_the_import_error(lab, host, tmp_path):
    releases.install(lab, host, current="v1")
    releases.deploy(lab, host, "v2")
    res = run_gate(lab, host, tmp_path, "-e", "badgateway_rollback=false")
    assert res["rc"] != 0, describe(res)
    record_time("broken release (v2: import error, the unit gives up)", res, host)
    c = checks(res, host)
    assert c["unit"]["ok"] is False and c["unit"]["elapsed"] < 15, c["unit"]
    assert "No module named 'shop_settings_v2'" in c["unit"]["summary"], c["unit"]
    first = findings(res, host)[0]
    assert first["code"] == "APP_BOOT_IMPORT_ERROR", describe(res)
    assert any("ModuleNotFoundError: No module named 'shop_settings_v2'" in e for e in first["evidence"]), first["evidence"]
    suite = res["junit"].find("testsuite")
    assert suite.find("testcase[@name='APP_BOOT_IMPORT_ERROR']/failure") is not None
    assert "ModuleNotFoundError" in suite.find("testcase[@name='unit']/failure").get("message")
    assert "APP_BOOT_IMPORT_ERROR" in res["md"] and "shop_settings_v2" in res["md"]
    assert releases.state(lab, host)["link"] == "releases/v2"


def test_crash_looping_release_fails_fast(lab, host, tmp_path):
    releases.install(lab, host, current="v1")
    releases.restart_policy(lab, host, "crash_loop")
    try:
        releases.deploy(lab, host, "v2")
        res = run_gate(lab, host, tmp_path, "-e", "badgateway_rollback=false")
        record_time("crash-looping release (v2 with Restart=always, no start limit)", res, host)
        assert res["rc"] != 0, describe(res)
        c = checks(res, host)
        assert c["unit"]["ok"] is False and c["unit"]["elapsed"] < 20, c["unit"]
        first = findings(res, host)[0]
        assert first["code"] in ("APP_CRASH_LOOP", "APP_BOOT_IMPORT_ERROR"), describe(res)
        assert "shop_settings_v2" in json.dumps(first), first     # the journal's reason
    finally:
        releases.restart_policy(lab, host, None)


def test_broken_release_is_rolled_back_by_the_ci_command(lab, host, tmp_path):
    releases.install(lab, host, current="v1")
    releases.write_history(lab, host, [{"release": "v1", "event": "passed", "at": 1.0}])
    releases.deploy(lab, host, "v2")
    res = run_gate(lab, host, tmp_path)            # exactly the CI examples' command
    # the deploy failed: the pipeline fails (badgateway_fail_after_rollback), the host is healthy again
    assert res["rc"] != 0, describe(res)
    verdict = res["gate"]["hosts"][host]
    assert verdict["status"] == "rolled_back", describe(res)
    assert verdict["rollback"]["from"] == "v2" and verdict["rollback"]["to"] == "v1"
    after = checks(res, host, 1)
    assert all(after[n]["ok"] for n in ("unit", "listener", "health_direct", "health_nginx", "release")), describe(res)
    assert [f for f in findings(res, host, 1) if f["severity"] in ("critical", "warning")] == []
    st = releases.state(lab, host)
    assert st["link"] == "releases/v1"
    assert running(lab, host) == "/srv/app/releases/v1"           # the process, not the link
    assert lab.http(host, "/")[0] == 200 and lab.http(host, "/health")[0] == 200
    suites = res["junit"].findall("testsuite")
    assert [s.get("name") for s in suites] == [host, f"{host} (after rollback)"]
    assert suites[0].find("testcase[@name='rollback']/failure") is None
    assert suites[1].get("failures") == "0"
    history = json.loads(lab.run(host, "cat /srv/app/.badgateway-releases.json").stdout)["history"]
    assert history[-1] == {**history[-1], "release": "v1", "event": "rollback", "from": "v2"}


def test_rollback_over_a_new_migration_is_refused_then_allowed(lab, host, tmp_path):
    releases.install(lab, host, current="v1")
    releases.write_history(lab, host, [{"release": "v1", "event": "passed", "at": 1.0}])
    deploy_broken_and_settled(lab, host, "v3")
    before = releases.state(lab, host)
    res = run_gate(lab, host, tmp_path)
    assert res["rc"] != 0
    verdict = res["gate"]["hosts"][host]
    assert verdict["status"] == "rollback_refused", describe(res)
    assert releases.NEW_MIGRATION in verdict["rollback"]["msg"] and "nothing changed" in verdict["rollback"]["msg"]
    assert releases.NEW_MIGRATION in res["md"]
    assert releases.state(lab, host) == before, "a refused rollback changed the host"
    res = run_gate(lab, host, tmp_path, "-e", "badgateway_rollback_allow_schema_change=true")
    assert res["gate"]["hosts"][host]["status"] == "rolled_back", describe(res)
    assert releases.state(lab, host)["link"] == "releases/v1" and running(lab, host) == "/srv/app/releases/v1"


def test_wrong_socket_is_named(lab, host, tmp_path):
    releases.install(lab, host, current="v1")
    releases.deploy(lab, host, "v4-wrong-socket")
    res = run_gate(lab, host, tmp_path, "-e", "badgateway_rollback=false", "-e", "badgateway_wait_timeout=6")
    assert res["rc"] != 0
    c = checks(res, host)
    assert c["unit"]["ok"] is True and c["listener"]["ok"] is False, describe(res)
    assert "unix:/run/gunicorn/gunicorn.sock" in c["listener"]["summary"]
    first = findings(res, host)[0]
    assert first["code"] == "TARGET_MISMATCH_SOCKET", describe(res)
    assert "app.sock" in first["summary"] + " ".join(first["evidence"])


def test_slow_start_within_the_budget_passes(lab, host, tmp_path):
    releases.install(lab, host, current="v1")
    releases.deploy(lab, host, "v5-slow")
    res = run_gate(lab, host, tmp_path, "-e", "badgateway_rollback=false", "-e", "badgateway_wait_timeout=30")
    assert res["rc"] == 0, describe(res)
    # the gate starts a few seconds after the deploy (ansible-playbook, the nginx facts): it still waited
    assert checks(res, host)["unit"]["elapsed"] >= 2, checks(res, host)["unit"]
    assert running(lab, host) == "/srv/app/releases/v5-slow"


def test_start_past_the_budget_fails_naming_the_unit_state(lab, host, tmp_path):
    releases.install(lab, host, current="v1")
    releases.deploy(lab, host, "v6-too-slow")
    res = run_gate(lab, host, tmp_path, "-e", "badgateway_rollback=false", "-e", "badgateway_wait_timeout=6")
    assert res["rc"] != 0
    c = checks(res, host)
    text = c["unit"]["summary"] + " " + c["listener"]["summary"]
    assert c["listener"]["ok"] is False and "active" in text and "gunicorn.sock" in text, describe(res)
    assert 5 <= c["unit"]["elapsed"] < 20, c["unit"]


def test_check_mode_changes_nothing(lab, host, tmp_path):
    releases.install(lab, host, current="v1")
    deploy_broken_and_settled(lab, host, "v2")
    before = releases.state(lab, host)
    res = run_gate(lab, host, tmp_path, check=True)
    assert res["rc"] != 0
    assert releases.state(lab, host) == before, "check mode changed the host"
    assert "-current -> releases/v2" in res["stdout"] and "+current -> releases/v1" in res["stdout"], res["stdout"][-3000:]
    assert res["gate"]["hosts"][host]["rollback"]["status"] == "check_mode"


# ----------------------------------------------------------------------------- release_rollback alone: refusals

ROLE_PLAY = """- hosts: all
  gather_facts: false
  roles:
    - role: badgateway.doctor.release_rollback
"""


def edge(lab, name: str, script: str) -> dict:
    lab.run(name, "rm -rf /srv/edge; mkdir -p /srv/edge/releases/r1 /srv/edge/releases/r2; cd /srv/edge; " + script)
    return releases.state(lab, name, root="/srv/edge")


@pytest.mark.parametrize("layout, message", [
    ("ln -s releases/r1 current; rmdir releases/r2", "no previous release: r1 is the oldest release"),
    ("ln -s releases/r9 current", "/srv/edge/current points to releases/r9, which does not exist (a dangling link)"),
    ("ln -s releases/r2 current; chmod 0700 releases/r1",
     "the release /srv/edge/releases/r1 is not readable by app, the unit's user: /srv/edge/releases/r1 is 0700"),
])
def test_rollback_refuses_clearly_and_changes_nothing(lab, host, tmp_path, layout, message):
    releases.install(lab, host, current="v1")
    before = edge(lab, host, layout)
    pid = lab.run(host, "systemctl show -p MainPID --value gunicorn.service").stdout.strip()
    proc = run_role(lab, host, tmp_path, "-e", "release_rollback_path=/srv/edge", "-e", "release_rollback_unit=gunicorn.service")
    assert proc.returncode != 0
    assert message in proc.stdout, proc.stdout[-3000:]
    assert "nothing changed" in proc.stdout
    assert releases.state(lab, host, root="/srv/edge") == before
    assert lab.run(host, "systemctl show -p MainPID --value gunicorn.service").stdout.strip() == pid, "the unit was restarted"


def run_role(lab, name: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    play = tmp_path / "rollback.yml"
    play.write_text(ROLE_PLAY)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "tests" / "output" / "collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_HOST_KEY_CHECKING="False")
    return subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory(lab, name, tmp_path)), str(play)] + list(extra),
                          env=env, capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path)


def test_rollback_role_alone_rolls_back_verifies_and_is_idempotent(lab, host, tmp_path):
    releases.install(lab, host, current="v1")
    deploy_broken_and_settled(lab, host, "v2")
    args = ("-e", "release_rollback_path=/srv/app", "-e", "release_rollback_unit=gunicorn.service",
            "-e", "badgateway_health_path=/health", "-e", f"badgateway_report_dir={tmp_path / 'reports'}")
    first = run_role(lab, host, tmp_path, *args)
    assert first.returncode == 0, first.stdout[-4000:]
    assert releases.state(lab, host)["link"] == "releases/v1" and running(lab, host) == "/srv/app/releases/v1"
    gate = json.loads((tmp_path / "reports" / "findings.json").read_text())     # it probed and re-diagnosed
    assert gate["passed"] and gate["hosts"][host]["rollback"]["to"] == "v1"
    before = releases.state(lab, host)
    second = run_role(lab, host, tmp_path, *args)
    assert second.returncode == 0, second.stdout[-4000:]
    assert "changed=0" in second.stdout.split("PLAY RECAP", 1)[1], second.stdout[-3000:]
    assert "nothing to roll back" in second.stdout
    assert releases.state(lab, host) == before
