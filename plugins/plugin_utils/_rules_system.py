# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules about the host itself (layer ``system``): the kernel's OOM killer, SELinux, facts that could not be gathered."""

from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.module_utils._facts_compact import COMPACT_VERSION as FACTS_SCHEMA_VERSION
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_app import is_past
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_common import (
    WHAT_USERS_SEE,
    app_label,
    as_dict,
    as_list,
    event_text,
    finding,
    state_text,
)

SECTIONS = ("nginx", "listeners", "apps", "sockets", "logs", "probes", "system")
CORE_SECTIONS = ("nginx", "listeners", "apps", "sockets")


def _oom_matches(app, ev):
    detail = as_dict(ev.get("detail"))
    proc = str(detail.get("process") or "")
    if detail.get("pid") is not None and detail.get("pid") in as_list(app.get("pids")):
        return True
    unit = app.get("unit")
    if unit and (unit in str(detail.get("unit") or "") or unit in str(detail.get("cgroup") or "") or unit in " ".join(
            str(s) for s in as_list(ev.get("samples")))):
        return True
    names = {str(app.get("kind") or "")}
    binary = as_dict(app.get("unit_settings")).get("exec_binary") or (as_list(app.get("cmdline")) or [""])[0]
    if binary:
        names.add(str(binary).rsplit("/", 1)[-1])
    return bool(proc) and (proc in names or proc.split(":", maxsplit=1)[0] in names)


def rule_oom_kill(view):
    """OOM_KILL: the kernel killed the app's processes for memory.

    A kernel line alone names a process only by its name, and containers share one kernel (and
    its ring buffer): it counts when this host corroborates it (the killed pid was the app's, the
    app server logged a worker SIGKILL, or systemd recorded Result=oom-kill). Uncorroborated it is
    reported as info.
    """
    out = []
    for app in view.apps:
        st = as_dict(app.get("state"))
        kernel = view._current([e for e in view.events if e.get("class") == "oom_kill" and _oom_matches(app, e)],
                               *view.app_anchor(app))
        sigkill = view.app_events(app, ("worker_sigkill",))
        timeouts = view.app_events(app, ("worker_timeout",))
        pid_match = any(as_dict(e.get("detail")).get("pid") in as_list(app.get("pids")) for e in kernel)
        result_oom = st.get("result") == "oom-kill"
        sigkill_oom = bool(sigkill) and (bool(kernel) or not timeouts)   # SIGKILL after WORKER TIMEOUT is the timeout's
        corroborated = result_oom or pid_match or sigkill_oom
        evs = kernel + (sigkill if sigkill_oom else [])
        if not corroborated and not kernel:
            continue
        if evs and is_past(view, app, evs) and not result_oom:
            continue
        label = app_label(app)
        local = view.routes_to_app(app)
        route_id = local[0].get("id") if local else None
        running = view.app_running(app)
        mem = as_dict(app.get("unit_settings")).get("memory_max")
        total = as_dict(view.system.get("memory")).get("total")
        evidence = [event_text(e) for e in evs]
        evidence.append(f"{label}: MemoryMax={mem if mem is not None else 'unset'}, workers {app.get('workers')}, "
                        f"max_requests {app.get('max_requests')}; host memory total {total}")
        evidence.append(state_text(app))
        for r in local:
            evidence.extend(view.probe_evidence(r))
        limit = f" (MemoryMax={mem})" if mem else ""
        if not corroborated:
            out.append(finding(
                code="OOM_KILL", severity="info", host=view.name, route=route_id,
                summary=f"the kernel log shows OOM kills of a process named like {label}'s, but nothing on this host confirms it "
                        f"was {label} (containers share the kernel log)",
                evidence=evidence, fix="check dmesg / journalctl -k on the host that runs the killed pid",
                subjects=view.app_subjects(app)))
            continue
        sev = "critical" if not running and local else "warning"
        users = WHAT_USERS_SEE["502"] if not running else WHAT_USERS_SEE["intermittent"]
        out.append(finding(
            code="OOM_KILL", severity=sev, host=view.name, route=route_id,
            summary=f"the kernel OOM killer killed {label} processes{limit}; in-flight requests are cut and {users}",
            evidence=evidence,
            fix="find the request that allocates (memory profile), lower --workers or set --max-requests to recycle workers; raise "
                "MemoryMax= only if the host has room",
            subjects=view.app_subjects(app)))
    return out


