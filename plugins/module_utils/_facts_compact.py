# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The facts as they travel (schema version 2): what many entries share is listed once.

A host whose nginx serves 10,000 ``server`` blocks has 20,000 routes whose effective settings are
a handful of combinations, 10,000 socket walks through the same directories and thousands of
listening sockets held by a few processes. Written out one by one that is 25 MB of facts, and
Ansible's result handling (no_log scrub, JSON, the controller's parsing and fact storage) costs
seconds per MB. So the fact modules return the sections in this form (docs/FACTS.md):

* ``nginx``: ``servers`` and ``routes`` are tables (``{"columns": [...], "rows": "[[...], ...]"}``, the rows as one
  JSON text); a
  route names its server by row number, its effective settings by a ``profiles`` index, its
  endpoints by ``endpoints`` indexes (none of its own when it passes to an upstream group: the
  group's servers' endpoints), its file by a ``files`` index, and its id only when it is not
  ``<server's first name or _>:<first listen port> <location>``; a server names its ``listen`` list
  by a ``listens`` index. Upstream servers name their endpoint by an ``endpoints`` index.
* ``sockets``: ``paths`` is a table of ``[path, walk, listener]``; the walk (every component's
  owner and mode, the blocker, ...) is a ``walks`` index, and a walk's last component that is the
  path itself leaves its ``path`` out, so sockets in one directory in the same state share one.
* ``listeners``: ``tcp`` and ``unix`` are tables; each socket names its processes by ``processes``
  indexes.
* ``containers``: ``containers`` is a table; a container names its engine by an ``engines`` index, leaves
  out ``short_id`` when it is the id's first 12 characters, and the routes of the nginx running in it are
  a table too.

