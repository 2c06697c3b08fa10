# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Before / after comparison: when a remediated host counts as better, and why not."""
from __future__ import annotations

from test_remediation_plan import CLASSES, diag, finding, step

from ansible_collections.badgateway.doctor.plugins.plugin_utils import remediation as rem
from ansible_collections.badgateway.doctor.plugins.plugin_utils import remediation_compare as cmp


def probe(route="_:80 /", via="nginx", url="http://127.0.0.1/", ok=True, status=200, error=None):
    return {"route": route, "via": via, "url": url, "ok": ok, "status": status if ok else (502 if via == "nginx" else None),
            "error": None if ok else (error or "ENOENT")}


BEFORE = diag(web1=[finding("APP_STOPPED", steps=[step("app_service", app_service_unit="gunicorn.service")],
                            consequences=[finding("SOCKET_MISSING", severity="critical")]),
                    finding("APP_BOOT_IMPORT_ERROR", route="_:80 /other/", severity="warning")])
PLAN = rem.plan(BEFORE, ["web1"], classes=CLASSES)
PROBES_BEFORE = {"web1": [probe(ok=False), probe(via="direct", url="http://unix:/run/g.sock:/", ok=False),
                          probe(route="_:80 /asgi/", url="http://127.0.0.1/asgi/")]}
GOOD_PROBES = {"web1": [probe(), probe(via="direct", url="http://unix:/run/g.sock:/"), probe(route="_:80 /asgi/", url="http://127.0.0.1/asgi/")]}
AFTER_OK = diag(web1=[finding("APP_BOOT_IMPORT_ERROR", route="_:80 /other/", severity="warning")])


def verdict(after=None, probes_after=None, replays=None, sig_before=None, sig_after=None):
    after = AFTER_OK if after is None else after
    probes_after = GOOD_PROBES if probes_after is None else probes_after
    return cmp.host_verdict("web1", PLAN, BEFORE, after, probes_before=PROBES_BEFORE, probes_after=probes_after,
                            replays=replays, signatures_before=sig_before, signatures_after=sig_after)


def test_better_when_the_finding_is_gone_and_everything_answers():
    v = verdict(sig_before={"web1": {"no_such_file": 12}}, sig_after={"web1": {}})
    assert v["better"], v["reasons"]
    assert "APP_STOPPED is gone from web1" in v["checked"]
    assert any("3/3 answer" in c for c in v["checked"])
    assert any("no more upstream errors" in c for c in v["checked"])


def test_the_original_finding_still_there_even_as_a_consequence():
    after = diag(web1=[finding("DEPENDENCY_DOWN", consequences=[finding("APP_STOPPED")])])
    v = verdict(after=after)
    assert not v["better"]
    assert any("APP_STOPPED is still found on web1" in r for r in v["reasons"])
    assert any("new critical finding on web1: DEPENDENCY_DOWN" in r for r in v["reasons"])


def test_a_known_consequence_is_not_new_but_an_unknown_warning_is():
    after = diag(web1=[finding("SOCKET_MISSING")])          # was a consequence before: not new, but APP_STOPPED is gone
    assert verdict(after=after)["better"]
    after = diag(web1=[finding("SOCKET_FILE_PERMISSION", severity="warning")])
    v = verdict(after=after)
    assert not v["better"] and "new warning finding on web1: SOCKET_FILE_PERMISSION" in v["reasons"][0]
    after = diag(web1=[finding("KEEPALIVE_RACE", severity="info")])   # info is not a regression
    assert verdict(after=after)["better"]


def test_probe_regressions_and_still_failing_routes():
    broke_asgi = {"web1": GOOD_PROBES["web1"][:2] + [probe(route="_:80 /asgi/", url="http://127.0.0.1/asgi/", ok=False)]}
    v = verdict(probes_after=broke_asgi)
    assert not v["better"] and "worked before and fails now" in v["reasons"][0] and "/asgi/" in v["reasons"][0]
    still = {"web1": [probe(ok=False, error=None), probe(via="direct", url="http://unix:/run/g.sock:/", ok=False, error="EACCES")]}
    v = verdict(probes_after=still)
    assert not v["better"] and any("still fails" in r and "EACCES" in r for r in v["reasons"])
    v = verdict(probes_after={})
    assert not v["better"] and "no probe as nginx's user ran" in v["reasons"][0]


def test_a_probe_failing_before_and_after_on_another_route_is_not_held_against_the_fix():
    before = dict(PROBES_BEFORE, web1=PROBES_BEFORE["web1"] + [probe(route="_:80 /other/", url="http://127.0.0.1/other/", ok=False)])
    after = {"web1": GOOD_PROBES["web1"] + [probe(route="_:80 /other/", url="http://127.0.0.1/other/", ok=False)]}
    v = cmp.host_verdict("web1", PLAN, BEFORE, AFTER_OK, probes_before=before, probes_after=after)
    assert v["better"], v["reasons"]


