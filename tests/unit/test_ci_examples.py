# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/ci/: valid YAML, the same gate command in both (the one the integration tests run), the reports published."""
from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "lab"))

import ci_examples  # noqa: E402  pylint: disable=wrong-import-position


def test_valid_yaml():
    for path in (ci_examples.GITHUB, ci_examples.GITLAB):
        assert isinstance(yaml.safe_load(path.read_text()), dict), path


def test_both_run_the_same_gate_command():
    gitlab = ci_examples.gitlab_gate_job()
    assert len(gitlab["script"]) == 1
    assert ci_examples.normalize(gitlab["script"][0]) == ci_examples.gate_command()
    argv = shlex.split(ci_examples.gate_command())
    assert argv[:4] == ["ansible-playbook", "-i", "$BADGATEWAY_INVENTORY", "badgateway.doctor.deploy_gate"]
    assert "badgateway_report_dir=$PWD/reports" in argv
    # the same variables, with the same values
    github_env = ci_examples.github_env()
    gitlab_env = yaml.safe_load(ci_examples.GITLAB.read_text())["variables"]
    for name in re.findall(r"\$([A-Z_]+)", ci_examples.gate_command()):
        if name != "PWD":
            assert github_env[name] == gitlab_env[name], name


def test_the_variables_are_the_gate_s_documented_ones():
    specs = (REPO / "roles" / "deploy_gate" / "meta" / "argument_specs.yml").read_text()
    for name in re.findall(r"-e (badgateway_[a-z_]+)=", ci_examples.gate_command()):
        assert f"C({name})" in specs, f"{name} is not a documented playbook name of the deploy_gate role"


def test_github_publishes_the_reports_even_when_the_gate_fails():
    doc = yaml.safe_load(ci_examples.GITHUB.read_text())
    steps = [s for job in doc["jobs"].values() for s in job["steps"]]
    after = steps[steps.index(ci_examples.github_gate_step()) + 1:]
    assert after and all(str(s.get("if", "")).startswith("always()") for s in after)
    junit = [s for s in after if "junit" in s.get("uses", "")]
    assert junit and junit[0]["with"]["report_paths"] == "reports/junit.xml"
    assert any(s.get("with", {}).get("path") == "reports/report.md" for s in after), "report.md is not posted"
    assert any("reports/report.md" in s.get("run", "") and "GITHUB_STEP_SUMMARY" in s.get("run", "") for s in after)
    upload = [s for s in after if "upload-artifact" in s.get("uses", "")]
    assert upload and "reports/report.html" in upload[0]["with"]["path"]


def test_gitlab_publishes_the_reports_even_when_the_gate_fails():
    job = ci_examples.gitlab_gate_job()
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["reports"]["junit"] == "reports/junit.xml"
    assert "reports/report.html" in job["artifacts"]["paths"]
    assert any("reports/report.md" in line and "merge_requests" in line for line in job["after_script"])
