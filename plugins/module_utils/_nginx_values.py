# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers for the nginx facts: value syntax and defaults the way nginx reads them.

No I/O here.  Everything returns plain data; invalid input raises :class:`ValueError` with a
sentence that names the value, and the caller turns that into an ``errors`` entry.

- times (``ngx_parse_time``): ``"1m30s"``, ``"500ms"``, ``"90"`` -> float seconds;
- sizes (``ngx_parse_size``, ``ngx_parse_offset``): ``"16k"``, ``"1m"``, ``"8192"`` -> int bytes;
- numbers (``ngx_atoi``) - these three with nginx's own limits: what overflows them is an
  error, as in nginx;
- a directive's argument list -> its value (``msec_arg``, ``size_arg`` ...);
- ``listen`` arguments -> ``Listen`` dicts of the facts contract;
- ``*_pass`` targets and upstream ``server`` addresses -> ``Endpoint`` dicts (the one endpoint
  model, ``_endpoints``);
- version-dependent defaults (nginx 1.29.7 made HTTP/1.1 with keep-alive the default).
"""
from __future__ import annotations

import os
import re
import sys

from ansible_collections.badgateway.doctor.plugins.module_utils import _endpoints as E
from ansible_collections.badgateway.doctor.plugins.module_utils._mask import mask_url

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

# nginx's integer limits (src/core/ngx_config.h, auto/unix): ngx_int_t and ssize_t are as wide
# as a pointer (sys.maxsize is the same on CPython), off_t is 64 bits (_FILE_OFFSET_BITS=64).
NGX_MAX_INT_T_VALUE = sys.maxsize
NGX_MAX_SIZE_T_VALUE = sys.maxsize
NGX_MAX_OFF_T_VALUE = 2 ** 63 - 1

# ngx_parse_time: units in the order they must come; the value in seconds.
_DAY = 24 * 60 * 60
_TIME_STEPS = {"y": (1, 365 * _DAY), "M": (2, 30 * _DAY), "w": (3, 7 * _DAY), "d": (4, _DAY),
               "h": (5, 60 * 60), "m": (6, 60), "s": (7, 1)}
_ST_START, _ST_MONTH, _ST_SEC, _ST_MSEC, _ST_LAST = 0, 2, 7, 8, 9
_SIMPLE_TIME = re.compile(r"([0-9]+)(ms|[yMwdhms])?\Z")
_SIZE_UNITS = {"k": 1024, "K": 1024, "m": 1024 * 1024, "M": 1024 * 1024}
_OFFSET_UNITS = dict(_SIZE_UNITS, g=1024 ** 3, G=1024 ** 3)


def page_size():
    """Memory page size of this machine: the default of nginx's ``*_buffer_size``."""
    try:
        size = os.sysconf("SC_PAGESIZE")
        if size > 0:
            return int(size)
    except (ValueError, OSError, AttributeError):
        pass
    return 4096


def _atoi(text, maximum, what):
    """``ngx_atoi`` / ``ngx_atosz`` / ``ngx_atoof``: ASCII digits only, not empty, at most ``maximum``."""
    if not text or not all("0" <= c <= "9" for c in text):
        raise ValueError("invalid %s %r" % (what, text))
    value = int(text)
    if value > maximum:
        raise ValueError("invalid %s %r (larger than nginx's limit %d)" % (what, text, maximum))
    return value


def parse_int(text, what="number"):
    """A number as ``ngx_atoi`` reads it (``*_requests``, ``keepalive``, ``weight=``...)."""
    if not isinstance(text, str):
        raise ValueError("invalid %s %r" % (what, text))
    return _atoi(text, NGX_MAX_INT_T_VALUE, what)