def rule_selinux(view):
    se = as_dict(view.system.get("selinux"))
    if se.get("mode") != "enforcing" or as_dict(se.get("booleans")).get("httpd_can_network_connect") is not False:
        return []
    tcp_routes = [r for r in view.routes if any(ep.get("kind") == "tcp" for ep in view.route_endpoints(r))]
    if not tcp_routes:
        return []
    denied = [e for e in view.events if e.get("class") == "permission_denied" and any(
        ep.get("kind") == "tcp" and e in view.events_of(("permission_denied",), ep) for r in tcp_routes for ep in view.route_endpoints(r))]
    proxy_side = [r for r in tcp_routes if view.probe_verdict(r) == "proxy"]
    sev = "critical" if denied or proxy_side else "warning"
    r = (proxy_side or tcp_routes)[0]
    users = WHAT_USERS_SEE["502"] if sev == "critical" else "users get 502 on ports outside http_port_t"
    subj = set()
    for rr in tcp_routes:
        subj |= view.route_subjects(rr)
    return [finding(
        code="SELINUX_BLOCKS_UPSTREAM", severity=sev, host=view.name, route=r.get("id"),
        summary=f"SELinux is enforcing and httpd_can_network_connect is off: nginx may not connect to its TCP upstreams "
                f"(13: Permission denied on connect()); {users}",
        evidence=["getenforce: Enforcing; getsebool httpd_can_network_connect: off"]
        + [f"tcp route '{rr.get('id')}': {view.route_where(rr)}" for rr in tcp_routes[:5]]
        + [event_text(e) for e in denied] + view.probe_evidence(r),
        fix="setsebool -P httpd_can_network_connect 1 (or label the port: semanage port -a -t http_port_t -p tcp <port>)",
        subjects=subj)]


def _errors_of(facts):
    errs = [as_dict(e) for e in as_list(facts.get("errors"))]
    if errs:
        return errs
    out = []
    for sec in SECTIONS:
        for e in as_list(as_dict(facts.get(sec)).get("errors")):
            e = dict(as_dict(e))
            e.setdefault("section", sec)
            out.append(e)
    return out


def rule_facts_incomplete(view):
    facts = view.facts
    errs = _errors_of(facts)
    missing = [s for s in SECTIONS if s not in facts]
    not_root = view.system.get("is_root") is False
    core_errs = [e for e in errs if e.get("section") in CORE_SECTIONS]
    version = facts.get("version")
    other_schema = isinstance(version, int) and not isinstance(version, bool) and version != FACTS_SCHEMA_VERSION
    if not errs and not missing and not not_root and not other_schema:
        return []
    sev = "warning" if (core_errs or not_root or other_schema) else "info"
    bits = []
    if other_schema:
        bits.append(f"the facts are of schema version {version}, this collection reads version {FACTS_SCHEMA_VERSION} "
                    "(gathered by another version of it: gather them again)")
    if not_root:
        bits.append("gathered without root (other users' processes, sockets and units are invisible)")
    if errs:
        bits.append(f"{len(errs)} fact source(s) failed ({', '.join(sorted({str(e.get('section') or e.get('source')) for e in errs}))})")
    if missing:
        bits.append(f"sections not gathered: {', '.join(missing)}")
    nginx_only = bool(errs) and not missing and not not_root and all(e.get("section") == "nginx" or e.get("section") in (
        "logs", "probes", "system") for e in errs) and any(e.get("section") == "nginx" for e in errs)
    evidence = [f"{e.get('section') or '?'}/{e.get('source')}: {e.get('message')}" + (f" [{e.get('path')}]" if e.get("path") else "")
                for e in errs[:10]]
    return [finding(
        code="FACTS_INCOMPLETE", severity=sev, host=view.name, route=None,
        summary="facts are incomplete: " + "; ".join(bits) + "; findings may miss the cause",
        evidence=evidence,
        fix="run the diagnosis with become: true (root) and fix the failing sources listed in the evidence",
        subjects={("facts", view.name)} | ({("facts", view.name + ":nginx-only")} if nginx_only else set()))]
