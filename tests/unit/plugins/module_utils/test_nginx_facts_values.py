# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Value syntax as nginx reads it: durations, sizes, listen, pass targets, name resolution."""
from __future__ import annotations

import socket

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import _endpoints as E
from ansible_collections.badgateway.doctor.plugins.module_utils import _nginx_values as V


# What ngx_parse_time (src/core/ngx_parse.c) gives, in seconds: msec is how ngx_conf_set_msec_slot
# reads a value (the timeouts), sec how ngx_parse_time(value, 1) does (fail_timeout=); None: an error.
MAX = 2 ** 63 - 1


@pytest.mark.parametrize("text, msec, sec", [
    ("60", 60.0, 60.0),
    ("60s", 60.0, 60.0),
    ("1m30s", 90.0, 90.0),
    ("1m 30s", 90.0, 90.0),
    ("500ms", 0.5, None),               # no ms where nginx counts seconds
    ("1s500ms", 1.5, None),
    ("2h", 7200.0, 7200.0),
    ("1h 30m", 5400.0, 5400.0),
    ("1d", 86400.0, 86400.0),
    ("1w", 604800.0, 604800.0),
    ("1M", None, 30 * 86400.0),         # no months or years in milliseconds
    ("1y", None, 365 * 86400.0),
    ("0", 0.0, 0.0),
    ("1m30", 90.0, 90.0),               # a bare number at the end is seconds
    ("10 20", 30.0, 30.0),              # ... even after a blank: nginx adds them
    ("30s ", 30.0, 30.0),
    (" 30s", None, None),
    ("", None, None), ("abc", None, None), ("30s1m", None, None), ("1x", None, None), ("s", None, None),
    ("1.5s", None, None), ("-1s", None, None), ("+1s", None, None), ("1mm", None, None), ("1h1h", None, None),
    ("\u0661s", None, None),            # an Arabic-Indic digit: str.isdigit() is True, nginx's is not
    # nginx's own limit: NGX_MAX_INT_T_VALUE (milliseconds for the timeouts)
    ("99999999999999999999999d", None, None),
    ("%dms" % MAX, MAX / 1000.0, None),
    ("%dms" % (MAX + 1), None, None),
    ("%ds" % (MAX // 1000), (MAX // 1000) * 1.0, (MAX // 1000) * 1.0),
    ("%ds" % (MAX // 1000 + 1), None, (MAX // 1000 + 1) * 1.0),
    ("%ds" % (MAX + 1), None, None),
    ("%dd" % (MAX // 86400 + 1), None, None),
    ("%dh 1807s" % (MAX // 3600), None, float(MAX)),
    ("%dh 1808s" % (MAX // 3600), None, None),    # each fits alone, the sum overflows
])
def test_parse_time_as_nginx(text, msec, sec):
    for parse, expect in ((V.parse_msec, msec), (V.parse_sec, sec)):
        if expect is None:
            with pytest.raises(ValueError) as exc:
                parse(text)
            assert repr(text) in str(exc.value)
        else:
            assert parse(text) == pytest.approx(expect), parse.__name__


@pytest.mark.parametrize("text, size, offset", [
    ("8192", 8192, 8192), ("16k", 16384, 16384), ("16K", 16384, 16384), ("1m", 1048576, 1048576),
    ("4M", 4194304, 4194304), ("0", 0, 0),
    ("1g", None, 1073741824), ("1G", None, 1073741824),       # g: offsets only (ngx_parse_offset)
    ("%d" % MAX, MAX, MAX), ("%d" % (MAX + 1), None, None),
    ("%dk" % (MAX // 1024), MAX // 1024 * 1024, MAX // 1024 * 1024), ("%dk" % (MAX // 1024 + 1), None, None),
    ("%dg" % (MAX // 1024 ** 3 + 1), None, None),
    ("", None, None), ("k", None, None), ("1.5m", None, None), ("10kb", None, None), ("1t", None, None),
    ("-1", None, None), ("+1", None, None), ("1 k", None, None), ("\u0661k", None, None),
])
def test_parse_size_and_offset_as_nginx(text, size, offset):
    for parse, expect in ((V.parse_size, size), (V.parse_offset, offset)):
        if expect is None:
            with pytest.raises(ValueError):
                parse(text)
        else:
            assert parse(text) == expect, parse.__name__


@pytest.mark.parametrize("text, number", [("0", 0), ("32", 32), ("%d" % MAX, MAX), ("%d" % (MAX + 1), None),
                                          ("", None), ("-1", None), ("+1", None), ("1e3", None), ("\u0661", None)])
def test_parse_int_as_ngx_atoi(text, number):
    if number is None:
        with pytest.raises(ValueError):
            V.parse_int(text)
    else:
        assert V.parse_int(text) == number


def test_page_size_is_the_machines():
    import os
    assert V.page_size() == os.sysconf("SC_PAGESIZE")


@pytest.mark.parametrize("args, expect", [
    (["80"], {"host": "*", "port": 80, "unix": None, "ssl": False, "default_server": False, "ipv6": False}),
    (["*:80"], {"host": "*", "port": 80, "unix": None, "ipv6": False}),
    (["[::]:80", "ipv6only=on"], {"host": "::", "port": 80, "ipv6": True}),
    (["127.0.0.1:8080", "default_server", "ssl"], {"host": "127.0.0.1", "port": 8080, "ssl": True, "default_server": True}),
    (["unix:/run/nginx.sock"], {"host": None, "port": None, "unix": "/run/nginx.sock"}),
    (["127.0.0.1"], {"host": "127.0.0.1", "port": 80}),
    (["localhost:8000"], {"host": "localhost", "port": 8000, "ipv6": False}),
    (["[::1]"], {"host": "::1", "port": 80, "ipv6": True}),
    (["[0:0::1]:8443", "ssl", "http2"], {"host": "::1", "port": 8443, "ssl": True, "ipv6": True}),
    (["443", "ssl", "default"], {"host": "*", "port": 443, "ssl": True, "default_server": True}),
])
def test_parse_listen(args, expect):
    got = V.parse_listen(args)
    assert got["raw"] == " ".join(args)
    for key, value in expect.items():
        assert got[key] == value, key
    assert set(got) == {"raw", "host", "port", "unix", "ssl", "default_server", "ipv6"}


def test_parse_listen_reads_ports_as_nginx_does():
    # ngx_atoi: decimal digits, leading zeros allowed; unix paths normalised like every endpoint
    assert V.parse_listen(["08"])["port"] == 8
    assert V.parse_listen(["127.0.0.1:0080"])["port"] == 80
    assert V.parse_listen(["unix:///run//nginx/./x.sock"])["unix"] == "/run/nginx/x.sock"


@pytest.mark.parametrize("args", [[], ["80000"], ["host:http"], ["[::1"], ["::1:80"], ["0"], ["65536"],
                                  ["127.0.0.1:0"], ["*:65536"], ["[::1]:+80"], ["unix:"],
                                  ["unix:/" + "x" * 107]])
def test_parse_listen_rejects(args):
    with pytest.raises(ValueError):
        V.parse_listen(args)


def test_default_listen_is_star_80():
    assert V.default_listen() == V.parse_listen(["*:80"])


# --------------------------------------------------------------------------- pass targets


def _target(directive, target, upstreams=()):
    return V.parse_pass_target(directive, target, upstreams)


@pytest.mark.parametrize("directive, target, path, uri", [
    ("proxy_pass", "http://unix:/run/x.sock:/prefix", "/run/x.sock", "/prefix"),
    ("proxy_pass", "http://unix:/run/x.sock", "/run/x.sock", None),
    ("proxy_pass", "http://unix:/run/x.sock:", "/run/x.sock", ""),
    ("uwsgi_pass", "unix:/run/x.sock", "/run/x.sock", None),
    ("fastcgi_pass", "unix:/run/php/php8.2-fpm.sock", "/run/php/php8.2-fpm.sock", None),
    ("uwsgi_pass", "unix:///run/isso.sock", "/run/isso.sock", None),
    ("scgi_pass", "unix:/run/scgi.sock", "/run/scgi.sock", None),
    ("grpc_pass", "unix:/run/grpc.sock", "/run/grpc.sock", None),
    ("uwsgi_pass", "uwsgi://unix:/run/x.sock", "/run/x.sock", None),
    ("proxy_pass", "http://unix:///run//x/./y.sock:/", "/run/x/y.sock", "/"),
    ("uwsgi_pass", "unix:///run//x/./y.sock", "/run/x/y.sock", None),
])
def test_unix_socket_targets(directive, target, path, uri):
    got = _target(directive, target)
    assert got["problem"] is None
    assert got["endpoint"] == {"kind": "unix", "path": path}
    assert got["uri"] == uri
    assert got["upstream"] is None
    assert got["dynamic"] is False


@pytest.mark.parametrize("directive, target, protocol, host, port, family", [
    ("proxy_pass", "http://127.0.0.1:8000", "http", "127.0.0.1", 8000, "inet"),
    ("proxy_pass", "http://127.0.0.1:8000/", "http", "127.0.0.1", 8000, "inet"),
    ("proxy_pass", "http://127.0.0.1", "http", "127.0.0.1", 80, "inet"),
    ("proxy_pass", "https://backend.example", "https", "backend.example", 443, "name"),
    ("proxy_pass", "HTTP://[::1]:8001/api/", "http", "::1", 8001, "inet6"),
    ("proxy_pass", "http://localhost:8000", "http", "localhost", 8000, "name"),
    ("uwsgi_pass", "127.0.0.1:3031", "uwsgi", "127.0.0.1", 3031, "inet"),
    ("uwsgi_pass", "suwsgi://127.0.0.1:3031", "uwsgi", "127.0.0.1", 3031, "inet"),
    ("fastcgi_pass", "127.0.0.1:9000", "fastcgi", "127.0.0.1", 9000, "inet"),
    ("scgi_pass", "[::1]:4000", "scgi", "::1", 4000, "inet6"),
    ("grpc_pass", "grpc://127.0.0.1:50051", "grpc", "127.0.0.1", 50051, "inet"),
    ("grpc_pass", "grpcs://api.internal:443", "grpcs", "api.internal", 443, "name"),
    ("grpc_pass", "127.0.0.1:50051", "grpc", "127.0.0.1", 50051, "inet"),
])
def test_tcp_targets(directive, target, protocol, host, port, family):
    got = _target(directive, target)
    assert got["problem"] is None
    assert got["protocol"] == protocol
    ep = got["endpoint"]
    assert (ep["kind"], ep["host"], ep["port"], ep["family"]) == ("tcp", host, port, family)
    if family == "name":
        assert ep["addresses"] == []
    else:
        assert ep["addresses"] == [{"family": family, "address": host}]


@pytest.mark.parametrize("directive, target", [
    ("fastcgi_pass", "127.0.0.1"),
    ("uwsgi_pass", "app"),
    ("scgi_pass", "localhost"),
    ("grpc_pass", "grpc://127.0.0.1"),
    ("proxy_pass", "127.0.0.1:8000"),         # no scheme
    ("proxy_pass", "http://127.0.0.1:http"),   # no numeric port
    ("proxy_pass", "http://:8000"),
    ("proxy_pass", "http://127.0.0.1:0"),
    ("proxy_pass", "http://127.0.0.1:65536/"),
    ("proxy_pass", "http://127.0.0.1:+80"),
    ("proxy_pass", "http://[::1:8000"),
    ("uwsgi_pass", "::1:3031"),                   # IPv6 without brackets
    ("proxy_pass", "http://unix:/" + "x" * 107),  # nginx: too long path in the unix domain socket
])
def test_targets_nginx_rejects(directive, target):
    got = _target(directive, target)
    assert got["problem"]
    assert got["endpoint"] is None


@pytest.mark.parametrize("directive, target, name", [
    ("proxy_pass", "http://wsgi_app", "wsgi_app"),
    ("proxy_pass", "http://wsgi_app/prefix/", "wsgi_app"),
    ("proxy_pass", "https://WSGI_App", "wsgi_app"),   # nginx compares names case-insensitively
    ("uwsgi_pass", "wsgi_app", "wsgi_app"),
    ("fastcgi_pass", "wsgi_app", "wsgi_app"),
    ("grpc_pass", "grpc://wsgi_app", "wsgi_app"),
])
def test_upstream_names(directive, target, name):
    got = _target(directive, target, ["wsgi_app", "other"])
    assert got["upstream"] == name
    assert got["endpoint"] is None
    assert got["problem"] is None


def test_upstream_with_a_port_is_an_error_not_a_host():
    got = _target("proxy_pass", "http://wsgi_app:8000", ["wsgi_app"])
    assert got["upstream"] is None and got["endpoint"] is None
    assert "may not have a port" in got["problem"]


def test_names_that_are_not_upstreams_are_hosts():
    got = _target("proxy_pass", "http://app", ["wsgi_app"])
    assert got["upstream"] is None
    assert got["endpoint"]["host"] == "app" and got["endpoint"]["port"] == 80


@pytest.mark.parametrize("target, endpoint_host, upstream", [
    ("$backend", None, None),
    ("http://$host:8000", None, None),
    ("http://127.0.0.1:8000$request_uri", "127.0.0.1", None),
    ("http://wsgi_app/$1", None, "wsgi_app"),
    ("http://backend$suffix", None, None),       # the variable is part of the host name
    ("http://127.0.0.1:80$port_tail", None, None),
])
def test_variables_make_a_target_dynamic(target, endpoint_host, upstream):
    got = _target("proxy_pass", target, ["wsgi_app"])
    assert got["dynamic"] is True
    assert got["problem"] is None
    assert got["upstream"] == upstream
    if endpoint_host is None:
        assert got["endpoint"] is None
    else:
        assert got["endpoint"]["host"] == endpoint_host


# --------------------------------------------------------------------------- upstream servers


def test_upstream_server_address_default_port_80():
    assert V.parse_upstream_server_address("app.internal")["port"] == 80
    assert V.parse_upstream_server_address("127.0.0.1:8000")["port"] == 8000
    assert V.parse_upstream_server_address("unix:/run/gunicorn.sock") == {"kind": "unix", "path": "/run/gunicorn.sock"}
    assert V.parse_upstream_server_address("[::1]:8000")["family"] == "inet6"
    assert V.parse_upstream_server_address("unix:///run//x/./y.sock") == {"kind": "unix", "path": "/run/x/y.sock"}
    assert V.parse_upstream_server_address("127.0.0.1:08")["port"] == 8      # ngx_atoi reads it


@pytest.mark.parametrize("address", ["127.0.0.1:0", "127.0.0.1:65536", ":8000", "*:80", "::1", "[::1]:x",
                                     "unix:", "unix:/" + "x" * 107])
def test_upstream_server_address_rejects(address):
    with pytest.raises(ValueError):
        V.parse_upstream_server_address(address)


def test_server_params_defaults_and_values():
    params, problems = V.parse_server_params([])
    assert params == V.DEFAULT_SERVER_PARAMS and problems == []
    params, problems = V.parse_server_params(
        ["weight=5", "max_fails=3", "fail_timeout=30s", "backup", "down", "max_conns=10", "resolve",
         "slow_start=1m", "route=a"])
    assert problems == []
    assert params == {"weight": 5, "max_fails": 3, "fail_timeout": 30.0, "backup": True, "down": True,
                      "max_conns": 10, "resolve": True, "slow_start": 60.0, "route": "a"}
    params, problems = V.parse_server_params(["weight=x", "fail_timeout=soon"])
    assert len(problems) == 2
    assert params["weight"] == 1 and params["fail_timeout"] == 10.0


# --------------------------------------------------------------------------- resolution


def _fake_gai(results):
    calls = []

    def gai(host, port, family, type_, proto, flags):
        calls.append((host, port, family, type_, flags))
        if isinstance(results, Exception):
            raise results
        return [(fam, socket.SOCK_STREAM, 6, "", addr) for fam, addr in results]
    return gai, calls


def test_resolve_keeps_resolver_order_and_dedups():
    gai, calls = _fake_gai([
        (socket.AF_INET6, ("::1", 8000, 0, 0)),
        (socket.AF_INET, ("127.0.0.1", 8000)),
        (socket.AF_INET6, ("::1", 8000, 0, 0)),
        (socket.AF_INET6, ("fe80::1%eth0", 8000, 0, 2)),
    ])
    got = E.resolve("localhost", 8000, gai)
    assert got == [{"family": "inet6", "address": "::1"}, {"family": "inet", "address": "127.0.0.1"},
                   {"family": "inet6", "address": "fe80::1"}]
    # asked like nginx asks: any family, stream sockets, AI_ADDRCONFIG
    assert calls == [("localhost", 8000, socket.AF_UNSPEC, socket.SOCK_STREAM, getattr(socket, "AI_ADDRCONFIG", 0))]


def test_resolve_real_localhost():
    got = E.resolve("localhost", 80)
    assert got, "localhost does not resolve on this machine"
    assert all(a["family"] in ("inet", "inet6") for a in got)
    assert {"family": "inet", "address": "127.0.0.1"} in got or {"family": "inet6", "address": "::1"} in got


def test_resolve_failure_raises_oserror():
    gai, _calls = _fake_gai(socket.gaierror(-2, "Name or service not known"))
    with pytest.raises(OSError):
        E.resolve("nowhere.invalid", 80, gai)


@pytest.mark.parametrize("version, new", [
    (None, False), ("1.22.1", False), ("1.29.6", False), ("1.29.7", True), ("1.30.0", True),
    ("1.31.4", True), ("2.0", True), ("1.21.4.1", False), ("garbage", False),
])
def test_keepalive_defaults_by_version(version, new):
    assert V.keepalive_by_default(version) is new
