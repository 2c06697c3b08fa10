# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules about nginx running inside a container (the ``nginx`` entry of a container in the ``containers`` facts).

``CONTAINER_NGINX_LOOPBACK``: the nginx of a container proxies to ``127.0.0.1`` / ``::1`` / ``localhost``,
which is the container's own loopback, and nothing listens on that port in the container's network
namespace - the app is in another container or on the host. Not for a container on the host's
network (``network_mode: host``): there loopback is the host's, and what listens is the host's business.
"""

from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.plugin_utils._addresses import is_loopback
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_common import as_dict, as_list, finding
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_containers import (
    _label,
    _mapping,
    _publishes,
    _state_text,
    containers,
)

LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def _loopback_host(host):
    host = str(host or "").strip("[]").split("%", 1)[0]
    return host.lower() in LOOPBACK_NAMES or is_loopback(host)


def _listens_on(tcp, port):
    """Something in the namespace accepts connections to loopback:``port`` (bound to loopback or a wildcard)."""
    for t in tcp:
        addr = str(t.get("address") or "")
        if t.get("port") == port and (addr in ("0.0.0.0", "::", "") or _loopback_host(addr)):
            return True
    return False


def _who_serves(view, cs, c, port):
    """Where an app on ``port`` really is: [(text, fix hint)] from the other containers and the host."""
    found = []
    mine = {str(as_dict(n).get("name")) for n in as_list(c.get("networks"))}
    for d in cs:
        if d is c or d.get("state") != "running":
            continue
        inside = [as_dict(t) for t in as_list(as_dict(d.get("listeners")).get("tcp"))]
        if not any(t.get("port") == port for t in inside):
            continue
        shared = sorted(mine & {str(as_dict(n).get("name")) for n in as_list(d.get("networks"))})
        service = as_dict(d.get("compose")).get("service") or d.get("name")
        if shared:
            found.append((f"{_label(d)} listens on port {port} and shares the network {shared[0]} with it",
                          f"proxy to its name on that network: `proxy_pass http://{service}:{port}/`"))
        else:
            found.append((f"{_label(d)} listens on port {port}, on no network it shares",
                          f"put both on one network (Compose: the same project or an external network) and proxy to "
                          f"`http://{service}:{port}/`"))
    host_tcp = [t for t in view.tcp_on_port(port) if not t.get("container")]
    if host_tcp:
        addrs = ", ".join(sorted({str(t.get("address")) for t in host_tcp}))
        found.append((f"the host listens on port {port} ({addrs})",
                      "reach the host from the container (`host.containers.internal` with Podman, `host.docker.internal` "
                      "with `extra_hosts: [\"host.docker.internal:host-gateway\"]` with Docker) with the app listening on an "
                      "address the container network reaches, or run the container with `network_mode: host`"))
    return found


def _mounted_from(c, path):
    """`` (the host's /srv/x/nginx.conf)`` when a bind mount of ``c`` puts the host file at ``path``, else ''."""
    for m in as_list(c.get("mounts")):
        m = as_dict(m)
        dest, src = str(m.get("destination") or "").rstrip("/"), str(m.get("source") or "").rstrip("/")
        if m.get("type") == "bind" and dest and src and (path == dest or path.startswith(dest + "/")):
            return f" (the host's {src + path[len(dest):]})"
    return ""


def _host_routes(view, c):
    """This host's routes whose tcp endpoint is published by container ``c`` (the way into its nginx)."""
    out = []
    for r in view.routes:
        for ep in view.route_endpoints(r):
            if ep.get("kind") == "tcp" and view.endpoint_is_local(ep) and _publishes(c, ep):
                out.append((r, ep))
    return out


def rule_container_nginx_loopback(view):
    out = []
    cs = containers(view)
    for c in cs:
        ng = as_dict(c.get("nginx"))
        lst = as_dict(c.get("listeners"))
        if not ng or c.get("state") != "running" or not lst or lst.get("error") or lst.get("shares_host_network"):
            continue
        tcp = [as_dict(t) for t in as_list(lst.get("tcp"))]
        done = set()
        for nr in (as_dict(x) for x in as_list(ng.get("routes"))):
            for ep in (as_dict(x) for x in as_list(nr.get("endpoints"))):
                port = ep.get("port")
                if ep.get("kind") != "tcp" or not _loopback_host(ep.get("host")) or port is None or _listens_on(tcp, port):
                    continue
                if (nr.get("id"), port) in done:
                    continue
                done.add((nr.get("id"), port))
                out.append(_finding(view, cs, c, ng, nr, ep, tcp))
    return out


def _finding(view, cs, c, ng, nr, ep, tcp):
    port = ep.get("port")
    where = f"{nr.get('file')}:{nr.get('line')}"
    target = f"{nr.get('directive') or 'proxy_pass'} {nr.get('target')}"
    listening = "; ".join(f"{t.get('address')}:{t.get('port')}" for t in tcp) or "nothing"
    elsewhere = _who_serves(view, cs, c, port)
    entries = _host_routes(view, c)
    ev = [f"nginx in {_label(c)} (master pid {ng.get('pid')}, {ng.get('conf_path')}): route '{nr.get('id')}' {target} "
          f"at {where}", _state_text(c), f"listening inside the container's network namespace: {listening}"]
    ev += [text for text, _fix in elsewhere]
    ev += [f"nginx route '{r.get('id')}' of this host reaches it: {ep2.get('host')}:{ep2.get('port')} is published by "
           f"{_label(c)} ({_mapping(_publishes(c, ep2)[0])})" for r, ep2 in entries]
    for r, _ep in entries[:1]:
        ev += list(view.probe_evidence(r))
    fix = (elsewhere[0][1] if elsewhere else
           f"point {target} at the app's name on the container network (Compose service name) or at an address the "
           f"container reaches; 127.0.0.1 is the container's own loopback")
    fix += f" at {where} inside the container{_mounted_from(c, str(nr.get('file') or ''))}, then reload that nginx " \
           f"(`docker exec {c.get('name')} nginx -s reload`, or restart the container when the file is bind-mounted alone)"
    subjects = {("container", c.get("name") or c.get("id"))}
    for r, ep2 in entries:
        subjects |= set(view.route_subjects(r, ep2))
    route = entries[0][0].get("id") if entries else f"{c.get('name')}: {nr.get('id')}"
    return finding(
        code="CONTAINER_NGINX_LOOPBACK", severity="critical", host=view.name, route=route,
        summary=f"nginx in {_label(c)} proxies to {ep.get('host')}:{port} ({where}), the container's own loopback, where "
                f"nothing listens" + (f" - {elsewhere[0][0]}" if elsewhere else "") + ": users get 502 Bad Gateway",
        evidence=ev, fix=fix, subjects=subjects)


RULES = (rule_container_nginx_loopback,)
