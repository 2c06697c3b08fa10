# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers for the nginx facts: value syntax and defaults the way nginx reads them.

No I/O here.  Everything
returns plain data; invalid input raises :class:`ValueError` with a sentence that names the
value, and the caller turns that into an ``errors`` entry.

- durations (``ngx_parse_time``): ``"1m30s"``, ``"500ms"``, ``"90"`` -> float seconds;
- sizes (``ngx_parse_size``): ``"16k"``, ``"1m"``, ``"8192"`` -> int bytes;
- ``listen`` arguments -> ``Listen`` dicts of the facts contract;
- ``*_pass`` targets and upstream ``server`` addresses -> ``Endpoint`` dicts (the one endpoint
  model, ``_endpoints``);
- version-dependent defaults (nginx 1.29.7 made HTTP/1.1 with keep-alive the default).
"""
from __future__ import annotations

import os
import re

from ansible_collections.badgateway.doctor.plugins.module_utils import _endpoints as E

# Directive families that pass a request to an upstream, and the protocol of each.
PASS_DIRECTIVES = ("proxy_pass", "uwsgi_pass", "fastcgi_pass", "grpc_pass", "scgi_pass")

# nginx 1.29.7 (stable 1.30.0): proxy_http_version defaults to 1.1, the Connection header is
# no longer set to "close", and upstream{} groups keep 32 idle connections by default.
KEEPALIVE_DEFAULT_VERSION = (1, 29, 7)
KEEPALIVE_DEFAULT_CONNECTIONS = 32

DEFAULT_TIMEOUT = 60.0                  # *_connect_timeout, *_read_timeout, *_send_timeout
DEFAULT_CLIENT_MAX_BODY_SIZE = 1024 * 1024
DEFAULT_UPSTREAM_KEEPALIVE_TIMEOUT = 60.0
DEFAULT_UPSTREAM_KEEPALIVE_REQUESTS = 1000
DEFAULT_SERVER_PARAMS = {
    "weight": 1,
    "max_fails": 1,
    "fail_timeout": 10.0,
    "backup": False,
    "down": False,
    "max_conns": 0,
    "resolve": False,
}
DEFAULT_ERROR_LOG_LEVEL = "error"
ERROR_LOG_LEVELS = ("debug", "info", "notice", "warn", "error", "crit", "alert", "emerg")

_TIME_UNITS = (
    # unit, seconds, rank (must strictly decrease along a value such as "1h30m")
    ("y", 365 * 86400.0, 8),
    ("M", 30 * 86400.0, 7),
    ("w", 7 * 86400.0, 6),
    ("d", 86400.0, 5),
    ("h", 3600.0, 4),
    ("m", 60.0, 3),
    ("s", 1.0, 2),
    ("ms", 0.001, 1),
)
_TIME_UNIT = dict((u, (sec, rank)) for u, sec, rank in _TIME_UNITS)
_TIME_TOKEN = re.compile(r"\s*(\d+)\s*(ms|[yMwdhms])?")

_SIZE = re.compile(r"^(\d+)([kKmMgG]?)$")
_SIZE_SCALE = {"": 1, "k": 1024, "m": 1024 * 1024, "g": 1024 * 1024 * 1024}


def page_size():
    """Memory page size of this machine: the default of nginx's ``*_buffer_size``."""
    try:
        size = os.sysconf("SC_PAGESIZE")
        if size > 0:
            return int(size)
    except (ValueError, OSError, AttributeError):
        pass
    return 4096