def _parse_time(text, is_sec):
    """``ngx_parse_time`` (src/core/ngx_parse.c) step by step: the value in seconds
    (``is_sec``) or milliseconds, with nginx's overflow checks; ``ValueError`` where nginx
    says "invalid value"."""
    if not isinstance(text, str):
        raise ValueError("invalid time value %r" % (text,))
    limit = NGX_MAX_INT_T_VALUE
    simple = _SIMPLE_TIME.match(text)
    if simple:
        # one number and at most one unit (nearly every value): the same checks, in one step
        unit = simple.group(2) or ""
        if (unit == "ms" and is_sec) or (unit in ("y", "M") and not is_sec):
            raise ValueError("invalid time value %r" % text)
        scale = 1 if unit == "ms" else _TIME_STEPS[unit or "s"][1] * (1 if is_sec else 1000)
        value = int(simple.group(1)) * scale
        if value > limit:
            raise ValueError("invalid time value %r (larger than nginx's limit)" % text)
        return value
    bad = ValueError("invalid time value %r" % text)
    too_big = ValueError("invalid time value %r (larger than nginx's limit)" % text)
    cutoff, cutlim = divmod(limit, 10)
    valid = False
    value = total = 0
    step = _ST_START if is_sec else _ST_MONTH
    pos, end = 0, len(text)
    while pos < end:
        ch = text[pos]
        pos += 1
        if "0" <= ch <= "9":
            digit = ord(ch) - 48
            if value >= cutoff and (value > cutoff or digit > cutlim):
                raise too_big
            value = value * 10 + digit
            valid = True
            continue
        if ch == "m" and pos < end and text[pos] == "s":
            if is_sec or step >= _ST_MSEC:
                raise bad
            pos += 1
            step, maximum, scale = _ST_MSEC, limit, 1
        elif ch in _TIME_STEPS:
            rank, scale = _TIME_STEPS[ch]
            if step >= rank:        # units out of order, repeated, or y/M in milliseconds
                raise bad
            step, maximum = rank, limit // scale
        elif ch == " ":
            if step >= _ST_SEC:
                raise bad
            step, maximum, scale = _ST_LAST, limit, 1
        else:
            raise bad
        if step != _ST_MSEC and not is_sec:
            scale *= 1000
            maximum //= 1000
        if value > maximum:
            raise too_big
        value *= scale
        if total > limit - value:
            raise too_big
        total += value
        value = 0
        while pos < end and text[pos] == " ":
            pos += 1
    if not valid:
        raise bad
    if not is_sec:
        if value > limit // 1000:
            raise too_big
        value *= 1000
    if total > limit - value:
        raise too_big
    return total + value


def parse_msec(text):
    """A time as ``ngx_conf_set_msec_slot`` reads it (``proxy_read_timeout``, upstream
    ``keepalive_timeout`` ...), in seconds as a float: ``"500ms"``, ``"1m30s"``, ``"1h 30m"``,
    ``"90"`` (seconds); ``y`` and ``M`` are not allowed here, and values past nginx's limit are
    ``ValueError`` (``99999999999999999999999d``), as nginx says "invalid value"."""
    return _parse_time(text, False) / 1000.0


def parse_sec(text):
    """A time as ``ngx_parse_time(value, 1)`` reads it (``fail_timeout=``, ``slow_start=``), in
    seconds as a float: ``y`` and ``M`` are allowed, ``ms`` is not."""
    return float(_parse_time(text, True))


def _parse_scaled(text, units, maximum, what):
    if not isinstance(text, str) or not text:
        raise ValueError("invalid %s %r" % (what, text))
    scale = units.get(text[-1])
    digits = text[:-1] if scale else text
    scale = scale or 1
    number = _atoi(digits, maximum, what)
    if number > maximum // scale:
        raise ValueError("invalid %s %r (larger than nginx's limit %d)" % (what, text, maximum))
    return number * scale


def parse_size(text):
    """A size as ``ngx_parse_size`` reads it (``*_buffer_size``, ``*_buffers``): ``"8192"``,
    ``"16k"``, ``"1m"`` (no ``g``), at most ``ssize_t``'s maximum, in bytes."""
    return _parse_scaled(text, _SIZE_UNITS, NGX_MAX_SIZE_T_VALUE, "size")


def parse_offset(text):
    """A size as ``ngx_parse_offset`` reads it (``client_max_body_size``): also ``g``, at most
    ``off_t``'s maximum, in bytes."""
    return _parse_scaled(text, _OFFSET_UNITS, NGX_MAX_OFF_T_VALUE, "size")


# ------------------------------------------ a directive's argument list -> its value (or ValueError)


def _single(args):
    if len(args) != 1:
        raise ValueError("takes one argument")
    return args[0]


