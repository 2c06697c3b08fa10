# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one endpoint model: unix paths, host:port, canonical text, and which bind serves which endpoint."""
from __future__ import annotations

import itertools
import socket

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import _endpoints as E
from ansible_collections.badgateway.doctor.plugins.plugin_utils import _addresses as RC  # the rules use this model


# --------------------------------------------------------------------------- unix paths


@pytest.mark.parametrize("path, expect", [
    ("///run//x/./y.sock", "/run/x/y.sock"),
    ("/run/gunicorn.sock", "/run/gunicorn.sock"),
    ("/run/./././x.sock", "/run/x.sock"),
    ("/run/link/../x.sock", "/run/link/../x.sock"),     # '..' may cross a symlink: kept
    ("/run/../../x.sock", "/run/../../x.sock"),
    ("run//app.sock", "run/app.sock"),                   # relative stays relative
    ("./app.sock", "app.sock"),
    ("/run/x.sock/", "/run/x.sock/"),                    # a trailing slash does not connect: kept
    ("/", "/"),
    ("//", "/"),
    (".", "."),
    ("@abstract//name", "@abstract//name"),              # Linux abstract names are not paths
])
def test_normalize_unix_path(path, expect):
    assert E.normalize_unix_path(path) == expect
    assert E.normalize_unix_path(expect) == expect       # idempotent


@pytest.mark.parametrize("path", ["", "/run/a\0b.sock", None, b"/run/x.sock"])
def test_normalize_unix_path_rejects(path):
    with pytest.raises(ValueError):
        E.normalize_unix_path(path)


def test_unix_endpoint():
    assert E.unix("///run//x/./y.sock") == {"kind": "unix", "path": "/run/x/y.sock"}
    assert E.unix("/run/x.sock", protocol="http") == {"kind": "unix", "path": "/run/x.sock", "protocol": "http"}
    with pytest.raises(ValueError):
        E.unix("")


def test_fd_endpoint():
    assert E.fd("3") == {"kind": "fd", "fd": 3}
    assert E.fd(3, "http") == {"kind": "fd", "fd": 3, "protocol": "http"}
    assert E.key(E.fd(3)) == "fd:3" and E.text(E.fd(3)) == "fd://3"


# --------------------------------------------------------------------------- ports


@pytest.mark.parametrize("text, port", [("1", 1), ("80", 80), ("8000", 8000), ("65535", 65535), (443, 443)])
def test_parse_port(text, port):
    assert E.parse_port(text) == port


@pytest.mark.parametrize("text", [
    "0", "65536", "99999999999999999999", "08", "+80", "-1", " 80", "80 ", "8_0", "0x50", "",
    "\u0668\u0660",          # Arabic-Indic digits: int() takes them, nginx does not
    "\u00b2",                # superscript two: str.isdigit() is True
    0, 65536, -80, True, None, 80.0,
])
def test_parse_port_rejects(text):
    with pytest.raises(ValueError):
        E.parse_port(text)


def test_leading_zeros_only_when_asked():
    # nginx reads "08" as 8 (ngx_atoi); the endpoint model refuses it unless told to read it so.
    assert E.parse_port("08", allow_leading_zeros=True) == 8
    assert E.parse_port("000000000000080", allow_leading_zeros=True) == 80
    with pytest.raises(ValueError):
        E.parse_port("00", allow_leading_zeros=True)


# --------------------------------------------------------------------------- host:port


@pytest.mark.parametrize("text, default, expect", [
    ("127.0.0.1:8000", None, ("127.0.0.1", 8000)),
    ("localhost:8000", None, ("localhost", 8000)),
    ("app.internal", None, ("app.internal", None)),
    ("app.internal", 80, ("app.internal", 80)),
    ("[::1]:8000", None, ("::1", 8000)),
    ("[::1]", 443, ("::1", 443)),
    ("[fe80::1%eth0]:8000", None, ("fe80::1%eth0", 8000)),
    ("[fe80::1%25]:8000", None, ("fe80::1%25", 8000)),   # numeric interface index
    ("[::]:80", None, ("::", 80)),
    (":8000", None, ("", 8000)),
    ("*:80", None, ("*", 80)),
    ("8000", None, ("8000", None)),                      # a host name unless bare_port
])
def test_parse_host_port(text, default, expect):
    assert E.parse_host_port(text, default) == expect


