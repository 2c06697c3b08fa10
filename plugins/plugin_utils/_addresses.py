# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Endpoints and addresses as the rules compare them: nginx's targets, app server binds, listeners, log targets.

An Endpoint is the dict the fact modules return: ``{"kind": "unix", "path": ...}`` or
``{"kind": "tcp", "host": ..., "port": ..., "addresses": [{"family", "address"}]}``.
"""

from __future__ import annotations

import functools
import ipaddress

WILDCARDS = ("0.0.0.0", "::", "*", "")


def _d(value):
    return value if isinstance(value, dict) else {}


def _l(value):
    return value if isinstance(value, list) else []


def ep_key(ep):
    """Stable text for an Endpoint: ``unix:/run/x.sock`` or ``tcp:127.0.0.1:8000``."""
    ep = _d(ep)
    if ep.get("kind") == "unix":
        return f"unix:{ep.get('path')}"
    return f"tcp:{ep.get('host')}:{ep.get('port')}"


def ep_text(ep):
    """Human text for an Endpoint as nginx writes it: ``unix:/run/x.sock``, ``127.0.0.1:8000``, ``[::1]:8000``."""
    ep = _d(ep)
    if ep.get("kind") == "unix":
        return f"unix:{ep.get('path')}"
    host = str(ep.get("host") or "?")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{ep.get('port')}"


def addr_text(address, port):
    address = str(address)
    if ":" in address:
        return f"[{address}]:{port}"
    return f"{address}:{port}"


@functools.lru_cache(maxsize=4096)
def _parse_ip_cached(text):
    try:
        return ipaddress.ip_address(text.strip("[]").split("%", maxsplit=1)[0])
    except ValueError:
        return None


def parse_ip(text):
    return _parse_ip_cached(str(text))


def is_loopback(address):
    ip = parse_ip(address)
    if ip is None:
        return str(address) == "localhost"
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def family_of(address):
    ip = parse_ip(address)
    if ip is None:
        return None
    return "inet6" if ip.version == 6 else "inet"


def ep_addresses(ep):
    """The concrete addresses of a tcp Endpoint as ``[(family, address)]`` (getaddrinfo order)."""
    ep = _d(ep)
    out = []
    for a in _l(ep.get("addresses")):
        a = _d(a)
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


def same_address(a, b):
    ia, ib = parse_ip(a), parse_ip(b)
    if ia is None or ib is None:
        return str(a) == str(b)
    if ia.version == 6 and ia.ipv4_mapped is not None:
        ia = ia.ipv4_mapped
    if ib.version == 6 and ib.ipv4_mapped is not None:
        ib = ib.ipv4_mapped
    return ia == ib


def listener_accepts(listener, family, address):
    """Does a listening TCP socket accept connections to (family, address)?"""
    lf = listener.get("family")
    la = str(listener.get("address") or "")
    if lf == family and la in WILDCARDS:
        return True
    if lf == "inet6" and la == "::" and family == "inet" and listener.get("v4mapped"):
        return True
    if lf == family or (lf == "inet6" and listener.get("v4mapped")):
        return same_address(la, address)
    return False


def bind_matches(bind, ep):
    """Does an app server bind (Endpoint) serve the nginx endpoint ``ep``?"""
    bind, ep = _d(bind), _d(ep)
    if bind.get("kind") != ep.get("kind"):
        return False
    if ep.get("kind") == "unix":
        return bind.get("path") == ep.get("path")
    if bind.get("port") != ep.get("port"):
        return False
    bhost = str(bind.get("host") or "")
    if bhost in WILDCARDS:
        return True
    for _fam, addr in ep_addresses(ep):
        for _bfam, baddr in ep_addresses(bind) or [(None, bhost)]:
            if same_address(addr, baddr):
                return True
    return bhost == str(ep.get("host"))


def event_matches_endpoint(ev, ep):
    """Does a log event name the endpoint ``ep`` as its upstream?"""
    targets = [str(t) for t in _l(_d(ev).get("targets"))]
    if not targets:
        return False
    ep = _d(ep)
    if ep.get("kind") == "unix":
        needle = f"unix:{ep.get('path')}"
        # nginx writes "unix:/run/x.sock:/uri", or "unix:/run/x.sock/uri" when proxy_pass has no ':' after the path
        return any(t == needle or t.startswith((needle + ":", needle + "/")) or f"://{needle}:" in t or f"://{needle}/" in t
                   for t in targets)
    port = ep.get("port")
    needles = {f"{ep.get('host')}:{port}"}
    for _fam, addr in ep_addresses(ep):
        needles.add(addr_text(addr, port))
    return any(_hostport(t) in needles for t in targets)


def _hostport(target):
    """``http://127.0.0.1:8000/x`` -> ``127.0.0.1:8000``; ``127.0.0.1:8000`` stays."""
    rest = target.split("://", 1)[1] if "://" in target else target
    return rest.split("/", 1)[0]
