# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The remediate role's controller actions run by ansible-playbook (local connection): plan, report, hostile input."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from facts_fixtures import COLLECTIONS

ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")

PLAY = """
- hosts: all
  gather_facts: false
  tasks:
    - name: Plan
      badgateway.doctor.remediation_plan:
        diagnosis: "{{ lookup('ansible.builtin.file', diagnosis_file) | from_json }}"
        findings: "{{ findings_file | default('') }}"
        codes: "{{ codes | default([]) }}"
        steps_dir: "{{ out }}/steps"
      run_once: true
      delegate_to: localhost
      register: remediate_plan
    - name: Report
      badgateway.doctor.remediation_report:
        report_dir: "{{ out }}"
        plan: "{{ remediate_plan.plan }}"
        before: "{{ remediate_plan.before }}"
        run_id: t1
      run_once: true
      delegate_to: localhost
      register: remediate_report
    - name: Keep the results
      ansible.builtin.copy:
        content: "{{ {'plan': remediate_plan, 'report': remediate_report} | to_json }}"
        dest: "{{ out }}/results.json"
        mode: "0644"
      run_once: true
      delegate_to: localhost
"""


def diagnosis(evil="x"):
    step = {"role": "badgateway.doctor.app_service", "host": "web1", "vars": {"app_service_unit": evil}}
    return {"hosts": {
        "web1": {"status": "critical", "findings": [
            {"code": "APP_STOPPED", "severity": "critical", "layer": "app", "host": "web1", "route": "_:80 /", "summary": "stopped",
             "evidence": ['request: "GET /x HTTP/1.1", host: "web1"'], "consequences": [],
             "fix": {"summary": "start it", "role": step["role"], "vars": step["vars"], "steps": [step]}},
            {"code": "APP_BOOT_IMPORT_ERROR", "severity": "critical", "layer": "app", "host": "web1", "route": "_:80 /b/",
             "summary": "import", "evidence": [], "consequences": [], "fix": {"summary": "fix the import", "steps": []}}]},
        "web2": {"status": "ok", "findings": []}}}


def run(tmp_path, data, *extra):
    inv = tmp_path / "inventory.ini"
    inv.write_text(f"web1 ansible_connection=local ansible_python_interpreter={sys.executable}\n"
                   f"web2 ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    (tmp_path / "play.yml").write_text(PLAY)
    (tmp_path / "diagnosis.json").write_text(json.dumps(data))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR="1")
    cmd = [ANSIBLE_PLAYBOOK, "-i", str(inv), str(tmp_path / "play.yml"), "-e", f"out={tmp_path / 'out'}",
           "-e", f"diagnosis_file={tmp_path / 'diagnosis.json'}", *extra]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_plan_and_report_through_ansible(tmp_path):
    evil = "{{ lookup('ansible.builtin.pipe', 'touch " + str(tmp_path / "pwned") + "') }}"
    proc = run(tmp_path, diagnosis(evil))
    assert proc.returncode == 0, proc.stdout[-3000:]
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    plan = res["plan"]
    assert plan["summary"][0].startswith("web1: apply app_service - for APP_STOPPED - by hand: APP_BOOT_IMPORT_ERROR")
    assert plan["replays"]["web1"] == [{"method": "GET", "path": "/x", "host_header": "web1", "id": 0, "route": "_:80 /",
                                        "code": "APP_STOPPED"}]
    tasks = yaml.safe_load((tmp_path / "out" / "steps" / "web1.yml").read_text().replace("!unsafe ", ""))
    assert tasks[0]["vars"]["app_service_unit"] == evil and not (tmp_path / "pwned").exists()
    data = json.loads((tmp_path / "out" / "findings.json").read_text())
    assert data["remediation"]["run_id"] == "t1" and data["remediation"]["hosts"]["web1"]["status"] == "fixed"
    assert {"junit.xml", "report.html", "report.md"} <= set(os.listdir(tmp_path / "out"))


@pytest.mark.parametrize("content, match", [
    (b"{not json", "is not JSON"),
    (b'{"hosts": []}', "has no 'hosts' object"),
    (b"[1, 2]", "not a badgateway.doctor diagnosis"),
    (None, "cannot read the findings file"),
])
def test_hostile_findings_files_fail_with_one_sentence(tmp_path, content, match):
    path = tmp_path / "findings.json"
    if content is not None:
        path.write_bytes(content)
    proc = run(tmp_path, diagnosis(), "-e", f"findings_file={path}")
    assert proc.returncode != 0 and match in proc.stdout and "Traceback" not in proc.stdout + proc.stderr, proc.stdout[-3000:]


def test_a_fifo_is_not_read(tmp_path):
    path = tmp_path / "findings.json"
    os.mkfifo(path)
    proc = run(tmp_path, diagnosis(), "-e", f"findings_file={path}")
    assert proc.returncode != 0 and "not a regular file" in proc.stdout, proc.stdout[-3000:]


def test_unknown_codes_fail_with_the_codes_named(tmp_path):
    proc = run(tmp_path, diagnosis(), "-e", json.dumps({"codes": ["APP_STOPPED", "NOT_A_CODE"]}))
    assert proc.returncode != 0 and "unknown finding code(s) in badgateway_remediate_codes: NOT_A_CODE" in proc.stdout
