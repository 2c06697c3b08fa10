# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The remediation section of the reports: per-host status, diffs (masked), probes, verdict, restore; all four formats."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from test_remediation_plan import CLASSES, diag, finding, step

from ansible_collections.badgateway.doctor.plugins.plugin_utils import remediation as rem
from ansible_collections.badgateway.doctor.plugins.plugin_utils import remediation_report as rr

SECRET = "pw-DO-NOT-LEAK"
BEFORE = diag(web1=[finding("APP_STOPPED", steps=[step("app_service", app_service_unit="gunicorn.service")])],
              web2=[finding("APP_BOOT_IMPORT_ERROR", host="web2")],
              web3=[finding("SOCKET_DIR_PERMISSION", host="web3", steps=[step("socket_permissions", socket_permissions_path="/run/g.sock")])],
              web4=[])
PLAN = rem.plan(BEFORE, ["web1", "web2", "web3", "web4"], classes=CLASSES)
AFTER = diag(web1=[], web2=[finding("APP_BOOT_IMPORT_ERROR", host="web2")], web3=[finding("SOCKET_DIR_PERMISSION", host="web3")], web4=[])


def probe_reg(*oks):
    return {"probes": {"results": [{"route": "_:80 /", "via": "nginx", "url": f"http://127.0.0.1/{i}", "ok": ok,
                                    "status": 200 if ok else 502, "error": None} for i, ok in enumerate(oks)]}}


def evidence():
    changes = {"manifest": {"files": [{"path": "/etc/systemd/system/g.service.d/50-badgateway.conf"}],
                            "actions": [{"kind": "restarted", "unit": "gunicorn.service", "before": {"active_state": "active"}}]},
               "files": [{"path": "/etc/systemd/system/g.service.d/50-badgateway.conf", "change": "removed", "before": None,
                          "after": f"[Service]\nEnvironment=DATABASE_URL=postgres://app:{SECRET}@db/app\nUMask=0007\n"}]}
    restored = {"changed": True, "restored": ["/run/g"], "changes": [{"path": "/run/g", "change": "metadata"}],
                "undone": [{"step": "restart", "target": "gunicorn.service", "ok": True, "message": ""}], "errors": []}
    return {
        "web1": rr.host_evidence({"lock": {"changed": False}, "probes_before": probe_reg(False), "probes_after": probe_reg(True),
                                  "changes": changes,
                                  "replays": {"results": [{"item": {"id": 0}, "probes": probe_reg(True)["probes"]}]}}),
        "web2": rr.host_evidence({"lock": {"changed": False}}),
        "web3": rr.host_evidence({"changes": {"manifest": {"files": [{"path": "/run/g"}], "actions": []}, "files": []},
                                  "restore": restored, "probes_restored": probe_reg(False)}),
        "web4": rr.host_evidence({"lock": {"failed": True, "msg": "The remediate lock on web4 is held by run X since ..."}}, active=False),
    }


VERDICTS = {"web1": {"better": True, "restore": False, "reasons": [], "checked": ["APP_STOPPED is gone from web1"]},
            "web3": {"better": False, "restore": True, "reasons": ["SOCKET_DIR_PERMISSION is still found on web3"], "checked": []}}


def section(check_mode=False):
    return rr.build_section({"run_id": "r1", "source": "diagnosis"}, PLAN, BEFORE, None if check_mode else AFTER, VERDICTS,
                            evidence(), check_mode)


def test_statuses_and_summaries():
    sec = section()
    hosts = sec["hosts"]
    assert {h: v["status"] for h, v in hosts.items()} == {"web1": "fixed", "web2": "manual", "web3": "restored", "web4": "locked"}
    assert hosts["web1"]["summary"].startswith("web1: FIXED APP_STOPPED (1 file(s), 1 unit action(s)); new diagnosis: ok")
    assert hosts["web2"]["summary"].startswith("web2: BY HAND APP_BOOT_IMPORT_ERROR: fix APP_BOOT_IMPORT_ERROR by hand")
    assert hosts["web3"]["summary"] == ("web3: RESTORED after trying SOCKET_DIR_PERMISSION: put back /run/g, restart gunicorn.service because "
                                        "SOCKET_DIR_PERMISSION is still found on web3")
    assert hosts["web4"]["summary"].startswith("web4: LOCKED BY ANOTHER RUN: The remediate lock")
    assert hosts["web2"]["final_status"] == "critical" and hosts["web2"]["remaining"][0]["code"] == "APP_BOOT_IMPORT_ERROR"
    assert hosts["web1"]["final_status"] == "ok" and hosts["web1"]["remaining"] == []
    assert hosts["web3"]["restore"]["done"] and hosts["web3"]["restore"]["undone"][0]["step"] == "restart"
    assert hosts["web1"]["replays"][0]["ok"] and hosts["web1"]["probes"]["before"][0]["status"] == 502


def test_restore_incomplete_is_its_own_status():
    ev = evidence()
    ev["web3"]["restore"] = dict(ev["web3"]["restore"], errors=[{"path": "/run/g", "message": "EPERM"}])
    sec = rr.build_section({"run_id": "r1"}, PLAN, BEFORE, AFTER, VERDICTS, ev, False)
    assert sec["hosts"]["web3"]["status"] == "restore_failed" and "RESTORE INCOMPLETE" in sec["hosts"]["web3"]["summary"]


