# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How each app server writes where it listens, turned into the Endpoint dicts of the facts contract.

The bind styles (referenced by the specs in ``_apps_kinds``):

``address_list``  gunicorn / hypercorn ``--bind``: ``unix:PATH``, ``fd://N``, ``HOST:PORT``, ``[V6]:PORT``, ``HOST``.
``host_port``     uvicorn: ``--uds`` > ``--fd`` > ``--host``/``--port``.
``daphne``        daphne: twisted endpoints (``-e``), ``-u``, ``--fd``, ``-b``/``-p``.
``uwsgi_sockets`` uWSGI: every socket option with its protocol; no ``:`` means a unix socket.

Each returns ``(binds, source)``: the endpoints and the layer the binds came from (None when none).
"""

from __future__ import annotations

import ipaddress
import socket

DEFAULT_PORT = 8000


# --------------------------------------------------------------------------- endpoints

def _ip_family(host):
    try:
        return "inet6" if ipaddress.ip_address(host).version == 6 else "inet"
    except ValueError:
        return None


def _resolve(host, port):
    result = []
    try:
        infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, getattr(socket, "AI_ADDRCONFIG", 0))
    except (OSError, UnicodeError):
        return result
    for info in infos:
        fam = "inet" if info[0] == socket.AF_INET else "inet6" if info[0] == getattr(socket, "AF_INET6", None) else None
        if fam:
            entry = {"family": fam, "address": info[4][0].split("%", 1)[0]}
            if entry not in result:
                result.append(entry)
    return result


def tcp(host, port, protocol="http"):
    """A tcp Endpoint; a name is resolved as the server resolves it when it binds."""
    if host in ("", "*"):
        host = "0.0.0.0"
    fam = _ip_family(host)
    if fam:
        host = str(ipaddress.ip_address(host))
        addresses = [{"family": fam, "address": host}]
    else:
        addresses = _resolve(host, port)
    return {"kind": "tcp", "host": host, "port": port, "family": fam or "name", "addresses": addresses, "protocol": protocol}


def unix(path, protocol="http"):
    while path.startswith("//"):
        path = path[1:]
    return {"kind": "unix", "path": path, "protocol": protocol}


def fd(number, protocol="http"):
    try:
        number = int(number)
    except (TypeError, ValueError):
        pass
    return {"kind": "fd", "fd": number, "protocol": protocol}


def to_port(text):
    try:
        port = int(text)
    except (TypeError, ValueError):
        return None
    return port if 0 <= port <= 65535 else None


def host_port_endpoint(text, default_port=DEFAULT_PORT, protocol="http"):
    """``host:port`` / ``[v6]:port`` / ``host`` / ``:port`` / ``port`` -> tcp Endpoint (None if invalid)."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        host, rest = text[1:end], text[end + 1:]
        port = to_port(rest[1:]) if rest.startswith(":") else default_port
    elif text.count(":") > 1:
        host, port = text, default_port  # bare IPv6
    elif ":" in text:
        host, _sep, p = text.rpartition(":")
        port = to_port(p)
    elif text.isdigit():
        host, port = "0.0.0.0", to_port(text)
    else:
        host, port = text, default_port
    if port is None:
        return None
    return tcp(host, port, protocol)


def address(text, protocol="http"):
    """A gunicorn / hypercorn bind: ``unix:/p``, ``unix:///p``, ``fd://3``, ``tcp://h:p``, ``h:p``, ``[::1]:p``, ``h``."""
    if text.startswith("unix:"):
        return unix(text[5:], protocol)
    if text.startswith("fd://"):
        return fd(text[5:], protocol)
    if text.startswith("tcp://"):
        text = text[6:]
    return host_port_endpoint(text, DEFAULT_PORT, protocol)


def listen_stream(text):
    """A ``ListenStream=`` of a ``.socket`` unit (as ``systemctl show`` prints it)."""
    return unix(text) if text.startswith("/") else host_port_endpoint(text, 0)


