# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared helpers for the diagnosis rules (controller side, pure functions over facts dicts).

A finding is a plain dict (see ``rules.py``); while rules run it also carries ``_subjects``,
a set of ``(kind, id)`` tuples (``("app", "gunicorn.service")``, ``("endpoint", "unix:/run/x.sock")``,
``("route", "_:80 /")``, ``("file", "/etc/nginx/sites-enabled/app")`` ...). Folding uses the
subjects to decide which findings follow from which; they are removed before the result is returned.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress

SEVERITIES = ("critical", "warning", "info")
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}
# Layer order for sorting findings of equal severity: the order of the request path as the
# finding schema lists the layers (proxy first, the network link between hosts last).
LAYERS = ("proxy", "socket", "app", "system", "network")
LAYER_RANK = {name: i for i, name in enumerate(LAYERS)}

# Remediation roles named in ``fix.role`` (one concern each).
ROLE_APP_SERVICE = "badgateway.doctor.app_service"
ROLE_APP_UNIT = "badgateway.doctor.app_unit"
ROLE_NGINX_RELOAD = "badgateway.doctor.nginx_reload"
ROLE_NGINX_PROXY = "badgateway.doctor.nginx_proxy"
ROLE_SOCKET_PERMISSIONS = "badgateway.doctor.socket_permissions"

HTTP_APP_KINDS = ("gunicorn", "uvicorn", "hypercorn", "daphne")
WILDCARDS = ("0.0.0.0", "::", "*", "")

WHAT_USERS_SEE = {
    "502": "users get 502 Bad Gateway",
    "504": "users get 504 Gateway Timeout",
    "intermittent": "users get intermittent 502 errors",
    "intermittent504": "users get intermittent 504 errors",
    "latent": "users see no error yet",
    "none": "no user-visible error",
}


# Remediation roles that ship in this collection. A rule may know which role would fix its
# finding; the finding names it only once that role exists, so a report never sends a user to
# a role that is not there (the fix summary always says what to change by hand).
AVAILABLE_ROLES = frozenset()


def finding(code, severity, layer, host, route, summary, evidence=None, fix_summary="", role=None,
            fix_vars=None, subjects=()):
    """Build one finding dict."""
    if role is not None and role.rsplit(".", 1)[-1] not in AVAILABLE_ROLES:
        role, fix_vars = None, None
    return {
        "code": code,
        "severity": severity,
        "layer": layer,
        "host": host,
        "route": route,
        "summary": summary,
        "evidence": _cap([str(e) for e in (evidence or []) if e]),
        "fix": {"summary": fix_summary, "role": role, "vars": fix_vars},
        "consequences": [],
        "_subjects": set(subjects),
    }


MAX_EVIDENCE = 25


def _cap(lines):
    """De-duplicate evidence lines (keeping order) and cap their number."""
    seen = set()
    out = [x for x in lines if not (x in seen or seen.add(x))]
    if len(out) > MAX_EVIDENCE:
        out = out[:MAX_EVIDENCE - 1] + [f"... and {len(out) - MAX_EVIDENCE + 1} more lines"]
    return out


def max_severity(*severities):
    present = [s for s in severities if s in SEVERITY_RANK]
    if not present:
        return None
    return min(present, key=lambda s: SEVERITY_RANK[s])


def iso(ts):
    """Epoch seconds -> ``2024-05-01T10:00:00Z`` (None -> '?')."""
    if ts is None:
        return "?"
    try:
        return datetime.datetime.fromtimestamp(float(ts), tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError, OverflowError, OSError):
        return "?"


def as_list(value):
    return value if isinstance(value, list) else []


def as_dict(value):
    return value if isinstance(value, dict) else {}


# ---------------------------------------------------------------------------
# endpoints and addresses
# ---------------------------------------------------------------------------

