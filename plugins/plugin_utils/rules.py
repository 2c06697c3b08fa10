# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Diagnosis rules: all hosts' ``ansible_facts.badgateway`` in, findings out.

Entry point: :func:`evaluate`. Pure functions over plain dicts (controller side, stdlib only).

A finding::

    {code, severity: critical|warning|info, layer: proxy|socket|app|system|network, host,
     route: str|None, summary: str, evidence: [str], fix: {summary, role, vars}, consequences: [finding]}

One root cause, not five symptoms: a finding that follows from another one on the same subject
(the same app, endpoint, route or config file) is folded into that finding's ``consequences``
(the root takes the highest severity of what it explains). Roots are ordered by severity, then
layer (proxy, socket, app, system, network: the order of the request path), then code priority.
"""

from __future__ import annotations

import datetime

from ansible_collections.badgateway.doctor.plugins.plugin_utils import _rules_app, _rules_containers, _rules_net, _rules_proxy
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_common import (
    LAYER_RANK,
    SEVERITY_RANK,
    HostView,
    as_dict,
    as_list,
    ep_addresses,
    ep_text,
    finding,
    max_severity,
)

SCHEMA_VERSION = 1

CODES = (
    "APP_STOPPED", "APP_CRASH_LOOP", "APP_BOOT_IMPORT_ERROR", "APP_ENV_FILE_MISSING", "APP_EXEC_MISSING",
    "APP_WORKDIR_MISSING", "DEPENDENCY_DOWN", "SOCKET_MISSING", "TARGET_MISMATCH_PORT", "TARGET_MISMATCH_SOCKET",
    "IP_FAMILY_MISMATCH", "SOCKET_DIR_PERMISSION", "SOCKET_FILE_PERMISSION", "RUNTIME_DIRECTORY_MISSING",
    "PRIVATE_TMP_SOCKET", "WORKER_TIMEOUT", "UPSTREAM_TIMEOUT", "OOM_KILL", "KEEPALIVE_RACE", "PROTOCOL_MISMATCH",
    "BACKLOG_FULL", "HEADER_TOO_BIG", "NO_LIVE_UPSTREAMS", "PREMATURE_CLOSE", "NGINX_CONFIG_INVALID",
    "NGINX_CONFIG_STALE", "CROSS_HOST_LOOPBACK_BIND", "CROSS_HOST_NOT_LISTENING", "CROSS_HOST_UNCHECKED",
    "SELINUX_BLOCKS_UPSTREAM", "PHP_FPM_SOCKET_OWNER", "CONTAINER_LOOPBACK_BIND", "HOST_UNREACHABLE",
    "FACTS_INCOMPLETE",
) + tuple(c for c in _rules_containers.CODES if c != "CONTAINER_LOOPBACK_BIND")

# Most fundamental first: a finding can only be explained by one earlier in this list.
PRIORITY = (
    "HOST_UNREACHABLE", "CONTAINER_NAME_ONLY_IN_NETWORK", "NGINX_CONFIG_INVALID", "CONTAINER_BIND_SOURCE_MISSING",
    "RUNTIME_DIRECTORY_MISSING", "APP_EXEC_MISSING", "APP_WORKDIR_MISSING",
    "APP_ENV_FILE_MISSING", "DEPENDENCY_DOWN", "APP_BOOT_IMPORT_ERROR", "OOM_KILL", "CONTAINER_OOM_KILLED", "CONTAINER_CRASH_LOOP", "CONTAINER_STOPPED",
    "CONTAINER_NOT_LISTENING", "CONTAINER_LOOPBACK_BIND", "CONTAINER_UNHEALTHY", "CONTAINER_PORT_UNPUBLISHED",
    "APP_CRASH_LOOP", "APP_STOPPED",
    "NGINX_CONFIG_STALE", "PRIVATE_TMP_SOCKET", "TARGET_MISMATCH_SOCKET", "TARGET_MISMATCH_PORT", "IP_FAMILY_MISMATCH",
    "CROSS_HOST_LOOPBACK_BIND", "CROSS_HOST_NOT_LISTENING", "PHP_FPM_SOCKET_OWNER",
    "SOCKET_DIR_PERMISSION", "SOCKET_FILE_PERMISSION", "SELINUX_BLOCKS_UPSTREAM", "PROTOCOL_MISMATCH", "WORKER_TIMEOUT",
    "KEEPALIVE_RACE", "HEADER_TOO_BIG", "BACKLOG_FULL", "UPSTREAM_TIMEOUT", "SOCKET_MISSING", "PREMATURE_CLOSE",
    "NO_LIVE_UPSTREAMS", "CROSS_HOST_UNCHECKED", "FACTS_INCOMPLETE",
)
PRIORITY_RANK = {c: i for i, c in enumerate(PRIORITY)}

_DOWN = {"APP_STOPPED", "APP_CRASH_LOOP", "SOCKET_MISSING", "NO_LIVE_UPSTREAMS", "PREMATURE_CLOSE"}
_BOOT = _DOWN | {"APP_BOOT_IMPORT_ERROR"}
_BOOT_CAUSES = ("APP_EXEC_MISSING", "APP_WORKDIR_MISSING", "APP_ENV_FILE_MISSING", "DEPENDENCY_DOWN", "APP_BOOT_IMPORT_ERROR", "OOM_KILL")

# code -> the codes it can explain (when they share a subject)
CAUSES = {
    "NGINX_CONFIG_INVALID": {"NGINX_CONFIG_STALE", "FACTS_INCOMPLETE"},
    "RUNTIME_DIRECTORY_MISSING": _DOWN | {"SOCKET_DIR_PERMISSION"},
    "APP_EXEC_MISSING": _BOOT,
    "APP_WORKDIR_MISSING": _BOOT,
    "APP_ENV_FILE_MISSING": _BOOT,
    "DEPENDENCY_DOWN": _BOOT,
    "APP_BOOT_IMPORT_ERROR": _DOWN,
    "OOM_KILL": set(_DOWN),
    "APP_CRASH_LOOP": _DOWN - {"APP_CRASH_LOOP"},
    "APP_STOPPED": _DOWN - {"APP_STOPPED", "APP_CRASH_LOOP"},
    "NGINX_CONFIG_STALE": {"TARGET_MISMATCH_PORT", "TARGET_MISMATCH_SOCKET", "IP_FAMILY_MISMATCH", "PROTOCOL_MISMATCH",
                           "HEADER_TOO_BIG", "KEEPALIVE_RACE", "UPSTREAM_TIMEOUT", "SOCKET_MISSING", "NO_LIVE_UPSTREAMS",
                           "CROSS_HOST_LOOPBACK_BIND", "CROSS_HOST_NOT_LISTENING", "PREMATURE_CLOSE"},
    "PRIVATE_TMP_SOCKET": {"SOCKET_MISSING", "NO_LIVE_UPSTREAMS"},
    "TARGET_MISMATCH_SOCKET": {"SOCKET_MISSING", "NO_LIVE_UPSTREAMS"},
    "TARGET_MISMATCH_PORT": {"NO_LIVE_UPSTREAMS"},
    "IP_FAMILY_MISMATCH": {"NO_LIVE_UPSTREAMS"},
    "CONTAINER_LOOPBACK_BIND": {"PREMATURE_CLOSE", "NO_LIVE_UPSTREAMS"},
    "CROSS_HOST_LOOPBACK_BIND": {"NO_LIVE_UPSTREAMS", "UPSTREAM_TIMEOUT"},
    "CROSS_HOST_NOT_LISTENING": {"NO_LIVE_UPSTREAMS", "UPSTREAM_TIMEOUT"},
    "PHP_FPM_SOCKET_OWNER": {"SOCKET_FILE_PERMISSION", "NO_LIVE_UPSTREAMS"},
    "SOCKET_DIR_PERMISSION": {"NO_LIVE_UPSTREAMS"},
    "SOCKET_FILE_PERMISSION": {"NO_LIVE_UPSTREAMS"},
    "SELINUX_BLOCKS_UPSTREAM": {"NO_LIVE_UPSTREAMS"},
    "PROTOCOL_MISMATCH": {"PREMATURE_CLOSE", "NO_LIVE_UPSTREAMS", "HEADER_TOO_BIG", "WORKER_TIMEOUT", "UPSTREAM_TIMEOUT"},
    "WORKER_TIMEOUT": {"PREMATURE_CLOSE", "NO_LIVE_UPSTREAMS"},
    "KEEPALIVE_RACE": {"PREMATURE_CLOSE"},
    "HEADER_TOO_BIG": {"NO_LIVE_UPSTREAMS"},
    "BACKLOG_FULL": {"NO_LIVE_UPSTREAMS", "UPSTREAM_TIMEOUT"},
    "UPSTREAM_TIMEOUT": {"NO_LIVE_UPSTREAMS"},
    "SOCKET_MISSING": {"NO_LIVE_UPSTREAMS"},
    "PREMATURE_CLOSE": {"NO_LIVE_UPSTREAMS"},
}

# The containers' codes explain what the host-side rules see of a container that does not serve its port.
_CONTAINER_DOWN = {"APP_STOPPED", "TARGET_MISMATCH_PORT", "NO_LIVE_UPSTREAMS", "PREMATURE_CLOSE", "UPSTREAM_TIMEOUT",
                   "SOCKET_MISSING", "TARGET_MISMATCH_SOCKET",
                   "CONTAINER_UNHEALTHY", "CONTAINER_NOT_LISTENING", "CONTAINER_LOOPBACK_BIND"}
CAUSES.update({
    "CONTAINER_NAME_ONLY_IN_NETWORK": {"NGINX_CONFIG_INVALID", "NGINX_CONFIG_STALE", "FACTS_INCOMPLETE", "CROSS_HOST_UNCHECKED",
                                       "APP_STOPPED", "TARGET_MISMATCH_PORT", "NO_LIVE_UPSTREAMS"},
    "CONTAINER_BIND_SOURCE_MISSING": {"SOCKET_MISSING", "TARGET_MISMATCH_SOCKET", "APP_STOPPED", "NO_LIVE_UPSTREAMS",
                                      "RUNTIME_DIRECTORY_MISSING"},
    "CONTAINER_OOM_KILLED": _CONTAINER_DOWN | {"CONTAINER_STOPPED", "CONTAINER_CRASH_LOOP", "OOM_KILL"},
    "CONTAINER_CRASH_LOOP": _CONTAINER_DOWN | {"CONTAINER_STOPPED"},
    "CONTAINER_STOPPED": set(_CONTAINER_DOWN),
    "CONTAINER_PORT_UNPUBLISHED": {"APP_STOPPED", "TARGET_MISMATCH_PORT", "NO_LIVE_UPSTREAMS"},
    "CONTAINER_NOT_LISTENING": {"APP_STOPPED", "TARGET_MISMATCH_PORT", "NO_LIVE_UPSTREAMS", "PREMATURE_CLOSE",
                                "CONTAINER_UNHEALTHY"},
    "CONTAINER_UNHEALTHY": {"NO_LIVE_UPSTREAMS", "UPSTREAM_TIMEOUT", "PREMATURE_CLOSE", "APP_STOPPED"},
})
CAUSES["CONTAINER_LOOPBACK_BIND"] = CAUSES.get("CONTAINER_LOOPBACK_BIND", set()) | {
    "APP_STOPPED", "TARGET_MISMATCH_PORT", "CONTAINER_UNHEALTHY"}

RULES = _rules_proxy.RULES + _rules_app.RULES + _rules_containers.RULES + _rules_net.RULES

_PROBE_ERROR_CODES = {
    "ECONNREFUSED": "APP_STOPPED", "ENOENT": "SOCKET_MISSING", "EACCES": "SOCKET_FILE_PERMISSION",
    "ETIMEDOUT": "UPSTREAM_TIMEOUT", "timeout": "UPSTREAM_TIMEOUT", "ECONNRESET": "PREMATURE_CLOSE",
    "EPROTO": "PROTOCOL_MISMATCH",
}


# ---------------------------------------------------------------------------
# decision tree fallback for probes nobody explained
# ---------------------------------------------------------------------------

def rule_unexplained_probes(view, findings):
    """The runbook's decision tree for routes whose probes fail while no rule named a cause.

    Direct upstream probe fails -> app side (code from the error); direct OK but through nginx
    fails -> proxy side. Either way the facts did not show why: say so, with the probes.
    """
    covered = set()
    for f in findings:
        covered |= {s[1] for s in f["_subjects"] if s[0] == "route"}
    out = []
    for r in view.routes:
        verdict = view.probe_verdict(r)
        if verdict in (None, "ok") or r.get("id") in covered:
            continue
        evidence = [f"nginx route '{r.get('id')}': {view.route_where(r)}"] + view.probe_evidence(r)
        users = view.route_users_see(r, "502")
        users_text = {"502": "users get 502", "504": "users get 504"}.get(users, "users get errors")
        if verdict == "app":
            err = next((p.get("error") for p in view.route_probes(r, "direct") if not p.get("ok")), None)
            code = _PROBE_ERROR_CODES.get(str(err), "FACTS_INCOMPLETE")
            layer = "socket" if code in ("SOCKET_MISSING", "SOCKET_FILE_PERMISSION") else "app"
            summary = (f"route '{r.get('id')}': the direct request to the upstream fails ({err or 'error'}), so the app side is "
                       f"broken and {users_text}; the facts do not show more")
            fix = "check the app server's log and state by hand (journalctl -u <unit>, curl the socket/port on the host)"
        else:
            code, layer = "FACTS_INCOMPLETE", "proxy"
            summary = (f"route '{r.get('id')}': the upstream answers a direct request but the request through nginx fails "
                       f"(proxy side) and {users_text}; no rule matched the facts")
            fix = "compare nginx's view with the direct one: nginx error.log at the probe's time, nginx -T for this location"
        out.append(finding(code, "critical", layer, view.name, r.get("id"), summary, evidence, fix, None, None,
                           view.route_subjects(r)))
    return out


# ---------------------------------------------------------------------------
# folding and ordering
# ---------------------------------------------------------------------------

def _rank(f):
    base = PRIORITY_RANK.get(f.get("_rank_override") or f["code"], len(PRIORITY))
    return base - 0.5 if f.get("_rank_override") else base


def _explains(cause, effect):
    if cause is effect or _rank(cause) >= _rank(effect):
        return False
    codes = cause.get("_explains")
    if codes is None:
        codes = CAUSES.get(cause["code"], ())
    return effect["code"] in codes and bool(cause["_subjects"] & effect["_subjects"])


def _sort_key(f):
    return (SEVERITY_RANK.get(f["severity"], 9), LAYER_RANK.get(f["layer"], 9), _rank(f), f.get("route") or "", f["summary"])


def fold(findings):
    """Fold findings that follow from another into its ``consequences``; return the sorted roots."""
    # de-duplicate identical findings
    uniq, seen = [], set()
    for f in findings:
        key = (f["code"], f.get("route"), f["summary"])
        if key not in seen:
            seen.add(key)
            uniq.append(f)
    # index the possible causes by (subject, code they explain): linear in the findings, not quadratic
    index = {}
    for g in uniq:
        codes = g.get("_explains")
        if codes is None:
            codes = CAUSES.get(g["code"], ())
        for code in codes:
            for subj in g["_subjects"]:
                index.setdefault((subj, code), []).append(g)
    parent = {}
    for f in uniq:
        causes = {id(c): c for subj in f["_subjects"] for c in index.get((subj, f["code"]), ()) if _explains(c, f)}
        if causes:
            parent[id(f)] = min(causes.values(), key=_rank)

    def root_of(f):
        hops = 0
        while id(f) in parent and hops < 100:
            f = parent[id(f)]
            hops += 1
        return f

    roots = [f for f in uniq if id(f) not in parent]
    for f in uniq:
        if id(f) in parent:
            root_of(f)["consequences"].append(f)
    for r in roots:
        r["consequences"].sort(key=_sort_key)
        if r["code"] == "APP_CRASH_LOOP":
            cause = next((c for c in r["consequences"] if c["code"] in _BOOT_CAUSES), None)
            if cause is not None:
                r["fix"] = dict(cause["fix"], summary=f"break the loop by fixing its cause ({cause['code']}): {cause['fix']['summary']}")
        r["severity"] = max_severity(r["severity"], *[c["severity"] for c in r["consequences"]])
    roots.sort(key=_sort_key)
    return roots


def _clean(f):
    out = {k: v for k, v in f.items() if not k.startswith("_")}
    out["consequences"] = [_clean(c) for c in f.get("consequences", [])]
    return out


# ---------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------

def evaluate_host(view):
    """All findings of one reachable host, folded and sorted (internal keys still present)."""
    findings = []
    for rule in RULES:
        findings.extend(rule(view))
    findings.extend(rule_unexplained_probes(view, findings))
    return fold(findings)


LAYER_HOP = {"proxy": "nginx", "socket": "endpoint", "network": "listener", "app": "app", "system": "app"}


def host_path(view, roots):
    """The request path of the host's most relevant route, hop by hop, for the reports.

    ``{"route": id|None, "broken": hop|None, "hops": [{hop, label, detail, state: ok|broken|unknown}]}``;
    the broken hop is the root finding's layer (proxy -> nginx, socket -> endpoint, network -> listener,
    app/system -> app) when the root is a warning or worse.
    """
    root = roots[0] if roots else None
    broken = LAYER_HOP.get(root["layer"]) if root and root["severity"] in ("critical", "warning") else None
    route = None
    if root and root.get("route"):
        route = next((r for r in view.routes if r.get("id") == root["route"]), None)
    if route is None and view.routes:
        route = view.routes[0]
    hops = [{"hop": "client", "label": "client", "detail": "HTTP request", "state": "ok"}]
    ng = view.nginx
    if not ng.get("present"):
        hops.append({"hop": "nginx", "label": "no nginx", "detail": "", "state": "unknown"})
    else:
        hops.append({"hop": "nginx", "label": f"nginx {ng.get('version') or ''}".strip(),
                     "detail": route.get("id") if route else "no proxied route", "state": "ok"})
    ep = view.route_endpoints(route)[0] if route and view.route_endpoints(route) else None
    if ep is None:
        hops += [{"hop": h, "label": "-", "detail": "", "state": "unknown"} for h in ("endpoint", "listener", "app")]
    else:
        hops.append({"hop": "endpoint", "label": ep_text(ep), "detail": route.get("directive") or "proxy_pass", "state": "ok"})
        target_view = view
        if ep.get("kind") == "tcp" and not view.endpoint_is_local(ep):
            addrs = ep_addresses(ep)
            owner = _rules_net.owner_of(view, addrs[0][1], str(ep.get("host"))) if addrs else None
            target_view = as_dict(view.inventory.get(owner)).get("view") or view
        if ep.get("kind") == "unix":
            ls = view.unix_listeners(ep.get("path"))
        else:
            ls = [t for f_, a in ep_addresses(ep) for t in target_view.tcp_listeners(f_, a, ep.get("port"))]
        if ls:
            p = as_dict(as_list(ls[0].get("processes"))[0]) if as_list(ls[0].get("processes")) else {}
            hops.append({"hop": "listener", "label": f"{p.get('name') or '?'} pid {p.get('pid') or '?'}",
                         "detail": f"user {p.get('user') or '?'}", "state": "ok"})
        elif target_view is not view or view.endpoint_is_local(ep):
            hops.append({"hop": "listener", "label": "nothing listening", "detail": target_view.name, "state": "unknown"})
        else:
            hops.append({"hop": "listener", "label": "on another host", "detail": ep_text(ep), "state": "unknown"})
        if ls and target_view is not view:
            hops[-1]["detail"] = f"{hops[-1]['detail']} on {target_view.name}"
        apps = target_view.apps_binding(ep) if target_view is view else [
            a for a in target_view.apps if any(as_dict(b).get("port") == ep.get("port") for b in as_list(a.get("binds")))]
        if apps:
            a = apps[0]
            st = as_dict(a.get("state"))
            hops.append({"hop": "app", "label": a.get("unit") or a.get("name") or a.get("kind"),
                         "detail": f"{a.get('kind')} {st.get('active_state') or ('running' if a.get('running') else 'stopped')}",
                         "state": "ok"})
        else:
            hops.append({"hop": "app", "label": "-", "detail": "", "state": "unknown"})
    for h in hops:
        if h["hop"] == broken:
            h["state"] = "broken"
    return {"route": route.get("id") if route else None, "broken": broken, "hops": hops}


def _status(findings, unreachable):
    if unreachable:
        return "unreachable"
    sev = max_severity(*[f["severity"] for f in findings])
    return sev if sev in ("critical", "warning") else "ok"


def _remote_refs(views, inventory):
    """For every host: routes on other hosts whose tcp endpoints point at it: [(host, route, endpoint)]."""
    refs = {name: [] for name in views}
    for name, view in views.items():
        for r, ep, _fam, addr in _rules_net.remote_targets(view):
            owner = _rules_net.owner_of(view, addr, str(ep.get("host")))
            if owner in refs:
                refs[owner].append((name, r, ep))
    return refs


def evaluate(hosts, now=None):
    """Turn every host's gathered facts into findings.

    ``hosts``: ``{inventory_hostname: {"facts": ansible_facts.badgateway or None, "unreachable": bool,
    "address": [ansible_host and the host's addresses], "msg": str}}``.

    Returns ``{"generated_at": ISO-8601 UTC, "schema_version": 1, "hosts": {name: {"status", "findings"}}}``.
    """
    hosts = as_dict(hosts)
    now = now if now is not None else datetime.datetime.now(tz=datetime.timezone.utc).timestamp()
    inventory = {}
    views = {}
    for name, entry in hosts.items():
        entry = as_dict(entry)
        facts = entry.get("facts")
        inventory[name] = {"address": as_list(entry.get("address")), "unreachable": bool(entry.get("unreachable")),
                           "view": None}
        if isinstance(facts, dict) and not entry.get("unreachable"):
            view = HostView(name, facts, entry.get("address"), inventory)
            view.now = now
            _rules_containers.add_container_listeners(view)
            inventory[name]["view"] = view
            views[name] = view
    for name, refs in _remote_refs(views, inventory).items():
        views[name].remote_refs = refs

    result_hosts = {}
    for name in hosts:
        entry = as_dict(hosts[name])
        msg = str(entry.get("msg") or "")
        if entry.get("unreachable"):
            roots = [finding(
                "HOST_UNREACHABLE", "critical", "network", name, None,
                f"{name} is unreachable: {msg or 'no connection'}; nothing on it could be checked",
                [f"address: {', '.join(str(a) for a in as_list(entry.get('address'))) or '?'}", msg],
                "make the host reachable over SSH (address, credentials, firewall) and run the diagnosis again")]
        elif name not in views:
            roots = [finding(
                "FACTS_INCOMPLETE", "critical", "system", name, None,
                f"gathering facts on {name} failed: {msg or 'no facts returned'}; nothing on it could be checked",
                [msg] if msg else [],
                "fix the error above (module missing? Python on the host? privileges?) and run the diagnosis again")]
        else:
            roots = evaluate_host(views[name])
        findings = [_clean(f) for f in roots]
        result_hosts[name] = {"status": _status(findings, entry.get("unreachable")), "findings": findings}
        if name in views:
            result_hosts[name]["path"] = host_path(views[name], roots)
    generated = datetime.datetime.fromtimestamp(now, tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"generated_at": generated, "schema_version": SCHEMA_VERSION, "hosts": result_hosts}


def summary_lines(result):
    """One line per host: ``web1: OK`` or ``web1: CRITICAL APP_STOPPED (route) - summary - fix: ...``."""
    lines = []
    for name, h in as_dict(result.get("hosts")).items():
        findings = as_list(h.get("findings"))
        status = h.get("status", "ok")
        if status == "ok":
            extra = f" ({len(findings)} info)" if findings else ""
            lines.append(f"{name}: OK{extra}")
            continue
        top = findings[0] if findings else {}
        more = len(findings) - 1
        more_text = f" (+{more} more)" if more > 0 else ""
        fix = as_dict(top.get("fix")).get("summary") or "-"
        lines.append(f"{name}: {status.upper()} {top.get('code')} \u2014 {top.get('summary')} \u2014 fix: {fix}{more_text}")
    return lines


def worst_severity(result):
    """The highest finding severity over all hosts ('critical' for an unreachable host), or None."""
    sevs = []
    for h in as_dict(result.get("hosts")).values():
        for f in as_list(h.get("findings")):
            sevs.append(f.get("severity"))
    return max_severity(*sevs)
