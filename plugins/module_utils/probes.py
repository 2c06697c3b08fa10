# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only HTTP probes of upstream endpoints and of nginx itself: the ``probes`` section.

A probe is one raw ``GET`` (HTTP/1.0 with ``Connection: close``) over AF_UNIX or TCP with the
``socket`` module (TLS with the ``ssl`` module, without verification, for ``https`` URLs).
Outcomes are named by errno: ECONNREFUSED, ENOENT, EACCES, ETIMEDOUT (timeout), ECONNRESET,
EHOSTUNREACH, EPROTO (the reply is not HTTP, e.g. a uwsgi or FastCGI socket), EAGAIN (the accept
queue of a unix socket is full: connect() is non-blocking there, as nginx does it) ...

URL forms (as nginx writes them): ``http://unix:/run/app.sock:/path``, ``http://127.0.0.1:8000/path``,
``http://[::1]:8000/path``, ``https://127.0.0.1/path``.

``as_user`` (and optionally ``as_group``): the probes run in a child process with that user's
uid, primary gid and supplementary groups, as nginx's workers do after ``initgroups``, so a
unix-socket probe proves what nginx's worker can do (root passes every permission check).
"""

from __future__ import annotations

import errno
import socket
import ssl
import time

from ansible_collections.badgateway.doctor.plugins.module_utils._access import identity, run_as
from ansible_collections.badgateway.doctor.plugins.module_utils._proc import error

USER_AGENT = "badgateway.doctor-probe"
MAX_REPLY = 65536
DEFAULT_ROUTE_LIMIT = 64        # routes probed (direct and via nginx) when a configuration has more
DEFAULT_ENDPOINT_LIMIT = 256    # distinct URLs probed directly
DEFAULT_WORKERS = 16            # probes in flight at once


class ProbeError(Exception):
    """A probe failed; ``name`` is the errno name."""

    def __init__(self, name):
        Exception.__init__(self, name)
        self.name = name


# ---------------------------------------------------------------- URLs (pure)

def parse_url(url):
    """Split a probe URL.

    Returns ``{scheme, unix: path|None, host, port, path}`` (path None when the URL has none).
    Raises ValueError on a URL it cannot use.
    """
    if "://" not in url:
        raise ValueError("URL %r has no scheme" % url)
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
    port = 443 if scheme == "https" else 80
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise ValueError("URL %r: unbalanced [" % url)
        host = hostport[1:end]
        tail = hostport[end + 1:]
        if tail.startswith(":"):
            port = int(tail[1:])
    elif hostport.count(":") == 1:
        host, port_text = hostport.split(":")
        port = int(port_text)
    else:
        host = hostport
    if not host:
        raise ValueError("URL %r has no host" % url)
    return {"scheme": scheme, "unix": None, "host": host, "port": port, "path": path}


def make_url(host=None, port=None, unix=None, path="/", scheme="http"):
    """Build a probe URL (nginx style for unix sockets)."""
    path = path or "/"
    if unix:
        return "%s://unix:%s:%s" % (scheme, unix, path)
    if host and ":" in host:
        host = "[%s]" % host
    default = 443 if scheme == "https" else 80
    if port and port != default:
        return "%s://%s:%d%s" % (scheme, host, port, path)
    return "%s://%s%s" % (scheme, host, path)


def parse_status_line(data):
    """Return the status code from the first bytes of a reply; raise ProbeError('EPROTO')."""
    if not data:
        raise ProbeError("EPROTO")
    line = data.split(b"\n", 1)[0].strip()
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit() or len(parts[1]) != 3:
        raise ProbeError("EPROTO")
    return int(parts[1])


def _errno_name(exc):
    if isinstance(exc, socket.timeout):
        return "ETIMEDOUT"
    if isinstance(exc, ssl.SSLError):
        return "EPROTO"
    code = getattr(exc, "errno", None)
    if isinstance(code, int) and code in errno.errorcode:
        return errno.errorcode[code]
    if isinstance(exc, socket.gaierror):
        return "EHOSTUNREACH"
    return type(exc).__name__


# ---------------------------------------------------------------- one probe

def http_probe(url, timeout=3.0, path="/", host_header=None, as_user=None, as_group=None):
    """Probe ``url`` once. Returns ``(status, latency, error_name)``; never raises.

    With ``as_user`` the probe runs as that user (see the module docstring); when that is not
    possible the error name is ``EINVAL`` (no such user or group) or ``EPERM`` (not root)."""
    if as_user:
        try:
            ident = identity(as_user, as_group)
        except ValueError:
            return None, None, "EINVAL"
        value, err = run_as(ident, http_probe, (url, timeout, path, host_header), timeout=_budget(1, 1, timeout))
        if err is not None:
            return None, None, "EPERM"
        return tuple(value)
    start = time.monotonic()
    try:
        parts = parse_url(url)
    except ValueError:
        return None, None, "EINVAL"
    req_path = parts["path"] or path or "/"
    if parts["unix"]:
        family, address = socket.AF_UNIX, parts["unix"]
        host = host_header or "localhost"
    else:
        host = host_header or (parts["host"] if ":" not in parts["host"] else "[%s]" % parts["host"])
        try:
            infos = socket.getaddrinfo(parts["host"], parts["port"], 0, socket.SOCK_STREAM)
        except (socket.gaierror, OSError) as exc:
            return None, None, _errno_name(exc)
        family, address = infos[0][0], infos[0][4]
    request = ("GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: */*\r\nConnection: close\r\n\r\n"
               % (req_path, host, USER_AGENT)).encode("latin-1", "replace")
    sock = None
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
        if family == socket.AF_UNIX:
            # non-blocking like nginx: a full accept queue gives EAGAIN at once instead of a wait
            sock.setblocking(False)
            sock.connect(address)
            sock.settimeout(timeout)
        else:
            sock.settimeout(timeout)
            sock.connect(address)
        if parts["scheme"] == "https":
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            server_name = host_header or (parts["host"] if parts["host"] and not _is_ip(parts["host"]) else None)
            sock = ctx.wrap_socket(sock, server_hostname=server_name)
        sock.sendall(request)
        data = b""
        deadline = start + timeout
        while b"\n" not in data and len(data) < MAX_REPLY:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout()
            sock.settimeout(remaining)
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
            if not data[:5] == b"HTTP/"[:len(data[:5])]:
                raise ProbeError("EPROTO")  # not HTTP; do not wait for a line end that may never come
        status = parse_status_line(data)
        latency = time.monotonic() - start
        return status, round(latency, 6), None
    except ProbeError as exc:
        return None, round(time.monotonic() - start, 6), exc.name
    except (OSError, ValueError) as exc:
        return None, round(time.monotonic() - start, 6), _errno_name(exc)
    finally:
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass


def _is_ip(host):
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return True
        except (OSError, ValueError):
            continue
    return False


# ---------------------------------------------------------------- targets from nginx facts (pure)

def _wildcard_to_loopback(host, ipv6):
    if host in (None, "", "*", "0.0.0.0"):
        return "127.0.0.1"
    if host in ("::", "[::]"):
        return "::1"
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1]
    return host


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
    if "nginx" in via:
        listen = _pick_listen(route.get("listen"))
        if listen is not None:
            scheme = "https" if listen.get("ssl") else "http"
            req_path = path or location_path(route.get("location"))
            if listen.get("unix"):
                url = make_url(unix=listen["unix"], path=req_path, scheme=scheme)
            else:
                url = make_url(host=_wildcard_to_loopback(listen.get("host"), listen.get("ipv6")),
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
    if through:
        for entry in route.get("listen") or ():
            if isinstance(entry, dict) and (entry.get("port") or entry.get("unix")):
                count += 1
                break
    return count


def plan_probes(nginx_section, via=("direct", "nginx"), path=None, host_header=None,
                route_limit=None, endpoint_limit=None):
    """Probe targets for the routes of the ``nginx`` facts section, within limits.

    Returns ``(targets, skipped)``.  At most ``route_limit`` routes are probed (see
    ``select_routes``) and at most ``endpoint_limit`` distinct URLs directly; ``skipped`` is the
    number of targets the unlimited plan (``probe_targets_from_nginx``) has beyond those.
    None or 0 means no limit.
    """
    if not isinstance(nginx_section, dict):
        return [], 0
    routes = [r for r in nginx_section.get("routes") or () if isinstance(r, dict) and r]
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
    ``_``, path = the location's plain prefix else ``/`` (``path`` overrides both).
    """
    return plan_probes(nginx_section, via=via, path=path, host_header=host_header)[0]