def ep_key(ep):
    """Stable text for an Endpoint: ``unix:/run/x.sock`` or ``tcp:127.0.0.1:8000``."""
    ep = as_dict(ep)
    if ep.get("kind") == "unix":
        return f"unix:{ep.get('path')}"
    return f"tcp:{ep.get('host')}:{ep.get('port')}"


def ep_text(ep):
    """Human text for an Endpoint as nginx writes it: ``unix:/run/x.sock``, ``127.0.0.1:8000``, ``[::1]:8000``."""
    ep = as_dict(ep)
    if ep.get("kind") == "unix":
        return f"unix:{ep.get('path')}"
    host = str(ep.get("host") or "?")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{ep.get('port')}"


def addr_text(address, port):
    address = str(address)
    if ":" in address:
        return f"[{address}]:{port}"
    return f"{address}:{port}"


@functools.lru_cache(maxsize=4096)
def _parse_ip_cached(text):
    try:
        return ipaddress.ip_address(text.strip("[]").split("%", maxsplit=1)[0])
    except ValueError:
        return None


def parse_ip(text):
    return _parse_ip_cached(str(text))


def is_loopback(address):
    ip = parse_ip(address)
    if ip is None:
        return str(address) == "localhost"
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def family_of(address):
    ip = parse_ip(address)
    if ip is None:
        return None
    return "inet6" if ip.version == 6 else "inet"


def ep_addresses(ep):
    """The concrete addresses of a tcp Endpoint as ``[(family, address)]`` (getaddrinfo order)."""
    ep = as_dict(ep)
    out = []
    for a in as_list(ep.get("addresses")):
        a = as_dict(a)
        if a.get("address"):
            out.append((a.get("family") or family_of(a["address"]), str(a["address"])))
    if not out and ep.get("host") is not None:
        fam = family_of(ep.get("host"))
        if fam:
            out.append((fam, str(ep["host"]).strip("[]")))
        elif ep.get("host") == "localhost":
            out.append(("inet", "127.0.0.1"))
    seen = set()
    uniq = []
    for item in out:
        if item not in seen:
            seen.add(item)
            uniq.append(item)
    return uniq


def same_address(a, b):
    ia, ib = parse_ip(a), parse_ip(b)
    if ia is None or ib is None:
        return str(a) == str(b)
    if ia.version == 6 and ia.ipv4_mapped is not None:
        ia = ia.ipv4_mapped
    if ib.version == 6 and ib.ipv4_mapped is not None:
        ib = ib.ipv4_mapped
    return ia == ib


def listener_accepts(listener, family, address):
    """Does a listening TCP socket accept connections to (family, address)?"""
    lf = listener.get("family")
    la = str(listener.get("address") or "")
    if lf == family and la in WILDCARDS:
        return True
    if lf == "inet6" and la == "::" and family == "inet" and listener.get("v4mapped"):
        return True
    if lf == family or (lf == "inet6" and listener.get("v4mapped")):
        return same_address(la, address)
    return False


def bind_matches(bind, ep):
    """Does an app server bind (Endpoint) serve the nginx endpoint ``ep``?"""
    bind, ep = as_dict(bind), as_dict(ep)
    if bind.get("kind") != ep.get("kind"):
        return False
    if ep.get("kind") == "unix":
        return bind.get("path") == ep.get("path")
    if bind.get("port") != ep.get("port"):
        return False
    bhost = str(bind.get("host") or "")
    if bhost in WILDCARDS:
        return True
    for _fam, addr in ep_addresses(ep):
        for _bfam, baddr in ep_addresses(bind) or [(None, bhost)]:
            if same_address(addr, baddr):
                return True
    return bhost == str(ep.get("host"))


def proc_text(processes):
    out = []
    for p in as_list(processes)[:3]:
        p = as_dict(p)
        unit = f", unit {p.get('unit')}" if p.get("unit") else ""
        out.append(f"{p.get('name')} pid {p.get('pid')} (user {p.get('user')}{unit})")
    return "; ".join(out) or "unknown process"