``compact_facts`` makes this form from the collectors' output (on the target, just before the
module returns); ``expand_facts`` gives the collectors' form back (the rules' ``HostView``, the
filters and the action plugins read it through this), sharing the listed-once objects between
the entries instead of copying them. Both take any input without raising: what is not in the
expected shape is left out of the expansion.
"""

from __future__ import annotations

import json

from ansible_collections.badgateway.doctor.plugins.module_utils._endpoints import text as endpoint_text

COMPACT_VERSION = 2

ROUTE_COLUMNS = ("server", "location", "profile", "target", "upstream", "endpoints", "file", "line", "id")
SERVER_COLUMNS = ("names", "listen", "file", "line")
# a route's own keys; every other one (directive, protocol, timeouts, buffers, ... and any a later analysis adds) is in
# its profile, which the routes with the same values share
ROUTE_OWN_KEYS = frozenset(("id", "server_names", "listen", "location", "target", "upstream", "endpoints", "file", "line"))
SOCKET_COLUMNS = ("path", "walk", "listener")
TCP_COLUMNS = ("family", "address", "port", "v4mapped", "inode", "backlog_current", "backlog_max", "processes")
UNIX_COLUMNS = ("path", "abstract", "inode", "backlog_current", "backlog_max", "processes")
CONTAINER_COLUMNS = ("id", "short_id", "name", "engine", "image", "command", "state", "running", "restarting", "paused",
                     "exit_code", "oom_killed", "error", "started_at", "finished_at", "pid", "restart_count",
                     "restart_policy", "health", "compose", "network_mode", "networks", "ports", "mounts", "env_keys",
                     "listeners", "nginx", "logs")
CONTAINER_ROUTE_COLUMNS = ("id", "server_names", "location", "directive", "protocol", "target", "upstream", "dynamic",
                           "endpoints", "file", "line")


def _d(value):
    return value if isinstance(value, dict) else {}


def _l(value):
    return value if isinstance(value, list) else []


def _freeze(value):
    """A dictionary key for a JSON value: equal keys mean equal values (``repr`` of str, int, float, bool, None, and of
    dicts and lists of them, tells them apart). Equal dicts whose keys came in another order get another key: they
    are then listed twice, which costs a few bytes, never a wrong value. Three times faster than a canonical form."""
    return repr(value)


class _Interner:
    """Equal values get one index; the values in first-seen order. Objects seen before (the same
    object, as the analysis shares them) are recognised without looking inside them again."""

    def __init__(self):
        self.values = []
        self._by_key = {}
        self._by_id = {}

    def index(self, value):
        known = self._by_id.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        key = _freeze(value)
        idx = self._by_key.get(key)
        if idx is None:
            idx = self._by_key[key] = len(self.values)
            self.values.append(value)
        self._by_id[id(value)] = (value, idx)
        return idx


def server_key(names, listens):
    """``app.example.com:80`` / ``_:unix:/run/nginx.sock``: the first name (``_`` without one) and the first listen's
    port (or unix path) - how a route id starts."""
    names = _l(names)
    first = _d(_l(listens)[0]) if _l(listens) else {}
    listen_key = ("unix:%s" % first["unix"]) if first.get("unix") else str(first.get("port"))
    return "%s:%s" % (names[0] if names else "_", listen_key)


def default_route_id(names, listens, location):
    return "%s %s" % (server_key(names, listens), location)


def table(columns, rows):
    """``{"columns": [...], "rows": "<JSON text of the list of rows>"}``: the rows travel as one string. Ansible's
    controller (and the module's ``exit_json``) does its work - no_log scrub, data tags, templating, encoding - once
    per list and dict of a result: 70,000 small row lists cost it seconds, one string of the same bytes does not."""
    return {"columns": list(columns), "rows": json.dumps(rows, separators=(",", ":"), default=str)}


def columns_of(entries, known, replaced=()):
    """``known`` columns, then every other key the entries have (in first-seen order) but those in ``replaced``: a key a
    collector adds later travels as a column of its own instead of being lost."""
    columns = list(known)
    seen = set(columns) | set(replaced)
    for e in entries:
        for k in e:
            if k not in seen:
                seen.add(k)
                columns.append(k)
    return columns


def table_rows(value, wanted):
    """The rows of a table as dicts of every column it has and the ``wanted`` ones (a missing one is None); bad rows
    are left out."""
    value = _d(value)
    columns = [str(c) for c in _l(value.get("columns"))]
    names = list(wanted) + [c for c in columns if c not in wanted]
    positions = [(name, columns.index(name) if name in columns else None) for name in names]
    rows = value.get("rows")
    if isinstance(rows, str):
        try:
            rows = json.loads(rows)
        except ValueError:      # not JSON text: no rows
            rows = []
    out = []
    for row in _l(rows):
        if not isinstance(row, list):
            continue
        out.append({name: (row[pos] if pos is not None and pos < len(row) else None) for name, pos in positions})
    return out


def _pick(values, index):
    """``values[index]`` for an int index in range, else None."""
    if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(values):
        return values[index]
    return None


# --------------------------------------------------------------------------- nginx

def compact_nginx(section):
    """The nginx section as it travels (see the module docstring); other keys are kept as they are."""
    if not isinstance(section, dict) or isinstance(section.get("routes"), dict):
        return section      # not a section, or already compact
    out = dict(section)
    files = list(_l(section.get("files")))
    file_index = {}
    for i, f in enumerate(files):
        if isinstance(f, str):
            file_index.setdefault(f, i)

    def file_ref(value):
        return file_index.get(value, value) if isinstance(value, str) else value

    listens = _Interner()
    endpoints = _Interner()
    profiles = _Interner()
    locations = _Interner()
    servers = [_d(s) for s in _l(section.get("servers"))]
    server_columns = columns_of(servers, SERVER_COLUMNS)
    server_rows = []
    by_names_id = {}
    by_value = {}

    def value_key(names, listen):
        return (_freeze(names), _freeze(listen))

    def servers_by_value():
        """Servers by their names and listen values: for routes that do not share their server's objects (facts
        that went through JSON); built when first needed (the analysis shares them)."""
        if not by_value:
            for i, srv in enumerate(servers):
                by_value.setdefault(value_key(_l(srv.get("names")), _l(srv.get("listen"))), []).append(i)
        return by_value

    for i, s in enumerate(servers):
        names = _l(s.get("names"))
        listen = _l(s.get("listen"))
        server_rows.append([names, listens.index(listen), file_ref(s.get("file")), s.get("line")]
                           + [s.get(c) for c in server_columns[len(SERVER_COLUMNS):]])
        by_names_id.setdefault(id(names), []).append(i)

    upstreams = {}
    group_endpoints = {}
    for name, group in _d(section.get("upstreams")).items():
        group = dict(_d(group))
        rows = []
        eps = []
        for srv in _l(group.get("servers")):
            srv = dict(_d(srv))
            ep = srv.get("endpoint")
            if isinstance(ep, dict):
                eps.append(ep)
                srv["endpoint"] = endpoints.index(ep)
            elif "endpoint" in srv:
                srv["endpoint"] = None
            if "file" in srv:
                srv["file"] = file_ref(srv["file"])
            rows.append(srv)
        group["servers"] = rows
        if "file" in group:
            group["file"] = file_ref(group["file"])
        upstreams[name] = group
        group_endpoints[name] = eps

    route_rows = []
    last_server = 0
    for r in _l(section.get("routes")):
        if not isinstance(r, dict):
            continue
        names = _l(r.get("server_names"))
        listen = _l(r.get("listen"))
        candidates = [i for i in by_names_id.get(id(names), ()) if servers[i].get("listen") is r.get("listen")] or \
            servers_by_value().get(value_key(names, listen))
        if candidates:
            server = next((i for i in candidates if i >= last_server), candidates[0])
        else:   # a route whose server is not listed (hand-made facts): list it
            server = len(server_rows)
            server_rows.append([names, listens.index(listen), file_ref(r.get("file")), None]
                               + [None] * (len(server_columns) - len(SERVER_COLUMNS)))
            servers.append({"names": names, "listen": listen})
            servers_by_value()[value_key(names, listen)] = [server]
        last_server = server
        location = r.get("location")
        profile = profiles.index({k: v for k, v in r.items() if k not in ROUTE_OWN_KEYS})
        route_eps = _l(r.get("endpoints"))
        upstream = r.get("upstream")
        if isinstance(upstream, str) and upstream in group_endpoints and len(route_eps) == len(group_endpoints[upstream]) and all(
                a is b or a == b for a, b in zip(route_eps, group_endpoints[upstream])):
            ep_refs = None      # the group's servers' endpoints
        else:
            ep_refs = [endpoints.index(e) for e in route_eps if isinstance(e, dict)]
        rid = r.get("id")
        if rid == default_route_id(names, listen, location):
            rid = None
        target = r.get("target")
        if isinstance(target, str) and len(route_eps) == 1 and ep_refs and target == endpoint_text(route_eps[0]):
            target = True       # written as its endpoint is (uwsgi_pass unix:/run/app.sock)
        route_rows.append([server, locations.index(location), profile, target, upstream, ep_refs,
                           file_ref(r.get("file")), r.get("line"), rid])

    out["servers"] = table(server_columns, server_rows)
    out["listens"] = listens.values
    out["endpoints"] = [_unix_text(e) for e in endpoints.values]
    out["profiles"] = profiles.values
    out["locations"] = locations.values
    out["routes"] = table(ROUTE_COLUMNS, route_rows)
    out["upstreams"] = upstreams
    return out


def _unix_text(ep):
    """A plain unix endpoint travels as ``"unix:/run/app.sock"``; any other endpoint as its dict."""
    if isinstance(ep, dict) and ep.get("kind") == "unix" and set(ep) == {"kind", "path"} and isinstance(ep["path"], str):
        return "unix:" + ep["path"]
    return ep


def _unix_endpoint(value):
    if isinstance(value, str) and value.startswith("unix:"):
        return {"kind": "unix", "path": value[5:]}
    return value if isinstance(value, dict) else None


def expand_nginx(section):
    """The collectors' nginx section (``servers`` and ``routes`` as lists of dicts, upstream servers with their
    endpoint) from the compact one. A section that is not compact gives no servers, routes or upstreams."""
    section = _d(section)
    out = dict(section)
    files = _l(section.get("files"))
    listens = _l(section.get("listens"))
    endpoints = [_unix_endpoint(e) for e in _l(section.get("endpoints"))]
    profiles = _l(section.get("profiles"))
    locations = _l(section.get("locations"))

    def file_of(value):
        return _pick(files, value) if isinstance(value, int) and not isinstance(value, bool) else value

    servers = []
    for row in table_rows(section.get("servers"), SERVER_COLUMNS):
        listen = _pick(listens, row["listen"])
        row.update(names=_l(row["names"]), listen=listen if isinstance(listen, list) else [], file=file_of(row["file"]))
        servers.append(row)

    upstreams = {}
    group_endpoints = {}
    for name, group in _d(section.get("upstreams")).items():
        if not isinstance(group, dict):
            continue
        group = dict(group)
        rows = []
        for srv in _l(group.get("servers")):
            if not isinstance(srv, dict):
                continue
            srv = dict(srv)
            if "endpoint" in srv:
                ep = _pick(endpoints, srv["endpoint"])
                srv["endpoint"] = ep if isinstance(ep, dict) else None
            if "file" in srv:
                srv["file"] = file_of(srv["file"])
            rows.append(srv)
        group["servers"] = rows
        if "file" in group:
            group["file"] = file_of(group["file"])
        upstreams[str(name)] = group
        group_endpoints[str(name)] = [s["endpoint"] for s in rows if s.get("endpoint")]

    routes = []
    for row in table_rows(section.get("routes"), ROUTE_COLUMNS):
        server = _pick(servers, row["server"]) or {"names": [], "listen": []}
        profile = _pick(profiles, row["profile"])
        route = dict(profile) if isinstance(profile, dict) else {}
        location = _pick(locations, row["location"])
        refs = row["endpoints"]
        if refs is None and isinstance(row["upstream"], str) and row["upstream"] in group_endpoints:
            route_eps = group_endpoints[row["upstream"]]
        else:
            route_eps = [e for e in (_pick(endpoints, i) for i in _l(refs)) if isinstance(e, dict)]
        target = row["target"]
        if target is True:
            target = endpoint_text(route_eps[0]) if route_eps else None
        route.update(id=row["id"] if isinstance(row["id"], str) else default_route_id(server["names"], server["listen"], location),
                     server_names=server["names"], listen=server["listen"], location=location, target=target,
                     upstream=row["upstream"], endpoints=route_eps, file=file_of(row["file"]), line=row["line"])
        routes.append(route)

    for key in ("listens", "endpoints", "profiles", "locations"):
        out.pop(key, None)
    out["servers"] = servers
    out["upstreams"] = upstreams
    out["routes"] = routes
    return out


# --------------------------------------------------------------------------- sockets

def compact_sockets(section):
    if not isinstance(section, dict) or isinstance(section.get("paths"), dict):
        return section
    out = dict(section)
    walks = _Interner()
    rows = []
    for entry in _l(section.get("paths")):
        if not isinstance(entry, dict):
            continue
        path = entry.get("path")
        walk = {k: v for k, v in entry.items() if k not in ("path", "listener")}
        comps = _l(walk.get("components"))
        if comps and isinstance(comps[-1], dict) and comps[-1].get("path") == path:
            last = {k: v for k, v in comps[-1].items() if k != "path"}
            walk["components"] = comps[:-1] + [last]
        rows.append([path, walks.index(walk), entry.get("listener")])
    out["paths"] = table(SOCKET_COLUMNS, rows)
    out["walks"] = walks.values
    return out


def expand_sockets(section):
    section = _d(section)
    out = dict(section)
    walks = _l(section.get("walks"))
    paths = []
    for row in table_rows(section.get("paths"), SOCKET_COLUMNS):
        walk = _pick(walks, row["walk"])
        entry = dict(walk) if isinstance(walk, dict) else {}
        comps = _l(entry.get("components"))
        if comps and isinstance(comps[-1], dict) and "path" not in comps[-1]:
            entry["components"] = comps[:-1] + [dict(comps[-1], path=row["path"])]
        entry["path"] = row["path"]
        entry["listener"] = row["listener"]
        paths.append(entry)
    out.pop("walks", None)
    out["paths"] = paths
    return out


# --------------------------------------------------------------------------- listeners

def compact_listeners(section):
    if not isinstance(section, dict) or isinstance(section.get("tcp"), dict) or isinstance(section.get("unix"), dict):
        return section
    out = dict(section)
    procs = _Interner()

    def rows(entries, known):
        entries = [e for e in _l(entries) if isinstance(e, dict)]
        columns = columns_of(entries, known, replaced=("backlog",))
        result = []
        for e in entries:
            backlog = _d(e.get("backlog"))
            values = dict(e, backlog_current=backlog.get("current"), backlog_max=backlog.get("max"),
                          processes=[procs.index(p) for p in _l(e.get("processes")) if isinstance(p, dict)])
            result.append([values.get(c) for c in columns])
        return table(columns, result)

    out["tcp"] = rows(section.get("tcp"), TCP_COLUMNS)
    out["unix"] = rows(section.get("unix"), UNIX_COLUMNS)
    out["processes"] = procs.values
    return out


def expand_listeners(section):
    section = _d(section)
    out = dict(section)
    procs = _l(section.get("processes"))

    def entries(value, columns):
        result = []
        for row in table_rows(value, columns):
            row["backlog"] = {"current": row.pop("backlog_current"), "max": row.pop("backlog_max")}
            row["processes"] = [p for p in (_pick(procs, i) for i in _l(row["processes"])) if isinstance(p, dict)]
            result.append(row)
        return result

    out["tcp"] = entries(section.get("tcp"), TCP_COLUMNS)
    out["unix"] = entries(section.get("unix"), UNIX_COLUMNS)
    out.pop("processes", None)
    return out


# --------------------------------------------------------------------------- containers

def compact_containers(section):
    """``containers`` as a table: the engine by its index in ``engines`` (its socket), ``short_id`` null when it is
    the id's first 12 characters, the routes of an nginx in the container as a table."""
    if not isinstance(section, dict) or isinstance(section.get("containers"), dict):
        return section
    out = dict(section)
    engine_index = {}
    for i, engine in enumerate(_l(section.get("engines"))):
        socket = _d(engine).get("socket")
        if isinstance(socket, str):
            engine_index.setdefault(socket, i)
    entries = []
    for c in _l(section.get("containers")):
        if not isinstance(c, dict):
            continue
        c = dict(c)
        if isinstance(c.get("engine"), str) and c["engine"] in engine_index:
            c["engine"] = engine_index[c["engine"]]
        if isinstance(c.get("id"), str) and c.get("short_id") == c["id"][:12]:
            c["short_id"] = None
        nginx = c.get("nginx")
        if isinstance(nginx, dict) and isinstance(nginx.get("routes"), list):
            routes = [r for r in nginx["routes"] if isinstance(r, dict)]
            columns = columns_of(routes, CONTAINER_ROUTE_COLUMNS)
            c["nginx"] = dict(nginx, routes=table(columns, [[r.get(k) for k in columns] for r in routes]))
        entries.append(c)
    columns = columns_of(entries, CONTAINER_COLUMNS)
    out["containers"] = table(columns, [[c.get(k) for k in columns] for c in entries])
    return out


