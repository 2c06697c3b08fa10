# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The request path client -> nginx -> endpoint -> listener -> app of a host, and which hop is broken.

The one place that decides the broken hop: ``rules.evaluate()`` stores the result in each host's
``path`` and every report draws that ``path``.
"""

from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.plugin_utils.catalog import HOPS, LAYER_HOP
from ansible_collections.badgateway.doctor.plugins.plugin_utils._addresses import ep_addresses, ep_text
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_common import as_dict, as_list, masked
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_network import remote_view


def broken_hop(findings, unreachable=False):
    """The hop the host's root finding breaks, or None.

    An unreachable host breaks at nginx (nothing answers there for us); otherwise the first
    (root) finding's layer decides when it is a warning or worse: proxy -> nginx,
    socket -> endpoint, network -> listener, app / system -> app.
    """
    if unreachable:
        return "nginx"
    root = findings[0] if findings else None
    if root and root.get("severity") in ("critical", "warning"):
        return LAYER_HOP.get(root.get("layer"), "app")
    return None


def _mark(hops, broken):
    for h in hops:
        if h["hop"] == broken:
            h["state"] = "broken"
    return hops


def unknown_path(findings, unreachable=False):
    """The path of a host without facts (unreachable, or gathering failed): every hop unknown but the broken one."""
    broken = broken_hop(findings, unreachable)
    hops = [{"hop": h, "label": h, "detail": "HTTP request" if h == "client" else "", "state": "unknown"} for h in HOPS]
    return {"route": None, "broken": broken, "hops": _mark(hops, broken)}


def host_path(view, roots):
    """The request path of the host's most relevant route, hop by hop.

    ``{"route": id|None, "broken": hop|None, "hops": [{hop, label, detail, state: ok|broken|unknown}]}``.
    """
    root = roots[0] if roots else None
    broken = broken_hop(roots)
    route = None
    if root and root.get("route"):
        route = view.route(root["route"])
    if route is None and view.routes:
        route = view.routes[0]
    hops = [{"hop": "client", "label": "client", "detail": "HTTP request", "state": "ok"}]
    ng = view.nginx
    if not ng.get("present"):
        hops.append({"hop": "nginx", "label": "no nginx", "detail": "", "state": "unknown"})
    else:
        hops.append({"hop": "nginx", "label": f"nginx {ng.get('version') or ''}".strip(),
                     "detail": route.get("id") if route else "no proxied route", "state": "ok"})
    eps = view.route_endpoints(route) if route else []
    if not eps:
        hops += [{"hop": h, "label": "-", "detail": "", "state": "unknown"} for h in ("endpoint", "listener", "app")]
    else:
        hops += _endpoint_hops(view, route, eps[0])
    return masked({"route": route.get("id") if route else None, "broken": broken, "hops": _mark(hops, broken)})


def _endpoint_hops(view, route, ep):
    """The endpoint, listener and app hops of ``route``'s first endpoint (on another inventory host when it is there)."""
    hops = [{"hop": "endpoint", "label": ep_text(ep), "detail": route.get("directive") or "proxy_pass", "state": "ok"}]
    target_view = view
    if ep.get("kind") == "tcp" and not view.endpoint_is_local(ep):
        target_view = remote_view(view, ep) or view
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
    return hops