# ---------------------------------------------------------------------------
# events and probes
# ---------------------------------------------------------------------------

def event_text(ev):
    ev = as_dict(ev)
    count = ev.get("count") or 0
    when = iso(ev.get("first"))
    if ev.get("last") is not None and ev.get("last") != ev.get("first"):
        when = f"{when} .. {iso(ev.get('last'))}"
    sample = ""
    samples = as_list(ev.get("samples"))
    if samples:
        sample = f": {str(samples[0])[:300]}"
    return f"{ev.get('source')}: {count}x {ev.get('class')} ({when}){sample}"


def event_matches_endpoint(ev, ep):
    """Does a log event name the endpoint ``ep`` as its upstream?"""
    targets = [str(t) for t in as_list(as_dict(ev).get("targets"))]
    if not targets:
        return False
    ep = as_dict(ep)
    if ep.get("kind") == "unix":
        needle = f"unix:{ep.get('path')}"
        # nginx writes "unix:/run/x.sock:/uri", or "unix:/run/x.sock/uri" when proxy_pass has no ':' after the path
        return any(t == needle or t.startswith((needle + ":", needle + "/")) or f"://{needle}:" in t or f"://{needle}/" in t
                   for t in targets)
    port = ep.get("port")
    needles = {f"{ep.get('host')}:{port}"}
    for _fam, addr in ep_addresses(ep):
        needles.add(addr_text(addr, port))
    return any(_hostport(t) in needles for t in targets)


def _hostport(target):
    """``http://127.0.0.1:8000/x`` -> ``127.0.0.1:8000``; ``127.0.0.1:8000`` stays."""
    rest = target.split("://", 1)[1] if "://" in target else target
    return rest.split("/", 1)[0]


def probe_text(p):
    p = as_dict(p)
    if p.get("ok"):
        res = f"HTTP {p.get('status')}"
    elif p.get("status") is not None:
        res = f"HTTP {p.get('status')}"
    else:
        res = str(p.get("error") or "failed")
    lat = p.get("latency")
    lat_s = f" in {lat:.3f}s" if isinstance(lat, (int, float)) else ""
    return f"probe {p.get('via')} {p.get('url')}: {res}{lat_s}"


def users_see_from_probes(direct, via_nginx, default="502"):
    """502 / 504 / intermittent from the probe results of one route."""
    for p in via_nginx:
        if p.get("status") == 504:
            return "504"
    for p in via_nginx:
        if p.get("status") in (502, 503) or (p.get("ok") is False and p.get("status") is None):
            return "502"
    if via_nginx and all(p.get("ok") for p in via_nginx):
        return "intermittent"
    return default


# ---------------------------------------------------------------------------
# the per-host view the rules read
# ---------------------------------------------------------------------------

