# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules across hosts and about the host itself: cross-host targets, containers, SELinux, partial facts."""

from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.plugin_utils import _rules_containers
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_common import (
    ROLE_NGINX_PROXY,
    WHAT_USERS_SEE,
    addr_text,
    as_dict,
    as_list,
    ep_addresses,
    ep_text,
    event_text,
    finding,
    is_loopback,
    listener_accepts,
    proc_text,
    same_address,
)

CONTAINER_PROXIES = ("docker-proxy", "rootlessport", "rootlesskit", "slirp4netns", "pasta", "conmon", "containerd-shim",
                     "podman", "vpnkit")
SECTIONS = ("nginx", "listeners", "apps", "sockets", "logs", "probes", "system")
CORE_SECTIONS = ("nginx", "listeners", "apps", "sockets")


def owner_of(view, address, host_text=None):
    """The inventory host (other than this one) that owns ``address``: name or None."""
    for name, entry in view.inventory.items():
        if name == view.name:
            continue
        addrs = [str(a) for a in as_list(entry.get("address"))]
        if any(same_address(address, a) for a in addrs) or (host_text and host_text in addrs):
            return name
        other = entry.get("view")
        if other is not None:
            for t in other.tcp:
                a = str(t.get("address") or "")
                if a not in ("0.0.0.0", "::") and not is_loopback(a) and same_address(a, address):
                    return name
    return None


def remote_targets(view):
    """[(route, endpoint, family, address)] for tcp endpoints of this host's routes that are not local."""
    out = []
    for r in view.routes:
        for ep in view.route_endpoints(r):
            if ep.get("kind") != "tcp" or view.endpoint_is_local(ep):
                continue
            for fam, addr in ep_addresses(ep) or [(None, str(ep.get("host")))]:
                if not view.is_local(addr):
                    out.append((r, ep, fam, addr))
    return out


def rule_cross_host(view):
    out = []
    done = set()
    for r, ep, fam, addr in remote_targets(view):
        port = ep.get("port")
        key = (r.get("id"), addr, port)
        if key in done:
            continue
        done.add(key)
        owner = owner_of(view, addr, str(ep.get("host")))
        subj = view.route_subjects(r, ep) | {("remote", f"{owner or addr}:{port}")}
        base_ev = [f"nginx route '{r.get('id')}': {view.route_where(r)}"]
        base_ev += [event_text(e) for e in view.events_of(("connect_refused", "upstream_timeout", "no_live_upstreams"), ep)]
        base_ev += view.probe_evidence(r)
        target = addr_text(addr, port)
        if owner is None:
            out.append(finding(
                "CROSS_HOST_UNCHECKED", "info", "network", view.name, r.get("id"),
                f"route '{r.get('id')}' proxies to {target}, which is not an inventory host: could not check what listens there",
                base_ev, f"add the host that owns {addr} to the inventory to check its listeners", None, None, subj))
            continue
        entry = view.inventory.get(owner) or {}
        other = entry.get("view")
        if other is None or not other.listeners:
            why = "unreachable" if entry.get("unreachable") else "its listener facts are missing"
            out.append(finding(
                "CROSS_HOST_UNCHECKED", "info", "network", view.name, r.get("id"),
                f"route '{r.get('id')}' proxies to {target} on {owner}, but {owner} is {why}: could not check what listens there",
                base_ev, f"make {owner} reachable and gather its facts", None, None, subj))
            continue
        accepting = [t for t in other.tcp_on_port(port) if listener_accepts(t, fam or "inet", addr)]
        if accepting:
            continue
        on_port = other.tcp_on_port(port)
        ev = base_ev + [f"{owner} listens on port {port}: " + ("; ".join(
            f"{addr_text(t.get('address'), port)} ({proc_text(t.get('processes'))})" for t in on_port) or "nothing")]
        apps = [a for a in other.apps if any(as_dict(b).get("kind") == "tcp" and as_dict(b).get("port") == port
                                             for b in as_list(a.get("binds")))]
        for a in apps:
            ev.append(f"{owner}: {a.get('unit') or a.get('name')} binds {', '.join(ep_text(b) for b in as_list(a.get('binds')))}, "
                      f"running={other.app_running(a)}")
        users = WHAT_USERS_SEE.get(view.route_users_see(r, "502"), WHAT_USERS_SEE["502"])
        if on_port and all(is_loopback(t.get("address")) for t in on_port):
            app_name = (apps[0].get("unit") or apps[0].get("name")) if apps else proc_text(on_port[0].get("processes"))
            out.append(finding(
                "CROSS_HOST_LOOPBACK_BIND", "critical", "network", view.name, r.get("id"),
                f"route '{r.get('id')}' proxies to {target} on {owner}, but {app_name} there listens on "
                f"{addr_text(on_port[0].get('address'), port)} only (loopback): connections from {view.name} are refused and {users}",
                ev,
                f"on {owner}, bind the app to {addr_text(addr, port)} (or 0.0.0.0:{port} behind a firewall that admits only {view.name})",
                None, {"host": owner, "bind": addr_text(addr, port)}, subj))
        else:
            other_binds = sorted({ep_text(b) for a in other.apps for b in as_list(a.get("binds")) if as_dict(b).get("kind") == "tcp"})
            hint = f"; its app servers bind {', '.join(other_binds)}" if other_binds else ""
            stopped = [a for a in apps if not other.app_running(a)]
            if stopped:
                hint = f"; {stopped[0].get('unit') or stopped[0].get('name')} there is not running"
            out.append(finding(
                "CROSS_HOST_NOT_LISTENING", "critical", "network", view.name, r.get("id"),
                f"route '{r.get('id')}' proxies to {target} on {owner}, but nothing listens on port {port} there{hint}: {users}",
                ev,
                f"start the app on {owner} or make nginx and the app agree on the port ({port})",
                ROLE_NGINX_PROXY if other_binds and not stopped else None,
                {"host": owner, "port": port}, subj))
    return out