def parse_duration(text):
    """Return ``text`` (an nginx time value) in seconds as a float.

    Accepts what ``ngx_parse_time`` accepts: an integer with an optional unit (``ms``, ``s``,
    ``m``, ``h``, ``d``, ``w``, ``M``, ``y``), several of them in decreasing order
    (``"1h 30m"``, ``"1m30s"``); a number without unit means seconds and may only come last.
    """
    if not isinstance(text, str):
        raise ValueError("invalid time value %r" % (text,))
    value = text.strip()
    if not value:
        raise ValueError("empty time value")
    pos = 0
    total = 0.0
    last_rank = 99
    bare_seen = False
    while pos < len(value):
        m = _TIME_TOKEN.match(value, pos)
        if not m or m.end() == pos:
            raise ValueError("invalid time value %r" % text)
        if bare_seen:
            raise ValueError("invalid time value %r" % text)
        number = int(m.group(1))
        unit = m.group(2)
        if unit is None:
            bare_seen = True
            total += number
        else:
            seconds, rank = _TIME_UNIT[unit]
            if rank >= last_rank:
                raise ValueError("invalid time value %r (units out of order)" % text)
            last_rank = rank
            total += number * seconds
        pos = m.end()
        # trailing blanks are fine
        if value[pos:].strip() == "":
            break
    return float(total)


def parse_size(text):
    """Return ``text`` (an nginx size such as ``"16k"``, ``"1m"``, ``"8192"``) in bytes."""
    if not isinstance(text, str):
        raise ValueError("invalid size %r" % (text,))
    m = _SIZE.match(text.strip())
    if not m:
        raise ValueError("invalid size %r" % text)
    return int(m.group(1)) * _SIZE_SCALE[m.group(2).lower()]


def parse_version(text):
    """``"1.22.1"`` -> ``(1, 22, 1)``; None when ``text`` has no leading number."""
    if not text:
        return None
    parts = []
    for part in str(text).split("."):
        m = re.match(r"\d+", part)
        if not m:
            break
        parts.append(int(m.group(0)))
    return tuple(parts) or None


def keepalive_by_default(version):
    """True when this nginx version proxies with HTTP/1.1 keep-alive by default (>= 1.29.7)."""
    vt = parse_version(version)
    return bool(vt) and vt >= KEEPALIVE_DEFAULT_VERSION


# --------------------------------------------------------------------------- listen


def parse_listen(args):
    """Return the ``Listen`` dict of the facts contract for the arguments of ``listen``."""
    raw = " ".join(args)
    result = {"raw": raw, "host": None, "port": None, "unix": None, "ssl": False,
              "default_server": False, "ipv6": False}
    if not args:
        raise ValueError("listen without an address")
    addr = args[0]
    for param in args[1:]:
        if param == "ssl":
            result["ssl"] = True
        elif param in ("default_server", "default"):
            result["default_server"] = True
    if addr[:5].lower() == "unix:":
        result["unix"] = E.unix(addr[5:])["path"]
        return result
    host, port = E.parse_host_port(addr, 80, bare_port=True, allow_leading_zeros=True)
    result["port"] = port
    if host in ("", "*"):
        result["host"] = "*"
        return result
    result["host"], family = E.canonical_host(host)
    result["ipv6"] = family == "inet6"
    return result


def default_listen():
    """What nginx listens on for a server without ``listen`` (``*:80`` as root)."""
    return {"raw": "*:80", "host": "*", "port": 80, "unix": None, "ssl": False,
            "default_server": False, "ipv6": False}


# --------------------------------------------------------------------------- endpoints


def parse_upstream_server_address(address):
    """``Endpoint`` for the address of an upstream ``server`` (default port 80)."""
    if address[:5].lower() == "unix:":
        return E.unix(address[5:])
    host, port = E.parse_host_port(address, 80, allow_leading_zeros=True)
    if host in ("", "*"):
        raise ValueError("no host in %r" % address)
    return E.tcp(host, port)


_PASS_SCHEMES = {
    "proxy_pass": (("http://", "http", 80), ("https://", "https", 443)),
    "grpc_pass": (("grpc://", "grpc", None), ("grpcs://", "grpcs", None)),
    "uwsgi_pass": (("uwsgi://", "uwsgi", None), ("suwsgi://", "uwsgi", None)),
}
_URI_VARIABLE = re.compile(r"^([^$]+)(\$(?:request_uri|uri|document_uri|is_args|args|query_string)(?![A-Za-z0-9_]).*)$")
_PASS_PROTOCOL = {"proxy_pass": "http", "grpc_pass": "grpc", "uwsgi_pass": "uwsgi",
                  "fastcgi_pass": "fastcgi", "scgi_pass": "scgi"}


