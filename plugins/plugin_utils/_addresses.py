# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Endpoints and addresses as the rules compare them: nginx's targets, app server binds, listeners, log targets.

The endpoint model itself (parsing, normalising, ``key``/``text``, ``bind_matches``) is the
collection's one, ``module_utils/_endpoints.py``; this adds what only the rules need: which
listener accepts a connection, loopback, which log line names an endpoint.
"""

from __future__ import annotations

import functools

from ansible_collections.badgateway.doctor.plugins.module_utils._endpoints import (  # pylint: disable=unused-import
    WILDCARDS,
    address_text as addr_text,
    addresses as ep_addresses,
    bind_matches,
    key as ep_key,
    normalize_unix_path,
    parse_ip,
    same_address,
    text as ep_text,
)
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_common import as_dict as _d, as_list as _l


def norm_path(path):
    """A unix socket path normalised as the endpoint model does (``//`` and ``.`` collapsed); other values unchanged."""
    return _norm_path(path) if isinstance(path, str) else path


@functools.lru_cache(maxsize=4096)
def _norm_path(path):
    try:
        return normalize_unix_path(path)
    except ValueError:
        return path


def is_loopback(address):
    ip = parse_ip(address)
    if ip is None:
        return str(address) == "localhost"
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


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
