# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import json
import os
import socket
import struct
import threading

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import probes as P


# ---------------------------------------------------------------- pure parts

@pytest.mark.parametrize("url, expected", [
    ("http://unix:/run/g.sock:/x", {"scheme": "http", "unix": "/run/g.sock", "host": None, "port": None, "path": "/x"}),
    ("http://unix:/run/g.sock", {"scheme": "http", "unix": "/run/g.sock", "host": None, "port": None, "path": None}),
    ("http://127.0.0.1:8000/a?b", {"scheme": "http", "unix": None, "host": "127.0.0.1", "port": 8000, "path": "/a?b"}),
    ("http://[::1]:8000/", {"scheme": "http", "unix": None, "host": "::1", "port": 8000, "path": "/"}),
    ("https://example.test", {"scheme": "https", "unix": None, "host": "example.test", "port": 443, "path": None}),
])
def test_parse_url(url, expected):
    assert P.parse_url(url) == expected


@pytest.mark.parametrize("bad", ["ftp://x/", "127.0.0.1:80", "http://unix::/", "http://[::1:80/", "http://:80/"])
def test_parse_url_rejects(bad):
    with pytest.raises(ValueError):
        P.parse_url(bad)


def test_make_url_roundtrip():
    assert P.make_url(unix="/run/g.sock", path="/api/") == "http://unix:/run/g.sock:/api/"
    assert P.make_url(host="::1", port=8000) == "http://[::1]:8000/"
    assert P.make_url(host="127.0.0.1", port=80) == "http://127.0.0.1/"
    assert P.make_url(host="127.0.0.1", port=443, scheme="https") == "https://127.0.0.1/"
    assert P.parse_url(P.make_url(host="::1", port=81, path="/p"))["host"] == "::1"


def test_status_line():
    assert P.parse_status_line(b"HTTP/1.1 502 Bad Gateway\r\n") == 502
    assert P.parse_status_line(b"HTTP/1.0 200\r\n") == 200
    for bad in (b"", b"\x00\x10\x00\x00", b"SSH-2.0-OpenSSH\r\n", b"HTTP/1.1 abc\r\n"):
        with pytest.raises(P.ProbeError) as info:
            P.parse_status_line(bad)
        assert info.value.name == "EPROTO"


@pytest.mark.parametrize("location, path", [
    ("/", "/"), ("/asgi/", "/asgi/"), ("^~ /static/", "/static/"), ("= /health", "/health"),
    ("~ ^/api", "/"), ("~* \\.php$", "/"), ("@fallback", "/"), ("/a > /a/b", "/a/b"), ("/a > ~ x", "/"), (None, "/"),
])
def test_location_path(location, path):
    assert P.location_path(location) == path


NGINX = {
    "routes": [
        {"id": "app.example:80 /", "server_names": ["app.example", "www.app.example"], "location": "/",
         "listen": [{"raw": "80", "host": None, "port": 80, "unix": None, "ssl": False, "ipv6": False}],
         "directive": "proxy_pass", "protocol": "http", "dynamic": False,
         "endpoints": [{"kind": "unix", "path": "/run/gunicorn/gunicorn.sock"}]},
        {"id": "_:8080 /api/", "server_names": ["_"], "location": "/api/",
         "listen": [{"raw": "[::]:8443 ssl", "host": "::", "port": 8443, "unix": None, "ssl": True, "ipv6": True},
                    {"raw": "[::]:8080", "host": "[::]", "port": 8080, "unix": None, "ssl": False, "ipv6": True}],
         "directive": "proxy_pass", "protocol": "http", "dynamic": False,
         "endpoints": [{"kind": "tcp", "host": "localhost", "port": 8000, "family": "name",
                        "addresses": [{"family": "inet6", "address": "::1"}, {"family": "inet", "address": "127.0.0.1"}]}]},
        {"id": "_:80 ~ ^/dyn", "server_names": [], "location": "~ ^/dyn",
         "listen": [{"raw": "127.0.0.2:80", "host": "127.0.0.2", "port": 80, "unix": None, "ssl": False, "ipv6": False}],
         "directive": "proxy_pass", "protocol": "http", "dynamic": True, "endpoints": []},
    ],
}


