# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""release_facts and release_switch run as Ansible runs them (in-process, arguments via patch_module_args).

The load check needs systemd and a unit (the lab covers it); here it is off or given no unit.
"""
from __future__ import annotations

import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.badgateway.doctor.plugins.modules import release_facts, release_switch


def run(module, args, capsys, check=False, diff=False):
    if check:
        args = dict(args, _ansible_check_mode=True)
    if diff:
        args = dict(args, _ansible_diff=True)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "app"
    for rel in ("v1", "v2"):
        (root / "releases" / rel).mkdir(parents=True)
    (root / "current").symlink_to("releases/v2")
    return root


def snapshot(root):
    return {p: (os.readlink(os.path.join(d, p)) if os.path.islink(os.path.join(d, p)) else None)
            for d, dirs, files in os.walk(root) for p in dirs + files}


def test_facts(root, capsys):
    out = run(release_facts, {"path": str(root)}, capsys)
    assert out["changed"] is False
    rel = out["release"]
    assert rel["current"]["id"] == "v2" and rel["previous"]["id"] == "v1" and rel["problems"] == []
    assert rel["unit"] is None and rel["running"] is None


def test_switch_check_mode_and_diff_change_nothing(root, capsys):
    before = snapshot(root)
    out = run(release_switch, {"path": str(root), "release": "v1"}, capsys, check=True, diff=True)
    assert out["changed"] is True and out["switched"] is True
    assert out["diff"]["before"] == "current -> releases/v2\n" and out["diff"]["after"] == "current -> releases/v1\n"
    assert snapshot(root) == before


def test_switch_records_and_is_idempotent(root, capsys):
    out = run(release_switch, {"path": str(root), "release": "v1", "expect_current": "v2"}, capsys)
    assert out["changed"] is True and os.readlink(root / "current") == "releases/v1"
    hist = json.loads((root / ".badgateway-releases.json").read_text())["history"]
    assert hist[-1]["release"] == "v1" and hist[-1]["event"] == "rollback" and hist[-1]["from"] == "v2"
    again = run(release_switch, {"path": str(root), "release": "v1"}, capsys)
    assert again["changed"] is False
    facts = run(release_facts, {"path": str(root)}, capsys)["release"]
    # v2 was rolled back from: it is never chosen as "previous" from the history; name order has nothing before v1
    assert facts["current"]["id"] == "v1" and facts["previous"] is None


def test_record_passed_once(root, capsys):
    out = run(release_switch, {"path": str(root), "release": "v2", "record": "passed"}, capsys)
    assert out["changed"] is True and out["switched"] is False
    assert run(release_switch, {"path": str(root), "release": "v2", "record": "passed"}, capsys)["changed"] is False
    out = run(release_switch, {"path": str(root), "release": "v1", "record": "passed"}, capsys)
    assert out["failed"] and "record=passed is for the current release (v2)" in out["msg"]


@pytest.mark.parametrize("args, msg", [
    ({"release": "v9"}, "the release v9 does not exist"),
    ({"release": "../../etc"}, "is not a release id"),
    ({"release": "v1", "expect_current": "v3"}, "now points to releases/v2, not v3"),
])
def test_switch_refusals_change_nothing(root, capsys, args, msg):
    before = snapshot(root)
    out = run(release_switch, dict(args, path=str(root)), capsys)
    assert out["failed"] and msg in out["msg"] and "nothing changed" in out["msg"]
    assert snapshot(root) == before


def test_switch_refuses_a_dangling_current(root, capsys):
    (root / "current").unlink()
    (root / "current").symlink_to("releases/v9")
    out = run(release_switch, {"path": str(root), "release": "v1"}, capsys)
    assert out["failed"] and "dangling" in out["msg"]
    assert os.readlink(root / "current") == "releases/v9"
