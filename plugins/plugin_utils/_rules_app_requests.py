# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules at the app hop (layer ``app``) for a running app that fails requests: killed slow workers, timeouts, resets."""

from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.plugin_utils._addresses import ep_text
from ansible_collections.badgateway.doctor.plugins.plugin_utils._fix_steps import (
    app_unit,
    directive_prefix,
    nginx_proxy,
    route_set_edit,
    seconds,
    sequence,
)
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_app import is_past
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_common import (
    WHAT_USERS_SEE,
    app_label,
    as_dict,
    event_text,
    finding,
    num,
)


def rule_worker_timeout(view):
    out = []
    for app in view.apps:
        evs = view.app_events(app, ("worker_timeout",))
        if not evs or is_past(view, app, evs):
            continue
        label = app_label(app)
        local = view.routes_to_app(app)
        route_id = local[0].get("id") if local else None
        sev = "warning"
        users = WHAT_USERS_SEE["intermittent"]
        evidence = [event_text(e) for e in evs]
        evidence.append(f"{label}: --timeout {app.get('timeout')} s ({as_dict(app.get('settings_source')).get('timeout', 'default')}),"
                        f" workers {app.get('workers')}, worker class {app.get('worker_class') or 'sync'}")
        for r in local:
            read = as_dict(r.get("timeouts")).get("read")
            evidence.append(f"nginx route '{r.get('id')}': proxy_read_timeout {read} s ({r.get('file')}:{r.get('line')})")
            evidence.extend(view.probe_evidence(r))
            if view.probe_verdict(r) in ("app", "proxy"):
                sev = "critical"
                users = WHAT_USERS_SEE["502"]
        count = sum(int(num(e.get("count"), 0)) for e in evs)
        new = _worker_timeout_below_nginx(app, local)
        step = app_unit(view.name, app, exec_options={"timeout": new}) if new else None
        out.append(finding(
            code="WORKER_TIMEOUT", severity=sev, host=view.name, route=route_id,
            summary=f"{label} killed {count} worker(s) that exceeded --timeout {app.get('timeout')} s (WORKER TIMEOUT); nginx then "
                    f"sees the connection closed and {users}",
            evidence=evidence,
            fix="find the slow requests (DB queries, outbound calls) and make them faster or move them to a background job; if slow "
                "is legitimate, raise gunicorn --timeout and keep nginx proxy_read_timeout a bit above it"
                + (f" (--timeout {new})" if new else ""),
            steps=sequence(step), subjects=view.app_subjects(app)))
    return out


def _below(limit):
    """A whole number of seconds a bit below ``limit`` (10 % of it, at least 1 s)."""
    limit = int(limit)
    return limit - max(1, limit // 10)


def _worker_timeout_below_nginx(app, routes):
    """gunicorn's new --timeout (opt-in): just below the shortest proxy_read_timeout of its routes, or None.

    Only when that is a mismatch: the app kills workers before nginx would give up. When the
    timeouts are the other way round, raising --timeout would not help (nginx gives up first).
    """
    timeout = app.get("timeout")
    reads = [as_dict(r.get("timeouts")).get("read") for r in routes]
    reads = [60.0 if rd is None else num(rd) for rd in reads]     # nginx's default proxy_read_timeout is 60 s
    reads = [rd for rd in reads if rd is not None and rd >= 2]
    timeout = num(timeout)
    if app.get("kind") != "gunicorn" or timeout is None or not reads:
        return None
    new = _below(min(reads))
    return new if new > timeout else None


def rule_upstream_timeout(view):
    out = []
    for r in view.routes:
        for ep in view.route_endpoints(r):
            evs = view.events_of(("upstream_timeout",), ep)
            via = view.route_probes(r, "nginx")
            p504 = [p for p in via if p.get("status") == 504]
            direct_to = [p for p in view.route_probes(r, "direct") if p.get("error") in ("ETIMEDOUT", "timeout")]
            if not evs and not p504 and not direct_to:
                continue
            read = as_dict(r.get("timeouts")).get("read")
            apps = view.apps_binding(ep)
            app_t = ", ".join(f"{app_label(a)} --timeout {a.get('timeout')}" for a in apps if a.get("timeout") is not None)
            sev = "critical" if p504 or direct_to else "warning"
            users = WHAT_USERS_SEE["504"] if sev == "critical" else WHAT_USERS_SEE["intermittent504"]
            evidence = [event_text(e) for e in evs] + [
                f"nginx route '{r.get('id')}': proxy_read_timeout {read} s, connect {as_dict(r.get('timeouts')).get('connect')} s "
                f"({r.get('file')}:{r.get('line')})"]
            if app_t:
                evidence.append(app_t)
            evidence += view.probe_evidence(r)
            new = _read_timeout_above_app(r, read, apps)
            prefix = directive_prefix(r)
            step = nginx_proxy(view.name, [route_set_edit(r, {f"{prefix}_read_timeout": seconds(new)})]) if new else None
            out.append(finding(
                code="UPSTREAM_TIMEOUT", severity=sev, host=view.name, route=r.get("id"),
                summary=f"{ep_text(ep)} does not answer within proxy_read_timeout {read} s on route '{r.get('id')}': {users}",
                evidence=evidence,
                fix="make the slow requests faster (or asynchronous); if they are legitimately slow raise proxy_read_timeout on this "
                    "location and keep the app server's own timeout below it"
                    + (f" ({prefix}_read_timeout {seconds(new)})" if new else ""),
                steps=sequence(step), subjects=view.route_subjects(r, ep) | view.endpoint_app_subjects(ep)))
    return out


def _read_timeout_above_app(r, read, apps):
    """The location's new read timeout (opt-in): above the app server's own timeout, or None.

    Only when that is a mismatch: nginx gives up (504) on a request the app server would still
    let finish. Without an app server timeout to compare with, slowness alone is no reason.
    """
    own = [num(a.get("timeout")) for a in apps if num(a.get("timeout")) is not None and num(a.get("timeout")) > 0]
    if not own or directive_prefix(r) is None or num(read) is None or read > max(own):
        return None
    return int(max(own)) + max(1, int(max(own)) // 10)


def rule_premature_close(view):
    out = []
    for r in view.routes:
        for ep in view.route_endpoints(r):
            evs = view.events_of(("premature_close", "reset_by_peer"), ep)
            direct_reset = [p for p in view.route_probes(r, "direct") if p.get("error") == "ECONNRESET"]
            if not evs and not direct_reset:
                continue
            sev = "critical" if view.probe_verdict(r) in ("app", "proxy") else "warning"
            users = WHAT_USERS_SEE["502"] if sev == "critical" else WHAT_USERS_SEE["intermittent"]
            out.append(finding(
                code="PREMATURE_CLOSE", severity=sev, host=view.name, route=r.get("id"),
                summary=f"{ep_text(ep)} closes or resets connections before answering on route '{r.get('id')}': {users}",
                evidence=[event_text(e) for e in evs] + view.probe_evidence(r),
                fix="look at the app server's log at the same times (worker killed, crash, timeout); see the other findings for the "
                    "cause",
                subjects=view.route_subjects(r, ep) | view.endpoint_app_subjects(ep)))
    return out
