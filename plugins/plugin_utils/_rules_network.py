# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules at the listener hop across hosts (layer ``network``): targets on other inventory hosts, container ports."""

from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.plugin_utils import _rules_containers
from ansible_collections.badgateway.doctor.plugins.plugin_utils._addresses import (
    addr_text,
    ep_addresses,
    ep_text,
    is_loopback,
    listener_accepts,
    parse_ip,
)
from ansible_collections.badgateway.doctor.plugins.plugin_utils._fix_steps import (
    app_service,
    nginx_proxy,
    rebind,
    sequence,
    target_edits,
)
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_common import (
    WHAT_USERS_SEE,
    as_dict,
    as_list,
    event_text,
    finding,
    proc_text,
    users_text,
)

CONTAINER_PROXIES = ("docker-proxy", "rootlessport", "rootlesskit", "slirp4netns", "pasta", "conmon", "containerd-shim",
                     "podman", "vpnkit")


def _address_key(address):
    """``same_address`` as a dictionary key: the IP (an IPv4-mapped IPv6 address as its IPv4 address), else the text."""
    ip = parse_ip(address)
    if ip is None:
        return ("text", str(address))
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ("ip", ip)


class OwnerIndex:
    """Which inventory host owns an address, for every address at once (built once per evaluation: a route's owner is
    a dictionary lookup, not a scan of every host - the evaluation stays linear in the number of hosts).

    A host owns its inventory addresses (``ansible_host``, ``badgateway_host_addresses``, its name) and the
    non-loopback, non-wildcard addresses its listeners are bound to; the first host in inventory order wins."""

    def __init__(self, inventory):
        self.order = {}
        self.by_address = {}
        self.by_text = {}
        for rank, (name, entry) in enumerate(inventory.items()):
            self.order[name] = rank
            entry = as_dict(entry)
            addrs = [str(a) for a in as_list(entry.get("address"))]
            for a in addrs:
                self.by_address.setdefault(_address_key(a), []).append(name)
                self.by_text.setdefault(a, []).append(name)
            other = entry.get("view")
            for t in other.tcp if other is not None else ():
                a = str(t.get("address") or "")
                if a not in ("0.0.0.0", "::") and not is_loopback(a):
                    self.by_address.setdefault(_address_key(a), []).append(name)

    def owner(self, exclude, address, host_text=None):
        candidates = list(self.by_address.get(_address_key(address), ()))
        if host_text:
            candidates += self.by_text.get(host_text, ())
        candidates = [n for n in candidates if n != exclude]
        return min(candidates, key=self.order.__getitem__) if candidates else None


def owner_of(view, address, host_text=None):
    """The inventory host (other than this one) that owns ``address``: name or None."""
    index = view.__dict__.get("owner_index")
    if index is None:   # evaluate() shares one index among all views; a view made alone builds its own
        index = view.__dict__["owner_index"] = OwnerIndex(view.inventory)
    return index.owner(view.name, address, host_text)


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


def remote_view(view, ep):
    """The view of the inventory host that owns the (non-local) tcp endpoint ``ep``, or None."""
    addrs = ep_addresses(ep)
    owner = owner_of(view, addrs[0][1], str(ep.get("host"))) if addrs else None
    return as_dict(view.inventory.get(owner)).get("view")


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
                code="CROSS_HOST_UNCHECKED", severity="info", host=view.name, route=r.get("id"),
                summary=f"route '{r.get('id')}' proxies to {target}, which is not an inventory host: could not check what listens "
                        "there",
                evidence=base_ev, fix=f"add the host that owns {addr} to the inventory to check its listeners", subjects=subj))
            continue
        entry = view.inventory.get(owner) or {}
        other = entry.get("view")
        if other is None or not other.listeners:
            why = "unreachable" if entry.get("unreachable") else "its listener facts are missing"
            out.append(finding(
                code="CROSS_HOST_UNCHECKED", severity="info", host=view.name, route=r.get("id"),
                summary=f"route '{r.get('id')}' proxies to {target} on {owner}, but {owner} is {why}: could not check what listens "
                        "there",
                evidence=base_ev, fix=f"make {owner} reachable and gather its facts", subjects=subj))
            continue
        if any(listener_accepts(t, fam or "inet", addr) for t in other.tcp_on_port(port)):
            continue
        out.append(_not_reachable(view, r, ep, addr, port, owner, other, base_ev, subj))
    return out


def _bind_beside_loopback(owner, app, addr, port):
    """app_unit on ``owner``: the app also binds the address nginx dials (gunicorn keeps its loopback bind; an app server
    with one bind moves it)."""
    if app is None:
        return None
    return rebind(owner, app, lambda b: b.get("kind") == "tcp" and b.get("port") == port, addr_text(addr, port),
                  keep_old=app.get("kind") == "gunicorn")


