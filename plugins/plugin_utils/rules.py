# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Diagnosis rules: all hosts' ``ansible_facts.badgateway`` in, findings out.

Entry point: :func:`evaluate`. Pure functions over plain dicts (controller side, stdlib only).

A finding::

    {code, severity: critical|warning|info, layer: proxy|socket|app|system|network, host,
     route: str|None, summary: str, evidence: [str], fix: {summary, role, vars}, consequences: [finding]}

The codes, their layers, priorities and which code explains which are the catalog's
(``catalog.py``). The rules are grouped by the hop of the request path they look at:
``_rules_nginx`` (nginx), ``_rules_endpoint`` (does anything listen where nginx points),
``_rules_socket`` (the unix socket between them), ``_rules_app`` and ``_rules_app_requests`` (the
app server), ``_rules_containers`` and ``_rules_container_nginx`` (the containers of the ``containers`` facts behind a
route, nginx in a container),
``_rules_network`` (other hosts, container ports), ``_rules_system`` (the host).

One root cause, not five symptoms: a finding that follows from another one on the same subject
(the same app, endpoint, route or config file) is folded into that finding's ``consequences``
(the root takes the highest severity of what it explains). Roots are ordered by severity, then
layer (proxy, socket, app, system, network: the order of the request path), then code priority.
"""

from __future__ import annotations

import datetime

from ansible_collections.badgateway.doctor.plugins.plugin_utils import (
    _rules_access,
    _rules_app,
    _rules_app_requests,
    _rules_container_nginx,
    _rules_containers,
    _rules_endpoint,
    _rules_network,
    _rules_nginx,
    _rules_socket,
    _rules_system,
)
from ansible_collections.badgateway.doctor.plugins.plugin_utils._addresses import ep_key
from ansible_collections.badgateway.doctor.plugins.plugin_utils._request_path import host_path, unknown_path
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_common import (
    LAYER_RANK,
    SEVERITY_RANK,
    as_dict,
    as_list,
    finding,
    mask,
    masked,
    max_severity,
)
from ansible_collections.badgateway.doctor.plugins.plugin_utils._view import HostView
from ansible_collections.badgateway.doctor.plugins.plugin_utils.catalog import BOOT_CAUSES, CAUSES, CODES, PRIORITY, PRIORITY_RANK

SCHEMA_VERSION = 1

__all__ = ("CAUSES", "CODES", "PRIORITY", "PRIORITY_RANK", "RULES", "SCHEMA_VERSION", "HostView", "evaluate", "fold",
           "summary_lines", "worst_severity")

# In request-path order; the order only matters for ties, which it keeps stable.
RULES = (
    _rules_nginx.rule_nginx_down, _rules_nginx.rule_nginx_not_serving,
    _rules_nginx.rule_nginx_config_invalid, _rules_nginx.rule_nginx_config_stale,
    _rules_endpoint.rule_unix_endpoint, _rules_endpoint.rule_tcp_endpoint,
    _rules_socket.rule_socket_permission, _rules_socket.rule_runtime_directory, _rules_socket.rule_private_tmp,
    _rules_socket.rule_php_fpm_socket_owner,
    _rules_nginx.rule_protocol_mismatch, _rules_nginx.rule_header_too_big, _rules_nginx.rule_keepalive_race,
    _rules_nginx.rule_no_live_upstreams,
    _rules_app.rule_app_state, _rules_app.rule_app_exec_missing, _rules_app.rule_app_workdir_missing,
    _rules_app.rule_app_env_file_missing, _rules_app.rule_app_boot_import_error, _rules_app.rule_dependency_down,
    _rules_app_requests.rule_worker_timeout, _rules_system.rule_oom_kill, _rules_app_requests.rule_upstream_timeout,
    _rules_app_requests.rule_premature_close, _rules_socket.rule_backlog_full,
    *_rules_containers.RULES, *_rules_container_nginx.RULES,
    _rules_network.rule_cross_host, _rules_network.rule_container_loopback, _rules_system.rule_selinux,
    _rules_system.rule_facts_incomplete,
)

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
    endpoints = set()
    for f in findings:
        covered |= {s[1] for s in f["_subjects"] if s[0] == "route"}
        endpoints |= {s[1] for s in f["_subjects"] if s[0] == "endpoint"}
    out = []
    for r in view.routes:
        verdict = view.probe_verdict(r)
        if verdict in (None, "ok") or r.get("id") in covered:
            continue
        if verdict == "app" and any(ep_key(ep) in endpoints for ep in view.route_endpoints(r)):
            continue    # one finding per cause: what breaks the endpoint (the unit stopped ...) explains its refused probe
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
        out.append(finding(code=code, severity="critical", layer=layer, host=view.name, route=r.get("id"), summary=summary,
                           evidence=evidence, fix=fix, subjects=view.route_subjects(r)))
    return out


# ---------------------------------------------------------------------------
# folding and ordering
# ---------------------------------------------------------------------------

def _rank(f):
    base = PRIORITY_RANK.get(f.get("_rank_override") or f["code"], len(PRIORITY))
    return base - 0.5 if f.get("_rank_override") else base


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
    # f's cause: a finding that explains f's code (its own "_explains", else the catalog's CAUSES), shares a subject
    # with f (both from the index) and is more fundamental (a lower rank); the most fundamental one wins, ties broken
    # by the findings' own order (route, summary), never by the subjects' set order. Each index list is sorted by that
    # order once (stable: equal keys keep the findings' order), so its first entry is the best candidate it holds and
    # f looks at one entry per subject - not at every finding sharing a subject such as the site file, which made a
    # host whose 10,000 routes all fail take minutes.
    order = {id(g): (_rank(g), _sort_key(g)) for g in uniq}
    for candidates in index.values():
        candidates.sort(key=lambda g: order[id(g)])
    parent = {}
    for f in uniq:
        best, best_key, below = None, None, order[id(f)][0]
        for subj in f["_subjects"]:
            candidates = index.get((subj, f["code"]))
            if candidates:
                c = candidates[0]
                ck = order[id(c)]
                if ck[0] < below and (best_key is None or ck < best_key):
                    best, best_key = c, ck
        if best is not None:
            parent[id(f)] = best

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
            cause = next((c for c in r["consequences"] if c["code"] in BOOT_CAUSES), None)
            if cause is not None:
                r["fix"] = dict(cause["fix"], summary=f"break the loop by fixing its cause ({cause['code']}): {cause['fix']['summary']}")
        r["severity"] = max_severity(r["severity"], *[c["severity"] for c in r["consequences"]])
    roots.sort(key=_sort_key)
    return roots


def _clean(f):
    """The finding as returned: internal keys dropped, every text through the one masker."""
    out = {k: v for k, v in f.items() if not k.startswith("_")}
    out["summary"] = mask(out["summary"])
    out["evidence"] = [mask(e) for e in out["evidence"]]
    out["fix"] = dict(out["fix"], summary=mask(out["fix"]["summary"]))
    out["consequences"] = [_clean(c) for c in f.get("consequences", [])]
    return out


# ---------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------

def _rule_failed(view, rule, exc):
    """A rule raised on this host's facts (a bug, or facts of a shape it did not expect): said, never hidden."""
    return finding(
        code="FACTS_INCOMPLETE", severity="warning", host=view.name, route=None,
        summary=f"the check {rule.__name__} failed on this host's facts ({type(exc).__name__}: {exc}); "
                "what it looks for is not judged",
        evidence=[f"{rule.__module__}.{rule.__name__}: {type(exc).__name__}: {exc}"],
        fix="report it to badgateway.doctor with the host's facts (badgateway_save_facts=true)",
        subjects={("rule", rule.__name__)})


