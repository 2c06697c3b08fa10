# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-host view the rules read: read-only indexes over one host's ``ansible_facts.badgateway``."""

from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.module_utils._facts_compact import expand_facts
from ansible_collections.badgateway.doctor.plugins.plugin_utils._addresses import (
    WILDCARDS,
    bind_matches,
    ep_addresses,
    ep_key,
    event_matches_endpoint,
    is_loopback,
    listener_accepts,
    norm_path,
    same_address,
)
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_common import (
    as_dict,
    as_list,
    num,
    probe_text,
    users_see_from_probes,
)


_SKIP = object()


def _lookup(index, key):
    try:
        return index.get(key, ())
    except TypeError:       # an unhashable key (hostile facts): nothing matches it
        return ()


def serving_state(nginx):
    """Is nginx serving on this host? (from the ``service`` key of the nginx facts)

    ``serving``: a master runs (or the facts do not say - older facts, no systemd); ``down``: it
    should run (its unit is enabled, or failed / starting / restarting) and does not; ``unused``:
    installed, disabled and stopped - an app-only host built from the same image, whose
    configuration files are not served; ``absent``: not installed.
    """
    nginx = as_dict(nginx)
    service = as_dict(nginx.get("service"))
    if nginx.get("master_pid") or not service or service.get("running"):
        return "serving"
    state = as_dict(service.get("state"))
    failing = state.get("active_state") in ("failed", "activating") or state.get("sub_state") == "auto-restart"
    if service.get("enabled") or failing:
        return "down"
    if not service.get("installed") and not nginx.get("present"):
        return "absent"
    return "unused"


