# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one endpoint model: where a request goes (a unix socket path, or a host and a port).

Every side of the collection describes an endpoint with the same dict, built here:

- unix: ``{"kind": "unix", "path": "/run/app.sock"}``
- tcp: ``{"kind": "tcp", "host": "127.0.0.1", "port": 8000, "family": "inet" | "inet6" | "name",
  "addresses": [{"family": "inet", "address": "127.0.0.1"}]}`` (``addresses`` is empty for a
  host name until it is resolved with :func:`resolve`)
- fd (an inherited socket, gunicorn ``fd://3``): ``{"kind": "fd", "fd": 3}``

and ``"protocol"`` when the caller gives one.  Paths are normalised (:func:`normalize_unix_path`),
IP literals are written the one canonical way (``::1``, ``127.0.0.1``), and ports are integers
1-65535, so that nginx's side, the app servers' side, the probes and the rules compare like
with like (:func:`bind_matches`).

Parsing follows nginx's ``ngx_parse_url`` (``src/core/ngx_inet.c``): IPv6 literals need
brackets when a port follows, a port is decimal digits only and 1-65535 (``ngx_atoi`` then
the range check).  Bad input raises :class:`ValueError` with a sentence that names the value.

Pure functions (the only I/O is :func:`resolve`); standard library only; runs on the target and
on the controller.
"""
from __future__ import annotations

import functools
import ipaddress
import re
import socket

WILDCARDS = ("0.0.0.0", "::", "*", "")

_PORT = re.compile(r"[0-9]+\Z")
# RFC 6874: ZoneID = 1*( unreserved / pct-encoded ); interface names and numeric indexes fit.
_ZONE = re.compile(r"[A-Za-z0-9._~-]+\Z")
# Characters no host name, address or port may hold (they would end up in logs, URLs, headers).
_BAD_HOST = re.compile(r"[\s\x00-\x1f\x7f/\\@\[\]{}<>\"'`;,?#]")


# --------------------------------------------------------------------------- unix paths


def normalize_unix_path(path):
    """``path`` with repeated slashes collapsed and ``.`` components removed.

    ``..`` is kept: ``/run/link/../x.sock`` is not ``/run/x.sock`` when ``link`` is a symbolic
    link, and the kernel, not this function, decides where it leads.  A trailing slash is kept
    (a socket path with one fails to connect, and must not look like one that does).  Linux
    abstract names (``@name``) are returned unchanged.  Raises ``ValueError`` for an empty path
    or one holding a NUL byte.
    """
    if not isinstance(path, str):
        raise ValueError("invalid unix socket path %r" % (path,))
    if not path:
        raise ValueError("empty unix socket path")
    if "\0" in path:
        raise ValueError("unix socket path %r holds a NUL byte" % path)
    if path.startswith("@"):
        return path
    absolute = path.startswith("/")
    trailing = path.endswith("/") and path.strip("/") != ""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    result = "/".join(parts)
    if absolute:
        result = "/" + result
    elif not result:
        result = "."
    if trailing and not result.endswith("/"):
        result += "/"
    return result


# sizeof(struct sockaddr_un.sun_path) on Linux, with the terminating NUL
SUN_PATH_MAX = 108


def unix(path, protocol=None):
    """A unix socket Endpoint (the path normalised).  ``ValueError`` for an empty path, a NUL
    byte, or a path longer than ``sun_path`` holds (nginx: "too long path in the unix domain
    socket"; the kernel refuses to bind or connect to it)."""
    normal = normalize_unix_path(path)
    # as written: that is what nginx and the app server hand to the kernel
    if len(path.encode("utf-8", "surrogateescape")) >= SUN_PATH_MAX:
        raise ValueError("unix socket path %r is longer than %d bytes (the size of sun_path)"
                         % (path, SUN_PATH_MAX - 1))
    return _endpoint({"kind": "unix", "path": normal}, protocol)


def fd(number, protocol=None):
    """An Endpoint for a socket inherited as a file descriptor (gunicorn ``fd://3``)."""
    try:
        number = int(number)
    except (TypeError, ValueError):
        pass
    return _endpoint({"kind": "fd", "fd": number}, protocol)


def _endpoint(ep, protocol):
    """``ep`` with its ``protocol`` when the caller gives one."""
    if protocol is not None:
        ep["protocol"] = protocol
    return ep


# --------------------------------------------------------------------------- hosts and ports


def parse_port(text, allow_leading_zeros=False):
    """A port given as text -> int 1-65535, else ``ValueError`` saying why (``port 70000 is
    outside 1-65535``).

    Only ASCII digits: no sign, no blanks, no ``_``, no other scripts' digits (all of which
    Python's ``int()`` would take).  A leading zero (``08``) is refused unless
    ``allow_leading_zeros``: some tools read it as octal, so it is ambiguous in a bind; nginx
    itself reads it as decimal (``ngx_atoi``), and its configuration parser passes True.
    """
    if isinstance(text, bool) or not isinstance(text, (int, str)):
        raise ValueError("port %r is not a number" % (text,))
    if isinstance(text, int):
        port = text
    else:
        if not text:
            raise ValueError("the port is empty")
        if not _PORT.match(text):
            raise ValueError("port %r is not a number (decimal digits only)" % text)
        if len(text) > 1 and text[0] == "0" and not allow_leading_zeros:
            raise ValueError("port %r has a leading zero (some tools read it as octal)" % text)
        digits = text.lstrip("0") or "0"
        if len(digits) > 5:
            raise ValueError("port %s is outside 1-65535" % digits)
        port = int(digits)
    if port < 1 or port > 65535:
        raise ValueError("port %d is outside 1-65535" % port)
    return port


def _split_zone(host):
    """``fe80::1%eth0`` -> ``("fe80::1", "eth0")``; ``("::1", None)`` without a zone."""
    if "%" not in host:
        return host, None
    address, zone = host.split("%", 1)
    return address, zone


def canonical_host(host):
    """``(host, family)``: IP literals canonical (``family`` inet/inet6), names as given ("name").
    Brackets around an IPv6 literal are removed; a zone id (``fe80::1%eth0``) is kept.

    Raises ``ValueError`` for text no host can be (blanks, control characters, URL syntax) and
    for a zone id on anything but an IPv6 address.
    """
    if not isinstance(host, str):
        raise ValueError("invalid host %r" % (host,))
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    address, zone = _split_zone(host)
    if zone is not None:
        if not _ZONE.match(zone):
            raise ValueError("invalid zone id in %r" % host)
        try:
            ip = ipaddress.IPv6Address(address)
        except ValueError:
            raise ValueError("a zone id needs an IPv6 address: %r" % host) from None
        return "%s%%%s" % (ip, zone), "inet6"
    if not host or _BAD_HOST.search(host):
        raise ValueError("invalid host %r" % host)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if ":" in host:
            raise ValueError("invalid IPv6 address %r" % host) from None
        return host, "name"
    return str(ip), "inet6" if ip.version == 6 else "inet"


def parse_host_port(text, default_port=None, *, bare_port=False, bare_ipv6=False,
                    allow_leading_zeros=False):
    """Split ``host:port``, ``[v6]:port``, ``[v6%zone]:port``, ``host`` into ``(host, port)``.

    ``host`` comes without brackets and may be ``""`` (``":8000"``) or ``"*"``; ``port`` is an
    int 1-65535, or ``default_port`` when the text names none (None by default: the caller can
    tell "no port written").  ``bare_port``: text of digits only is a port (nginx ``listen
    8000``, gunicorn ``--bind 8000``) and gives ``("", port)``.  ``bare_ipv6``: an IPv6 address
    without brackets (``::1``) is a host without port; by default it is an error, as nginx and
    gunicorn read the last colon as the start of a port.  Raises ``ValueError`` naming ``text``
    and why (``invalid port in '127.0.0.1:70000': port 70000 is outside 1-65535``).
    """
    if not isinstance(text, str):
        raise ValueError("invalid address %r" % (text,))
    if not text:
        raise ValueError("empty address")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError("invalid IPv6 address in %r (no closing bracket)" % text)
        host, rest = text[1:end], text[end + 1:]
        if not host:
            raise ValueError("empty IPv6 address in %r" % text)
        if rest and not rest.startswith(":"):
            raise ValueError("invalid address %r (text after the closing bracket)" % text)
        port_text = rest[1:] if rest else None
        if ":" not in _split_zone(host)[0]:
            raise ValueError("invalid address %r (brackets hold an IPv6 address)" % text)
    elif text.count(":") > 1:
        if not bare_ipv6:
            raise ValueError("invalid address %r (IPv6 addresses need brackets)" % text)
        host, port_text = text, None
    elif ":" in text:
        host, port_text = text.split(":", 1)
    elif bare_port and _PORT.match(text):
        host, port_text = "", text
    else:
        host, port_text = text, None
    if host not in ("", "*"):
        try:
            canonical_host(host)    # validates a literal (and its zone id) or a name
        except ValueError as exc:
            raise ValueError("%s in %r" % (exc, text)) from None
    if port_text is None:
        return host, default_port
    try:
        return host, parse_port(port_text, allow_leading_zeros)
    except ValueError as exc:
        raise ValueError("invalid port in %r: %s" % (text, exc)) from None


def tcp(host, port, protocol=None, addresses=None):
    """A tcp Endpoint.  IP literals get their one address right away; a name gets
    ``addresses`` if given (see :func:`resolve`), else none.  ``""`` and ``"*"`` (all addresses)
    become ``0.0.0.0`` as gunicorn and uvicorn read them.  ``port`` is an int or port text
    (:func:`parse_port`); ``ValueError`` for a bad host or port."""
    if host in ("", "*"):
        host = "0.0.0.0"
    host, family = canonical_host(host)
    port = parse_port(port)
    if family != "name":
        addrs = [{"family": family, "address": host}]
    else:
        addrs = [dict(a) for a in addresses or ()]
    return _endpoint({"kind": "tcp", "host": host, "port": port, "family": family, "addresses": addrs}, protocol)


def resolve(host, port, getaddrinfo=None):
    """Resolve ``host`` the way nginx does at configuration load (and the app servers at bind).

    ``getaddrinfo(host, port, AF_UNSPEC, SOCK_STREAM, 0, AI_ADDRCONFIG)`` in resolver order,
    deduplicated, as ``[{family, address}]`` (zone ids dropped).  Raises ``OSError``
    (``socket.gaierror``) or ``UnicodeError`` when the name does not resolve.
    """
    gai = getaddrinfo or socket.getaddrinfo
    flags = getattr(socket, "AI_ADDRCONFIG", 0)
    infos = gai(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, flags)
    seen = set()
    result = []
    for info in infos:
        family, sockaddr = info[0], info[4]
        if family == socket.AF_INET:
            fam = "inet"
        elif family == getattr(socket, "AF_INET6", None):
            fam = "inet6"
        else:
            continue
        address = sockaddr[0].split("%", 1)[0]
        if (fam, address) in seen:
            continue
        seen.add((fam, address))
        result.append({"family": fam, "address": address})
    return result


# --------------------------------------------------------------------------- text forms


def _as_dict(value):
    return value if isinstance(value, dict) else {}


def key(ep):
    """Stable text for an Endpoint: ``unix:/run/x.sock``, ``tcp:127.0.0.1:8000``, ``fd:3``."""
    return _written(ep, "fd:%s", lambda e: "tcp:%s:%s" % (e.get("host"), e.get("port")))


def text(ep):
    """An Endpoint as nginx writes it: ``unix:/run/x.sock``, ``127.0.0.1:8000``, ``[::1]:8000``
    (``fd://3`` for an inherited socket, as gunicorn writes it)."""
    return _written(ep, "fd://%s", lambda e: address_text(e.get("host") or "?", e.get("port")))


def _written(ep, fd_form, tcp_text):
    ep = _as_dict(ep)
    kind = ep.get("kind")
    if kind == "unix":
        return "unix:%s" % ep.get("path")
    if kind == "fd":
        return fd_form % ep.get("fd")
    return tcp_text(ep)


def address_text(address, port):
    """``127.0.0.1:8000``, ``[::1]:8000`` (an address or host and a port)."""
    address = str(address)
    if ":" in address and not address.startswith("["):
        address = "[%s]" % address
    return "%s:%s" % (address, port)


def reachable_host(host):
    """The address to connect to for a listener bound to ``host``: a wildcard bind (``0.0.0.0``,
    ``*``, none) is reached over ``127.0.0.1``, ``::`` over ``::1``; brackets are dropped."""
    if host in (None, "", "*", "0.0.0.0"):
        return "127.0.0.1"
    if host in ("::", "[::]"):
        return "::1"
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1]
    return host


# --------------------------------------------------------------------------- addresses


@functools.lru_cache(maxsize=4096)
def _parse_ip_cached(value):
    try:
        return ipaddress.ip_address(value.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def parse_ip(value):
    """An ``ipaddress`` object for an address (brackets and zone id ignored), else None."""
    return _parse_ip_cached(str(value))


def family_of(address):
    """``"inet"`` / ``"inet6"`` for an IP literal, else None."""
    ip = parse_ip(address)
    if ip is None:
        return None
    return "inet6" if ip.version == 6 else "inet"


def same_address(a, b):
    """Are ``a`` and ``b`` the same address (IPv4-mapped IPv6 counts as the IPv4 address)?"""
    ia, ib = parse_ip(a), parse_ip(b)
    if ia is None or ib is None:
        return str(a) == str(b)
    if ia.version == 6 and ia.ipv4_mapped is not None:
        ia = ia.ipv4_mapped
    if ib.version == 6 and ib.ipv4_mapped is not None:
        ib = ib.ipv4_mapped
    return ia == ib


def addresses(ep):
    """The concrete addresses of a tcp Endpoint as ``[(family, address)]`` (getaddrinfo order).

    Without resolved ``addresses``: the host itself when it is an IP literal, ``127.0.0.1`` for
    ``localhost``, else nothing.
    """
    ep = _as_dict(ep)
    out = []
    for a in ep.get("addresses") if isinstance(ep.get("addresses"), list) else ():
        a = _as_dict(a)
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


@functools.lru_cache(maxsize=4096)
def _normalized_or_same(path):
    try:
        return normalize_unix_path(path)
    except ValueError:
        return path


def bind_matches(bind, ep):
    """Does an app server bind (an Endpoint) serve the endpoint ``ep`` nginx passes to?

    Unix: the same path after normalisation.  tcp: the same port, and the bind is a wildcard
    (``0.0.0.0``, ``::``, ``*``, ``""``) or shares an address with ``ep`` (IPv4-mapped IPv6
    counts as IPv4), or names the same host.
    """
    bind, ep = _as_dict(bind), _as_dict(ep)
    if bind.get("kind") != ep.get("kind"):
        return False
    if ep.get("kind") == "unix":
        bpath, epath = bind.get("path"), ep.get("path")
        if not isinstance(bpath, str) or not isinstance(epath, str):
            return bpath == epath
        return bpath == epath or _normalized_or_same(bpath) == _normalized_or_same(epath)
    if ep.get("kind") == "fd":
        return bind.get("fd") == ep.get("fd")
    if bind.get("port") != ep.get("port"):
        return False
    bhost = str(bind.get("host") or "")
    if bhost in WILDCARDS:
        return True
    for _fam, addr in addresses(ep):
        for _bfam, baddr in addresses(bind) or [(None, bhost)]:
            if same_address(addr, baddr):
                return True
    return bhost == str(ep.get("host"))
