# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import os

from ansible_collections.badgateway.doctor.plugins.module_utils import system as Y

MEMINFO = """MemTotal:       24590228 kB
MemFree:        20000000 kB
MemAvailable:   22000000 kB
HugePages_Total:       0
"""


def test_parse_meminfo():
    assert Y.parse_meminfo(MEMINFO) == {"total": 24590228 * 1024, "available": 22000000 * 1024}
    assert Y.parse_meminfo("MemTotal: 1 kB\n") == {"total": 1024, "available": None}


def test_selinux_boolean():
    assert Y.parse_selinux_boolean("1 1") is True
    assert Y.parse_selinux_boolean("0 1") is False
    assert Y.parse_selinux_boolean("") is None


def _fake(tmp_path, comm="systemd\n", enforce=None, booleans=None):
    proc = tmp_path / "proc"
    (proc / "1").mkdir(parents=True)
    if comm is not None:
        (proc / "1" / "comm").write_text(comm)
    (proc / "meminfo").write_text(MEMINFO)
    se = tmp_path / "selinux"
    if enforce is not None:
        (se / "booleans").mkdir(parents=True)
        (se / "enforce").write_text(enforce)
        for name, value in (booleans or {}).items():
            (se / "booleans" / name).write_text(value)
    return str(proc), str(se)


def test_collect_systemd_selinux_enforcing(tmp_path):
    proc, se = _fake(tmp_path, enforce="1", booleans={"httpd_can_network_connect": "0 0", "httpd_can_network_relay": "1 1"})
    facts = Y.collect_system(proc=proc, selinux_fs=se, run_systemd=str(tmp_path / "none"))
    assert facts["systemd"] is True
    assert facts["selinux"] == {"present": True, "mode": "enforcing",
                                "booleans": {"httpd_can_network_connect": False, "httpd_can_network_relay": True}}
    assert facts["memory"]["total"] == 24590228 * 1024
    assert facts["kernel"] == os.uname().release
    assert facts["is_root"] is (os.geteuid() == 0)
    assert facts["errors"] == []


def test_collect_no_systemd_permissive(tmp_path):
    proc, se = _fake(tmp_path, comm="init\n", enforce="0")
    facts = Y.collect_system(proc=proc, selinux_fs=se, run_systemd=str(tmp_path / "none"))
    assert facts["systemd"] is False and facts["selinux"]["mode"] == "permissive"
    run = tmp_path / "run-systemd"
    run.mkdir()
    assert Y.collect_system(proc=proc, selinux_fs=se, run_systemd=str(run))["systemd"] is True


def test_collect_missing_everything(tmp_path):
    facts = Y.collect_system(proc=str(tmp_path), selinux_fs=str(tmp_path / "no"), run_systemd=str(tmp_path / "no"))
    assert facts["systemd"] is False and facts["selinux"]["present"] is False
    assert facts["memory"] == {"total": None, "available": None}
    assert {e["path"] for e in facts["errors"]} == {str(tmp_path / "1" / "comm"), str(tmp_path / "meminfo")}


def test_collect_real_host():
    facts = Y.collect_system()
    assert facts["memory"]["total"] > 0 and isinstance(facts["systemd"], bool)