def test_check_mode_says_what_it_would_do():
    sec = section(check_mode=True)
    assert sec["check_mode"] and sec["hosts"]["web1"]["status"] == "planned"
    assert sec["hosts"]["web1"]["summary"] == "web1: WOULD APPLY app_service for APP_STOPPED (check mode)"
    assert sec["hosts"]["web1"]["after"] == [] and sec["hosts"]["web1"]["final_status"] == "critical"


def test_diffs_are_unified_and_masked():
    sec = section()
    files = sec["hosts"]["web1"]["changes"]["files"]
    assert files[0]["path"].endswith("50-badgateway.conf")
    assert "+UMask=0007" in files[0]["diff"] and "--- /etc/systemd/system/g.service.d/50-badgateway.conf (before)" in files[0]["diff"]
    text = json.dumps(sec)
    assert SECRET not in text and "********" in text
    path, diff = rr.render_diff({"path": "/x", "change": "metadata"})
    assert path == "/x" and "no text diff" in diff


def test_all_four_formats(tmp_path):
    sec = section()
    written = rr.write_reports(AFTER, sec, str(tmp_path))
    assert set(written) == {"json", "junit", "html", "md"}
    data = json.loads((tmp_path / "findings.json").read_text())
    assert data["hosts"] == AFTER["hosts"] and data["remediation"]["hosts"]["web1"]["status"] == "fixed"
    root = ET.parse(tmp_path / "junit.xml").getroot()
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert {"remediation:web1", "remediation:web2", "remediation:web3", "remediation:web4"} <= set(suites)
    assert suites["remediation:web3"].find("testcase/failure") is not None
    assert suites["remediation:web4"].find("testcase/error") is not None
    assert suites["remediation:web2"].find("testcase/skipped") is not None
    assert suites["remediation:web1"].get("failures") == "0"
    assert int(root.get("tests")) == sum(int(s.get("tests")) for s in root.findall("testsuite"))
    page = (tmp_path / "report.html").read_text()
    assert '<section class="remediation"' in page and 'data-remediation="restored"' in page and page.count("<main>") == 1
    assert SECRET not in page and SECRET not in (tmp_path / "report.md").read_text()
    md = (tmp_path / "report.md").read_text()
    assert md.startswith("## Remediation") and "```diff" in md and "## badgateway.doctor" in md


def test_hostile_texts_are_escaped(tmp_path):
    evil = "<script>alert(1)</script>|`"
    before = diag(web1=[finding("APP_STOPPED", route=evil, steps=[step("app_service", app_service_unit=evil)])])
    the_plan = rem.plan(before, ["web1"], classes=CLASSES)
    sec = rr.build_section({"run_id": evil}, the_plan, before, before, {}, {"web1": rr.host_evidence({})}, False)
    rr.write_reports(before, sec, str(tmp_path))
    page = (tmp_path / "report.html").read_text()
    assert "<script>alert" not in page
    assert "<script>" not in (tmp_path / "report.md").read_text().split("## badgateway.doctor")[0]


def test_evidence_from_registered_variables():
    ev = rr.host_evidence({"lock": {"failed": True, "msg": "cannot create the lock directory"}}, active=False)
    assert not ev["locked"] and ev["error"] == "cannot create the lock directory" and ev["failed_early"]
    ev = rr.host_evidence({"lock": {"failed": True, "msg": "The remediate lock on web1 is held by run r2 since ..."}}, active=False)
    assert ev["locked"] and "r2" in ev["error"] and not ev.get("failed_early")
    ev = rr.host_evidence({"lock": {}, "apply_error": "step 1/1: nginx_proxy: nginx -t failed"})
    assert not ev["locked"] and ev["error"].endswith("nginx -t failed")
    ev = rr.host_evidence({}, active=False)
    assert ev["failed_early"] and "unreachable" in ev["error"]
    assert rr.host_evidence({"restore": {"skipped": True}})["restore"] == {}
    assert not rr.host_changed(rr.host_evidence({"changes": {"manifest": {"files": [], "actions": []}}}))
    assert rr.host_changed(rr.host_evidence({"changes": {"manifest": {"files": [], "actions": [{"kind": "started"}]}}}))
    assert rr.host_evidence({"probes_before": {"skipped": True}})["probes_before"] == []


def test_errors_without_a_restore():
    ev = evidence()
    ev["web1"] = rr.host_evidence({"lock": {}, "apply_error": "step 1/1: app_service: unit_ready timed out"})
    ev["web4"] = rr.host_evidence({"lock": {}, "run_error": "Stop when the plan could not be made: not JSON"})
    sec = rr.build_section({"run_id": "r1"}, PLAN, BEFORE, AFTER, {}, ev, False)
    assert sec["hosts"]["web1"]["status"] == "not_fixed" and "unit_ready timed out" in sec["hosts"]["web1"]["summary"]
    assert sec["hosts"]["web4"]["status"] == "failed" and sec["hosts"]["web4"]["summary"] == (
        "web4: RUN FAILED: Stop when the plan could not be made: not JSON")
    check = rr.build_section({"run_id": "r1"}, PLAN, BEFORE, None, {}, ev, True)
    assert check["hosts"]["web4"]["status"] == "failed" and check["hosts"]["web3"]["status"] == "restored"