def _not_reachable(view, r, ep, addr, port, owner, other, base_ev, subj):
    """CROSS_HOST_LOOPBACK_BIND or CROSS_HOST_NOT_LISTENING for a route to ``addr:port`` on ``owner``."""
    target = addr_text(addr, port)
    on_port = other.tcp_on_port(port)
    ev = base_ev + [f"{owner} listens on port {port}: " + ("; ".join(
        f"{addr_text(t.get('address'), port)} ({proc_text(t.get('processes'))})" for t in on_port) or "nothing")]
    apps = [a for a in other.apps if any(as_dict(b).get("kind") == "tcp" and as_dict(b).get("port") == port
                                         for b in as_list(a.get("binds")))]
    for a in apps:
        ev.append(f"{owner}: {a.get('unit') or a.get('name')} binds {', '.join(ep_text(b) for b in as_list(a.get('binds')))}, "
                  f"running={other.app_running(a)}")
    users = users_text(view, r)
    if on_port and all(is_loopback(t.get("address")) for t in on_port):
        app_name = (apps[0].get("unit") or apps[0].get("name")) if apps else proc_text(on_port[0].get("processes"))
        return finding(
            code="CROSS_HOST_LOOPBACK_BIND", severity="critical", host=view.name, route=r.get("id"),
            summary=f"route '{r.get('id')}' proxies to {target} on {owner}, but {app_name} there listens on "
                    f"{addr_text(on_port[0].get('address'), port)} only (loopback): connections from {view.name} are refused and "
                    f"{users}",
            evidence=ev,
            fix=f"on {owner}, bind the app to {addr_text(addr, port)} (or 0.0.0.0:{port} behind a firewall that admits only "
                f"{view.name})",
            steps=sequence(_bind_beside_loopback(owner, next(iter(apps), None), addr, port)),
            subjects=subj)
    other_binds = sorted({ep_text(b) for a in other.apps for b in as_list(a.get("binds")) if as_dict(b).get("kind") == "tcp"})
    hint = f"; its app servers bind {', '.join(other_binds)}" if other_binds else ""
    stopped = [a for a in apps if not other.app_running(a)]
    if stopped:
        hint = f"; {stopped[0].get('unit') or stopped[0].get('name')} there is not running"
        steps, alternative = sequence(app_service(owner, stopped[0], "start")), ()
    else:
        steps, alternative = _ports_agree(view, r, ep, addr, port, owner, other)
    return finding(
        code="CROSS_HOST_NOT_LISTENING", severity="critical", host=view.name, route=r.get("id"),
        summary=f"route '{r.get('id')}' proxies to {target} on {owner}, but nothing listens on port {port} there{hint}: {users}",
        evidence=ev,
        fix=f"start the app on {owner} or make nginx and the app agree on the port ({port})",
        steps=steps, alternative_steps=alternative, subjects=subj)


def _ports_agree(view, r, ep, addr, port, owner, other):
    """(steps, alternative): nginx on this host dials the port the one app server on ``owner`` binds (on an address
    nginx can reach), or that app binds nginx's port."""
    cands = [(a, b) for a in other.apps for b in (as_dict(x) for x in as_list(a.get("binds")))
             if b.get("kind") == "tcp" and b.get("port") != port and not is_loopback(b.get("host"))]
    if len(cands) != 1 or not other.app_running(cands[0][0]):
        return [], []
    app, bind = cands[0]
    steps = sequence(nginx_proxy(view.name, target_edits(view, r, ep, addr_text(addr, bind.get("port")))))
    alternative = sequence(rebind(owner, app, lambda b: b.get("kind") == "tcp" and b.get("port") == bind.get("port"),
                                  addr_text(bind.get("host") or "0.0.0.0", port)))
    return steps, alternative


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
                code="CONTAINER_LOOPBACK_BIND", severity="critical", host=view.name, route=r.get("id"),
                summary=f"route '{r.get('id')}' proxies to {ep_text(ep)}, a port published by a container "
                        f"({proc_text(proxies[0].get('processes'))}), and the connection is reset: the app inside the container most "
                        f"likely listens on 127.0.0.1 in its own network namespace; {WHAT_USERS_SEE['502']}",
                evidence=[f"nginx route '{r.get('id')}': {view.route_where(r)}",
                          f"port {port}: " + "; ".join(f"{addr_text(t.get('address'), port)} ({proc_text(t.get('processes'))})"
                                                       for t in proxies)]
                + [event_text(e) for e in resets] + view.probe_evidence(r),
                fix="inside the container bind the app to 0.0.0.0 (e.g. gunicorn -b 0.0.0.0:8000) and keep publishing the port on "
                    "127.0.0.1 of the host; check the published port matches the app's port",
                subjects=view.route_subjects(r, ep)))
    return out