def test_probe_targets_from_nginx():
    targets = P.probe_targets_from_nginx(NGINX)
    got = [(t["route"], t["via"], t["url"], t["host_header"]) for t in targets]
    assert got == [
        ("app.example:80 /", "direct", "http://unix:/run/gunicorn/gunicorn.sock:/", "app.example"),
        ("app.example:80 /", "nginx", "http://127.0.0.1/", "app.example"),
        ("_:8080 /api/", "direct", "http://[::1]:8000/", None),
        ("_:8080 /api/", "direct", "http://127.0.0.1:8000/", None),
        ("_:8080 /api/", "nginx", "http://[::1]:8080/api/", None),
        ("_:80 ~ ^/dyn", "nginx", "http://127.0.0.2/", None),
    ]
    assert targets[0]["endpoint"] == {"kind": "unix", "path": "/run/gunicorn/gunicorn.sock"}
    assert targets[1]["endpoint"] is None
    only_nginx = P.probe_targets_from_nginx(NGINX, via=["nginx"], path="/health", host_header="h")
    assert [(t["url"], t["host_header"]) for t in only_nginx] == [
        ("http://127.0.0.1/health", "h"), ("http://[::1]:8080/health", "h"), ("http://127.0.0.2/health", "h")]
    assert P.probe_targets_from_nginx(None) == [] and P.probe_targets_from_nginx({"routes": [None, {}]}) == []


# ---------------------------------------------------------------- real sockets

class Server:
    """A tiny threaded server on a unix path or 127.0.0.1:0 with a canned behaviour."""

    def __init__(self, behaviour, unix=None, barrier=None):
        self.behaviour = behaviour
        self.barrier = barrier
        self.requests = []
        if unix:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.bind(unix)
            self.url = "http://unix:%s:/" % unix
        else:
            self.sock = socket.socket()
            self.sock.bind(("127.0.0.1", 0))
            self.url = "http://127.0.0.1:%d/" % self.sock.getsockname()[1]
        self.sock.listen(8)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            with conn:
                if self.behaviour == "silent":
                    self.stop.wait(5)
                    continue
                conn.settimeout(2)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.requests.append(data)
                if self.behaviour == "http":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                elif self.behaviour == "502":
                    conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                elif self.behaviour == "uwsgi":
                    conn.sendall(b"\x00\x10\x00\x00garbage")
                elif self.behaviour == "binary-open":  # replies non-HTTP without a line end and keeps the connection
                    conn.sendall(b"\x00\x10\x00\x00")
                    self.stop.wait(30)
                elif self.behaviour == "rendezvous":     # answers once all its peers hold a connection at once
                    try:
                        self.barrier.wait()
                        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    except threading.BrokenBarrierError:
                        pass
                elif self.behaviour == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def close(self):
        self.stop.set()
        if self.barrier is not None:
            self.barrier.abort()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(6)


@pytest.fixture
def server(tmp_path):
    made = []

    def make(behaviour, unix=False, barrier=None):
        srv = Server(behaviour, str(tmp_path / ("%s.sock" % behaviour)) if unix else None, barrier)
        made.append(srv)
        return srv
    yield make
    for srv in made:
        srv.close()


def test_probe_unix_http_200_with_host_and_path(server):
    srv = server("http", unix=True)
    status, latency, err = P.http_probe(srv.url.rsplit(":", 1)[0], path="/health", host_header="app.example")
    assert (status, err) == (200, None) and 0 <= latency < 3
    assert srv.requests[0].startswith(b"GET /health HTTP/1.0\r\nHost: app.example\r\n")
    assert b"Connection: close" in srv.requests[0]