def evaluate_host(view):
    """All findings of one reachable host, folded and sorted (internal keys still present)."""
    findings = []
    for rule in RULES:
        try:
            findings.extend(rule(view))
        except Exception as exc:  # pylint: disable=broad-exception-caught  # one rule's bug must not hide the others
            findings.append(_rule_failed(view, rule, exc))
    findings.extend(rule_unexplained_probes(view, findings))
    roots = fold(findings)
    # what users got (access logs): "N requests got 502 on route R since T" on the finding that explains the route,
    # and a finding of its own when none does
    extra = _rules_access.annotate(view, roots)
    if extra:
        roots = sorted(roots + extra, key=_sort_key)
    return roots


def _status(findings, unreachable):
    if unreachable:
        return "unreachable"
    sev = max_severity(*[f["severity"] for f in findings])
    return sev if sev in ("critical", "warning") else "ok"


def _remote_refs(views):
    """For every host: routes on other hosts whose tcp endpoints point at it: [(host, route, endpoint)]."""
    refs = {name: [] for name in views}
    for name, view in views.items():
        for r, ep, _fam, addr in _rules_network.remote_targets(view):
            owner = _rules_network.owner_of(view, addr, str(ep.get("host")))
            if owner in refs:
                refs[owner].append((name, r, ep))
    return refs


def _no_facts_finding(name, entry):
    msg = str(entry.get("msg") or "")
    if entry.get("unreachable"):
        return finding(
            code="HOST_UNREACHABLE", severity="critical", host=name, route=None,
            summary=f"{name} is unreachable: {msg or 'no connection'}; nothing on it could be checked",
            evidence=[f"address: {', '.join(str(a) for a in as_list(entry.get('address'))) or '?'}", msg],
            fix="make the host reachable over SSH (address, credentials, firewall) and run the diagnosis again")
    return finding(
        code="FACTS_INCOMPLETE", severity="critical", host=name, route=None,
        summary=f"gathering facts on {name} failed: {msg or 'no facts returned'}; nothing on it could be checked",
        evidence=[msg] if msg else [],
        fix="fix the error above (module missing? Python on the host? privileges?) and run the diagnosis again")


def evaluate(hosts, now=None):
    """Turn every host's gathered facts into findings.

    ``hosts``: ``{inventory_hostname: {"facts": ansible_facts.badgateway or None, "unreachable": bool,
    "address": [ansible_host and the host's addresses], "msg": str}}``.

    Returns ``{"generated_at": ISO-8601 UTC, "schema_version": 1, "hosts": {name: {"status", "findings", "path",
    "access"}}}`` (``access``: the routes whose requests got 5xx in the access logs, with a timeline).
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
    owners = _rules_network.OwnerIndex(inventory)
    for view in views.values():
        view.owner_index = owners
    for name, refs in _remote_refs(views).items():
        views[name].remote_refs = refs

    result_hosts = {}
    for name in hosts:
        entry = as_dict(hosts[name])
        roots = evaluate_host(views[name]) if name in views else [_no_facts_finding(name, entry)]
        findings = [_clean(f) for f in roots]
        unreachable = bool(entry.get("unreachable"))
        result_hosts[name] = {
            "status": _status(findings, unreachable), "findings": findings,
            "path": host_path(views[name], roots) if name in views else unknown_path(findings, unreachable),
            "access": [masked(a) for a in _rules_access.host_access(views[name])] if name in views else []}
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
