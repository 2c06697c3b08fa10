# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules at the endpoint hop: does anything listen where nginx points (unix socket path, local host:port)?"""

from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.plugin_utils._addresses import WILDCARDS, addr_text, ep_addresses, ep_text, norm_path
from ansible_collections.badgateway.doctor.plugins.plugin_utils._fix_steps import app_service, nginx_proxy, rebind, sequence, target_edits
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_common import (
    WHAT_USERS_SEE,
    as_dict,
    as_list,
    finding,
    proc_text,
    route_evidence,
    users_text,
)

APP_PROCESS_NAMES = ("gunicorn", "uvicorn", "uwsgi", "hypercorn", "daphne", "php-fpm", "python", "python3")


def _is_app_process(listener):
    for p in as_list(listener.get("processes")):
        name = str(as_dict(p).get("name") or "")
        if any(name.startswith(n) for n in APP_PROCESS_NAMES):
            return True
    return False


def _route_unix_paths(view):
    return {norm_path(ep.get("path")) for r in view.routes for ep in view.route_endpoints(r) if ep.get("kind") == "unix"}


def _route_tcp_ports(view):
    return {ep.get("port") for r in view.routes for ep in view.route_endpoints(r)
            if ep.get("kind") == "tcp" and view.endpoint_is_local(ep)}


def _unclaimed_unix(view):
    """Unix sockets app servers listen on (or would) that no nginx route uses: (text, source, app or None)."""
    used = _route_unix_paths(view)
    out = []
    for app in view.apps:
        for b in as_list(app.get("binds")):
            if as_dict(b).get("kind") == "unix" and norm_path(b.get("path")) not in used:
                out.append((f"unix:{b.get('path')}", f"{app.get('unit') or app.get('name')} binds it", app))
    for u in view.unix:
        if u.get("path") and norm_path(u.get("path")) not in used and _is_app_process(u) and not any(
                f"unix:{u.get('path')}" == t for t, _s, _a in out):
            out.append((f"unix:{u.get('path')}", f"listening: {proc_text(u.get('processes'))}", None))
    return out


def _unclaimed_tcp(view):
    """TCP ports app servers listen on (or would) that no local nginx route uses: (text, source, port, address, app or None)."""
    used = _route_tcp_ports(view)
    out = []
    for app in view.apps:
        for b in as_list(app.get("binds")):
            if as_dict(b).get("kind") == "tcp" and b.get("port") not in used:
                out.append((ep_text(b), f"{app.get('unit') or app.get('name')} binds it", b.get("port"), b.get("host"), app))
    for t in view.tcp:
        if t.get("port") not in used and _is_app_process(t) and not any(c[2] == t.get("port") for c in out):
            out.append((addr_text(t.get("address"), t.get("port")), f"listening: {proc_text(t.get('processes'))}", t.get("port"),
                        t.get("address"), None))
    return out