class HostView:
    """Read-only indexes over one host's ``ansible_facts.badgateway`` (any section may be missing)."""

    def __init__(self, name, facts, address=None, inventory=None):
        self.name = name
        self.facts = as_dict(facts)
        self.address = [str(a) for a in as_list(address)]
        # inventory: {hostname: {"facts": dict|None, "address": [..], "unreachable": bool}}
        self.inventory = inventory or {}
        f = self.facts
        self.nginx = as_dict(f.get("nginx"))
        self.listeners = as_dict(f.get("listeners"))
        self.apps_section = as_dict(f.get("apps"))
        self.sockets = as_dict(f.get("sockets"))
        self.logs = as_dict(f.get("logs"))
        self.probes_section = as_dict(f.get("probes"))
        self.system = as_dict(f.get("system"))
        self.routes = [as_dict(r) for r in as_list(self.nginx.get("routes"))]
        self.upstreams = as_dict(self.nginx.get("upstreams"))
        self.tcp = [as_dict(x) for x in as_list(self.listeners.get("tcp"))]
        self.unix = [as_dict(x) for x in as_list(self.listeners.get("unix"))]
        self.apps = [as_dict(a) for a in as_list(self.apps_section.get("servers"))]
        self.sock_paths = {}
        for sp in as_list(self.sockets.get("paths")):
            sp = as_dict(sp)
            if sp.get("path"):
                self.sock_paths[sp["path"]] = sp
        self.events = [as_dict(e) for e in as_list(self.logs.get("events"))]
        self.probes = [as_dict(p) for p in as_list(self.probes_section.get("results"))]
        self._probe_index = {}
        for p in self.probes:
            self._probe_index.setdefault((p.get("route"), p.get("via")), []).append(p)
        stale = [as_dict(s).get("path") for s in as_list(self.nginx.get("stale_files"))]
        self.stale_files = [s for s in stale if s]

    # -- nginx ---------------------------------------------------------------
    def unix_endpoints(self):
        """(route, endpoint, path, socket-path facts or {}) for every unix endpoint of every route."""
        for route in self.routes:
            for ep in self.route_endpoints(route):
                if ep.get("kind") == "unix":
                    path = ep.get("path")
                    yield route, ep, path, self.sock_paths.get(path) or {}

    def route_endpoints(self, route):
        eps = [as_dict(e) for e in as_list(route.get("endpoints")) if e]
        if not eps and route.get("upstream"):
            up = as_dict(self.upstreams.get(route["upstream"]))
            for srv in as_list(up.get("servers")):
                ep = as_dict(as_dict(srv).get("endpoint"))
                if ep:
                    eps.append(ep)
        return eps

    def route_subjects(self, route, ep=None):
        subj = {("route", route.get("id"))}
        if route.get("file"):
            subj.add(("file", route["file"]))
        if route.get("upstream"):
            subj.add(("upstream", route["upstream"]))
        for e in ([ep] if ep else self.route_endpoints(route)):
            subj.add(("endpoint", ep_key(e)))
        return subj

    def route_where(self, route):
        return f"{route.get('directive') or 'proxy_pass'} {route.get('target')} at {route.get('file')}:{route.get('line')}"

    # -- listeners -----------------------------------------------------------
    def unix_listeners(self, path):
        return [u for u in self.unix if u.get("path") == path and not u.get("abstract")]

    def tcp_listeners(self, family, address, port):
        return [t for t in self.tcp if t.get("port") == port and listener_accepts(t, family, address)]

    def tcp_on_port(self, port):
        return [t for t in self.tcp if t.get("port") == port]

    def local_addresses(self):
        out = set(self.address)
        for t in self.tcp:
            a = str(t.get("address") or "")
            if a and a not in WILDCARDS:
                out.add(a)
        return out

    def is_local(self, address):
        if is_loopback(address):
            return True
        return any(same_address(address, a) for a in self.local_addresses())

    def endpoint_is_local(self, ep):
        if ep.get("kind") == "unix":
            return True
        addrs = ep_addresses(ep)
        if not addrs:
            return ep.get("host") in ("localhost", None)
        return all(self.is_local(a) for _f, a in addrs)

    # -- apps ----------------------------------------------------------------
    def apps_binding(self, ep):
        key = ep_key(ep) + "|" + ",".join(a for _f, a in ep_addresses(ep)) if ep.get("kind") == "tcp" else ep_key(ep)
        cache = self.__dict__.setdefault("_apps_binding_cache", {})
        if key not in cache:
            cache[key] = [a for a in self.apps if any(bind_matches(b, ep) for b in as_list(a.get("binds")))]
        return list(cache[key])

    def app_subjects(self, app):
        subj = {("app", app.get("name"))}
        if app.get("unit"):
            subj.add(("unit", app["unit"]))
        for b in as_list(app.get("binds")):
            subj.add(("endpoint", ep_key(b)))
        return subj

    def app_running(self, app):
        state = as_dict(app.get("state"))
        if state:
            return state.get("active_state") == "active" and state.get("sub_state") in (None, "running", "exited", "")
        return bool(app.get("running"))

    def app_anchor(self, app):
        """(time, slack): events that ended before ``time - slack`` belong to an earlier run of the app.

        ``time`` is the unit's last ActiveEnterTimestamp (for Type=simple units also the last start
        attempt of a failing unit); the slack is larger while systemd is cycling the unit, so the
        previous attempt's error still counts.
        """
        st = as_dict(app.get("state"))
        enter = st.get("active_enter")
        if not isinstance(enter, (int, float)):
            return None, 0.0
        cycling = st.get("sub_state") == "auto-restart" or st.get("active_state") in ("activating", "deactivating")
        return float(enter), (5.0 if cycling else 0.2)

    @staticmethod
    def _current(events, anchor, slack):
        if anchor is None:
            return list(events)
        return [ev for ev in events if not isinstance(ev.get("last"), (int, float)) or ev["last"] >= anchor - slack]

    def endpoint_anchor(self, ep):
        """The newest of: nginx workers' start, the start of the app servers bound to ``ep``."""
        anchors = []
        ws = self.nginx.get("workers_started")
        if isinstance(ws, (int, float)):
            anchors.append((float(ws), 0.2))
        for app in self.apps_binding(ep) if ep else []:
            a, slack = self.app_anchor(app)
            if a is not None:
                anchors.append((a, slack))
        if not anchors:
            return None, 0.0
        return max(anchors)

    def app_events(self, app, classes, history=False):
        """Events of the app's unit (journal) of the given classes; by default only from its current run."""
        unit = app.get("unit")
        pids = set(as_list(app.get("pids")))
        out = []
        for ev in self.events:
            if ev.get("class") not in classes:
                continue
            src = str(ev.get("source") or "")
            targets = [str(t) for t in as_list(ev.get("targets"))]
            detail = as_dict(ev.get("detail"))
            if unit and (src == f"journal:{unit}" or unit in targets or detail.get("unit") == unit):
                out.append(ev)
            elif not unit and detail.get("pid") in pids:
                out.append(ev)
        if history:
            return out
        return self._current(out, *self.app_anchor(app))

    def routes_to_app(self, app):
        out = []
        for r in self.routes:
            if any(bind_matches(b, ep) for ep in self.route_endpoints(r) for b in as_list(app.get("binds"))):
                out.append(r)
        return out

    # -- logs / probes -------------------------------------------------------
    def events_of(self, classes, ep=None, history=False):
        """nginx-side events of the given classes (naming ``ep`` when given).

        By default only events after the newest restart of nginx's workers or of the app server
        bound to ``ep``: older ones describe an earlier state.
        """
        out = []
        for ev in self.events:
            if ev.get("class") in classes and (ep is None or event_matches_endpoint(ev, ep)):
                out.append(ev)
        if history:
            return out
        anchor, slack = self.endpoint_anchor(ep)
        # nginx's error.log has whole seconds: an event in the second of a restart may follow it
        return self._current(out, anchor, slack + 1.0)

    def route_probes(self, route, via):
        return list(self._probe_index.get((route.get("id"), via), ()))

    def probe_verdict(self, route):
        """The runbook's decision tree on one route's probes.

        ``"app"``: the direct probe of the upstream fails (the app side is broken);
        ``"proxy"``: the upstream answers directly but the request through nginx fails;
        ``"ok"``: both answer; ``None``: not probed.
        """
        direct = self.route_probes(route, "direct")
        via = self.route_probes(route, "nginx")
        if direct and any(not p.get("ok") for p in direct):
            return "app"
        if via and any(not p.get("ok") for p in via):
            return "proxy" if direct else "unknown"
        if direct or via:
            return "ok"
        return None

    def route_users_see(self, route, default="502"):
        return users_see_from_probes(self.route_probes(route, "direct"), self.route_probes(route, "nginx"), default)

    def probe_evidence(self, route):
        return [probe_text(p) for p in self.route_probes(route, "direct") + self.route_probes(route, "nginx")]