def twisted_endpoint(text):
    """daphne ``-e unix:/run/x.sock`` / ``tcp:port=8000:interface=127.0.0.1`` / ``fd:fileno=3``."""
    kind, _sep, rest = text.partition(":")
    params = {}
    positional = []
    for part in rest.split(":"):
        k, eq, v = part.partition("=")
        if eq:
            params[k] = v
        elif part:
            positional.append(part)
    if kind == "unix":
        return unix(params.get("address") or (positional[0] if positional else rest))
    if kind in ("tcp", "tcp6", "ssl"):
        port = to_port(params.get("port") or (positional[0] if positional else None))
        if port is None:
            return None
        return tcp(params.get("interface", "::" if kind == "tcp6" else "0.0.0.0").replace("\\:", ":"), port)
    if kind == "fd":
        return fd(params.get("fileno") or (positional[0] if positional else None))
    return None


def uwsgi_socket(text, protocol):
    """A uWSGI socket: no ``:`` in it is a unix socket (``@name`` abstract), else ``host:port``."""
    text = str(text)
    if ":" not in text:
        return unix(text, protocol)
    return host_port_endpoint(text, 0, protocol)


# --------------------------------------------------------------------------- bind styles

def _protocol(kind, merged):
    value = merged.get("protocol")
    return value if isinstance(value, str) and value else kind.protocol


def address_list(kind, merged, source):
    """gunicorn / hypercorn: every ``bind`` value; a config file's non-literal bind gives none."""
    protocol = _protocol(kind, merged)
    if "bind" in merged:
        raw = merged["bind"]
        if raw is None:          # assigned in the config file, but not a literal
            return [], source.get("bind")
        binds = [ep for ep in (address(str(b), protocol) for b in raw) if ep]
        return binds, source.get("bind")
    return [ep for ep in (address(b, protocol) for b in kind.defaults.get("bind", ())) if ep], "default"


def host_port(kind, merged, source):
    """uvicorn: ``--uds`` wins over ``--fd`` over ``--host``/``--port``."""
    protocol = _protocol(kind, merged)
    if merged.get("uds"):
        return [unix(merged["uds"], protocol)], source["uds"]
    if merged.get("fd"):
        return [fd(merged["fd"], protocol)], source["fd"]
    port = to_port(merged.get("port", kind.defaults["port"]))
    ep = tcp(merged.get("host", kind.defaults["host"]), port if port is not None else kind.defaults["port"], protocol)
    return [ep], source.get("host") or source.get("port") or "default"


def daphne(kind, merged, source):
    """daphne: endpoints, the unix socket and the fd; host/port when given or when nothing else is."""
    binds = [ep for ep in (twisted_endpoint(e) for e in merged.get("endpoint") or []) if ep]
    if merged.get("uds"):
        binds.append(unix(merged["uds"]))
    if merged.get("fd"):
        binds.append(fd(merged["fd"]))
    if merged.get("host") or merged.get("port") or not binds:
        port = to_port(merged.get("port", kind.defaults["port"]))
        binds.append(tcp(merged.get("host", kind.defaults["host"]), port if port is not None else kind.defaults["port"]))
    keys = ("endpoint", "uds", "fd", "host", "port")
    given = [source[k] for k in keys if k in source]
    return binds, (given[-1] if given else "default")


def uwsgi_sockets(kind, merged, source):
    """uWSGI: every socket option, each with its protocol (``--socket`` speaks ``--protocol``, default uwsgi)."""
    binds = []
    found = []
    default_protocol = merged.get("protocol") or "uwsgi"
    seen = set()
    for opt in kind.options:
        if opt.protocol is None or opt.key in seen:
            continue
        seen.add(opt.key)
        protocol = default_protocol if opt.protocol == "default" else opt.protocol
        for value in merged.get(opt.key) or []:
            ep = uwsgi_socket(value, protocol)
            if ep:
                binds.append(ep)
        if opt.key in source:
            found.append(source[opt.key])
    return binds, (found[0] if found else None)
