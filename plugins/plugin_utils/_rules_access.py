# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What users actually got (nginx's access logs, the ``access`` facts), joined to the findings.

After the rules and the folding, each route's 5xx counts go to the root finding that explains that
route ("12 requests got 502 on route '_:80 /' since 06:41:02", with the upstream statuses and
addresses as evidence). 5xx that no finding explains are never "OK": while they are current (the
last one came after the newest restart of nginx's workers and of the app or container behind the route) they
are a ``FACTS_INCOMPLETE`` critical; older ones - before a restart that may have fixed them - an info.
"""

from __future__ import annotations

import time

from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_common import as_dict, as_list, finding, num
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_containers import served_routes

STATUSES = ("502", "503", "504", "5xx_other")
# access logs have whole seconds: a 5xx logged in the second of a restart counts as before it (the app was
# not up yet: why it failed)
RESTART_SLACK = 0.0
# 5xx in the first seconds after nginx or the app (re)started, answered since: it was not ready yet
STARTUP_GRACE = 10.0


def clock(ts):
    """``06:41:02`` (``2026-12-02 06:41:02`` when not today), local time of the controller."""
    if num(ts) is None:
        return "?"
    try:
        now = time.localtime()
        t = time.localtime(ts)
    except (OverflowError, ValueError, OSError):
        return "?"
    return time.strftime("%H:%M:%S" if t[:3] == now[:3] else "%Y-%m-%d %H:%M:%S", t)


def counts_text(counts):
    parts = []
    for key in STATUSES:
        n = int(num(as_dict(counts).get(key), 0))
        if n:
            parts.append(f"{n} \u00d7 {'other 5xx' if key == '5xx_other' else key}")
    return ", ".join(parts)


def headline(agg):
    """``12 requests got 502 on route '_:80 /' since 06:41:02`` (the most frequent status named)."""
    counts = as_dict(agg.get("counts"))
    total = int(num(agg.get("total_5xx"), 0))
    top = max(STATUSES, key=lambda k: int(num(counts.get(k), 0)))
    status = "a 5xx" if top == "5xx_other" or int(num(counts.get(top), 0)) != total else top
    what = f"route '{agg.get('route')}'" if agg.get("route") else "requests outside the configured routes"
    plural = "request" if total == 1 else "requests"
    of = int(num(agg.get("requests"), 0))
    of_text = f" of {of}" if of > total else ""
    return f"{total}{of_text} {plural} got {status} on {what} since {clock(agg.get('first'))}"


def evidence_lines(agg):
    lines = [f"access log {agg.get('log')}: {counts_text(agg.get('counts'))} from {clock(agg.get('first'))} to "
             f"{clock(agg.get('last'))}" + (f"; {agg.get('retried')} more recovered by a retry" if agg.get("retried") else "")]
    ups = as_dict(agg.get("upstream_status"))
    if ups:
        lines.append("upstream status of those requests: " + ", ".join(f"{k} \u00d7 {v}" for k, v in sorted(ups.items())))
    if as_list(agg.get("upstream_addrs")):
        lines.append("upstream addresses: " + ", ".join(str(a) for a in as_list(agg.get("upstream_addrs"))))
    urt = as_dict(agg.get("upstream_response_time"))
    if urt:
        lines.append(f"upstream response time max {urt.get('max')} s, mean {urt.get('avg')} s")
    lines += [f"sample: {s}" for s in as_list(agg.get("samples"))]
    return lines


def aggregates(view):
    """The access facts' per-route aggregates with a 5xx (or a retried failure), largest first (none when nginx is not
    in use on the host: what its logs hold is from before)."""
    if getattr(view, "nginx_state", "serving") in ("unused", "absent"):
        return []
    out = []
    for a in as_list(as_dict(view.facts.get("access")).get("routes")):
        a = dict(as_dict(a))
        if int(num(a.get("total_5xx"), 0)) > 0:
            a["route"] = str(a["route"]) if a.get("route") not in (None, "") else None
            out.append(a)
    return out


def _route(view, agg):
    return view.route(agg.get("route"))


def _container_starts(view):
    """{id(route): start times of the containers serving it}, joined once per host, not once per access-log route."""
    cache = view.__dict__.get("_container_starts_cache")
    if cache is None:
        cache = {}
        for r, _ep, c, _how in served_routes(view):
            cache.setdefault(id(r), []).append(c.get("started_at"))
        view.__dict__["_container_starts_cache"] = cache
    return cache


def newest_start(view, agg):
    """The newest start of nginx's workers or of the apps behind the route - app servers on this host, and
    the containers that serve its endpoints (None: not known)."""
    route = _route(view, agg)
    anchors = [view.endpoint_anchor(ep)[0] for ep in (view.route_endpoints(route) if route else [])]
    if route is not None:
        anchors += _container_starts(view).get(id(route), [])
    anchors.append(view.endpoint_anchor(None)[0])
    anchors = [a for a in anchors if num(a) is not None]
    return max(anchors) if anchors else None


def is_current(view, agg):
    """Did the last 5xx come after the newest restart of nginx's workers and the route's apps?"""
    last = num(agg.get("last"))
    start = newest_start(view, agg)
    return last is None or start is None or last >= start - RESTART_SLACK


def _while_starting(view, agg):
    """Were all the 5xx within ``STARTUP_GRACE`` seconds after the newest start (a service was not ready yet)?"""
    start, first, last = newest_start(view, agg), num(agg.get("first")), num(agg.get("last"))
    return None not in (start, first, last) and start - 1 <= first and last <= start + STARTUP_GRACE


def _covers(root, subject):
    if subject in root["_subjects"]:
        return True
    return any(subject in c["_subjects"] for c in root.get("consequences") or [])


def annotate(view, roots):
    """Join the access facts to the folded findings ``roots`` (changed in place); return the new
    findings for 5xx no finding explains."""
    extra = []
    for agg in aggregates(view):
        route = _route(view, agg)
        subjects = view.route_subjects(route) if route else set()
        current = is_current(view, agg)
        owner = next((f for f in roots if any(_covers(f, s) for s in subjects if s[0] in ("route", "endpoint"))), None)
        if owner is not None and current:
            owner["summary"] += f"; {headline(agg)}"
            owner["evidence"] = owner["evidence"] + evidence_lines(agg)
            continue
        recovered = agg.get("answering") is True
        if not current:
            summary = (f"{headline(agg)} until {clock(agg.get('last'))}, before the newest restart of nginx or of the app "
                       f"behind it; none since")
            sev = "info"
        elif recovered and _while_starting(view, agg):
            summary = (f"{headline(agg)} until {clock(agg.get('last'))}, while nginx or the app behind it was starting "
                       f"({clock(newest_start(view, agg))}); it answers since")
            sev = "info"
        elif recovered:
            summary = (f"{headline(agg)} until {clock(agg.get('last'))} (nginx's access log); it answers again since - "
                       f"intermittent or passed, and no rule found why")
            sev = "warning"
        else:
            summary = f"{headline(agg)} (nginx's access log) and no rule found why: the facts miss the cause"
            sev = "critical" if route is not None or int(num(as_dict(agg.get("counts")).get("502"), 0)) else "warning"
        extra.append(finding(
            code="FACTS_INCOMPLETE", severity=sev, host=view.name, route=agg.get("route"), summary=summary,
            evidence=evidence_lines(agg) + (view.probe_evidence(route) if route else []),
            fix="read nginx's error.log and the app's journal at those times (the window may need badgateway_since "
                "widened), and report what was missing",
            subjects=subjects | {("access", str(agg.get("route")))}))
    return extra


def host_access(view):
    """The per-route 5xx summary of the host for the reports (timeline included)."""
    out = []
    for agg in aggregates(view):
        tl = as_dict(agg.get("timeline"))
        out.append({"route": agg.get("route"), "log": agg.get("log"), "counts": as_dict(agg.get("counts")),
                    "total_5xx": agg.get("total_5xx"), "first": agg.get("first"), "last": agg.get("last"),
                    "timeline": {"start": num(tl.get("start")), "bucket": num(tl.get("bucket"), 60),
                                 "counts": [int(num(c, 0)) for c in as_list(tl.get("counts"))][:400]}})
    return out