def parse_pass_target(directive, target, upstream_names=()):
    """Take a ``*_pass`` argument apart the way nginx does.

    Returns ``{protocol, upstream, dynamic, endpoint, host, uri, problem}``:

    - ``upstream``: name of the ``upstream{}`` group the target names (case-insensitive, as
      nginx matches it), else None; ``upstream_names`` is an iterable of names or a ready
      ``{lower-case name: name}`` dict (cheaper when called for many routes);
    - ``endpoint``: the ``Endpoint`` (unresolved) when the target is a fixed address, else None;
    - ``problem``: a sentence when nginx would reject the target (no port for a protocol that
      has no default port, malformed URL), else None.
    """
    result = {"protocol": _PASS_PROTOCOL[directive], "upstream": None, "dynamic": "$" in target,
              "endpoint": None, "host": None, "uri": None, "problem": None}
    rest = target
    default_port = None
    schemes = _PASS_SCHEMES.get(directive, ())
    matched = False
    for prefix, protocol, port in schemes:
        if rest[:len(prefix)].lower() == prefix:
            result["protocol"] = protocol
            default_port = port
            rest = rest[len(prefix):]
            matched = True
            break
    if directive == "proxy_pass" and not matched:
        if result["dynamic"] and rest.startswith("$"):
            # "proxy_pass $backend;" - scheme and host come from a variable at run time.
            result["protocol"] = "http"
            return result
        result["problem"] = "invalid URL prefix in %r" % target
        return result

    if rest[:5].lower() == "unix:":
        path = rest[5:]
        uri = None
        if directive == "proxy_pass":
            colon = path.find(":")
            if colon >= 0:
                path, uri = path[:colon], path[colon + 1:]
        if "$" in path:
            return result
        if not path:
            result["problem"] = "no path in unix socket target %r" % target
            return result
        try:
            result["endpoint"] = E.unix(path)
        except ValueError as exc:
            result["problem"] = "%s" % exc
            return result
        result["uri"] = uri
        return result

    hostport = rest
    if directive == "proxy_pass":
        slash = hostport.find("/")
        if slash >= 0:
            result["uri"] = hostport[slash:]
            hostport = hostport[:slash]
    m = _URI_VARIABLE.match(hostport)
    if m:
        # "http://127.0.0.1:8000$request_uri": the variable starts the URI, not the address
        hostport, result["uri"] = m.group(1), m.group(2)
    if "$" in hostport:
        return result
    try:
        host, port = E.parse_host_port(hostport, None, allow_leading_zeros=True)
    except ValueError as exc:
        result["problem"] = "%s" % exc
        return result
    if not host or host == "*":
        result["problem"] = "no host in %r" % target
        return result
    result["host"] = host
    if isinstance(upstream_names, dict):
        names = upstream_names       # already {lower-case name: name}
    else:
        names = dict((n.lower(), n) for n in upstream_names)
    if host.lower() in names:
        if port is None:
            result["upstream"] = names[host.lower()]
            return result
        result["problem"] = "upstream %r may not have a port (%r)" % (names[host.lower()], target)
        return result
    if port is None:
        if default_port is None:
            result["problem"] = "no port in %s target %r (and no upstream{} named %r)" % (directive, target, host)
            return result
        port = default_port
    result["endpoint"] = E.tcp(host, port)
    return result


def parse_server_params(params):
    """Parameters of an upstream ``server`` with nginx's defaults filled in.

    Returns ``(dict, problems)``; unknown parameters are kept as given (``True`` for flags).
    """
    result = dict(DEFAULT_SERVER_PARAMS)
    problems = []
    for param in params:
        name, sep, value = param.partition("=")
        try:
            if name in ("weight", "max_fails", "max_conns"):
                if not value.isdigit():
                    raise ValueError("invalid %s %r" % (name, value))
                result[name] = int(value)
            elif name == "fail_timeout":
                result[name] = parse_duration(value)
            elif name == "slow_start":
                result[name] = parse_duration(value)
            elif not sep:
                result[name] = True
            else:
                result[name] = value
        except ValueError as exc:
            problems.append("%s" % exc)
    return result, problems
