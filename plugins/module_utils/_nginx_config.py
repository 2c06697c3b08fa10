# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Configuration analysis: what nginx is configured to do with each request it passes on.

:func:`analyze_config` walks a parser payload (``nginx_parser.parse``) the way nginx applies it:
every ``server`` with its ``listen`` and names, every ``upstream{}`` group with its servers and
keep-alive settings, and every route - a location (or an ``if`` / ``limit_except`` block in
one) that passes requests on - with its endpoints and the effective values a 502 diagnosis
needs (timeouts, buffer sizes, HTTP version, keep-alive), after nginx's inheritance (http,
server, location, nested location, ``if``) and defaults (``_nginx_values``).

Pure: no I/O except the optional name resolution of upstream hosts.  Invalid values become
``errors`` entries (with file and line) and nginx's default is used in their place.
"""
from __future__ import annotations

import re

from ansible_collections.badgateway.doctor.plugins.module_utils import _endpoints as E
from ansible_collections.badgateway.doctor.plugins.module_utils import _nginx_access_config as A
from ansible_collections.badgateway.doctor.plugins.module_utils import _nginx_values as V
from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_running import full_path
from ansible_collections.badgateway.doctor.plugins.module_utils._mask import mask_url
from ansible_collections.badgateway.doctor.plugins.module_utils._proc import error

_FAMILIES = {d: d[:-len("_pass")] for d in V.PASS_DIRECTIVES}     # proxy_pass -> the proxy_* directives
_SUB_BLOCKS = ("if", "limit_except")
_INVALID = object()

# Blocks nested deeper than this (http > server > location > location ...) are left out of the
# facts with an error: nginx sets no limit, but nothing real comes near it, and the work (and the
# size of the location names) would grow with the square of the depth.
NESTING_LIMIT = 50

# nginx's directive names are letters, digits and "_": anything else where a directive is
# expected is a path or value cut apart by an unquoted ";" or "{" (nginx: "unknown directive").
_DIRECTIVE_NAME = re.compile(r"[A-Za-z0-9_]+\Z")
_UNPLANNED = object()
# The shape nginx's command table gives the directives read here: (fewest args, most args or
# None for any number, takes a block).  A statement of another shape makes nginx refuse the
# configuration ("invalid number of arguments", "is not terminated by ;", "has no opening {").
_SHAPES = {
    "listen": (1, None, False), "server_name": (1, None, False), "error_log": (1, None, False),
    "user": (1, 2, False), "pid": (1, 1, False), "location": (1, 2, True), "if": (1, None, True),
    "limit_except": (1, None, True), "upstream": (1, 1, True), "http": (0, 0, True), "map": (2, 2, True),
    "proxy_set_header": (2, 2, False), "keepalive": (1, 2, False), "keepalive_requests": (1, 1, False),
}
_SHAPES.update((d, (1, 1, False)) for d in V.PASS_DIRECTIVES)
# The values read here, checked wherever they are written (not only where a route uses them):
# nginx refuses a bad value whether or not a request ever meets it.
_VALUES = {"proxy_http_version": V.http_version_arg, "fastcgi_keep_conn": V.flag_arg,
           "client_max_body_size": V.offset_arg, "keepalive": V.number_arg, "keepalive_requests": V.number_arg}
for _family in _FAMILIES.values():
    for _name in ("_connect_timeout", "_read_timeout", "_send_timeout"):
        _VALUES[_family + _name] = V.msec_arg
    _VALUES[_family + "_buffer_size"] = V.size_arg
    if _family != "grpc":
        _VALUES[_family + "_buffers"] = V.bufs_arg
        _VALUES[_family + "_busy_buffers_size"] = V.size_arg


class _Level:
    """The directives written directly at one block level (includes expanded).

    ``parent`` is the enclosing level (None at the top of a chain); ``lookup`` and
    ``lookup_array`` answer "which statement is in effect here" along the parent links.
    """

    __slots__ = ("items", "by_name", "parent")

    def __init__(self, items, by_name, parent=None):
        self.items = items          # [(stmt, file)]
        self.by_name = by_name      # directive name -> [(stmt, file)]
        self.parent = parent

    def get(self, name):
        return self.by_name.get(name) or []

    def lookup_array(self, name):
        """The statements ``name`` of the innermost level, from here outwards, that has any: an
        array directive's list, or (its first) a simple directive's effective one."""
        level = self
        while level is not None:
            found = level.by_name.get(name)
            if found:
                return found
            level = level.parent
        return []


class _Analyzer:
    """One walk over one payload (see :func:`analyze_config`); caches what many routes share."""

    def __init__(self, payload, version, errors, resolve, getaddrinfo=None, prefix=None):
        self.configs = payload.get("config") or []
        self.errors = errors
        self.resolve = resolve
        self.getaddrinfo = getaddrinfo
        self.prefix = prefix
        self.new_defaults = V.keepalive_by_default(version)
        self.page = V.page_size()
        self._resolved = {}
        self._upstream_names = {}
        self._targets = {}          # (directive, target) -> parse_pass_target result
        self._parsed = {}           # (id(stmt), parser) -> parsed value (stmts live as long as the payload)
        self._group_endpoints = {}  # upstream name -> its servers' endpoints (shared by its routes)
        self.maps = {}
        self.seen = set()           # every directive name of the levels built so far
        self._includes = {}         # included file indexes -> (items, by_name)
        self._plans = {}            # directive name -> what to check in its statements (see _plan)
        self._checked = set()       # id() of the included statements checked so far
        self._access = {}           # id() of an access_log statement list -> (its logs, their paths)

    # -- helpers -------------------------------------------------------------

    def expand(self, stmts, file):
        """Statements of a block with ``include`` replaced by the included files' statements
        (iteratively: a chain of files that include each other is no recursion)."""
        out = []
        append = out.append
        configs = self.configs
        # frames: (statement iterator, file, indexes of the files being expanded)
        stack = [(iter(stmts or ()), file, ())]
        while stack:
            stmts_iter, current, chain = stack[-1]
            stmt = next(stmts_iter, None)
            if stmt is None:
                stack.pop()
                continue
            directive = stmt.get("directive")
            if directive == "#":
                continue
            if directive == "include" and "includes" in stmt:
                indexes = [idx for idx in stmt.get("includes") or []
                           # a cycle (the parser reports it) or a bad index is not followed
                           if isinstance(idx, int) and idx < len(configs) and idx not in chain]
                for idx in reversed(indexes):
                    cfg = configs[idx]
                    stack.append((iter(cfg.get("parsed") or ()), cfg.get("file"), chain + (idx,)))
                continue
            append((stmt, stmt.get("file", current)))
        return out

    def _included(self, stmt, file):
        """``(items, by_name)`` of what one ``include`` brings in, worked out once per set of
        files (``include uwsgi_params;`` in ten thousand locations is one expansion)."""
        key = tuple(stmt.get("includes") or ())
        try:
            return self._includes[key]
        except (KeyError, TypeError):
            pass
        items = self.expand((stmt,), file)
        names = {}
        for item in items:
            name = item[0].get("directive")
            names.setdefault(name, []).append(item)
            plan = self._plans.get(name, _UNPLANNED)
            if plan is _UNPLANNED:
                plan = self._plan(name)
            if plan is not None and id(item[0]) not in self._checked:
                # a file included in several places (or by several globs) is checked once
                self._checked.add(id(item[0]))
                self.check(item[0], item[1], name, plan)
        try:
            self._includes[key] = (items, names)
        except TypeError:
            pass
        return items, names

    def level(self, stmts, file, parent=None):
        """A ``_Level`` of a block's statements (includes expanded) under ``parent``; what
        nginx would refuse among them is reported (see :meth:`check`)."""
        items = []
        append = items.append
        by_name = {}
        plans = self._plans
        for stmt in stmts or ():
            directive = stmt.get("directive")
            if directive == "#":
                continue
            if directive == "include" and "includes" in stmt:
                included, names = self._included(stmt, file)
                items.extend(included)
                for name, found in names.items():
                    if name in by_name:
                        by_name[name].extend(found)
                    else:
                        by_name[name] = list(found)
                continue
            item = (stmt, stmt.get("file", file))
            append(item)
            if directive in by_name:
                by_name[directive].append(item)
            else:
                by_name[directive] = [item]
            plan = plans.get(directive, _UNPLANNED)
            if plan is None:
                continue
            if plan is _UNPLANNED:
                plan = self._plan(directive)
                if plan is None:
                    continue
            shape = plan[2]
            if plan[1] is None and shape is not None and plan[0]:
                # the common case inline: a directive of the right shape
                nargs = len(stmt.get("args") or ())
                if shape[0] <= nargs and (shape[1] is None or nargs <= shape[1]) and ("block" in stmt) is shape[2]:
                    continue
            self.check(stmt, item[1], directive, plan)     # every block is built once
        self.seen.update(by_name)
        return _Level(items, by_name, parent)

    def _plan(self, name):
        """What to check in a statement named ``name``: None (nothing), else ``(is a directive
        name, value parser or None, shape or None)``; worked out once per name."""
        ok = isinstance(name, str) and bool(_DIRECTIVE_NAME.match(name))
        parser, shape = _VALUES.get(name), _SHAPES.get(name)
        plan = None if ok and parser is None and shape is None else (ok, parser, shape)
        self._plans[name] = plan
        return plan

    def check(self, stmt, file, name, plan):
        """Report what nginx would refuse in one statement: a name that is no directive (a path
        cut by an unquoted ``;``), a directive read here with the wrong number of arguments or a
        block where it takes none (and the reverse), a value read here that nginx would not take
        (parsed once, kept for the routes it applies to)."""
        ok, parser, shape = plan
        if not ok:
            self.conf_error(file, stmt.get("line"), 'unknown directive "%s"' % name)
            return
        if parser is not None:
            key = (id(stmt), parser)
            if key not in self._parsed:
                self._parsed[key] = self._parse_value(stmt, file, name, parser)
        if shape is None:
            return
        fewest, most, block = shape
        nargs = len(stmt.get("args") or ())
        problem = None
        if nargs < fewest or (most is not None and nargs > most):
            problem = 'invalid number of arguments in "%s" directive' % name
        elif block and "block" not in stmt:
            problem = 'directive "%s" has no opening "{"' % name
        elif not block and "block" in stmt:
            problem = 'directive "%s" is not terminated by ";"' % name
        if problem:
            self.conf_error(file, stmt.get("line"), problem)

    def conf_error(self, file, line, message):
        self.errors.append(error("nginx_conf", file, "%s:%s: %s" % (file, line, message)))

    def value(self, level, name, parser, default):
        """Effective value of a directive at ``level`` (inherited along its parents).

        ``parser`` takes the statement's argument list.  Each statement is parsed once; one
        that does not parse is reported once and ``default`` is used wherever it is in effect."""
        if name not in self.seen:
            return default     # written nowhere (in any block walked so far)
        found = level.lookup_array(name)
        if not found:
            return default
        stmt, file = found[0]
        key = (id(stmt), parser)
        try:
            cached = self._parsed[key]
        except KeyError:
            cached = self._parsed[key] = self._parse_value(stmt, file, name, parser)
        return default if cached is _INVALID else cached

    def _parse_value(self, stmt, file, name, parser):
        try:
            if "block" in stmt:
                raise ValueError('directive "%s" is not terminated by ";"' % name)
            return parser(stmt.get("args") or [])
        except ValueError as exc:
            self.conf_error(file, stmt.get("line"), "%s: %s" % (name, exc))
            return _INVALID

    def endpoint_resolved(self, endpoint):
        """Fill in ``addresses`` of a tcp endpoint that names a host."""
        if endpoint is None or endpoint.get("kind") != "tcp" or endpoint.get("family") != "name":
            return endpoint
        if not self.resolve:
            return endpoint
        key = (endpoint["host"], endpoint["port"])
        if key not in self._resolved:
            try:
                self._resolved[key] = (E.resolve(endpoint["host"], endpoint["port"], self.getaddrinfo), None)
            except (OSError, UnicodeError) as exc:
                self._resolved[key] = ([], "cannot resolve %s (port %s): %s" % (endpoint["host"], endpoint["port"], exc))
                self.errors.append(error("resolve", None, self._resolved[key][1]))
        endpoint = dict(endpoint)
        endpoint["addresses"] = [dict(a) for a in self._resolved[key][0]]
        return endpoint

    # -- blocks --------------------------------------------------------------

    def run(self):
        result = {"user": None, "group": None, "user_directive": None, "error_logs": [],
                  "servers": [], "upstreams": {}, "routes": [], "pid_path": None,
                  "log_formats": {}, "access_logs": {}}
        if not self.configs:
            return result
        root = self.configs[0]
        main = self.level(root.get("parsed"), root.get("file"))
        user = main.get("user")
        if user:
            stmt, file = user[0]
            args = stmt.get("args") or []
            if args:
                result["user"] = args[0]
                result["group"] = args[1] if len(args) > 1 else args[0]
            result["user_directive"] = {"file": file, "line": stmt.get("line")}
        pid = main.get("pid")
        if pid and pid[0][0].get("args"):
            result["pid_path"] = pid[0][0]["args"][0]
        for stmt, file in main.get("error_log"):
            result["error_logs"].append(self.error_log(stmt, file, "main", []))
        http_blocks = main.get("http")
        for stmt, file in http_blocks:
            self.http(stmt, file, result)
        if not http_blocks and (main.get("server") or main.get("upstream")):
            # A snippet (a sites-enabled file given as conf_path): its top level is http's.
            self.http({"block": root.get("parsed")}, root.get("file"), result, snippet=main)
        return result

    def error_log(self, stmt, file, context, names):
        args = stmt.get("args") or []
        path = args[0] if args else None
        level = V.DEFAULT_ERROR_LOG_LEVEL
        for arg in args[1:]:
            if arg in V.ERROR_LOG_LEVELS:
                level = arg
        if path and not path.startswith("/") and path != "stderr" and ":" not in path.split("/")[0]:
            path = full_path(path, self.prefix)
        return {"path": path, "level": level, "context": context, "server_names": list(names),
                "file": file, "line": stmt.get("line")}

    def http(self, stmt, file, result, snippet=None):
        http = snippet or self.level(stmt.get("block"), file)
        for s, f in ([] if snippet else http.get("error_log")):
            result["error_logs"].append(self.error_log(s, f, "http", []))
        for s, f in http.get("log_format"):
            named = A.log_format(s, f)
            if named:
                result["log_formats"].setdefault(named[0], named[1])
        for s, f in http.get("map"):
            args = s.get("args") or []
            if len(args) >= 2:
                values = []
                for entry, _f in self.expand(s.get("block"), f):
                    entry_args = entry.get("args") or []
                    if entry_args:
                        values.append(entry_args[0])
                self.maps[args[1]] = values
        for s, f in http.get("upstream"):
            self.upstream(s, f, result["upstreams"])
        ids = {}
        for s, f in http.get("server"):
            self.server(s, f, http, result, ids)

    def upstream(self, stmt, file, upstreams):
        args = stmt.get("args") or []
        if not args:
            return
        name = args[0]
        level = self.level(stmt.get("block"), file)
        servers = []
        for s, f in level.get("server"):
            sargs = s.get("args") or []
            if not sargs:
                continue
            params, problems = V.parse_server_params(sargs[1:])
            for problem in problems:
                self.conf_error(f, s.get("line"), "upstream %s server %s: %s" % (name, sargs[0], problem))
            try:
                endpoint = self.endpoint_resolved(V.parse_upstream_server_address(sargs[0]))
            except ValueError as exc:
                self.conf_error(f, s.get("line"), "upstream %s: %s" % (name, exc))
                endpoint = None
            servers.append({"address": sargs[0], "params": params, "endpoint": endpoint,
                            "file": f, "line": s.get("line")})
        keepalive = self.value(level, "keepalive", V.number_arg,
                               V.KEEPALIVE_DEFAULT_CONNECTIONS if self.new_defaults else None)
        requests = self.value(level, "keepalive_requests", V.number_arg, V.DEFAULT_UPSTREAM_KEEPALIVE_REQUESTS)
        if name in upstreams:
            self.conf_error(file, stmt.get("line"), "duplicate upstream %r" % name)
            return
        upstreams[name] = {
            "file": file,
            "line": stmt.get("line"),
            "servers": servers,
            "keepalive": keepalive,
            "keepalive_timeout": self.value(level, "keepalive_timeout", V.msec_arg, V.DEFAULT_UPSTREAM_KEEPALIVE_TIMEOUT),
            "keepalive_requests": requests,
        }

    def server(self, stmt, file, http, result, ids):
        level = self.level(stmt.get("block"), file, parent=http)
        names = []
        for s, _f in level.get("server_name"):
            names.extend(a for a in (s.get("args") or []) if a != "")
        listens = []
        for s, f in level.get("listen"):
            try:
                listens.append(V.parse_listen(s.get("args") or []))
            except ValueError as exc:
                self.conf_error(f, s.get("line"), "listen: %s" % exc)
        if not listens:
            listens.append(V.default_listen())
        result["servers"].append({"names": names, "listen": listens, "file": file, "line": stmt.get("line")})
        for s, f in level.get("error_log"):
            result["error_logs"].append(self.error_log(s, f, "server", names))
        first = listens[0]
        listen_key = ("unix:%s" % first["unix"]) if first.get("unix") else str(first.get("port"))
        server_key = "%s:%s" % (names[0] if names else "_", listen_key)
        self.locations(level, names, listens, server_key, result, ids)

    def locations(self, server, names, listens, server_key, result, ids):
        """Every location of a server, nested ones after their parent (configuration order),
        walked with a stack: no recursion limit to hit, and a location nested past
        ``NESTING_LIMIT`` is left out (with an error) without losing the ones beside it."""
        # frames: (location statement, its file, enclosing level, path of location arguments)
        stack = [(s, f, server, ()) for s, f in reversed(server.get("location"))]
        while stack:
            stmt, file, parent, path = stack.pop()
            path = path + (" ".join(stmt.get("args") or []),)
            if len(path) + 2 > NESTING_LIMIT:      # http > server > the locations
                self.conf_error(file, stmt.get("line"), "location %s is nested deeper than %d blocks: it and the "
                                "locations in it are left out of the facts" % (path[-1], NESTING_LIMIT))
                continue
            level = self.level(stmt.get("block"), file, parent=parent)
            location = " > ".join(path)
            for found, route_level, condition in self.passes(level):
                where = location if condition is None or not found[3] else "%s > %s" % (location, condition)
                route_id = "%s %s" % (server_key, where)
                n = ids.get(route_id, 0) + 1
                ids[route_id] = n
                if n > 1:
                    route_id = "%s #%d" % (route_id, n)
                A.record(self._access, route_level, len(result["routes"]), result["access_logs"], self.prefix)
                result["routes"].append(self.route(found[:3], route_level, route_id, names, listens, where,
                                                   condition, result))
            for s, f in reversed(level.by_name.get("location") or ()):
                stack.append((s, f, level, path))

    def passes(self, level):
        """The pass directives of a location: ``[((directive, stmt, file, own_id), level, condition)]``.

        The location's own (the first of ``PASS_DIRECTIVES`` it holds) comes first, unconditional;
        then one for every ``if`` / ``limit_except`` block in it that holds one: nginx uses it
        instead when the condition holds (or for the methods ``limit_except`` does not list).
        Those carry their condition (``if ($arg_x)``, ``limit_except GET``); ``own_id`` is False
        when the route id must name it (a location's first pass keeps the location's id).
        """
        out = []
        by_name = level.by_name
        for directive in V.PASS_DIRECTIVES:
            hits = by_name.get(directive)
            if hits:
                out.append(((directive,) + hits[0] + (False,), level, None))
                break
        if "if" in by_name or "limit_except" in by_name:
            for sub, sfile in level.items:
                kind = sub.get("directive")
                if kind not in _SUB_BLOCKS:
                    continue
                sub_level = self.level(sub.get("block"), sfile, parent=level)
                for directive in V.PASS_DIRECTIVES:
                    hits = sub_level.get(directive)
                    if hits:
                        args = " ".join(sub.get("args") or [])
                        condition = "if (%s)" % args if kind == "if" else "%s %s" % (kind, args)
                        out.append(((directive,) + hits[0] + (bool(out),), sub_level, condition))
                        break
        return out

    # -- routes --------------------------------------------------------------

    def route(self, found, level, route_id, names, listens, location, condition, result):
        directive, stmt, file = found
        family = _FAMILIES[directive]
        args = stmt.get("args") or []
        target = args[0] if args else ""
        upstreams = result["upstreams"]
        if len(self._upstream_names) != len(upstreams):
            self._upstream_names = dict((n.lower(), n) for n in upstreams)
            self._targets = {}
            self._group_endpoints = {}
        if len(args) != 1 or "block" in stmt:
            # nginx refuses it (a path with a blank or a "{" in it, unquoted): no endpoint
            # comes from it, only the error
            parsed = {"protocol": V.PASS_PROTOCOL[directive], "upstream": None, "dynamic": False,
                      "endpoint": None, "host": None, "uri": None, "problem": None}
            endpoint, shown = None, mask_url(" ".join(args))
        else:
            # Many routes name the same target: take it apart (and resolve it) once. The route
            # dicts share these read-only lists and endpoint dicts instead of copying them.
            tkey = (directive, target)
            cached = self._targets.get(tkey)
            if cached is None:
                parsed = V.parse_pass_target(directive, target, self._upstream_names)
                endpoint = None
                if parsed["upstream"] is None and parsed["endpoint"] is not None:
                    endpoint = self.endpoint_resolved(parsed["endpoint"])
                cached = self._targets[tkey] = (parsed, endpoint, parsed["shown"])
            parsed, endpoint, shown = cached
            if parsed["problem"]:
                self.conf_error(file, stmt.get("line"), "%s: %s" % (directive, parsed["problem"]))
        endpoints = []
        group = upstreams.get(parsed["upstream"]) if parsed["upstream"] else None
        if group is not None:
            endpoints = self._group_endpoints.get(parsed["upstream"])
            if endpoints is None:
                endpoints = self._group_endpoints[parsed["upstream"]] = [
                    s["endpoint"] for s in group["servers"] if s.get("endpoint")]
        elif endpoint is not None:
            endpoints = [endpoint]

        timeouts = {phase: self.value(level, "%s_%s_timeout" % (family, phase), V.msec_arg, V.DEFAULT_TIMEOUT)
                    for phase in ("connect", "read", "send")}
        buffer_size = self.value(level, family + "_buffer_size", V.size_arg, self.page)
        if family == "grpc":
            buffers = None
            busy = None
        else:
            buffers = self.value(level, family + "_buffers", V.bufs_arg, {"number": 8, "size": self.page})
            busy = self.value(level, family + "_busy_buffers_size", V.size_arg, 2 * max(buffer_size, buffers["size"]))

        http_version = None
        cleared = False
        if family == "proxy":
            http_version = self.value(level, "proxy_http_version", V.http_version_arg, "1.1" if self.new_defaults else "1.0")
            cleared = self._connection_cleared(level)
        keepalive = bool(group and group.get("keepalive"))
        if family == "proxy":
            in_use = keepalive and http_version == "1.1" and cleared
        elif family == "fastcgi":
            in_use = keepalive and self.value(level, "fastcgi_keep_conn", V.flag_arg, "off") == "on"
        elif family == "grpc":
            in_use = keepalive
        else:
            in_use = False  # uwsgi and scgi have no keep-alive
        return {
            "id": route_id,
            "server_names": names,
            "listen": listens,
            "location": location,
            "directive": directive,
            "protocol": parsed["protocol"],
            "target": shown,
            "upstream": parsed["upstream"],
            "dynamic": parsed["dynamic"],
            "endpoints": endpoints,
            "conditional": condition is not None,
            "condition": condition,
            "timeouts": timeouts,
            "buffers": {"buffer_size": buffer_size, "buffers": buffers, "busy_buffers_size": busy},
            "http_version": http_version,
            "connection_header_cleared": cleared,
            "keepalive_in_use": bool(in_use),
            "client_max_body_size": self.value(level, "client_max_body_size", V.offset_arg, V.DEFAULT_CLIENT_MAX_BODY_SIZE),
            "file": file,
            "line": stmt.get("line"),
        }

    def _connection_cleared(self, level):
        """Is the Connection header sent to the upstream empty (keep-alive possible)?"""
        value = None
        for stmt, _file in level.lookup_array("proxy_set_header"):
            args = stmt.get("args") or []
            if len(args) >= 2 and args[0].lower() == "connection":
                value = args[1]
        if value is None:
            # nginx < 1.29.7 sends "Connection: close" unless told otherwise.
            return self.new_defaults
        if value == "":
            return True
        if re.match(r"^\$\w+$", value) and value in self.maps:
            # proxy_set_header Connection $connection_upgrade; with a map that yields '' for
            # plain requests (the usual websocket recipe that keeps upstream keep-alive working).
            return "" in self.maps[value]
        return False


def analyze_config(payload, version=None, resolve=True, getaddrinfo=None, prefix=None):
    """Servers, upstreams, routes, error logs and the ``user`` directive of a parser payload.

    ``version`` selects nginx's version-dependent defaults.  Returns a dict with the keys
    ``user``, ``group`` (None without a ``user`` directive), ``user_directive``, ``error_logs``,
    ``servers``, ``upstreams``, ``routes``, ``pid_path``, ``log_formats`` (name -> format),
    ``access_logs`` (every access log a route writes to, with those routes) and ``errors``.
    """
    errors = []
    result = _Analyzer(payload or {}, version, errors, resolve, getaddrinfo, prefix).run()
    result["access_logs"] = list(result["access_logs"].values())
    result["errors"] = errors
    return result