def expand_containers(section):
    """The collectors' containers section from the compact one. A section that is not compact gives no containers."""
    section = _d(section)
    out = dict(section)
    engines = _l(section.get("engines"))
    containers = []
    for c in table_rows(section.get("containers"), CONTAINER_COLUMNS):
        if isinstance(c["engine"], int) and not isinstance(c["engine"], bool):
            c["engine"] = _d(_pick(engines, c["engine"])).get("socket")
        if c["short_id"] is None and isinstance(c["id"], str):
            c["short_id"] = c["id"][:12]
        nginx = c["nginx"]
        if isinstance(nginx, dict):
            c["nginx"] = dict(nginx, routes=table_rows(nginx.get("routes"), CONTAINER_ROUTE_COLUMNS))
        containers.append(c)
    out["containers"] = containers
    return out


# --------------------------------------------------------------------------- all sections

COMPACTORS = {"nginx": compact_nginx, "sockets": compact_sockets, "listeners": compact_listeners,
              "containers": compact_containers}
EXPANDERS = {"nginx": expand_nginx, "sockets": expand_sockets, "listeners": expand_listeners,
             "containers": expand_containers}


def compact_facts(facts):
    """The ``badgateway`` facts with every section in its compact form (a new dict; the sections' other keys kept)."""
    if not isinstance(facts, dict):
        return facts
    out = dict(facts)
    for name, compact in COMPACTORS.items():
        if isinstance(out.get(name), dict):
            out[name] = compact(out[name])
    return out


def expand_facts(facts):
    """The ``badgateway`` facts with every compact section expanded (a new dict)."""
    if not isinstance(facts, dict):
        return {}
    out = dict(facts)
    for name, expand in EXPANDERS.items():
        if isinstance(out.get(name), dict):
            out[name] = expand(out[name])
    return out
