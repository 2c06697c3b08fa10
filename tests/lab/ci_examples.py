# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy gate's command as the CI examples in docs/ci/ run it.

The integration tests run exactly this command against the lab; a unit test checks that the
GitHub Actions and the GitLab CI example agree on it and publish the reports.
"""
from __future__ import annotations

import re
from pathlib import Path

import yaml

DOCS_CI = Path(__file__).resolve().parents[2] / "docs" / "ci"
GITHUB = DOCS_CI / "github-actions.yml"
GITLAB = DOCS_CI / "gitlab-ci.yml"


def normalize(command: str) -> str:
    """One line: backslash-newline continuations joined, runs of blanks collapsed."""
    return re.sub(r"\s+", " ", command.replace("\\\n", " ")).strip()


def github_gate_step(path: Path = GITHUB) -> dict:
    doc = yaml.safe_load(path.read_text())
    steps = [s for job in doc["jobs"].values() for s in job.get("steps", []) if s.get("id") == "gate"]
    if len(steps) != 1:
        raise AssertionError(f"{path}: expected one step with id 'gate', found {len(steps)}")
    return steps[0]


def github_env(path: Path = GITHUB) -> dict:
    doc = yaml.safe_load(path.read_text())
    env = dict(doc.get("env") or {})
    for job in doc["jobs"].values():
        env.update(job.get("env") or {})
    return env


def gitlab_gate_job(path: Path = GITLAB) -> dict:
    return yaml.safe_load(path.read_text())["deploy_gate"]


def gate_command() -> str:
    """The gate command of the GitHub Actions example (what the tests run)."""
    return normalize(github_gate_step()["run"])