def test_collect_probes_outcomes(server, tmp_path):
    ok = server("http")
    bad = server("502", unix=True)
    uwsgi = server("uwsgi", unix=True)
    reset = server("reset")
    silent = server("silent")
    binary = server("binary-open")
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    refused_port = free.getsockname()[1]
    free.close()
    targets = [
        {"route": "r1", "via": "direct", "url": ok.url},
        {"route": "r1", "via": "nginx", "url": bad.url},
        {"route": "r2", "via": "direct", "url": uwsgi.url, "endpoint": {"kind": "unix", "path": "x"}},
        {"route": "r3", "via": "direct", "url": reset.url},
        {"route": "r4", "via": "direct", "url": "http://127.0.0.1:%d/" % refused_port},
        {"route": "r5", "via": "direct", "url": "http://unix:%s:/" % (tmp_path / "missing.sock")},
        {"route": "r7", "url": "gopher://x/"},
        {"route": "r8"},
        {"route": "r9", "url": binary.url},
        {"route": "r1-again", "via": "direct", "url": ok.url},
    ]
    # a timeout no answer on a loaded machine comes near: only the silent server below times out
    facts = P.collect_probes(targets, timeout=10)
    res = [(r["route"], r["ok"], r["status"], r["error"]) for r in facts["results"]]
    assert res == [
        ("r1", True, 200, None),
        ("r1", False, 502, None),
        ("r2", False, None, "EPROTO"),
        ("r3", False, None, "ECONNRESET"),
        ("r4", False, None, "ECONNREFUSED"),
        ("r5", False, None, "ENOENT"),
        ("r7", False, None, "EINVAL"),
        ("r9", False, None, "EPROTO"),
        ("r1-again", True, 200, None),
    ]
    assert len(ok.requests) == 1  # identical probe sent once
    assert facts["results"][2]["endpoint"] == {"kind": "unix", "path": "x"}
    assert facts["results"][7]["latency"] < 10   # EPROTO at once, not after the timeout (it keeps the connection)
    assert len(facts["errors"]) == 2  # the gopher URL and the target without url
    json.dumps(facts)
    timed_out = P.collect_probes([{"route": "r6", "via": "direct", "url": silent.url}], timeout=0.5)["results"]
    assert [(r["ok"], r["status"], r["error"]) for r in timed_out] == [(False, None, "ETIMEDOUT")]
    assert timed_out[0]["latency"] >= 0.5


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_probe_eacces_as_other_user(server, tmp_path, as_nobody):
    os.chmod(str(tmp_path), 0o755)
    srv = server("http", unix=True)
    sock_path = srv.url[len("http://unix:"):-2]
    os.chmod(sock_path, 0o600)
    status, _latency, err = as_nobody(P.http_probe, srv.url, 1)
    assert (status, err) == (None, "EACCES")


