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

``connect(family, address, timeout)`` and ``errno_name(exc)`` are the one way the target side
connects to a listener and names the outcome (``_unit_ready`` uses them too).

What to probe - URLs, the targets of the nginx routes, limits - is ``_probe_targets`` (pure);
its public names are importable from here too.
"""

from __future__ import annotations

import errno
import math
import socket
import ssl
import time

from ansible_collections.badgateway.doctor.plugins.module_utils import _options
from ansible_collections.badgateway.doctor.plugins.module_utils._access import identity, run_as
from ansible_collections.badgateway.doctor.plugins.module_utils._options import check_host_header, check_probe_path
from ansible_collections.badgateway.doctor.plugins.module_utils._probe_targets import (
    clean_routes,
    endpoint_urls,
    location_path,
    make_url,
    parse_url,
    plan_probes,
    probe_targets_from_nginx,
    select_routes,
    valid_port,
)
from ansible_collections.badgateway.doctor.plugins.module_utils._proc import error

__all__ = ["ProbeError", "bounded_timeout", "clean_routes", "collect_from_nginx", "collect_probes", "endpoint_urls",
           "http_probe", "location_path", "make_url", "parse_status_line", "parse_url", "plan_probes",
           "probe_targets_from_nginx", "select_routes", "valid_port"]

USER_AGENT = "badgateway.doctor-probe"
MAX_REPLY = 65536
DEFAULT_ROUTE_LIMIT = _options.PROBE_LIMIT_DEFAULT              # routes probed when a configuration has more
DEFAULT_ENDPOINT_LIMIT = _options.PROBE_ENDPOINT_LIMIT_DEFAULT  # distinct URLs probed directly
DEFAULT_WORKERS = _options.PROBE_WORKERS_DEFAULT                # probes in flight at once


class ProbeError(Exception):
    """A probe failed; ``name`` is the errno name."""

    def __init__(self, name):
        Exception.__init__(self, name)
        self.name = name


def parse_status_line(data):
    """Return the status code from the first bytes of a reply; raise ProbeError('EPROTO')."""
    if not data:
        raise ProbeError("EPROTO")
    line = data.split(b"\n", 1)[0].strip()
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit() or len(parts[1]) != 3:
        raise ProbeError("EPROTO")
    return int(parts[1])


def errno_name(exc):
    """The errno name (``ECONNREFUSED``) of a connection's exception; ``ETIMEDOUT`` for a timeout."""
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

def bounded_timeout(value):
    """A probe timeout within the shared limits (``_options``); the default for anything unusable."""
    try:
        value = float(value)
    except (TypeError, ValueError, OverflowError):
        return _options.PROBE_TIMEOUT_DEFAULT
    if math.isnan(value):
        return _options.PROBE_TIMEOUT_DEFAULT
    return min(max(value, _options.PROBE_TIMEOUT_MIN), _options.PROBE_TIMEOUT_MAX)


def connect(family, address, timeout):
    """A stream socket connected to ``address`` the way nginx connects: a unix socket without
    blocking (a full accept queue is ``EAGAIN`` at once, not a wait), TCP within ``timeout``.
    Returns the socket (timeout ``timeout``); raises OSError (closed socket) when it fails."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if family == socket.AF_UNIX:
            sock.setblocking(False)
            sock.connect(address)
        else:
            sock.settimeout(timeout)
            sock.connect(address)
        sock.settimeout(timeout)
    except BaseException:
        sock.close()
        raise
    return sock


def http_probe(url, timeout=3.0, path="/", host_header=None, as_user=None, as_group=None):
    """Probe ``url`` once. Returns ``(status, latency, error_name)``; never raises.

    With ``as_user`` the probe runs as that user (see the module docstring); when that is not
    possible the error name is ``EINVAL`` (no such user or group) or ``EPERM`` (not root).
    ``timeout`` is kept within the shared limits (``bounded_timeout``)."""
    timeout = bounded_timeout(timeout)
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
    # read-only, one request: nothing that could end a line or the request line goes on the wire
    if check_probe_path(req_path) or (host_header is not None and check_host_header(host_header)):
        return None, None, "EINVAL"
    if parts["unix"]:
        family, address = socket.AF_UNIX, parts["unix"]
        host = host_header or "localhost"
    else:
        host = host_header or (parts["host"] if ":" not in parts["host"] else "[%s]" % parts["host"])
        try:
            infos = socket.getaddrinfo(parts["host"], parts["port"], 0, socket.SOCK_STREAM)
        except (socket.gaierror, OSError) as exc:
            return None, None, errno_name(exc)
        family, address = infos[0][0], infos[0][4]
    request = ("GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: */*\r\nConnection: close\r\n\r\n"
               % (req_path, host, USER_AGENT)).encode("latin-1", "replace")
    sock = None
    try:
        sock = connect(family, address, timeout)
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
        return None, round(time.monotonic() - start, 6), errno_name(exc)
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
    timeout = bounded_timeout(timeout)
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