def test_replayed_requests_must_answer():
    v = verdict(replays={"0": [probe(url="http://127.0.0.1/big-header", ok=False)]})
    assert not v["better"] and "still fails through nginx" in v["reasons"][0]
    v = verdict(replays={0: [probe(url="http://127.0.0.1/big-header")]})
    assert v["better"] and "replayed http://127.0.0.1/big-header: HTTP 200" in v["checked"]


def test_error_log_signatures_not_worse():
    v = verdict(sig_before={"web1": {"no_such_file": 3}}, sig_after={"web1": {"no_such_file": 3}})
    assert v["better"]
    v = verdict(sig_before={"web1": {"no_such_file": 3}}, sig_after={"web1": {"no_such_file": 4, "permission_denied": 1}})
    assert not v["better"] and "no_such_file 3 -> 4" in v["reasons"][0] and "permission_denied 0 -> 1" in v["reasons"][0]


def test_signature_counts_from_facts():
    facts = {"logs": {"events": [
        {"class": "no_such_file", "source": "nginx_error:/var/log/nginx/error.log", "count": 3},
        {"class": "no_such_file", "source": "nginx_error:/var/log/nginx/other.log", "count": 2},
        {"class": "worker_timeout", "source": "journal:gunicorn.service", "count": 9},
        {"class": "connect_refused", "source": "journal:x", "count": 9},
        {"class": "permission_denied", "source": "nginx_error:/x", "count": "bad"},
        "junk", {"class": "too_big_header", "source": "nginx_error:/x", "count": -4}]}}
    assert cmp.signature_counts(facts) == {"no_such_file": 5, "too_big_header": 0}
    assert cmp.signature_counts(None) == {} and cmp.signature_counts({"logs": "x"}) == {}


def test_cross_host_fix_is_judged_on_the_host_that_showed_it():
    fix = step("app_unit", host="app1", app_unit_name="gunicorn.service", app_unit_exec_options={"bind": "0.0.0.0:8000"})
    before = diag(proxy1=[finding("CROSS_HOST_LOOPBACK_BIND", host="proxy1", steps=[fix])], app1=[])
    the_plan = rem.plan(before, ["proxy1", "app1"], classes=CLASSES)
    pb = {"proxy1": [probe(ok=False, error="ECONNREFUSED"), probe(via="direct", url="http://10.0.0.2:8000/", ok=False)]}
    pa = {"proxy1": [probe(), probe(via="direct", url="http://10.0.0.2:8000/")]}
    after = diag(proxy1=[], app1=[])
    v = cmp.host_verdict("app1", the_plan, before, after, probes_before=pb, probes_after=pa)
    assert v["better"] and "CROSS_HOST_LOOPBACK_BIND is gone from proxy1" in v["checked"]
    still = diag(proxy1=[finding("CROSS_HOST_LOOPBACK_BIND", host="proxy1")], app1=[])
    v = cmp.host_verdict("app1", the_plan, before, still, probes_before=pb, probes_after=pb)
    assert not v["better"] and "still found on proxy1" in v["reasons"][0]
    gone = {"hosts": {"app1": {"status": "ok", "findings": []}}}
    v = cmp.host_verdict("app1", the_plan, before, gone, probes_before=pb, probes_after=pa)
    assert not v["better"] and "proxy1 was not diagnosed after the change" in v["reasons"][0]
    unreachable = diag(proxy1=[], app1=[])
    unreachable["hosts"]["proxy1"]["status"] = "unreachable"
    v = cmp.host_verdict("app1", the_plan, before, unreachable, probes_before=pb, probes_after=pa)
    assert "proxy1 is unreachable after the change" in v["reasons"]


def test_verdicts_per_host_and_restore_decision():
    web3 = [finding("APP_STOPPED", host="web3", steps=[step("app_service", app_service_unit="g.service")])]
    d = diag(web1=BEFORE["hosts"]["web1"]["findings"], web2=[], web3=web3)
    the_plan = rem.plan(d, ["web1", "web2", "web3"], classes=CLASSES)
    after = diag(web1=[finding("APP_STOPPED")], web2=[], web3=[])
    out = cmp.verdicts(the_plan, d, after, changed={"web1": True, "web3": True}, apply_errors={"web3": "nginx -t failed"},
                       probes_before=PROBES_BEFORE, probes_after=GOOD_PROBES)
    assert out["web1"]["restore"] and not out["web1"]["better"]
    assert out["web2"] == {"better": True, "restore": False, "reasons": [], "checked": ["nothing to change"]}
    assert out["web3"]["restore"] and out["web3"]["reasons"] == ["applying the fix failed: nginx -t failed"]
    out = cmp.verdicts(the_plan, d, after, changed={}, apply_errors={"web3": "refused"})
    assert not out["web3"]["restore"] and not out["web3"]["better"]     # the failing step changed nothing
    out = cmp.verdicts(the_plan, d, after, changed={}, probes_before=PROBES_BEFORE, probes_after=GOOD_PROBES)
    assert not out["web1"]["better"] and not out["web1"]["restore"]    # nothing changed: nothing to restore
