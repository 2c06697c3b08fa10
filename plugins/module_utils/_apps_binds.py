# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How each app server writes where it listens, turned into the Endpoint dicts of the facts contract.

The bind styles (referenced by the specs in ``_apps_kinds``):

``address_list``  gunicorn / hypercorn ``--bind``: ``unix:PATH``, ``fd://N``, ``HOST:PORT``, ``[V6]:PORT``, ``HOST``.
``host_port``     uvicorn: ``--uds`` > ``--fd`` > ``--host``/``--port``.
``daphne``        daphne: twisted endpoints (``-e``), ``-u``, ``--fd``, ``-b``/``-p``.
``uwsgi_sockets`` uWSGI: every socket option with its protocol; no ``:`` means a unix socket.

Each returns ``(binds, source)``: the endpoints (``_endpoints``) and the layer the binds came from (None
when none); a value that is no endpoint adds a sentence to ``problems`` instead.
"""

from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.module_utils import _endpoints as E

DEFAULT_PORT = 8000


def unix(path, protocol="http"):
    return E.unix(path, protocol)


def fd(number, protocol="http"):
    return E.fd(number, protocol)


# --------------------------------------------------------------------------- endpoints (ValueError when invalid)

def tcp(host, port, protocol="http"):
    """A tcp Endpoint; a name is resolved as the server resolves it when it binds."""
    host = "0.0.0.0" if host in ("", "*") else host
    addresses = None
    if E.family_of(host) is None:
        try:
            addresses = E.resolve(host, port)
        except (OSError, UnicodeError):
            addresses = []
    return E.tcp(host, port, protocol, addresses)


def host_port_endpoint(text, default_port=DEFAULT_PORT, protocol="http"):
    """``host:port`` / ``[v6]:port`` / ``[v6]`` / bare ``v6`` / ``host`` / ``:port`` / ``port`` -> tcp Endpoint."""
    host, port = E.parse_host_port(text.strip(), default_port, bare_port=True, bare_ipv6=True)
    if port is None:
        raise ValueError("no port in %r" % text)
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
    return unix(text) if text.startswith(("/", "@")) else host_port_endpoint(text, None)


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
        port = params.get("port") or (positional[0] if positional else None)
        return tcp(params.get("interface", "::" if kind == "tcp6" else "0.0.0.0").replace("\\:", ":"), port)
    if kind == "fd":
        return fd(params.get("fileno") or (positional[0] if positional else None))
    raise ValueError("unknown endpoint type %r" % kind)


def uwsgi_socket(text, protocol):
    """A uWSGI socket: no ``:`` in it is a unix socket (``@name`` abstract), else ``host:port``."""
    text = str(text)
    if ":" not in text:
        return unix(text, protocol)
    return host_port_endpoint(text, None, protocol)


def parsed(parse, text, problems, *args):
    """``parse(text, *args)``, or None with a sentence in ``problems`` when the text is no endpoint."""
    try:
        return parse(text, *args)
    except ValueError as exc:
        problems.append("%r is not a valid bind: %s." % (text, exc))
        return None


# --------------------------------------------------------------------------- bind styles

def _protocol(kind, merged):
    value = merged.get("protocol")
    return value if isinstance(value, str) and value else kind.protocol


def address_list(kind, merged, source, problems):
    """gunicorn / hypercorn: every ``bind`` value; a config file's non-literal bind gives none."""
    protocol = _protocol(kind, merged)
    if "bind" in merged:
        raw = merged["bind"]
        if raw is None:          # assigned in the config file, but not a literal
            return [], source.get("bind")
        binds = [parsed(address, str(b), problems, protocol) for b in raw]
        return [ep for ep in binds if ep], source.get("bind")
    return [address(b, protocol) for b in kind.defaults.get("bind", ())], "default"


def _host_and_port(kind, merged, protocol, problems):
    host, port = merged.get("host", kind.defaults["host"]), merged.get("port", kind.defaults["port"])
    try:
        return tcp(host, port, protocol)
    except ValueError as exc:
        problems.append("host %r port %r is not a valid bind: %s." % (host, port, exc))
        return None


def host_port(kind, merged, source, problems):
    """uvicorn: ``--uds`` wins over ``--fd`` over ``--host``/``--port``."""
    protocol = _protocol(kind, merged)
    if merged.get("uds"):
        ep = parsed(unix, merged["uds"], problems, protocol)
        return ([ep] if ep else []), source["uds"]
    if merged.get("fd"):
        return [fd(merged["fd"], protocol)], source["fd"]
    ep = _host_and_port(kind, merged, protocol, problems)
    return ([ep] if ep else []), source.get("host") or source.get("port") or "default"


def daphne(kind, merged, source, problems):
    """daphne: endpoints, the unix socket and the fd; host/port when given or when nothing else is."""
    binds = [parsed(twisted_endpoint, e, problems) for e in merged.get("endpoint") or []]
    if merged.get("uds"):
        binds.append(parsed(unix, merged["uds"], problems))
    if merged.get("fd"):
        binds.append(fd(merged["fd"]))
    if merged.get("host") or merged.get("port") or not [b for b in binds if b]:
        binds.append(_host_and_port(kind, merged, _protocol(kind, merged), problems))
    binds = [b for b in binds if b]
    keys = ("endpoint", "uds", "fd", "host", "port")
    given = [source[k] for k in keys if k in source]
    return binds, (given[-1] if given else "default")


def uwsgi_sockets(kind, merged, source, problems):
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
            ep = parsed(uwsgi_socket, value, problems, protocol)
            if ep:
                binds.append(ep)
        if opt.key in source:
            found.append(source[opt.key])
    return binds, (found[0] if found else None)