def rule_unix_endpoint(view):
    """SOCKET_MISSING and TARGET_MISMATCH_SOCKET for every unix endpoint of every route."""
    out = []
    unclaimed = _unclaimed_unix(view)
    for r, ep, path, sp in view.unix_endpoints():
        listeners = view.unix_listeners(path)
        exists = sp.get("exists") if sp else None
        if listeners and exists is not False:
            continue
        if not view.unix and not sp:
            continue   # no listener or socket facts at all: FACTS_INCOMPLETE says so
        subj = view.route_subjects(r, ep)
        evidence = route_evidence(view, r, ep, ("no_such_file", "connect_refused"))
        if exists is False:
            missing = [c for c in as_list(sp.get("components")) if as_dict(c).get("type") == "missing"]
            first = as_dict(missing[0]).get("path") if missing else path
            state = f"{path} does not exist" + (f" (first missing component: {first})" if first != path else "")
        elif exists and sp.get("is_socket") is False:
            state = f"{path} exists but is not a socket"
        elif listeners:
            state = f"{path} is not visible to nginx"
        else:
            state = f"{path} exists but nothing listens on it (stale socket file)" if exists else f"nothing listens on {path}"
        evidence.insert(1, state)
        if listeners:
            evidence.append(f"/proc/net/unix lists a listener bound to {path}: {proc_text(listeners[0].get('processes'))}")
        out.append(finding(
            code="SOCKET_MISSING", severity="critical", host=view.name, route=r.get("id"),
            summary=f"route '{r.get('id')}' proxies to unix:{path}, but {state}: {users_text(view, r)}",
            evidence=evidence,
            fix="start the app server that creates this socket (see the root cause), or point nginx at the socket it really uses",
            steps=_recreate_socket(view, ep), subjects=subj))
        if unclaimed and not listeners and not view.apps_binding(ep):
            cands = "; ".join(f"{t} ({s})" for t, s, _a in unclaimed[:3])
            app = unclaimed[0][2]
            out.append(finding(
                code="TARGET_MISMATCH_SOCKET", severity="critical", host=view.name, route=r.get("id"),
                summary=f"route '{r.get('id')}' proxies to unix:{path}, but the app server listens on {unclaimed[0][0]}: "
                        f"{users_text(view, r)}",
                evidence=evidence + [f"app server sockets no route uses: {cands}"],
                fix=f"make both sides agree: change the nginx target to {unclaimed[0][0]} (then nginx -t && reload) or change the "
                    f"app's --bind to unix:{path}",
                steps=sequence(nginx_proxy(view.name, target_edits(view, r, ep, unclaimed[0][0]))),
                alternative_steps=sequence(rebind(view.name, app, lambda b: f"unix:{b.get('path')}" == unclaimed[0][0], f"unix:{path}")),
                subjects=subj))
    return out


def _recreate_socket(view, ep):
    """Restart (or start) the app server that binds the missing socket: it creates the socket again.

    Not under socket activation (the .socket unit owns the path) and not when no app server binds it.
    """
    apps = [a for a in view.apps_binding(ep) if a.get("unit") and not a.get("socket_unit")]
    if not apps:
        return []
    app = apps[0]
    return sequence(app_service(view.name, app, "restart" if view.app_running(app) else "start"))


def _apps_on_port(view, port):
    return [a for a in view.apps if any(as_dict(b).get("kind") == "tcp" and as_dict(b).get("port") == port
                                        for b in as_list(a.get("binds")))]


def rule_tcp_endpoint(view):
    """TARGET_MISMATCH_PORT, IP_FAMILY_MISMATCH and 'nothing listens' for local tcp endpoints."""
    out = []
    unclaimed = _unclaimed_tcp(view)
    if not view.listeners:
        return out
    for r in view.routes:
        for ep in view.route_endpoints(r):
            if ep.get("kind") != "tcp" or not view.endpoint_is_local(ep):
                continue
            out.extend(_tcp_endpoint(view, r, ep, unclaimed))
    return out