def test_probe_unix_full_backlog_is_eagain(tmp_path):
    """Like nginx, a unix connect() to a full accept queue fails at once with EAGAIN."""
    path = str(tmp_path / "full.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(0)
    clients = []
    try:
        for _attempt in range(8):
            c = socket.socket(socket.AF_UNIX)
            c.setblocking(False)
            clients.append(c)
            try:
                c.connect(path)
            except BlockingIOError:
                break
        else:
            pytest.skip("could not fill the accept queue")
        status, latency, err = P.http_probe("http://unix:%s:/" % path, timeout=10)
        assert (status, err) == (None, "EAGAIN") and latency < 10   # at once: a blocking connect would time out
    finally:
        for c in clients:
            c.close()
        srv.close()


# ---------------------------------------------------------------- limits and concurrency

def _big_nginx(servers):
    """``servers`` server blocks; each has "/" to one of 4 upstreams and "/legacy" to its own socket."""
    listen = [{"raw": "80", "host": "*", "port": 80, "unix": None, "ssl": False, "ipv6": False}]
    routes = []
    for n in range(servers):
        name = "app%03d.example" % n
        routes.append({"id": "%s:80 /" % name, "server_names": [name], "listen": listen, "location": "/",
                       "protocol": "http", "dynamic": False, "upstream": "backend%d" % (n % 4),
                       "endpoints": [{"kind": "tcp", "host": "127.0.0.1", "port": 8000 + n % 4, "family": "inet",
                                      "addresses": [{"family": "inet", "address": "127.0.0.1"}]}]})
        routes.append({"id": "%s:80 /legacy" % name, "server_names": [name], "listen": listen, "location": "/legacy",
                       "protocol": "uwsgi", "dynamic": False, "upstream": None,
                       "endpoints": [{"kind": "unix", "path": "/run/uwsgi/app%03d.sock" % n}]})
    return {"routes": routes}


def test_a_conditional_route_is_probed_directly_only(tmp_path):
    """proxy_pass in an if block (or limit_except): a plain request through nginx does not meet the
    condition, so only the upstream itself is probed for that route; the location's own pass is
    probed both ways. The routes come from the real parser and analyser."""
    from ansible_collections.badgateway.doctor.plugins.module_utils.nginx_facts import collect_nginx
    conf = tmp_path / "nginx.conf"
    conf.write_text("http { server { listen 127.0.0.1:8080; location /api/ {\n"
                    "    proxy_pass http://127.0.0.1:8000;\n"
                    "    if ($arg_debug) { proxy_pass http://127.0.0.1:8001; }\n"
                    "    limit_except GET { proxy_pass http://127.0.0.1:8002; }\n"
                    "} } }\n")
    nginx = collect_nginx(conf_path=str(conf), binary=str(tmp_path / "none"), resolve=False, run_test="never")
    assert [(r["conditional"], r["condition"]) for r in nginx["routes"]] == [
        (False, None), (True, "if ($arg_debug)"), (True, "limit_except GET")]
    targets, skipped = P.plan_probes(nginx)
    assert [(t["via"], t["url"]) for t in targets] == [
        ("direct", "http://127.0.0.1:8000/"), ("nginx", "http://127.0.0.1:8080/api/"),
        ("direct", "http://127.0.0.1:8001/"),
        ("direct", "http://127.0.0.1:8002/"),
    ]
    assert skipped == 0
    assert P.plan_probes(nginx, route_limit=1) == (targets[:2], 2)   # what is skipped counts no nginx probe either


def test_plan_without_limits_is_every_target():
    nginx = _big_nginx(10)
    targets, skipped = P.plan_probes(nginx)
    assert skipped == 0 and targets == P.probe_targets_from_nginx(nginx)
    assert len(targets) == 40   # 20 routes x (one direct + one via nginx)


def test_plan_small_config_under_the_limits_is_unchanged():
    targets, skipped = P.plan_probes(NGINX, route_limit=64, endpoint_limit=256)
    assert skipped == 0 and targets == P.probe_targets_from_nginx(NGINX)


def test_plan_limit_prefers_routes_with_new_upstreams_or_endpoints_in_config_order():
    nginx = _big_nginx(10)
    targets, skipped = P.plan_probes(nginx, route_limit=6, endpoint_limit=256)
    routes = []
    for t in targets:
        if t["route"] not in routes:
            routes.append(t["route"])
    # the first 6 routes each bring a new upstream or socket: app000..app002, both routes each
    assert routes == ["app000.example:80 /", "app000.example:80 /legacy", "app001.example:80 /",
                      "app001.example:80 /legacy", "app002.example:80 /", "app002.example:80 /legacy"]
    assert len(targets) == 12 and skipped == 40 - 12
    # stable: the same configuration gives the same plan
    assert P.plan_probes(nginx, route_limit=6, endpoint_limit=256) == (targets, skipped)


def test_plan_limit_fills_up_with_repeated_upstreams_after_new_ones():
    nginx = {"routes": [r for r in _big_nginx(12)["routes"] if r["location"] == "/"]}  # 12 routes, 4 upstreams
    targets, skipped = P.plan_probes(nginx, route_limit=6, via=["nginx"])
    assert [t["route"] for t in targets] == ["app%03d.example:80 /" % n for n in range(6)]
    assert skipped == 6


def test_plan_endpoint_limit_counts_distinct_urls():
    nginx = _big_nginx(10)
    targets, skipped = P.plan_probes(nginx, route_limit=0, endpoint_limit=5, via=["direct"])
    urls = [t["url"] for t in targets]
    # the 4 upstream addresses are one URL each, however many routes use them
    assert len(set(urls)) == 5 and len(targets) < 20
    assert skipped == 20 - len(targets)


def test_plan_counts_dynamic_and_listenless_routes_as_nothing_to_skip():
    nginx = {"routes": [
        {"id": "a", "dynamic": True, "listen": [], "endpoints": []},
        {"id": "b", "dynamic": False, "listen": [{"port": 80}],
         "endpoints": [{"kind": "tcp", "host": "localhost", "port": 8000, "addresses": []}]},
        {"id": "c", "dynamic": False, "listen": [{"port": 80}],
         "endpoints": [{"kind": "unix", "path": "/run/c.sock"}]},
    ]}
    targets, skipped = P.plan_probes(nginx, route_limit=1)
    assert targets == [] and skipped == 4     # "a" is chosen first and has nothing to probe
    assert len(P.probe_targets_from_nginx(nginx)) == 4
    targets, skipped = P.plan_probes(nginx, route_limit=2)
    assert [t["route"] for t in targets] == ["b", "b"] and skipped == 2


def test_collect_probes_runs_concurrently_and_reports_skipped(server):
    # four servers that answer only while all four hold a connection at once: one probe at a
    # time would leave the first waiting until its timeout (no clock decides, however loaded)
    barrier = threading.Barrier(4, timeout=20)
    peers = [server("rendezvous", barrier=barrier) for _n in range(4)]
    targets = [{"route": "r%d" % i, "via": "direct", "url": s.url} for i, s in enumerate(peers)]
    facts = P.collect_probes(targets, timeout=10, workers=4, skipped=7)
    assert [(r["status"], r["error"]) for r in facts["results"]] == [(200, None)] * 4
    assert facts["skipped"] == 7
    silent = [server("silent") for _n in range(2)]
    targets = [{"route": "r%d" % i, "via": "direct", "url": s.url} for i, s in enumerate(silent)]
    serial = P.collect_probes(targets[:2], timeout=0.3, workers=1)
    assert [r["error"] for r in serial["results"]] == ["ETIMEDOUT"] * 2 and serial["skipped"] == 0


# ---------------------------------------------------------------- as_user

@pytest.fixture
def private_dir():
    """A directory under /tmp (not under pytest's 0700 tree), removed after the test."""
    import shutil
    import tempfile
    path = tempfile.mkdtemp(prefix="bgd-probe-", dir="/tmp")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_collect_probes_as_user_sees_what_that_user_sees(private_dir, supplementary_member):
    import grp

    member, group = supplementary_member
    locked = os.path.join(private_dir, "locked")      # 0700 root:root
    shared = os.path.join(private_dir, "shared")      # 0750 root:<member's supplementary group>
    for path, mode, gid in ((locked, 0o700, 0), (shared, 0o750, grp.getgrnam(group).gr_gid)):
        os.mkdir(path)
        os.chown(path, 0, gid)
        os.chmod(path, mode)
    servers = [Server("http", os.path.join(locked, "app.sock")), Server("http", os.path.join(shared, "app.sock"))]
    try:
        for srv in servers:
            os.chmod(srv.url[len("http://unix:"):-2], 0o777)
        targets = [{"route": "locked", "url": servers[0].url}, {"route": "shared", "url": servers[1].url}]

        def outcome(**kw):
            facts = P.collect_probes(targets, timeout=1, **kw)
            assert facts["errors"] == [] and facts["as_user"] == kw.get("as_user")
            return [(r["status"], r["error"]) for r in facts["results"]]

        assert outcome() == [(200, None), (200, None)]                               # root passes everything
        assert outcome(as_user="nobody") == [(None, "EACCES"), (None, "EACCES")]
        assert outcome(as_user=member) == [(None, "EACCES"), (200, None)]            # supplementary group
        assert outcome(as_user="nobody", as_group=group) == [(None, "EACCES"), (200, None)]  # like `user nobody <group>;`
        assert P.http_probe(servers[0].url, timeout=1, as_user="nobody")[2] == "EACCES"
        assert P.http_probe(servers[1].url, timeout=1, as_user=member)[0] == 200
        assert P.http_probe(servers[1].url, as_user="no-such-user-bgd") == (None, None, "EINVAL")
    finally:
        for srv in servers:
            srv.close()


def test_collect_probes_as_unknown_user_is_an_error_not_a_probe():
    facts = P.collect_probes([{"url": "http://127.0.0.1:9/"}], as_user="no-such-user-bgd")
    assert facts["results"] == []
    assert facts["errors"] == [{"source": "probe", "path": None,
                                "message": "cannot probe as no-such-user-bgd: there is no user no-such-user-bgd on this host"}]


@pytest.mark.parametrize("kwargs", [
    {"path": "/a HTTP/1.0\r\nX-Injected: 1\r\n\r\nGET /b"},
    {"path": "/a\nb"},
    {"path": "/a\x00"},
    {"host_header": "app.example\r\nX-Injected: 1"},
    {"host_header": "app example"},
])
def test_control_characters_never_reach_the_wire(server, kwargs):
    srv = server("http", unix=True)
    base = srv.url.rsplit(":", 1)[0]  # no path in the URL: the path option is used
    assert P.http_probe(base, timeout=1, **kwargs) == (None, None, "EINVAL")
    assert P.http_probe(base + ":/a\r\nX: 1", timeout=1) == (None, None, "EINVAL")
    assert P.http_probe(base, timeout=1)[0] == 200
    assert len(srv.requests) == 1 and b"X-Injected" not in srv.requests[0]


@pytest.mark.parametrize("url, message", [
    ("http://127.0.0.1:65536/", "invalid port in '127.0.0.1:65536': port 65536 is outside 1-65535"),
    ("http://127.0.0.1:0/", "invalid port in '127.0.0.1:0'"),
    ("http://[::1]:99999/", "invalid port in '[::1]:99999'"),
    ("http://127.0.0.1:80x/", "invalid port in '127.0.0.1:80x': port '80x' is not a number"),
    ("http://::1:80/", "IPv6 addresses need brackets"),
    ("http://[::1]x/", "text after the closing bracket"),
    ("http://:80/", "has no host"),
])
def test_parse_url_ports_and_shapes(url, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(")):
        P.parse_url(url)
    assert P.http_probe(url, timeout=0.5)[2] == "EINVAL"


@pytest.mark.parametrize("timeout", [float("inf"), 1e308, float("nan"), -1, "x", None])
def test_hostile_timeouts_are_bounded_not_overflow(timeout, tmp_path):
    facts = P.collect_probes([{"url": "http://unix:%s:/" % (tmp_path / "none.sock")}], timeout=timeout)
    assert [r["error"] for r in facts["results"]] == ["ENOENT"] and facts["errors"] == []
    assert P.bounded_timeout(timeout) in (P._options.PROBE_TIMEOUT_DEFAULT, P._options.PROBE_TIMEOUT_MIN,  # pylint: disable=protected-access
                                          P._options.PROBE_TIMEOUT_MAX)  # pylint: disable=protected-access