def test_parse_host_port_variants():
    assert E.parse_host_port("8000", bare_port=True) == ("", 8000)
    assert E.parse_host_port("::1", 8000, bare_ipv6=True) == ("::1", 8000)
    assert E.parse_host_port("127.0.0.1:08", allow_leading_zeros=True) == ("127.0.0.1", 8)


@pytest.mark.parametrize("text", [
    "", "::1", "fe80::1:8000",                 # IPv6 needs brackets when a port may follow
    "[::1", "[::1]x", "[::1]:", "[]:80", "[127.0.0.1]:80", "[::1]:0", "[::1]:65536",
    "[fe80::1%]:80", "[fe80::1%eth 0]:80", "[fe80::1%eth0/1]:80", "[127.0.0.1%eth0]:80",
    "host:0", "host:65536", "host:08", "host:+80", "host:", "host:80x",
    "a b:80", "host\r\nX-Injected: 1:80", "user@host:80", "host/path:80", "host?x:80",
    "::ffff:1.2.3.4.5:80",
])
def test_parse_host_port_rejects(text):
    with pytest.raises(ValueError) as exc:
        E.parse_host_port(text)
    if text:
        assert repr(text)[1:-1][:8] in str(exc.value)    # the message names the value


@pytest.mark.parametrize("text, message", [
    ("host:70000", "invalid port in 'host:70000': port 70000 is outside 1-65535"),
    ("[::1]:0", "invalid port in '[::1]:0': port 0 is outside 1-65535"),
    ("host:99999999999999999999", "invalid port in 'host:99999999999999999999': port 99999999999999999999 is outside 1-65535"),
    ("host:80x", "invalid port in 'host:80x': port '80x' is not a number (decimal digits only)"),
    ("host:+80", "invalid port in 'host:+80': port '+80' is not a number (decimal digits only)"),
    ("host:08", "invalid port in 'host:08': port '08' has a leading zero (some tools read it as octal)"),
    ("host:", "invalid port in 'host:': the port is empty"),
])
def test_parse_host_port_says_why_a_port_is_refused(text, message):
    with pytest.raises(ValueError) as exc:
        E.parse_host_port(text)
    assert str(exc.value) == message


@pytest.mark.parametrize("value, message", [
    (70000, "port 70000 is outside 1-65535"), (0, "port 0 is outside 1-65535"), ("0", "port 0 is outside 1-65535"),
    (True, "port True is not a number"), (80.0, "port 80.0 is not a number"), (None, "port None is not a number"),
])
def test_parse_port_says_why(value, message):
    with pytest.raises(ValueError) as exc:
        E.parse_port(value)
    assert str(exc.value) == message


# --------------------------------------------------------------------------- tcp endpoints


def test_tcp_literal_and_name():
    assert E.tcp("127.0.0.1", 8000) == {"kind": "tcp", "host": "127.0.0.1", "port": 8000, "family": "inet",
                                        "addresses": [{"family": "inet", "address": "127.0.0.1"}]}
    assert E.tcp("0:0::1", "8000") == {"kind": "tcp", "host": "::1", "port": 8000, "family": "inet6",
                                       "addresses": [{"family": "inet6", "address": "::1"}]}
    assert E.tcp("[::1]", 80)["host"] == "::1"
    assert E.tcp("app.internal", 80) == {"kind": "tcp", "host": "app.internal", "port": 80, "family": "name",
                                         "addresses": []}
    given = [{"family": "inet", "address": "10.0.0.5"}]
    ep = E.tcp("app.internal", 80, addresses=given)
    assert ep["addresses"] == given and ep["addresses"][0] is not given[0]
    assert E.tcp("*", 80)["host"] == "0.0.0.0" and E.tcp("", 80)["family"] == "inet"
    assert E.tcp("127.0.0.1", 80, protocol="uwsgi")["protocol"] == "uwsgi"
    assert "protocol" not in E.tcp("127.0.0.1", 80)
    zoned = E.tcp("fe80::1%eth0", 8000)
    assert zoned["host"] == "fe80::1%eth0" and zoned["family"] == "inet6"


@pytest.mark.parametrize("host, port", [
    ("127.0.0.1", 0), ("127.0.0.1", 65536), ("127.0.0.1", "08"), ("a b", 80), ("x\n", 80),
    ("127.0.0.1%eth0", 80), (None, 80), ("::1::2", 80),
])
def test_tcp_rejects(host, port):
    with pytest.raises(ValueError):
        E.tcp(host, port)