def _tcp_endpoint(view, r, ep, unclaimed):
    port = ep.get("port")
    addrs = ep_addresses(ep)
    ok = [(f, a) for f, a in addrs if view.tcp_listeners(f, a, port)]
    bad = [(f, a) for f, a in addrs if (f, a) not in ok]
    if not bad:
        return []
    subj = view.route_subjects(r, ep)
    evidence = route_evidence(view, r, ep, ("connect_refused",))
    on_port = view.tcp_on_port(port)
    evidence.append(f"{ep_text(ep)} resolves to {', '.join(addr_text(a, port) for _f, a in addrs)}; listening: "
                    + ("; ".join(f"{addr_text(t.get('address'), port)} ({proc_text(t.get('processes'))})" for t in on_port)
                       or f"nothing on port {port}"))
    bad_fams = {f for f, _a in bad}
    other_family = [t for t in on_port if t.get("family") not in bad_fams]
    if on_port and not other_family:
        # same family, another address (e.g. the app on 127.0.0.1 only, nginx dialling the host's own IP)
        listen_txt = ", ".join(addr_text(t.get("address"), port) for t in on_port)
        good = on_port[0].get("address")
        app = next(iter(_apps_on_port(view, port)), None)
        return [finding(
            code="TARGET_MISMATCH_PORT", severity="critical" if not ok else "warning", host=view.name, route=r.get("id"),
            summary=f"route '{r.get('id')}' proxies to {', '.join(addr_text(a, port) for _f, a in bad)}, but the app listens on "
                    f"{listen_txt} only: {users_text(view, r) if not ok else WHAT_USERS_SEE['intermittent']}",
            evidence=evidence,
            fix=f"make both sides agree: proxy_pass to {addr_text(good, port)} (then nginx -t && reload) or bind the app on "
                f"{addr_text(bad[0][1], port)}",
            steps=sequence(nginx_proxy(view.name, target_edits(view, r, ep, addr_text(good, port)))),
            alternative_steps=sequence(rebind(view.name, app, lambda b: b.get("kind") == "tcp" and b.get("port") == port,
                                              addr_text(bad[0][1], port), keep_old=True)),
            subjects=subj)]
    if on_port:
        listen_txt = ", ".join(addr_text(t.get("address"), port) for t in other_family)
        bad_txt = ", ".join(addr_text(a, port) for _f, a in bad)
        if ok:
            sev = "warning"
            summary = (f"route '{r.get('id')}': nginx connects to {bad_txt} (from '{ep.get('host')}') but the app listens on "
                       f"{listen_txt} only: those attempts are refused and retried on the other address "
                       f"(errors in the log, added latency; {WHAT_USERS_SEE['intermittent']} when the retry also fails)")
        else:
            sev = "critical"
            summary = (f"route '{r.get('id')}': nginx connects to {bad_txt} but the app listens on {listen_txt} only "
                       f"(IPv4 vs IPv6): {users_text(view, r)}")
        good = other_family[0].get("address")
        app = next(iter(_apps_on_port(view, port)), None)
        return [finding(
            code="IP_FAMILY_MISMATCH", severity=sev, host=view.name, route=r.get("id"), summary=summary, evidence=evidence,
            fix=f"use the literal address in nginx (proxy_pass http://{addr_text(good, port)}) instead of '{ep.get('host')}', or "
                "bind the app on both families",
            steps=sequence(nginx_proxy(view.name, target_edits(view, r, ep, addr_text(good, port)))),
            # the app's other-family bind beside the one it has (gunicorn only: one --bind each)
            alternative_steps=sequence(rebind(view.name, app, lambda b: False, addr_text(bad[0][1], port))),
            subjects=subj)]
    # nothing at all on that port
    if view.apps_binding(ep):
        return []   # the app that should listen there exists: its own rule (stopped, boot failure...) reports it
    cands = [c for c in unclaimed if c[2] != port]
    if cands:
        cand_txt = "; ".join(f"{c[0]} ({c[1]})" for c in cands[:3])
        _text, _src, cport, chost, app = cands[0]
        # nginx keeps its host and takes the app's port (the app's own address when it binds one address only)
        nginx_host = ep.get("host") if str(chost or "") in WILDCARDS or ep.get("host") == chost else chost
        app_host = ep.get("host") if str(chost or "") in WILDCARDS or not chost else chost
        return [finding(
            code="TARGET_MISMATCH_PORT", severity="critical", host=view.name, route=r.get("id"),
            summary=f"route '{r.get('id')}' proxies to {ep_text(ep)} where nothing listens; the app server listens on "
                    f"{cands[0][0]}: {users_text(view, r)}",
            evidence=evidence + [f"app server listeners no route uses: {cand_txt}"],
            fix=f"make both sides agree: proxy_pass to port {cands[0][2]} (then nginx -t && reload) or bind the app on port {port}",
            steps=sequence(nginx_proxy(view.name, target_edits(view, r, ep, addr_text(nginx_host, cport)))),
            alternative_steps=sequence(rebind(view.name, app, lambda b: b.get("kind") == "tcp" and b.get("port") == cport,
                                              addr_text(app_host, port))),
            subjects=subj)]
    return [finding(
        code="APP_STOPPED", severity="critical", host=view.name, route=r.get("id"),
        summary=f"route '{r.get('id')}' proxies to {ep_text(ep)} where nothing listens and no app server for it was found: "
                f"{users_text(view, r)}",
        evidence=evidence,
        fix=f"start the app server that should listen on {ep_text(ep)} (is it installed and enabled?)",
        subjects=subj)]