class HostView:
    """Read-only indexes over one host's ``ansible_facts.badgateway`` (any section may be missing).

    The facts come in the form the modules return (schema 2, docs/FACTS.md: shared values listed once); the view
    writes out nginx's routes and servers, the socket paths and the listeners (``_facts_compact.expand_facts``), the
    entries sharing the listed-once values. Facts of another schema version give no routes, paths or listeners
    (``FACTS_INCOMPLETE`` says to gather them again)."""

    def __init__(self, name, facts, address=None, inventory=None):
        self.name = name
        self.facts = expand_facts(as_dict(facts))
        self.address = [str(a) for a in as_list(address)]
        # inventory: {hostname: {"facts": dict|None, "address": [..], "unreachable": bool}}
        self.inventory = inventory or {}
        # routes on other inventory hosts whose tcp endpoints point at this host: [(host, route, endpoint)]
        self.remote_refs = []
        f = self.facts
        self.nginx = as_dict(f.get("nginx"))
        self.listeners = as_dict(f.get("listeners"))
        self.apps_section = as_dict(f.get("apps"))
        self.sockets = as_dict(f.get("sockets"))
        self.logs = as_dict(f.get("logs"))
        self.probes_section = as_dict(f.get("probes"))
        self.system = as_dict(f.get("system"))
        self.routes = [as_dict(r) for r in as_list(self.nginx.get("routes"))]
        self.nginx_state = serving_state(self.nginx)
        # an nginx that is installed but not in use serves none of its files' routes: no rule reads them
        self.unserved_routes = self.routes if self.nginx_state in ("unused", "absent") else []
        if self.unserved_routes:
            self.routes = []
        self.upstreams = as_dict(self.nginx.get("upstreams"))
        self._indexes = {}
        self._route_eps = {}
        self.tcp = [as_dict(x) for x in as_list(self.listeners.get("tcp"))]
        self.unix = [as_dict(x) for x in as_list(self.listeners.get("unix"))]
        self.apps = [as_dict(a) for a in as_list(self.apps_section.get("servers"))]
        self.sock_paths = {}     # by normalised path: nginx, the app server and the kernel may spell a path differently
        for sp in as_list(self.sockets.get("paths")):
            sp = as_dict(sp)
            if sp.get("path"):
                self.sock_paths[norm_path(sp["path"])] = sp
        self.events = [as_dict(e) for e in as_list(self.logs.get("events"))]
        self.probes = [as_dict(p) for p in as_list(self.probes_section.get("results"))]
        self._probe_index = {}
        for p in self.probes:
            self._probe_index.setdefault((p.get("route"), p.get("via")), []).append(p)
        stale = [as_dict(s).get("path") for s in as_list(self.nginx.get("stale_files"))]
        self.stale_files = [str(s) for s in stale if s]

    # -- nginx ---------------------------------------------------------------
    def unix_endpoints(self):
        """(route, endpoint, path, socket-path facts or {}) for every unix endpoint of every route."""
        for route in self.routes:
            for ep in self.route_endpoints(route):
                if ep.get("kind") == "unix":
                    path = ep.get("path")
                    yield route, ep, path, self.socket_path(path)

    def socket_path(self, path):
        """The socket path walk facts of ``path`` (normalised), or {}."""
        return self.sock_paths.get(norm_path(path)) or {}

    def route_endpoints(self, route):
        # the rules ask it about 20 times per route: computed once per route object (kept alive by the cache, so its
        # id is not reused)
        cached = self._route_eps.get(id(route))
        if cached is not None and cached[0] is route:
            return list(cached[1])
        eps = [as_dict(e) for e in as_list(route.get("endpoints")) if e]
        if not eps and route.get("upstream"):
            up = as_dict(self.upstreams.get(route["upstream"]))
            for srv in as_list(up.get("servers")):
                ep = as_dict(as_dict(srv).get("endpoint"))
                if ep:
                    eps.append(ep)
        self._route_eps[id(route)] = (route, eps)
        return list(eps)

    def route(self, rid):
        """The route whose ``id`` is ``rid`` (the first, when hostile facts repeat one), or None."""
        if rid in (None, ""):
            return None
        index = self._index("route", self.routes, lambda r: r.get("id"))
        found = _lookup(index, rid)
        return found[0] if found else None

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
    # A host with 10,000 sockets and 20,000 routes asks these once per route endpoint: indexes, not scans. Rules may
    # append to self.tcp / self.unix (what containers publish): an index is rebuilt when its list grew.
    def _index(self, name, entries, key):
        cached = self._indexes.get(name)
        if cached is None or cached[0] != len(entries):
            index = {}
            for entry in entries:
                k = key(entry)
                if k is not _SKIP:
                    try:
                        index.setdefault(k, []).append(entry)
                    except TypeError:   # an unhashable value (hostile facts) matches nothing
                        pass
            cached = self._indexes[name] = (len(entries), index)
        return cached[1]

    def unix_listeners(self, path):
        index = self._index("unix", self.unix, lambda u: _SKIP if u.get("abstract") else norm_path(u.get("path")))
        return list(_lookup(index, norm_path(path)))

    def tcp_listeners(self, family, address, port):
        return [t for t in self.tcp_on_port(port) if listener_accepts(t, family, address)]

    def tcp_on_port(self, port):
        return list(_lookup(self._index("tcp", self.tcp, lambda t: t.get("port")), port))

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

    def endpoint_app_subjects(self, ep):
        """The subjects of every app server bound to ``ep``."""
        subj = set()
        for app in self.apps_binding(ep):
            subj |= self.app_subjects(app)
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
        cycling = self.app_cycling(app) or st.get("active_state") in ("activating", "deactivating")
        return float(enter), (5.0 if cycling else 0.2)

    def app_cycling(self, app):
        """systemd keeps restarting the unit right now: a restart pending, or up only moments (30 s) ago after
        restarts - the attempt that runs now has not failed yet, the previous one's error is the current one."""
        st = as_dict(app.get("state"))
        restarts = num(st.get("n_restarts"), 0)
        if st.get("sub_state") == "auto-restart" or (st.get("active_state") in ("activating", "deactivating") and restarts > 0):
            return True
        collected, enter = self.facts.get("collected_at"), st.get("active_enter")
        if restarts >= 2 and st.get("active_state") == "active" and isinstance(collected, (int, float)) and isinstance(
                enter, (int, float)):
            return collected - enter < 30
        return False

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
        if history or not out:
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
