# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Before / after comparison of a remediation (controller side, pure functions).

A host that a remediation changed is **better** only when all of these hold:

- every finding it was changed for is gone from the new diagnosis of the host that showed it;
- no warning or critical finding appears on it (or on a host whose finding it was changed for)
  that the diagnosis before the change did not have, as a root or as a consequence;
- the probes sent as nginx's worker user - straight to the upstreams and through nginx - that
  answered before still answer, and those of the fixed findings' routes answer now;
- the requests nginx logged as failing for the fixed findings, sent again through nginx, answer;
- nginx's error.log has no more upstream-error lines of any kind (signature) after the change than
  before it, and no kind it did not have before.

Anything else is a reason to restore that host. :func:`verdicts` returns them per host.
"""

from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.plugin_utils.remediation import ACTIONABLE, finding_key, flatten
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_common import as_dict as _d, as_list as _l

# nginx error.log classes (logs facts) that mean "the upstream failed a request"
SIGNATURES = ("connect_refused", "no_such_file", "permission_denied", "resource_unavailable", "premature_close",
              "reset_by_peer", "upstream_timeout", "no_live_upstreams", "too_big_header", "nginx_emerg")


def signature_counts(facts):
    """``{class: count}`` of the upstream-error lines in the nginx error logs the facts read (their window)."""
    counts = {}
    for ev in _l(_d(_d(facts).get("logs")).get("events")):
        ev = _d(ev)
        if not str(ev.get("source") or "").startswith("nginx_error") or ev.get("class") not in SIGNATURES:
            continue
        try:
            n = int(ev.get("count") or 0)
        except (TypeError, ValueError):
            continue
        counts[ev["class"]] = counts.get(ev["class"], 0) + max(n, 0)
    return counts


def probe_key(p):
    return (str(p.get("route")), str(p.get("via")), str(p.get("url")))


def probe_text(p):
    state = f"HTTP {p.get('status')}" if p.get("status") is not None else str(p.get("error") or "failed")
    return f"{p.get('via')} {p.get('url')} ({p.get('route')}): {state}"


def _host_findings(diagnosis, host):
    h = _d(_d(_d(diagnosis).get("hosts")).get(host))
    return h, list(flatten(h.get("findings")))


def host_verdict(host, the_plan, before, after, probes_before=None, probes_after=None, replays=None,
                 signatures_before=None, signatures_after=None):
    """``{"better": bool, "reasons": [str], "checked": [str]}`` for one host the remediation changed.

    ``the_plan``: :func:`remediation.plan`'s result. ``before`` / ``after``: the diagnoses. ``probes_*``:
    ``{host: [probe result]}`` as nginx's worker user. ``replays``: ``{finding id: [probe result]}``.
    ``signatures_*``: ``{host: {class: count}}``.
    """
    probes_before = _d(probes_before)
    probes_after = _d(probes_after)
    replays = _d(replays)
    records = _l(the_plan.get("findings"))
    fixed = [r for r in records if r.get("status") == "planned" and host in _l(r.get("changes_on"))]
    reasons, checked = [], []
    involved = list(dict.fromkeys([host] + [r["host"] for r in fixed]))

    for r in fixed:
        h_after, after_all = _host_findings(after, r["host"])
        if not h_after:
            reasons.append(f"{r['host']} was not diagnosed after the change, so {r['code']} cannot be shown gone")
            continue
        if h_after.get("status") == "unreachable":
            reasons.append(f"{r['host']} is unreachable after the change")
            continue
        same = [f for f in after_all if finding_key(r["host"], f) == (r["host"], r["code"], r["route"])]
        if same:
            reasons.append(f"{r['code']} is still found on {r['host']}" + (f" ({r['route']})" if r.get("route") else "")
                           + f": {same[0].get('summary')}")
        else:
            checked.append(f"{r['code']} is gone from {r['host']}")

    for x in involved:
        _hb, before_all = _host_findings(before, x)
        h_after, after_all = _host_findings(after, x)
        known = {finding_key(x, f) for f in before_all}
        for f in after_all:
            if f.get("severity") in ACTIONABLE and finding_key(x, f) not in known:
                reasons.append(f"new {f.get('severity')} finding on {x}: {f.get('code')} - {f.get('summary')}")
        if h_after and not any(f.get("severity") in ACTIONABLE and finding_key(x, f) not in known for f in after_all):
            checked.append(f"no new warning or critical finding on {x}")

        was = {probe_key(p): p for p in _l(probes_before.get(x)) if isinstance(p, dict)}
        now = [p for p in _l(probes_after.get(x)) if isinstance(p, dict)]
        fixed_routes = {r["route"] for r in fixed if r["host"] == x and r.get("route")}
        bad = 0
        for p in now:
            if p.get("ok"):
                continue
            if _d(was.get(probe_key(p))).get("ok"):
                bad += 1
                reasons.append(f"probe as nginx's user on {x} worked before and fails now: {probe_text(p)}")
            elif p.get("route") in fixed_routes:
                bad += 1
                reasons.append(f"probe as nginx's user on {x} still fails: {probe_text(p)}")
        if now and not bad:
            checked.append(f"probes as nginx's user on {x}: {sum(1 for p in now if p.get('ok'))}/{len(now)} answer")
        elif not now and fixed_routes:
            reasons.append(f"no probe as nginx's user ran on {x} for {', '.join(sorted(fixed_routes))}")

        sb, sa = _d(_d(signatures_before).get(x)), _d(_d(signatures_after).get(x))
        worse = [f"{k} {sb.get(k, 0)} -> {v}" for k, v in sorted(sa.items()) if v > sb.get(k, 0)]
        if worse:
            reasons.append(f"nginx error.log on {x} has more upstream errors after the change than before: {', '.join(worse)}")
        elif x in _d(signatures_after):
            checked.append(f"nginx error.log on {x}: no more upstream errors than before")

    for r in fixed:
        for p in _l(replays.get(str(r["id"]))) + _l(replays.get(r["id"])):
            if isinstance(p, dict) and not p.get("ok"):
                reasons.append(f"the request that failed before ({r['code']}) still fails through nginx: {probe_text(p)}")
            elif isinstance(p, dict):
                checked.append(f"replayed {p.get('url')}: HTTP {p.get('status')}")
    return {"better": not reasons, "reasons": list(dict.fromkeys(reasons)), "checked": list(dict.fromkeys(checked))}


def verdicts(the_plan, before, after, changed, apply_errors=None, **evidence):
    """Verdict per host: ``changed`` is ``{host: bool}`` (did the run change it), ``apply_errors`` ``{host: msg}``.

    A host whose steps failed is not better (restore); a host that changed is checked with
    :func:`host_verdict`; a host that did not change has nothing to restore (``restore`` False).
    """
    out = {}
    apply_errors = _d(apply_errors)
    for host, h in _d(the_plan.get("hosts")).items():
        if apply_errors.get(host):
            # restore what the steps before the failing one changed (nothing recorded: nothing to restore)
            out[host] = {"better": False, "restore": bool(_d(changed).get(host)),
                         "reasons": [f"applying the fix failed: {apply_errors[host]}"], "checked": []}
            continue
        if not _l(h.get("steps")):
            out[host] = {"better": True, "restore": False, "reasons": [], "checked": ["nothing to change"]}
            continue
        v = host_verdict(host, the_plan, before, after, **evidence)
        v["restore"] = bool(_d(changed).get(host)) and not v["better"]
        out[host] = v
    return out
