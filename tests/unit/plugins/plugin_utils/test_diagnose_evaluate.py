# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The diagnose_evaluate action plugin: its helpers, and real ansible-playbook runs of the diagnose role."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from facts_fixtures import COLLECTIONS, FIXTURES, REPO, load_fixture

from ansible_collections.badgateway.doctor.plugins.action.diagnose_evaluate import gate, host_entry
from ansible_collections.badgateway.doctor.plugins.plugin_utils import reports, rules

HERE = os.path.dirname(os.path.abspath(__file__))
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")


def test_host_entry_from_hostvars():
    facts = load_fixture("healthy_lab")
    e = host_entry("web1", {"ansible_host": "10.213.0.2", "inventory_hostname": "web1", "ansible_facts": {"badgateway": facts},
                            "badgateway_gather_result": {"changed": False}}, "badgateway_gather_result")
    assert e["facts"] == facts and not e["unreachable"] and e["address"] == ["10.213.0.2", "web1"]
    e = host_entry("web2", {"inventory_hostname": "web2", "badgateway_gather_result": {"unreachable": True, "msg": "ssh: refused"}},
                   "badgateway_gather_result")
    assert e["unreachable"] and e["facts"] is None and e["msg"] == "ssh: refused"
    e = host_entry("web3", {"inventory_hostname": "web3", "badgateway_gather_result": {"failed": True, "msg": "MODULE FAILURE"}},
                   "badgateway_gather_result")
    assert not e["unreachable"] and e["facts"] is None and e["msg"] == "MODULE FAILURE"
    e = host_entry("web4", {"inventory_hostname": "web4"}, "badgateway_gather_result")
    assert e["unreachable"]     # never reached the gather task: not healthy


def test_gate_levels():
    res = rules.evaluate({"web1": {"facts": load_fixture("oom_kill"), "unreachable": False, "address": [], "msg": ""}}, now=0)
    assert res["hosts"]["web1"]["status"] == "warning"
    assert gate(res, "critical")[0] is False
    assert gate(res, "warning")[0] is True
    assert gate(res, "info")[0] is True
    assert gate(res, "none")[0] is False
    failed, msg = gate(res, "warning")
    assert "web1" in msg and "warning" in msg


def test_evaluate_and_write_like_the_plugin(tmp_path):
    hosts = {"web1": host_entry("web1", {"ansible_facts": {"badgateway": load_fixture("private_tmp_socket")}, "badgateway_gather_result": {}},
                                "badgateway_gather_result")}
    res = rules.evaluate(hosts)
    written = reports.write_reports(res, str(tmp_path), list(reports.FORMATS))
    data = json.loads(open(written["json"], encoding="utf-8").read())
    assert data["hosts"]["web1"]["findings"][0]["code"] == "PRIVATE_TMP_SOCKET"


def _inventory(tmp_path, lines):
    inv = tmp_path / "inventory.ini"
    inv.write_text("\n".join(lines) + "\n")
    return str(inv)


def _run(tmp_path, inventory, *extra, playbook=None):
    if not os.path.exists(ANSIBLE_PLAYBOOK):
        pytest.skip("ansible-playbook is not installed next to this Python")
    env = dict(os.environ)
    env.update(ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_NOCOLOR="1",
               ANSIBLE_RETRY_FILES_ENABLED="False", ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_HOME=str(tmp_path / "home"),
               ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_TIMEOUT="5")
    cmd = [ANSIBLE_PLAYBOOK, "-i", inventory, playbook or os.path.join(HERE, "playbooks", "diagnose_recorded.yml"),
           "-e", f"badgateway_report_dir={tmp_path / 'report'}"] + list(extra)
    return subprocess.run(cmd, cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300, check=False)


def _local(name, fixture, address):
    return (f"{name} ansible_connection=local ansible_host={address} ansible_python_interpreter={sys.executable} "
            f"badgateway_fixture={os.path.join(FIXTURES, fixture + '.json')}")


@pytest.mark.parametrize("check", [False, True])
def test_playbook_reports_and_gate(tmp_path, check):
    inv = _inventory(tmp_path, [_local("web1", "app_stopped", "10.213.0.2"), _local("web2", "healthy_lab", "10.213.0.4")])
    extra = ["--check"] if check else []
    proc = _run(tmp_path, inv, *extra)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out                       # default fail_on critical: web1 is critical
    assert "web1: CRITICAL APP_STOPPED" in out and "web2: OK" in out
    assert "changed=0" in out and "changed=1" not in out
    data = json.loads((tmp_path / "report" / "findings.json").read_text())
    assert data["hosts"]["web1"]["status"] == "critical" and data["hosts"]["web2"]["status"] == "ok"
    assert sorted(os.listdir(tmp_path / "report")) == ["findings.json", "junit.xml", "report.html", "report.md"]


def test_playbook_fail_on_none_and_formats(tmp_path):
    inv = _inventory(tmp_path, [_local("web1", "app_stopped", "10.213.0.2")])
    proc = _run(tmp_path, inv, "-e", "badgateway_fail_on=none", "-e", '{"badgateway_formats": ["json"]}')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert os.listdir(tmp_path / "report") == ["findings.json"]


def test_playbook_healthy_passes_even_on_warning(tmp_path):
    inv = _inventory(tmp_path, [_local("web1", "healthy_lab", "10.213.0.2")])
    proc = _run(tmp_path, inv, "-e", "badgateway_fail_on=warning")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "web1: OK" in proc.stdout


def test_playbook_unreachable_host_is_reported(tmp_path):
    # a real unreachable host: ssh to a closed port on loopback; the role gathers for real
    inv = _inventory(tmp_path, ["ghost ansible_host=127.0.0.1 ansible_port=1 ansible_connection=ssh ansible_user=nobody"])
    proc = _run(tmp_path, inv, "-e", "badgateway_gather=true", playbook=os.path.join(REPO, "playbooks", "diagnose.yml"))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "ghost: UNREACHABLE HOST_UNREACHABLE" in out
    data = json.loads((tmp_path / "report" / "findings.json").read_text())
    assert data["hosts"]["ghost"]["status"] == "unreachable"


def test_playbook_save_facts_replays_to_the_same_result(tmp_path):
    inv = _inventory(tmp_path, [_local("web1", "oom_kill", "10.213.0.2")])
    proc = _run(tmp_path, inv, "-e", "badgateway_save_facts=true")
    assert proc.returncode == 0, proc.stdout + proc.stderr     # a warning does not fail the default gate
    saved = json.loads((tmp_path / "report" / "facts" / "web1.json").read_text())
    assert saved["web1"]["facts"] == load_fixture("oom_kill")
    replay = rules.evaluate(saved)
    written = json.loads((tmp_path / "report" / "findings.json").read_text())
    assert [f["code"] for f in replay["hosts"]["web1"]["findings"]] == [f["code"] for f in written["hosts"]["web1"]["findings"]]