def test_resolve_dedupes_and_drops_zone_ids():
    def gai(host, port, family, socktype, proto, flags):
        assert (host, port, family, socktype) == ("app", 8000, socket.AF_UNSPEC, socket.SOCK_STREAM)
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fe80::1%eth0", 8000, 0, 2)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", 8000)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", 8000)),
            (socket.AF_UNIX, socket.SOCK_STREAM, 0, "", "/x"),
        ]
    assert E.resolve("app", 8000, gai) == [{"family": "inet6", "address": "fe80::1"},
                                           {"family": "inet", "address": "10.0.0.5"}]


def test_resolve_raises_for_unknown_names():
    def gai(*_args):
        raise socket.gaierror(-2, "Name or service not known")
    with pytest.raises(OSError):
        E.resolve("nope.invalid", 80, gai)


# --------------------------------------------------------------------------- text forms


@pytest.mark.parametrize("ep, key, text", [
    ({"kind": "unix", "path": "/run/x.sock"}, "unix:/run/x.sock", "unix:/run/x.sock"),
    ({"kind": "tcp", "host": "127.0.0.1", "port": 8000}, "tcp:127.0.0.1:8000", "127.0.0.1:8000"),
    ({"kind": "tcp", "host": "::1", "port": 8000}, "tcp:::1:8000", "[::1]:8000"),
    ({"kind": "tcp", "host": "fe80::1%eth0", "port": 80}, "tcp:fe80::1%eth0:80", "[fe80::1%eth0]:80"),
    ({"kind": "tcp", "host": "localhost", "port": 80}, "tcp:localhost:80", "localhost:80"),
    ({"kind": "tcp", "host": None, "port": None}, "tcp:None:None", "?:None"),
    ({}, "tcp:None:None", "?:None"),
    (None, "tcp:None:None", "?:None"),
])
def test_key_and_text(ep, key, text):
    assert E.key(ep) == key
    assert E.text(ep) == text


@pytest.mark.parametrize("ep", [
    {"kind": "unix", "path": "/run/x.sock"},
    {"kind": "tcp", "host": "127.0.0.1", "port": 8000},
    {"kind": "tcp", "host": "::1", "port": 8000},
    {"kind": "tcp", "host": None, "port": None},
    {},
])
def test_key_and_text_keep_the_rules_behaviour(ep):
    assert E.key(ep) == RC.ep_key(ep)
    assert E.text(ep) == RC.ep_text(ep)


def test_text_round_trips_through_parse_host_port():
    for host, port in (("127.0.0.1", 1), ("::1", 65535), ("fe80::1%eth0", 8000), ("app.internal", 80)):
        assert E.parse_host_port(E.text(E.tcp(host, port))) == (host, port)


# --------------------------------------------------------------------------- addresses


@pytest.mark.parametrize("ep, expect", [
    ({"kind": "tcp", "host": "localhost", "port": 80,
      "addresses": [{"family": "inet6", "address": "::1"}, {"family": "inet", "address": "127.0.0.1"},
                    {"family": "inet", "address": "127.0.0.1"}]},
     [("inet6", "::1"), ("inet", "127.0.0.1")]),
    ({"kind": "tcp", "host": "localhost", "port": 80, "addresses": []}, [("inet", "127.0.0.1")]),
    ({"kind": "tcp", "host": "127.0.0.1", "port": 80}, [("inet", "127.0.0.1")]),
    ({"kind": "tcp", "host": "[::1]", "port": 80}, [("inet6", "::1")]),
    ({"kind": "tcp", "host": "app.internal", "port": 80, "addresses": []}, []),
    ({"kind": "tcp", "host": "h", "port": 80, "addresses": [{"address": "10.0.0.1"}, {"family": "inet"}, "junk"]},
     [("inet", "10.0.0.1")]),
    ({"kind": "tcp", "host": "h", "port": 80, "addresses": "junk"}, []),
    (None, []),
])
def test_addresses(ep, expect):
    assert E.addresses(ep) == expect
    assert E.addresses(ep) == RC.ep_addresses(ep)


def test_same_address_and_family():
    assert E.same_address("::ffff:127.0.0.1", "127.0.0.1")
    assert E.same_address("[::1]", "0:0::1")
    assert E.same_address("fe80::1%eth0", "fe80::1")
    assert not E.same_address("127.0.0.1", "127.0.0.2")
    assert E.same_address("localhost", "localhost") and not E.same_address("localhost", "127.0.0.1")
    assert E.family_of("::1") == "inet6" and E.family_of("10.0.0.1") == "inet" and E.family_of("host") is None