def rule_container_loopback(view):
    out = []
    for r in view.routes:
        for ep in view.route_endpoints(r):
            if ep.get("kind") != "tcp" or not view.endpoint_is_local(ep):
                continue
            port = ep.get("port")
            if _rules_containers.publishers(view, ep):
                continue    # the containers facts say what happens behind this port (_rules_containers)
            proxies = [t for t in view.tcp_on_port(port) if any(
                str(as_dict(p).get("name") or "").startswith(CONTAINER_PROXIES) for p in as_list(t.get("processes")))]
            if not proxies:
                continue
            resets = view.events_of(("reset_by_peer", "premature_close"), ep)
            direct_bad = [p for p in view.route_probes(r, "direct") if not p.get("ok") and p.get("error") in (
                "ECONNRESET", "EPROTO", "EOF", "empty reply", None)]
            if not resets and not direct_bad:
                continue
            out.append(finding(
                "CONTAINER_LOOPBACK_BIND", "critical", "network", view.name, r.get("id"),
                f"route '{r.get('id')}' proxies to {ep_text(ep)}, a port published by a container "
                f"({proc_text(proxies[0].get('processes'))}), and the connection is reset: the app inside the container most likely "
                f"listens on 127.0.0.1 in its own network namespace; {WHAT_USERS_SEE['502']}",
                [f"nginx route '{r.get('id')}': {view.route_where(r)}",
                 f"port {port}: " + "; ".join(f"{addr_text(t.get('address'), port)} ({proc_text(t.get('processes'))})" for t in proxies)]
                + [event_text(e) for e in resets] + view.probe_evidence(r),
                "inside the container bind the app to 0.0.0.0 (e.g. gunicorn -b 0.0.0.0:8000) and keep publishing the port on "
                "127.0.0.1 of the host; check the published port matches the app's port",
                None, None, view.route_subjects(r, ep)))
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
        "SELINUX_BLOCKS_UPSTREAM", sev, "system", view.name, r.get("id"),
        f"SELinux is enforcing and httpd_can_network_connect is off: nginx may not connect to its TCP upstreams "
        f"(13: Permission denied on connect()); {users}",
        ["getenforce: Enforcing; getsebool httpd_can_network_connect: off"]
        + [f"tcp route '{rr.get('id')}': {view.route_where(rr)}" for rr in tcp_routes[:5]]
        + [event_text(e) for e in denied] + view.probe_evidence(r),
        "setsebool -P httpd_can_network_connect 1 (or label the port: semanage port -a -t http_port_t -p tcp <port>)",
        None, {"selinux_boolean": "httpd_can_network_connect"}, subj)]


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
    if not errs and not missing and not not_root:
        return []
    sev = "warning" if (core_errs or not_root) else "info"
    bits = []
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
        "FACTS_INCOMPLETE", sev, "system", view.name, None,
        "facts are incomplete: " + "; ".join(bits) + "; findings may miss the cause",
        evidence,
        "run the diagnosis with become: true (root) and fix the failing sources listed in the evidence",
        None, None, {("facts", view.name)} | ({("facts", view.name + ":nginx-only")} if nginx_only else set()))]


RULES = (rule_cross_host, rule_container_loopback, rule_selinux, rule_facts_incomplete)