def number_arg(args):
    """``ngx_atoi`` of the first argument (``keepalive 16 [local]``, ``keepalive_requests``)."""
    if not args:
        raise ValueError("takes a number")
    return parse_int(args[0])


def msec_arg(args):
    """``ngx_conf_set_msec_slot``: one time, in seconds."""
    return parse_msec(_single(args))


def size_arg(args):
    """``ngx_conf_set_size_slot``: one size, in bytes."""
    return parse_size(_single(args))


def offset_arg(args):
    """``ngx_conf_set_off_slot``: one size (``g`` allowed), in bytes."""
    return parse_offset(_single(args))


def flag_arg(args):
    """``ngx_conf_set_flag_slot``: on or off, any case."""
    value = _single(args).lower()
    if value not in ("on", "off"):
        raise ValueError('invalid value %r, it must be "on" or "off"' % args[0])
    return value


def http_version_arg(args):
    """``proxy_http_version``'s enum (nginx matches it in any case; these have none)."""
    value = _single(args)
    if value not in ("1.0", "1.1", "2"):
        raise ValueError("invalid value %r (1.0, 1.1 or 2)" % value)
    return value


def bufs_arg(args):
    """``ngx_conf_set_bufs_slot``: a number and a size, neither of them 0."""
    if len(args) != 2:
        raise ValueError("takes a number and a size")
    number, size = parse_int(args[0]), parse_size(args[1])
    if number == 0 or size == 0:
        raise ValueError("invalid value %r" % " ".join(args))
    return {"number": number, "size": size}


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
PASS_PROTOCOL = {"proxy_pass": "http", "grpc_pass": "grpc", "uwsgi_pass": "uwsgi",
                 "fastcgi_pass": "fastcgi", "scgi_pass": "scgi"}


def parse_pass_target(directive, target, upstream_names=()):
    """Take a ``*_pass`` argument apart the way nginx does.

    Returns ``{protocol, upstream, dynamic, endpoint, host, uri, problem, shown}``:

    - ``upstream``: name of the ``upstream{}`` group the target names (case-insensitive, as
      nginx matches it), else None; ``upstream_names`` is an iterable of names or a ready
      ``{lower-case name: name}`` dict (cheaper when called for many routes);
    - ``endpoint``: the ``Endpoint`` (unresolved) when the target is a fixed address, else None;
    - ``problem``: a sentence when nginx would reject the target (no port for a protocol that
      has no default port, malformed URL), else None;
    - ``shown``: the target with secrets masked (``_mask.mask_url``), as facts may show it.
    """
    shown = mask_url(target)     # the target as facts and messages may show it
    result = {"protocol": PASS_PROTOCOL[directive], "upstream": None, "dynamic": "$" in target,
              "endpoint": None, "host": None, "uri": None, "problem": None, "shown": shown}
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
        result["problem"] = "invalid URL prefix in %r" % shown
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
            result["problem"] = "no path in unix socket target %r" % shown
            return result
        try:
            result["endpoint"] = E.unix(path)
        except ValueError as exc:
            result["problem"] = "%s" % exc if shown == target else "invalid unix socket path in %r" % shown
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
    if "@" in hostport:
        result["problem"] = "credentials (user:password@) in %r: nginx takes none in a %s target" % (shown, directive)
        return result
    try:
        host, port = E.parse_host_port(hostport, None, allow_leading_zeros=True)
    except ValueError as exc:
        # the address as written, unless it carries something the masker hides
        result["problem"] = "%s" % exc if shown == target else "invalid address in %r" % shown
        return result
    if not host or host == "*":
        result["problem"] = "no host in %r" % shown
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
        result["problem"] = "upstream %r may not have a port (%r)" % (names[host.lower()], shown)
        return result
    if port is None:
        if default_port is None:
            result["problem"] = "no port in %s target %r (and no upstream{} named %r)" % (directive, shown, host)
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
                number = parse_int(value, name)
                if name == "weight" and number == 0:
                    raise ValueError("invalid weight %r" % value)
                result[name] = number
            elif name in ("fail_timeout", "slow_start"):
                result[name] = parse_sec(value)
            elif not sep:
                result[name] = True
            else:
                result[name] = value
        except ValueError as exc:
            problems.append("%s" % exc)
    return result, problems