# --------------------------------------------------------------------------- bind_matches


def _tcp(host, port=8000, addrs=None):
    ep = {"kind": "tcp", "host": host, "port": port}
    if addrs is not None:
        ep["addresses"] = [{"family": "inet6" if ":" in a else "inet", "address": a} for a in addrs]
    return ep


# nginx-side endpoints as the facts hold them, and app binds as the apps section holds them
NGINX_EPS = [
    _tcp("127.0.0.1", addrs=["127.0.0.1"]),
    _tcp("::1", addrs=["::1"]),
    _tcp("localhost", addrs=["::1", "127.0.0.1"]),
    _tcp("localhost", addrs=["127.0.0.1"]),
    _tcp("localhost", addrs=[]),
    _tcp("app.internal", addrs=[]),
    _tcp("app.internal", addrs=["10.0.0.5"]),
    _tcp("10.0.0.5", addrs=["10.0.0.5"]),
    _tcp("127.0.0.1", port=9000, addrs=["127.0.0.1"]),
    {"kind": "unix", "path": "/run/app.sock"},
    {"kind": "unix", "path": "/run/other.sock"},
    {},
]
BINDS = [
    _tcp("0.0.0.0", addrs=["0.0.0.0"]),
    _tcp("::", addrs=["::"]),
    _tcp("*"),
    _tcp(""),
    _tcp("127.0.0.1", addrs=["127.0.0.1"]),
    _tcp("::1", addrs=["::1"]),
    _tcp("::ffff:127.0.0.1", addrs=["::ffff:127.0.0.1"]),
    _tcp("localhost", addrs=["127.0.0.1", "::1"]),
    _tcp("localhost"),
    _tcp("app.internal"),
    _tcp("app.internal", addrs=["10.0.0.5"]),
    _tcp("10.0.0.6", addrs=["10.0.0.6"]),
    _tcp("127.0.0.1", port=9000, addrs=["127.0.0.1"]),
    {"kind": "unix", "path": "/run/app.sock", "protocol": "http"},
    {"kind": "unix", "path": "/run/app.sock.bak"},
    {"kind": "fd", "fd": 3},
    {},
]


@pytest.mark.parametrize("bind, ep", list(itertools.product(BINDS, NGINX_EPS)))
def test_bind_matches_keeps_the_rules_behaviour(bind, ep):
    assert E.bind_matches(bind, ep) == RC.bind_matches(bind, ep)


@pytest.mark.parametrize("bind, ep, expect", [
    # unix: equal paths only, after normalisation on both sides
    (E.unix("/run/app.sock"), {"kind": "unix", "path": "/run/app.sock"}, True),
    ({"kind": "unix", "path": "//run/./app.sock"}, {"kind": "unix", "path": "/run//app.sock"}, True),
    ({"kind": "unix", "path": "/run/a/../app.sock"}, {"kind": "unix", "path": "/run/app.sock"}, False),
    ({"kind": "unix", "path": "/run/app.sock"}, _tcp("127.0.0.1"), False),
    # tcp: wildcard binds serve every address of the port
    (_tcp("0.0.0.0"), _tcp("10.0.0.5", addrs=["10.0.0.5"]), True),
    (_tcp("::"), _tcp("::1", addrs=["::1"]), True),
    (_tcp("0.0.0.0", port=8001), _tcp("127.0.0.1"), False),
    # the family matters unless the address is the same
    (_tcp("127.0.0.1"), _tcp("::1", addrs=["::1"]), False),
    (_tcp("::ffff:127.0.0.1"), _tcp("127.0.0.1"), True),
    # localhost resolving to both families: a bind on either serves it
    (_tcp("::1"), _tcp("localhost", addrs=["::1", "127.0.0.1"]), True),
    (_tcp("127.0.0.1"), _tcp("localhost", addrs=["::1", "127.0.0.1"]), True),
    # an unresolved name matches the same name only
    (_tcp("app.internal"), _tcp("app.internal", addrs=[]), True),
    (_tcp("app.internal"), _tcp("app.other", addrs=[]), False),
    # zone ids: the address counts
    (E.tcp("fe80::1%eth0", 8000), E.tcp("fe80::1%eth0", 8000), True),
    # inherited sockets: the same descriptor only
    (E.fd(3), E.fd(3), True),
    (E.fd(3), E.fd(4), False),
])
def test_bind_matches(bind, ep, expect):
    assert E.bind_matches(bind, ep) is expect
