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
from ansible_collections.badgateway.doctor.plugins.module_utils import _nginx_values as V
from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_running import full_path
from ansible_collections.badgateway.doctor.plugins.module_utils._proc import error

_FAMILIES = {"proxy_pass": "proxy", "uwsgi_pass": "uwsgi", "fastcgi_pass": "fastcgi",
             "grpc_pass": "grpc", "scgi_pass": "scgi"}
_SUB_BLOCKS = ("if", "limit_except")
_INVALID = object()


class _Level:
    """The directives written directly at one block level (includes expanded).

    ``parent`` is the enclosing level (None at the top of a chain); ``lookup`` and
    ``lookup_array`` answer "which statement is in effect here" along the parent links.
    """

    __slots__ = ("kind", "items", "by_name", "parent")

    def __init__(self, kind, items, parent=None, by_name=None):
        self.kind = kind
        self.items = items          # [(stmt, file)]
        if by_name is None:
            by_name = {}
            for item in items:
                name = item[0].get("directive")
                if name in by_name:
                    by_name[name].append(item)
                else:
                    by_name[name] = [item]
        self.by_name = by_name
        self.parent = parent

    def get(self, name):
        return self.by_name.get(name) or []

    def lookup(self, name):
        """Innermost ``(stmt, file)`` of a simple directive from here outwards, or None."""
        level = self
        while level is not None:
            found = level.by_name.get(name)
            if found:
                return found[0]
            level = level.parent
        return None

    def lookup_array(self, name):
        """Array directives: the statements of the innermost level that has any."""
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

    # -- helpers -------------------------------------------------------------

    def expand(self, stmts, file, stack=()):
        """Statements of a block with ``include`` replaced by the included files' statements."""
        out = []
        append = out.append
        for stmt in stmts or ():
            directive = stmt.get("directive")
            if directive == "#":
                continue
            if directive == "include" and "includes" in stmt:
                for idx in stmt.get("includes") or []:
                    if idx in stack or not isinstance(idx, int) or idx >= len(self.configs):
                        continue  # an include cycle: the parser reports it
                    cfg = self.configs[idx]
                    out.extend(self.expand(cfg.get("parsed"), cfg.get("file"), stack + (idx,)))
                continue
            append((stmt, stmt.get("file", file)))
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
            names.setdefault(item[0].get("directive"), []).append(item)
        try:
            self._includes[key] = (items, names)
        except TypeError:
            pass
        return items, names

    def level(self, kind, stmts, file, parent=None):
        """A ``_Level`` of a block's statements (includes expanded) under ``parent``."""
        items = []
        append = items.append
        by_name = {}
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
        self.seen.update(by_name)
        return _Level(kind, items, parent, by_name)

    def conf_error(self, file, line, message):
        self.errors.append(error("nginx_conf", file, "%s:%s: %s" % (file, line, message)))

    def value(self, chain, name, parser, default):
        """Effective value of a directive along ``chain`` (a linked chain, see ``_Level``).

        Each statement is parsed once; one that does not parse is reported once and
        ``default`` is used wherever it is in effect."""
        if name not in self.seen:
            return default     # written nowhere (in any block walked so far)
        found = chain[-1].lookup(name)
        if not found:
            return default
        stmt, file = found
        key = (id(stmt), parser)
        try:
            cached = self._parsed[key]
        except KeyError:
            cached = self._parsed[key] = self._parse_value(stmt, file, name, parser)
        return default if cached is _INVALID else cached

    def _parse_value(self, stmt, file, name, parser):
        args = stmt.get("args") or []
        try:
            if parser is V.parse_duration or parser is V.parse_size:
                if len(args) != 1:
                    raise ValueError("%s takes one argument" % name)
                return parser(args[0])
            return parser(args)
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
                  "servers": [], "upstreams": {}, "routes": [], "pid_path": None}
        if not self.configs:
            return result
        root = self.configs[0]
        main = self.level("main", root.get("parsed"), root.get("file"))
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
        http = snippet or self.level("http", stmt.get("block"), file)
        for s, f in ([] if snippet else http.get("error_log")):
            result["error_logs"].append(self.error_log(s, f, "http", []))
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
        level = self.level("upstream", stmt.get("block"), file)
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
        keepalive = None
        found = level.get("keepalive")
        if found:
            s, f = found[0]
            kargs = s.get("args") or []
            if kargs and kargs[0].isdigit():
                keepalive = int(kargs[0])
            else:
                self.conf_error(f, s.get("line"), "invalid keepalive %r in upstream %s" % (" ".join(kargs), name))
        elif self.new_defaults:
            keepalive = V.KEEPALIVE_DEFAULT_CONNECTIONS
        requests = V.DEFAULT_UPSTREAM_KEEPALIVE_REQUESTS
        found = level.get("keepalive_requests")
        if found:
            s, f = found[0]
            rargs = s.get("args") or []
            if rargs and rargs[0].isdigit():
                requests = int(rargs[0])
            else:
                self.conf_error(f, s.get("line"), "invalid keepalive_requests in upstream %s" % name)
        if name in upstreams:
            self.conf_error(file, stmt.get("line"), "duplicate upstream %r" % name)
            return
        upstreams[name] = {
            "file": file,
            "line": stmt.get("line"),
            "servers": servers,
            "keepalive": keepalive,
            "keepalive_timeout": self.value([level], "keepalive_timeout", V.parse_duration,
                                            V.DEFAULT_UPSTREAM_KEEPALIVE_TIMEOUT),
            "keepalive_requests": requests,
        }

    def server(self, stmt, file, http, result, ids):
        level = self.level("server", stmt.get("block"), file, parent=http)
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
        for s, f in level.get("location"):
            self.location(s, f, [http, level], [], names, listens, server_key, result, ids)

    def location(self, stmt, file, chain, path, names, listens, server_key, result, ids):
        level = self.level("location", stmt.get("block"), file, parent=chain[-1])
        path = path + [" ".join(stmt.get("args") or [])]
        chain = chain + [level]
        route_chain, found = None, None
        by_name = level.by_name
        for directive in V.PASS_DIRECTIVES:
            hits = by_name.get(directive)
            if hits:
                route_chain, found = chain, (directive,) + hits[0]
                break
        if found is None and ("if" in by_name or "limit_except" in by_name):
            for sub, sfile in level.items:
                if sub.get("directive") not in _SUB_BLOCKS:
                    continue
                sub_level = self.level(sub.get("directive"), sub.get("block"), sfile, parent=level)
                for directive in V.PASS_DIRECTIVES:
                    hits = sub_level.get(directive)
                    if hits:
                        route_chain, found = chain + [sub_level], (directive,) + hits[0]
                        break
                if found:
                    break
        if found:
            location = " > ".join(path)
            route_id = "%s %s" % (server_key, location)
            n = ids.get(route_id, 0) + 1
            ids[route_id] = n
            if n > 1:
                route_id = "%s #%d" % (route_id, n)
            result["routes"].append(self.route(found, route_chain, route_id, names, listens, location, result))
        for s, f in by_name.get("location") or ():
            self.location(s, f, chain, path, names, listens, server_key, result, ids)

    # -- routes --------------------------------------------------------------

    def route(self, found, chain, route_id, names, listens, location, result):
        directive, stmt, file = found
        family = _FAMILIES[directive]
        args = stmt.get("args") or []
        target = args[0] if args else ""
        upstreams = result["upstreams"]
        if len(self._upstream_names) != len(upstreams):
            self._upstream_names = dict((n.lower(), n) for n in upstreams)
            self._targets = {}
            self._group_endpoints = {}
        # Many routes name the same target: take it apart (and resolve it) once. The route
        # dicts share these read-only lists and endpoint dicts instead of copying them.
        tkey = (directive, target)
        cached = self._targets.get(tkey)
        if cached is None:
            parsed = V.parse_pass_target(directive, target, self._upstream_names)
            endpoint = None
            if parsed["upstream"] is None and parsed["endpoint"] is not None:
                endpoint = self.endpoint_resolved(parsed["endpoint"])
            cached = self._targets[tkey] = (parsed, endpoint)
        parsed, endpoint = cached
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

        timeouts = {
            "connect": self.value(chain, family + "_connect_timeout", V.parse_duration, V.DEFAULT_TIMEOUT),
            "read": self.value(chain, family + "_read_timeout", V.parse_duration, V.DEFAULT_TIMEOUT),
            "send": self.value(chain, family + "_send_timeout", V.parse_duration, V.DEFAULT_TIMEOUT),
        }
        buffer_size = self.value(chain, family + "_buffer_size", V.parse_size, self.page)
        if family == "grpc":
            buffers = None
            busy = None
        else:
            buffers = self.value(chain, family + "_buffers", self._buffers, {"number": 8, "size": self.page})
            busy = self.value(chain, family + "_busy_buffers_size", V.parse_size,
                              2 * max(buffer_size, buffers["size"]))

        http_version = None
        cleared = False
        if family == "proxy":
            http_version = self.value(chain, "proxy_http_version", self._one_arg,
                                      "1.1" if self.new_defaults else "1.0")
            cleared = self._connection_cleared(chain)
        keepalive = bool(group and group.get("keepalive"))
        if family == "proxy":
            in_use = keepalive and http_version == "1.1" and cleared
        elif family == "fastcgi":
            in_use = keepalive and self.value(chain, "fastcgi_keep_conn", self._one_arg, "off") == "on"
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
            "target": target,
            "upstream": parsed["upstream"],
            "dynamic": parsed["dynamic"],
            "endpoints": endpoints,
            "timeouts": timeouts,
            "buffers": {"buffer_size": buffer_size, "buffers": buffers, "busy_buffers_size": busy},
            "http_version": http_version,
            "connection_header_cleared": cleared,
            "keepalive_in_use": bool(in_use),
            "client_max_body_size": self.value(chain, "client_max_body_size", V.parse_size,
                                               V.DEFAULT_CLIENT_MAX_BODY_SIZE),
            "file": file,
            "line": stmt.get("line"),
        }

    @staticmethod
    def _one_arg(args):
        if len(args) != 1:
            raise ValueError("takes one argument")
        return args[0]

    @staticmethod
    def _buffers(args):
        if len(args) != 2 or not args[0].isdigit():
            raise ValueError("takes a number and a size")
        return {"number": int(args[0]), "size": V.parse_size(args[1])}

    def _connection_cleared(self, chain):
        """Is the Connection header sent to the upstream empty (keep-alive possible)?"""
        value = None
        for stmt, _file in chain[-1].lookup_array("proxy_set_header"):
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
    ``servers``, ``upstreams``, ``routes``, ``pid_path`` and ``errors``.
    """
    errors = []
    result = _Analyzer(payload or {}, version, errors, resolve, getaddrinfo, prefix).run()
    result["errors"] = errors
    return result