# ---------------------------------------------------------------- collection

def _run_probes(keys, timeout, path, workers):
    """Probe each ``(url, host)`` once, up to ``workers`` at a time; ``{key: outcome}``."""
    outcomes = {}
    if not keys:
        return outcomes
    workers = max(1, min(int(workers or 1), len(keys)))
    if workers == 1:
        for url, host in keys:
            outcomes[(url, host)] = http_probe(url, timeout=timeout, path=path, host_header=host)
        return outcomes
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [(key, pool.submit(http_probe, key[0], timeout, path, key[1])) for key in keys]
        for key, future in futures:
            try:
                outcomes[key] = future.result()
            except Exception as exc:  # pylint: disable=broad-except  # http_probe never raises; belt and braces
                outcomes[key] = (None, None, type(exc).__name__)
    return outcomes


def _budget(count, workers, timeout):
    """How long ``count`` probes ``workers`` at a time may take at most (name resolution included)."""
    rounds = -(-max(1, count) // max(1, int(workers or 1)))
    return rounds * (float(timeout) + 2.0) + 10.0


def _run_probes_listed(keys, timeout, path, workers):
    """``_run_probes`` with a JSON-friendly answer (it crosses a process boundary for ``as_user``)."""
    outcomes = _run_probes([tuple(k) for k in keys], timeout, path, workers)
    return [[url, host, status, latency, err] for (url, host), (status, latency, err) in outcomes.items()]


def _run_probes_as(keys, timeout, path, workers, as_user, as_group):
    """Run the probes as ``as_user``; return ``(outcomes, error sentence)``."""
    try:
        ident = identity(as_user, as_group)
    except ValueError as exc:
        return {}, "cannot probe as %s: %s" % (as_user, exc)
    if not keys:
        return {}, None
    value, err = run_as(ident, _run_probes_listed, ([list(k) for k in keys], timeout, path, workers),
                        timeout=_budget(len(keys), workers, timeout))
    if err is not None:
        return {}, "cannot probe as %s: %s" % (ident.name, err)
    return {(url, host): (status, latency, name) for url, host, status, latency, name in value}, None


def collect_probes(targets, timeout=3.0, path="/", host_header=None, workers=DEFAULT_WORKERS, skipped=0,
                   as_user=None, as_group=None):
    """Probe every target; return the ``probes`` section. Never raises.

    ``targets``: list of ``{route, endpoint, via, url[, host_header]}``.  ``path`` is used when
    a URL has no path; ``host_header`` when a target has none.  ``ok`` is true when an HTTP
    reply came back with a status below 500.  Identical probes are sent once, up to ``workers``
    at a time.  ``skipped`` (targets left out by a limit, see ``plan_probes``) is returned as is.
    ``as_user``/``as_group``: probe as that user (``as_user`` in the section); when that is not
    possible there are no results and an error says why.
    """
    errors = []
    result = {"results": [], "skipped": int(skipped or 0), "as_user": as_user or None, "errors": errors}
    keys = []
    seen = set()
    valid = []
    for target in targets or ():
        if not isinstance(target, dict) or not target.get("url"):
            errors.append(error("probe", None, "probe target %r has no url; skipped" % (target,)))
            continue
        key = (target["url"], target.get("host_header") or host_header)
        valid.append((target, key))
        if key not in seen:
            seen.add(key)
            keys.append(key)
    if as_user:
        outcomes, problem = _run_probes_as(keys, timeout, path, workers, as_user, as_group)
        if problem:
            errors.append(error("probe", None, problem))
            return result
    else:
        try:
            outcomes = _run_probes(keys, timeout, path, workers)
        except Exception as exc:  # pylint: disable=broad-except  # e.g. no threads on this host: one at a time
            errors.append(error("probe", None, "cannot probe concurrently (%r); probing one at a time" % (exc,)))
            outcomes = _run_probes(keys, timeout, path, 1)
    reported = set()
    for target, key in valid:
        try:
            url = key[0]
            status, latency, err = outcomes[key]
            if err == "EINVAL" and url not in reported:
                reported.add(url)
                errors.append(error("probe", None, "cannot probe %s: not an http/https URL" % url))
            result["results"].append({
                "route": target.get("route"),
                "endpoint": target.get("endpoint"),
                "via": target.get("via") or "direct",
                "url": url,
                "ok": status is not None and status < 500,
                "status": status,
                "latency": latency,
                "error": err,
            })
        except Exception as exc:  # pylint: disable=broad-except  # never a traceback on the target
            errors.append(error("probe", None, "unexpected error probing %r: %r" % (target, exc)))
    return result


def collect_from_nginx(nginx_section, timeout=3.0, path="/", host_header=None, route_limit=DEFAULT_ROUTE_LIMIT,
                       endpoint_limit=DEFAULT_ENDPOINT_LIMIT, workers=DEFAULT_WORKERS, as_user=None, as_group=None):
    """The ``probes`` section for the routes of the ``nginx`` section, within the limits (see
    ``plan_probes``; ``path`` here is only the fallback for URLs without one)."""
    targets, skipped = plan_probes(nginx_section, route_limit=route_limit, endpoint_limit=endpoint_limit)
    return collect_probes(targets, timeout=timeout, path=path, host_header=host_header, workers=workers,
                          skipped=skipped, as_user=as_user, as_group=as_group)
