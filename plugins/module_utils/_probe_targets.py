# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What to probe (pure, no I/O): probe URLs, and the probe targets of the routes in the
``nginx`` facts, within limits. ``probes`` sends the requests.

Everything here takes input that may come from a user (``upstream_probe``'s ``nginx`` and
``targets`` options): malformed parts are refused (``ValueError``) or left out with an error
entry, never a traceback; ports must be 1-65535, and nothing with spaces or control characters
becomes part of a URL.
"""

from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.module_utils._endpoints import address_text, parse_host_port, reachable_host
from ansible_collections.badgateway.doctor.plugins.module_utils._facts_compact import expand_nginx
from ansible_collections.badgateway.doctor.plugins.module_utils._options import check_host_header
from ansible_collections.badgateway.doctor.plugins.module_utils._proc import error


# ---------------------------------------------------------------- URLs (pure)

def valid_port(port):
    """True for an int port nginx and the kernel accept (1-65535); bools and strings are not ports."""
    return isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= 65535


def parse_url(url):
    """Split a probe URL.

    Returns ``{scheme, unix: path|None, host, port, path}`` (path None when the URL has none).
    Raises ValueError (naming the URL and the problem) on a URL it cannot use: not http(s), no
    host or socket path, a port outside 1-65535, spaces or control characters anywhere (they
    would end up in the request: a second header or request).
    """
    if not isinstance(url, str):
        raise ValueError("URL %r is not a string" % (url,))
    if "://" not in url:
        raise ValueError("URL %r has no scheme" % url)
    if check_host_header(url):
        raise ValueError("URL %r contains spaces or control characters" % url)
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError("URL %r: only http and https can be probed" % url)
    if rest.startswith("unix:"):
        body = rest[5:]
        if ":" in body:
            sock, path = body.split(":", 1)
        else:
            sock, path = body, None
        if not sock:
            raise ValueError("URL %r has no socket path" % url)
        return {"scheme": scheme, "unix": sock, "host": None, "port": None, "path": path or None}
    slash = rest.find("/")
    hostport, path = (rest, None) if slash < 0 else (rest[:slash], rest[slash:])
    try:
        host, port = parse_host_port(hostport, 443 if scheme == "https" else 80)
    except ValueError as exc:
        raise ValueError("URL %r: %s" % (url, exc)) from None
    if host in ("", "*"):
        raise ValueError("URL %r has no host" % url)
    return {"scheme": scheme, "unix": None, "host": host, "port": port, "path": path}


def make_url(host=None, port=None, unix=None, path="/", scheme="http"):
    """Build a probe URL (nginx style for unix sockets)."""
    path = path or "/"
    if unix:
        return "%s://unix:%s:%s" % (scheme, unix, path)
    if port and port != (443 if scheme == "https" else 80):
        return "%s://%s%s" % (scheme, address_text(host, port), path)
    return "%s://%s%s" % (scheme, "[%s]" % host if ":" in host else host, path)


# ---------------------------------------------------------------- targets from nginx facts (pure)

def location_path(location):
    """Request path to probe a location with: its prefix if it is a plain prefix location
    (``/x``, ``^~ /x``, ``= /x``), else ``/``.  Nested locations ("a > b") use the innermost."""
    loc = (location or "").split(" > ")[-1].strip()
    parts = loc.split()
    if len(parts) == 2 and parts[0] in ("^~", "="):
        loc = parts[1]
    elif len(parts) != 1:
        return "/"
    if not loc.startswith("/"):
        return "/"
    return loc


def _pick_listen(listens):
    """Prefer a plain TCP listen, then TLS, then a unix listen."""
    tcp = [entry for entry in listens or () if isinstance(entry, dict) and entry.get("port")]
    plain = [entry for entry in tcp if not entry.get("ssl")]
    if plain:
        return plain[0]
    if tcp:
        return tcp[0]
    unix = [entry for entry in listens or () if isinstance(entry, dict) and entry.get("unix")]
    return unix[0] if unix else None


def endpoint_urls(endpoint, path="/", scheme="http"):
    """URLs to probe an Endpoint directly: one for a unix socket, one per resolved TCP address."""
    if not isinstance(endpoint, dict):
        return []
    if endpoint.get("kind") == "unix" and endpoint.get("path"):
        return [make_url(unix=endpoint["path"], path=path, scheme=scheme)]
    if endpoint.get("kind") == "tcp" and endpoint.get("port"):
        addresses = [a.get("address") for a in endpoint.get("addresses") or () if isinstance(a, dict) and a.get("address")]
        if not addresses and endpoint.get("host"):
            addresses = [endpoint["host"]]
        return [make_url(host=a, port=endpoint["port"], path=path, scheme=scheme) for a in addresses]
    return []


def _route_probe_key(route):
    """What a route's probes would tell that another route's do not: its upstream or endpoints."""
    if route.get("dynamic"):
        return ("dynamic", route.get("target"))
    if route.get("upstream"):
        return ("upstream", route.get("upstream"))
    keys = []
    for endpoint in route.get("endpoints") or ():
        if isinstance(endpoint, dict):
            keys.append((endpoint.get("kind"), endpoint.get("path"), endpoint.get("host"), endpoint.get("port")))
    return ("endpoints", tuple(keys))


def select_routes(routes, limit=None):
    """The routes to probe, in their order: all of them when ``limit`` is None/0 or not exceeded,
    else ``limit`` routes - first those whose upstream (or endpoints) no earlier chosen route has,
    then the others, each pass in configuration order (stable for the same configuration)."""
    routes = [r for r in routes or () if isinstance(r, dict) and r]
    if not limit or len(routes) <= limit:
        return routes
    chosen = set()
    seen = set()
    for index, route in enumerate(routes):
        key = _route_probe_key(route)
        if key not in seen:
            seen.add(key)
            chosen.add(index)
            if len(chosen) >= limit:
                break
    for index in range(len(routes)):
        if len(chosen) >= limit:
            break
        chosen.add(index)
    return [routes[i] for i in sorted(chosen)]


def _route_targets(route, via, path, host_header):
    rid = route.get("id") or route.get("location") or "?"
    names = [n for n in route.get("server_names") or () if n and n != "_" and not n.startswith(("~", "*", "."))]
    host = host_header or (names[0] if names else None)
    direct = []
    if "direct" in via and not route.get("dynamic"):
        scheme = "https" if route.get("protocol") in ("https", "grpcs") else "http"
        for endpoint in route.get("endpoints") or ():
            for url in endpoint_urls(endpoint, path or "/", scheme):
                direct.append({"route": rid, "endpoint": endpoint, "via": "direct", "url": url,
                               "host_header": host})
    through = None
    if "nginx" in via and not route.get("conditional"):
        listen = _pick_listen(route.get("listen"))
        if listen is not None:
            scheme = "https" if listen.get("ssl") else "http"
            req_path = path or location_path(route.get("location"))
            if listen.get("unix"):
                url = make_url(unix=listen["unix"], path=req_path, scheme=scheme)
            else:
                url = make_url(host=reachable_host(listen.get("host")),
                               port=listen["port"], path=req_path, scheme=scheme)
            through = {"route": rid, "endpoint": None, "via": "nginx", "url": url, "host_header": host}
    return direct, through


def _count_targets(route, direct, through):
    """How many targets ``_route_targets`` would make for a route (cheap, for ``skipped``)."""
    count = 0
    if direct and not route.get("dynamic"):
        for endpoint in route.get("endpoints") or ():
            kind = endpoint.get("kind") if isinstance(endpoint, dict) else None
            if kind == "unix":
                count += 1 if endpoint.get("path") else 0
            elif kind == "tcp" and endpoint.get("port"):
                addresses = 0
                for address in endpoint.get("addresses") or ():
                    if isinstance(address, dict) and address.get("address"):
                        addresses += 1
                count += addresses or (1 if endpoint.get("host") else 0)
    if through and not route.get("conditional"):
        for entry in route.get("listen") or ():
            if isinstance(entry, dict) and (entry.get("port") or entry.get("unix")):
                count += 1
                break
    return count


def _text(value):
    """A string that is safe in a URL or a header, else None."""
    return value if isinstance(value, str) and value and not check_host_header(value) else None


def _clean_endpoint(endpoint):
    """An Endpoint reduced to what the probes use, or None when it is not one (why, as a phrase)."""
    if not isinstance(endpoint, dict):
        return None, "is not a dict"
    if endpoint.get("kind") == "unix":
        return (dict(endpoint), None) if _text(endpoint.get("path")) else (None, "has no usable path")
    if endpoint.get("kind") == "tcp":
        if not valid_port(endpoint.get("port")):
            return None, "has port %r, not 1-65535" % (endpoint.get("port"),)
        addresses = endpoint.get("addresses")
        clean = dict(endpoint)
        clean["addresses"] = [a for a in addresses if isinstance(a, dict) and _text(a.get("address"))] \
            if isinstance(addresses, list) else []
        clean["host"] = _text(endpoint.get("host"))
        if not clean["addresses"] and not clean["host"]:
            return None, "has no usable host or address"
        return clean, None
    return None, "has kind %r, not unix or tcp" % (endpoint.get("kind"),)


def _clean_listen(entry):
    if not isinstance(entry, dict):
        return None
    if entry.get("unix") is not None:
        unix = _text(entry.get("unix"))
        return dict(entry, unix=unix, port=None) if unix else None
    if not valid_port(entry.get("port")):
        return None
    host = entry.get("host")
    return dict(entry, unix=None, host=host if host is None or _text(host) else None)


def clean_routes(nginx_section, errors=None):
    """The routes of an ``nginx`` facts section that the probes can use, reduced to well-formed
    values; every route, endpoint or listen entry left out gets an error entry in ``errors``.
    Never raises, whatever the input (it may come from a user's ``nginx`` option)."""
    errors = errors if errors is not None else []
    if nginx_section is None:
        return []
    if not isinstance(nginx_section, dict):
        errors.append(error("probe", None, "the nginx facts are a %s, not a dict with routes; nothing to probe"
                            % type(nginx_section).__name__))
        return []
    routes = nginx_section.get("routes")
    if isinstance(routes, dict):    # the facts as the modules return them (schema 2): written out first
        routes = expand_nginx(nginx_section)["routes"]
    if routes is None:
        return []
    if not isinstance(routes, list):
        errors.append(error("probe", None, "nginx.routes is a %s, not a list; nothing to probe" % type(routes).__name__))
        return []
    out = []
    for index, route in enumerate(routes):
        if not isinstance(route, dict) or not route:
            errors.append(error("probe", None, "nginx.routes[%d] is not a route (a dict); skipped" % index))
            continue
        rid = route.get("id") if isinstance(route.get("id"), str) else None
        name = rid or "nginx.routes[%d]" % index
        clean = dict(route)
        clean["id"] = rid
        for key in ("location", "upstream", "target", "protocol"):
            if not isinstance(clean.get(key), str):
                clean[key] = None
        names = route.get("server_names")
        clean["server_names"] = [n for n in names if _text(n)] if isinstance(names, list) else []
        clean["dynamic"] = route.get("dynamic") is True
        clean["conditional"] = route.get("conditional") is True
        endpoints = route.get("endpoints")
        clean["endpoints"] = []
        for number, endpoint in enumerate(endpoints if isinstance(endpoints, list) else ()):
            good, why = _clean_endpoint(endpoint)
            if good is None:
                errors.append(error("probe", None, "route %s: endpoint %d %s; not probed" % (name, number, why)))
            else:
                clean["endpoints"].append(good)
        listens = route.get("listen")
        clean["listen"] = [e for e in (_clean_listen(x) for x in (listens if isinstance(listens, list) else ())) if e]
        out.append(clean)
    return out


def plan_probes(nginx_section, via=("direct", "nginx"), path=None, host_header=None,
                route_limit=None, endpoint_limit=None, errors=None):
    """Probe targets for the routes of the ``nginx`` facts section, within limits.

    Returns ``(targets, skipped)``.  At most ``route_limit`` routes are probed (see
    ``select_routes``) and at most ``endpoint_limit`` distinct URLs directly; ``skipped`` is the
    number of targets the unlimited plan (``probe_targets_from_nginx``) has beyond those.
    None or 0 means no limit.  Malformed parts of ``nginx_section`` are left out with an entry
    in ``errors`` (see ``clean_routes``).
    """
    routes = clean_routes(nginx_section, errors)
    if not routes:
        return [], 0
    chosen = select_routes(routes, route_limit)
    targets = []
    direct_urls = set()
    for route in chosen:
        direct, through = _route_targets(route, via, path, host_header)
        for target in direct:
            url = target["url"]
            if url not in direct_urls:
                if endpoint_limit and len(direct_urls) >= endpoint_limit:
                    continue
                direct_urls.add(url)
            targets.append(target)
        if through is not None:
            targets.append(through)
    total = len(targets)
    if len(chosen) < len(routes) or endpoint_limit:
        chosen_ids = set(id(r) for r in chosen)
        total = 0
        for route in routes:
            if id(route) in chosen_ids:
                direct, through = _route_targets(route, via, path, host_header)
                total += len(direct) + (through is not None)
            else:
                total += _count_targets(route, "direct" in via, "nginx" in via)
    return targets, max(0, total - len(targets))


def probe_targets_from_nginx(nginx_section, via=("direct", "nginx"), path=None, host_header=None):
    """Build probe targets from the ``nginx`` facts section (every route, no limit).

    Per route: a direct probe per endpoint address (dynamic routes skipped; grpc/uwsgi/fastcgi/scgi
    routes are probed with HTTP too, an EPROTO there is evidence, not a bug) and one probe via
    nginx: its first listen (wildcard -> 127.0.0.1 / ::1), ``Host`` = first server name unless
    ``_``, path = the location's plain prefix else ``/`` (``path`` overrides both). A
    ``conditional`` route (its pass directive is in an ``if`` or ``limit_except`` block) is
    probed directly only: a plain request through nginx does not meet its condition, so it
    would reach the location's other handling, not this route's upstream.
    """
    return plan_probes(nginx_section, via=via, path=path, host_header=host_header)[0]
