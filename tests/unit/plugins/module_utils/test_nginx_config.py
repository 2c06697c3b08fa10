# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Configuration analysis: inheritance, defaults, routes, upstreams, servers, resolution, corpus."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import _nginx_values as V
from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_config import NESTING_LIMIT, analyze_config
from ansible_collections.badgateway.doctor.plugins.module_utils.nginx_parser import parse
from nginx_helpers import write

CORPUS = (Path(__file__).resolve().parents[4] / ".." / "shared" / "corpus" / "nginx").resolve()
PAGE = V.page_size()


def analyze(tmp_path, text, version=None, resolve=False, getaddrinfo=None, name="nginx.conf"):
    conf = write(tmp_path, name, text)
    return analyze_config(parse(conf), version=version, resolve=resolve, getaddrinfo=getaddrinfo)


def routes_by_location(result):
    return {r["location"]: r for r in result["routes"]}


# --------------------------------------------------------------------------- inheritance


INHERIT = """
    http {
        proxy_read_timeout 30s;
        client_max_body_size 10m;
        upstream app { server 127.0.0.1:8000; keepalive 16; }
        server {
            listen 80;
            server_name example.com www.example.com;
            proxy_connect_timeout 5;
            proxy_set_header Connection "";
            proxy_http_version 1.1;
            location / {
                proxy_pass http://app;
            }
            location /slow/ {
                proxy_read_timeout 1m30s;
                proxy_set_header Host $host;
                proxy_pass http://app;
                location /slow/nested/ {
                    proxy_send_timeout 500ms;
                    proxy_pass http://app;
                }
            }
            location /upload/ {
                client_max_body_size 0;
                proxy_buffer_size 16k;
                proxy_pass http://app;
            }
        }
    }
"""


def test_inheritance_http_server_location_nested(tmp_path):
    res = analyze(tmp_path, INHERIT)
    assert res["errors"] == []
    r = routes_by_location(res)
    assert set(r) == {"/", "/slow/", "/slow/ > /slow/nested/", "/upload/"}
    assert r["/"]["timeouts"] == {"connect": 5.0, "read": 30.0, "send": 60.0}
    assert r["/slow/"]["timeouts"] == {"connect": 5.0, "read": 90.0, "send": 60.0}
    assert r["/slow/ > /slow/nested/"]["timeouts"] == {"connect": 5.0, "read": 90.0, "send": 0.5}
    assert r["/"]["client_max_body_size"] == 10 * 1024 * 1024
    assert r["/upload/"]["client_max_body_size"] == 0
    assert r["/upload/"]["buffers"] == {"buffer_size": 16384, "buffers": {"number": 8, "size": PAGE},
                                        "busy_buffers_size": 2 * max(16384, PAGE)}
    assert r["/"]["id"] == "example.com:80 /"
    assert r["/slow/ > /slow/nested/"]["id"] == "example.com:80 /slow/ > /slow/nested/"
    assert r["/"]["server_names"] == ["example.com", "www.example.com"]


def test_proxy_set_header_in_a_location_replaces_inherited_ones(tmp_path):
    r = routes_by_location(analyze(tmp_path, INHERIT))
    # server-level Connection "" applies where the location sets no proxy_set_header ...
    assert r["/"]["connection_header_cleared"] is True
    assert r["/"]["http_version"] == "1.1"
    assert r["/"]["keepalive_in_use"] is True
    assert r["/upload/"]["keepalive_in_use"] is True
    # ... but /slow/ defines its own proxy_set_header: the inherited Connection "" is gone,
    assert r["/slow/"]["connection_header_cleared"] is False
    assert r["/slow/"]["keepalive_in_use"] is False
    # and its nested location inherits /slow/'s set, not the server's.
    assert r["/slow/ > /slow/nested/"]["connection_header_cleared"] is False


def test_defaults_before_1_29_7(tmp_path):
    res = analyze(tmp_path, """
        http {
            upstream app { server unix:/run/app.sock; }
            server { location / { proxy_pass http://app; } }
        }
    """, version="1.22.1")
    (route,) = res["routes"]
    assert route["timeouts"] == {"connect": 60.0, "read": 60.0, "send": 60.0}
    assert route["buffers"] == {"buffer_size": PAGE, "buffers": {"number": 8, "size": PAGE}, "busy_buffers_size": 2 * PAGE}
    assert route["http_version"] == "1.0"
    assert route["connection_header_cleared"] is False
    assert route["keepalive_in_use"] is False
    assert route["client_max_body_size"] == 1024 * 1024
    up = res["upstreams"]["app"]
    assert up["keepalive"] is None
    assert up["keepalive_timeout"] == 60.0
    assert up["keepalive_requests"] == 1000
    assert up["servers"][0]["params"] == {"weight": 1, "max_fails": 1, "fail_timeout": 10.0, "backup": False,
                                          "down": False, "max_conns": 0, "resolve": False}
    server = res["servers"][0]
    assert server["names"] == []
    assert server["listen"] == [{"raw": "*:80", "host": "*", "port": 80, "unix": None, "ssl": False,
                                 "default_server": False, "ipv6": False}]
    assert route["id"] == "_:80 /"


def test_defaults_from_1_29_7_keep_alive(tmp_path):
    conf = """
        http {
            upstream app { server unix:/run/app.sock; }
            upstream nokeep { server unix:/run/app.sock; keepalive 0; }
            server {
                location / { proxy_pass http://app; }
                location /close/ { proxy_set_header Connection close; proxy_pass http://app; }
                location /old/ { proxy_http_version 1.0; proxy_pass http://app; }
                location /nokeep/ { proxy_pass http://nokeep; }
                location /direct/ { proxy_pass http://127.0.0.1:8000; }
            }
        }
    """
    r = routes_by_location(analyze(tmp_path, conf, version="1.29.7"))
    assert r["/"]["http_version"] == "1.1"
    assert r["/"]["connection_header_cleared"] is True
    assert r["/"]["keepalive_in_use"] is True
    assert r["/close/"]["keepalive_in_use"] is False
    assert r["/old/"]["keepalive_in_use"] is False
    assert r["/nokeep/"]["keepalive_in_use"] is False
    assert r["/direct/"]["keepalive_in_use"] is False
    res = analyze(tmp_path, conf, version="1.30.0")
    assert res["upstreams"]["app"]["keepalive"] == 32
    assert res["upstreams"]["nokeep"]["keepalive"] == 0


def test_websocket_map_that_yields_empty_connection_counts_as_cleared(tmp_path):
    r = routes_by_location(analyze(tmp_path, """
        http {
            map $http_upgrade $conn_keep { default upgrade; '' ''; }
            map $http_upgrade $conn_close { default upgrade; '' close; }
            upstream app { server 127.0.0.1:8000; keepalive 8; }
            server {
                proxy_http_version 1.1;
                location /a/ { proxy_set_header Connection $conn_keep; proxy_pass http://app; }
                location /b/ { proxy_set_header Connection $conn_close; proxy_pass http://app; }
                location /c/ { proxy_set_header connection ""; proxy_pass http://app; }
            }
        }
    """))
    assert r["/a/"]["connection_header_cleared"] is True and r["/a/"]["keepalive_in_use"] is True
    assert r["/b/"]["connection_header_cleared"] is False and r["/b/"]["keepalive_in_use"] is False
    assert r["/c/"]["connection_header_cleared"] is True


def test_other_families_use_their_own_directives(tmp_path):
    r = routes_by_location(analyze(tmp_path, """
        http {
            proxy_read_timeout 5s;
            uwsgi_read_timeout 300s;
            fastcgi_connect_timeout 2s;
            grpc_send_timeout 7s;
            upstream php { server unix:/run/php.sock; keepalive 4; }
            server {
                uwsgi_buffer_size 32k;
                uwsgi_buffers 8 32k;
                uwsgi_busy_buffers_size 64k;
                location /u/ { uwsgi_pass unix:/run/uwsgi.sock; }
                location /f/ { fastcgi_pass php; fastcgi_keep_conn on; }
                location /f2/ { fastcgi_pass php; }
                location /g/ { grpc_pass grpc://127.0.0.1:50051; grpc_buffer_size 8k; }
                location /s/ { scgi_pass 127.0.0.1:4000; scgi_read_timeout 1m; }
            }
        }
    """))
    u = r["/u/"]
    assert (u["directive"], u["protocol"]) == ("uwsgi_pass", "uwsgi")
    assert u["timeouts"] == {"connect": 60.0, "read": 300.0, "send": 60.0}
    assert u["buffers"] == {"buffer_size": 32768, "buffers": {"number": 8, "size": 32768}, "busy_buffers_size": 65536}
    assert u["http_version"] is None and u["keepalive_in_use"] is False
    assert r["/f/"]["timeouts"]["connect"] == 2.0 and r["/f/"]["timeouts"]["read"] == 60.0
    assert r["/f/"]["keepalive_in_use"] is True
    assert r["/f2/"]["keepalive_in_use"] is False
    assert r["/f/"]["endpoints"] == [{"kind": "unix", "path": "/run/php.sock"}]
    g = r["/g/"]
    assert g["protocol"] == "grpc"
    assert g["timeouts"] == {"connect": 60.0, "read": 60.0, "send": 7.0}
    assert g["buffers"] == {"buffer_size": 8192, "buffers": None, "busy_buffers_size": None}
    assert r["/s/"]["timeouts"]["read"] == 60.0 * 1 and r["/s/"]["protocol"] == "scgi"


def test_invalid_values_become_errors_and_defaults(tmp_path):
    res = analyze(tmp_path, """
        http {
            server {
                location / {
                    proxy_read_timeout soon;
                    proxy_buffer_size big;
                    proxy_pass http://127.0.0.1:8000;
                }
                location /php/ { fastcgi_pass 127.0.0.1; }
            }
        }
    """)
    r = routes_by_location(res)
    assert r["/"]["timeouts"]["read"] == 60.0
    assert r["/"]["buffers"]["buffer_size"] == PAGE
    assert r["/php/"]["endpoints"] == []
    messages = [e["message"] for e in res["errors"]]
    assert any("proxy_read_timeout" in m and "nginx.conf:5:" in m for m in messages), messages
    assert any("proxy_buffer_size" in m for m in messages), messages
    assert any("no port" in m and "fastcgi_pass" in m for m in messages), messages
    assert all(e["source"] == "nginx_conf" for e in res["errors"])


# --------------------------------------------------------------------------- routes


def test_named_nested_if_and_limit_except(tmp_path):
    res = analyze(tmp_path, """
        http {
            upstream app_server { server unix:/tmp/gunicorn.sock fail_timeout=0; }
            server {
                listen 8080;
                server_name _;
                location / { try_files $uri @proxy_to_app; }
                location @proxy_to_app { proxy_pass http://app_server; }
                location /api/ {
                    proxy_read_timeout 10s;
                    location ~ \\.json$ {
                        if ($request_method = POST) {
                            proxy_read_timeout 20s;
                            proxy_pass http://127.0.0.1:9000;
                        }
                    }
                }
                location = /exact { limit_except GET { proxy_pass http://127.0.0.1:9001; } }
                location ^~ /both/ {
                    if ($arg_x) { proxy_pass http://127.0.0.1:9002; }
                    proxy_pass http://127.0.0.1:9003;
                }
                location /static/ { root /srv; }
            }
        }
    """)
    assert res["errors"] == []
    r = routes_by_location(res)
    assert set(r) == {"@proxy_to_app", "/api/ > ~ \\.json$", "= /exact", "^~ /both/", "^~ /both/ > if ($arg_x)"}
    named = r["@proxy_to_app"]
    assert named["upstream"] == "app_server"
    assert named["endpoints"] == [{"kind": "unix", "path": "/tmp/gunicorn.sock"}]
    assert named["id"] == "_:8080 @proxy_to_app"
    nested = r["/api/ > ~ \\.json$"]
    assert nested["target"] == "http://127.0.0.1:9000"
    assert nested["timeouts"]["read"] == 20.0  # the if block's own value
    assert r["= /exact"]["target"] == "http://127.0.0.1:9001"
    # a pass directly in the location and one in an if block: nginx uses the if block's when its
    # condition holds, so both are routes, the if block's marked conditional
    both, cond = r["^~ /both/"], r["^~ /both/ > if ($arg_x)"]
    assert (both["target"], both["conditional"], both["condition"]) == ("http://127.0.0.1:9003", False, None)
    assert (cond["target"], cond["conditional"], cond["condition"]) == ("http://127.0.0.1:9002", True, "if ($arg_x)")
    assert cond["id"] == "_:8080 ^~ /both/ > if ($arg_x)" and cond["endpoints"][0]["port"] == 9002
    # a location whose only pass is in an if / limit_except block keeps the location's id
    assert (nested["conditional"], nested["condition"]) == (True, "if ($request_method = POST)")
    assert nested["id"] == "_:8080 /api/ > ~ \\.json$"
    assert (r["= /exact"]["conditional"], r["= /exact"]["condition"]) == (True, "limit_except GET")
    assert named["conditional"] is False
    for route in res["routes"]:
        assert route["file"].endswith("nginx.conf") and isinstance(route["line"], int)


def test_route_file_and_line_point_at_the_pass_directive(tmp_path):
    write(tmp_path, "sites/app.conf", """\
        upstream wsgi_app {
            server unix:/run/gunicorn/gunicorn.sock fail_timeout=0;
        }
        server {
            listen 80 default_server;
            server_name _;
            location / {
                proxy_pass http://wsgi_app;
            }
        }
    """)
    conf = write(tmp_path, "nginx.conf", """\
        user www-data;
        error_log /var/log/nginx/error.log;
        events {}
        http {
            error_log /var/log/nginx/http.log warn;
            include sites/*.conf;
        }
    """)
    res = analyze_config(parse(conf))
    (route,) = res["routes"]
    assert route["file"] == str(tmp_path / "sites" / "app.conf")
    assert route["line"] == 8
    assert route["listen"][0]["default_server"] is True
    up = res["upstreams"]["wsgi_app"]
    assert (up["file"], up["line"]) == (str(tmp_path / "sites" / "app.conf"), 1)
    assert up["servers"][0]["params"]["fail_timeout"] == 0.0
    assert res["user"] == "www-data" and res["group"] == "www-data"
    assert res["user_directive"] == {"file": conf, "line": 1}
    assert [(e["path"], e["level"], e["context"]) for e in res["error_logs"]] == [
        ("/var/log/nginx/error.log", "error", "main"), ("/var/log/nginx/http.log", "warn", "http")]


def test_duplicate_ids_get_a_suffix_and_variables_are_dynamic(tmp_path):
    res = analyze(tmp_path, """
        http {
            upstream app { server 127.0.0.1:8000; server 127.0.0.1:8001 backup; }
            server {
                location / { proxy_pass http://$backend; }
                location /re/ { proxy_pass http://app/$1; }
            }
            server {
                location / { proxy_pass http://127.0.0.1:7000$request_uri; }
            }
        }
    """)
    ids = [r["id"] for r in res["routes"]]
    assert ids == ["_:80 /", "_:80 /re/", "_:80 / #2"]
    var, upstream, uri_var = res["routes"]
    assert var["dynamic"] is True and var["endpoints"] == [] and var["upstream"] is None
    assert upstream["dynamic"] is True and upstream["upstream"] == "app"
    assert [e["port"] for e in upstream["endpoints"]] == [8000, 8001]
    assert uri_var["dynamic"] is True and uri_var["endpoints"][0]["port"] == 7000


def test_servers_listen_and_error_logs(tmp_path):
    res = analyze(tmp_path, """
        error_log stderr info;
        http {
            server {
                listen 80;
                listen [::]:80 ipv6only=on;
                server_name a.example;
                error_log /var/log/nginx/a.log;
            }
            server {
                listen 127.0.0.1:8080 default_server ssl;
                listen unix:/run/nginx/b.sock;
                server_name b.example "";
                error_log /dev/null crit;
            }
        }
    """)
    a, b = res["servers"]
    assert a["names"] == ["a.example"]
    assert [(x["host"], x["port"], x["ipv6"]) for x in a["listen"]] == [("*", 80, False), ("::", 80, True)]
    assert b["names"] == ["b.example"]
    assert b["listen"][0]["ssl"] and b["listen"][0]["default_server"]
    assert b["listen"][1]["unix"] == "/run/nginx/b.sock"
    logs = [(e["path"], e["level"], e["context"], e["server_names"]) for e in res["error_logs"]]
    assert logs == [("stderr", "info", "main", []),
                    ("/var/log/nginx/a.log", "error", "server", ["a.example"]),
                    ("/dev/null", "crit", "server", ["b.example"])]


def test_upstream_params_and_keepalive_settings(tmp_path):
    res = analyze(tmp_path, """
        http {
            upstream pool {
                least_conn;
                server 10.0.0.1:8000 weight=5 max_fails=3 fail_timeout=30s max_conns=10;
                server 10.0.0.2:8000 backup;
                server 10.0.0.3 down;
                server [::1]:8000 resolve;
                keepalive 16;
                keepalive_timeout 75s;
                keepalive_requests 500;
            }
        }
    """)
    pool = res["upstreams"]["pool"]
    assert (pool["keepalive"], pool["keepalive_timeout"], pool["keepalive_requests"]) == (16, 75.0, 500)
    s = pool["servers"]
    assert [x["address"] for x in s] == ["10.0.0.1:8000", "10.0.0.2:8000", "10.0.0.3", "[::1]:8000"]
    assert s[0]["params"]["weight"] == 5 and s[0]["params"]["max_fails"] == 3
    assert s[0]["params"]["fail_timeout"] == 30.0 and s[0]["params"]["max_conns"] == 10
    assert s[1]["params"]["backup"] is True and s[2]["params"]["down"] is True
    assert s[2]["endpoint"]["port"] == 80
    assert s[3]["params"]["resolve"] is True
    assert s[3]["endpoint"] == {"kind": "tcp", "host": "::1", "port": 8000, "family": "inet6",
                                "addresses": [{"family": "inet6", "address": "::1"}]}


def test_snippet_with_top_level_server_is_read_as_http(tmp_path):
    res = analyze(tmp_path, """
        upstream app { server 127.0.0.1:8000; }
        server { listen 81; location / { proxy_pass http://app; } }
    """)
    assert [r["id"] for r in res["routes"]] == ["_:81 /"]
    assert res["upstreams"]["app"]["servers"][0]["endpoint"]["port"] == 8000


# --------------------------------------------------------------------------- resolution


def _gai(table):
    calls = []

    def gai(host, port, family, type_, proto, flags):
        calls.append(host)
        if host not in table:
            raise socket.gaierror(-2, "Name or service not known")
        return [(fam, socket.SOCK_STREAM, 6, "", (addr, port) if fam == socket.AF_INET else (addr, port, 0, 0))
                for fam, addr in table[host]]
    return gai, calls


RESOLVE_CONF = """
    http {
        upstream app { server app.internal:8000; server localhost:8001; }
        server {
            location / { proxy_pass http://localhost:8000; }
            location /b/ { proxy_pass http://localhost:8000/b/; }
            location /app/ { proxy_pass http://app; }
            location /gone/ { proxy_pass http://gone.invalid; }
        }
    }
"""


def test_names_resolve_in_resolver_order_once(tmp_path):
    gai, calls = _gai({"localhost": [(socket.AF_INET6, "::1"), (socket.AF_INET, "127.0.0.1")],
                       "app.internal": [(socket.AF_INET, "10.1.2.3"), (socket.AF_INET, "10.1.2.3")]})
    res = analyze(tmp_path, RESOLVE_CONF, resolve=True, getaddrinfo=gai)
    r = routes_by_location(res)
    assert r["/"]["endpoints"] == [{"kind": "tcp", "host": "localhost", "port": 8000, "family": "name",
                                    "addresses": [{"family": "inet6", "address": "::1"},
                                                  {"family": "inet", "address": "127.0.0.1"}]}]
    assert [e["addresses"] for e in r["/app/"]["endpoints"]] == [
        [{"family": "inet", "address": "10.1.2.3"}],
        [{"family": "inet6", "address": "::1"}, {"family": "inet", "address": "127.0.0.1"}]]
    assert r["/gone/"]["endpoints"][0]["addresses"] == []
    assert [e["source"] for e in res["errors"]] == ["resolve"]
    assert "gone.invalid" in res["errors"][0]["message"]
    # localhost:8000 asked once, although two routes use it
    assert sorted(calls) == sorted(["app.internal", "localhost", "localhost", "gone.invalid"])


def test_resolve_false_does_not_ask(tmp_path):
    gai, calls = _gai({})
    res = analyze(tmp_path, RESOLVE_CONF, resolve=False, getaddrinfo=gai)
    assert calls == [] and res["errors"] == []
    assert all(e["addresses"] == [] for r in res["routes"] for e in r["endpoints"])


# --------------------------------------------------------------------------- corpus


def corpus(rel):
    path = CORPUS / rel
    if not path.exists():
        pytest.skip("corpus file %s is not available" % path)
    return str(path)


def test_corpus_gunicorn_example():
    res = analyze_config(parse(corpus("gunicorn/examples/nginx.conf")), resolve=False)
    assert [(r["id"], r["upstream"], r["endpoints"]) for r in res["routes"]] == [
        ("example.com:80 @proxy_to_app", "app_server", [{"kind": "unix", "path": "/tmp/gunicorn.sock"}])]
    assert res["user"] == "nobody" and res["group"] == "nogroup"
    assert res["routes"][0]["client_max_body_size"] == 4 * 1024 ** 3
    assert res["upstreams"]["app_server"]["servers"][0]["params"]["fail_timeout"] == 0.0
    assert [s["listen"][0]["default_server"] for s in res["servers"]] == [True, False]
    assert res["error_logs"][0]["level"] == "warn"


def test_corpus_uvicorn_docs():
    res = analyze_config(parse(corpus("uvicorn/docs/deployment/index.md.L160-L193.conf")), resolve=False)
    (route,) = res["routes"]
    assert (route["id"], route["upstream"], route["endpoints"]) == (
        "example.com:80 /", "uvicorn", [{"kind": "unix", "path": "/tmp/uvicorn.sock"}])
    # Connection $connection_upgrade maps '' to close: no keep-alive
    assert route["connection_header_cleared"] is False


def test_corpus_netbox_included_in_http(tmp_path):
    conf = write(tmp_path, "nginx.conf", "events {}\nhttp { include %s; }\n" % corpus("netbox/contrib/nginx.conf"))
    res = analyze_config(parse(conf), resolve=False)
    (route,) = res["routes"]
    assert route["id"] == "netbox.example.com:443 /"
    assert route["endpoints"] == [{"kind": "tcp", "host": "127.0.0.1", "port": 8001, "family": "inet",
                                   "addresses": [{"family": "inet", "address": "127.0.0.1"}]}]
    assert route["client_max_body_size"] == 25 * 1024 * 1024
    assert route["listen"][0]["ipv6"] is True and route["listen"][0]["ssl"] is True
    assert [s["names"] for s in res["servers"]] == [["netbox.example.com"], ["_"]]


def test_corpus_flask_snippet():
    res = analyze_config(parse(corpus("flask/docs/deploying/nginx.rst.L56-L67.conf")), resolve=False)
    (route,) = res["routes"]
    assert (route["id"], route["target"], route["endpoints"][0]["port"]) == ("_:80 /", "http://127.0.0.1:8000/", 8000)


def test_corpus_gunicorn_uwsgi_and_asgi_rigs():
    res = analyze_config(parse(corpus("gunicorn/tests/docker/uwsgi/nginx.conf")), resolve=False)
    (route,) = res["routes"]
    assert (route["directive"], route["upstream"], route["timeouts"]["read"]) == ("uwsgi_pass", "gunicorn", 300.0)
    assert route["buffers"]["busy_buffers_size"] == 65536
    assert route["endpoints"][0]["host"] == "gunicorn" and route["endpoints"][0]["port"] == 8000

    res = analyze_config(parse(corpus("gunicorn/tests/docker/asgi_compliance/nginx.conf")), resolve=False)
    ids = [r["id"] for r in res["routes"]]
    assert ids == ["localhost:8080 /ws/", "localhost:8080 /stream/", "localhost:8080 /",
                   "localhost:8444 /ws/", "localhost:8444 /stream/", "localhost:8444 /"]
    assert all(r["keepalive_in_use"] for r in res["routes"])
    assert routes_by_location(res)["/ws/"]["timeouts"] == {"connect": 60.0, "read": 300.0, "send": 300.0}


def test_inherited_invalid_value_is_reported_once_and_shared_values_are_consistent(tmp_path):
    conf = write(tmp_path, "nginx.conf", """\
        http {
            proxy_read_timeout 5q;
            upstream app { server 127.0.0.1:8000; server unix:/run/app.sock; }
            server {
                listen 8080;
                location /a { proxy_pass http://app; }
                location /b { proxy_pass http://app; proxy_read_timeout 7s; }
                location /c { include params; uwsgi_pass unix:/run/u.sock; }
                location /d { include params; uwsgi_pass unix:/run/u.sock; }
            }
        }
    """)
    write(tmp_path, "params", "uwsgi_read_timeout 9s;\nuwsgi_param A b;\n")
    result = analyze_config(parse(conf, catch_errors=True), "1.22.1", resolve=False)
    routes = {r["location"]: r for r in result["routes"]}
    assert routes["/a"]["timeouts"]["read"] == V.DEFAULT_TIMEOUT and routes["/b"]["timeouts"]["read"] == 7.0
    # in effect for /a only, written once: one error, not one per route
    assert [e["message"] for e in result["errors"]] == ["%s:2: proxy_read_timeout: invalid time value '5q'" % conf]
    assert routes["/a"]["endpoints"] == routes["/b"]["endpoints"] == [
        {"kind": "tcp", "host": "127.0.0.1", "port": 8000, "family": "inet",
         "addresses": [{"family": "inet", "address": "127.0.0.1"}]},
        {"kind": "unix", "path": "/run/app.sock"}]
    assert routes["/c"]["timeouts"]["read"] == routes["/d"]["timeouts"]["read"] == 9.0
    assert routes["/a"]["listen"][0]["port"] == 8080 and routes["/a"]["server_names"] == []


# --------------------------------------------------------------------------- what nginx itself refuses


def _messages(res):
    return [e["message"].split(": ", 1)[1] for e in res["errors"]]


def test_deep_nesting_loses_neither_siblings_nor_the_rest(tmp_path):
    depth = 3000   # far past Python's recursion limit
    res = analyze(tmp_path, "http {\n server { listen 80;\n location /a { proxy_pass http://127.0.0.1:8001;\n"
                  + "location /n { proxy_pass http://127.0.0.1:8002;\n" * depth + "}\n" * depth
                  + "}\n location /sibling { proxy_pass http://127.0.0.1:8003; }\n }\n"
                  " server { listen 81; location / { proxy_pass http://127.0.0.1:8004; } }\n}\n")
    ports = [r["endpoints"][0]["port"] for r in res["routes"]]
    assert ports[0] == 8001 and ports[-2:] == [8003, 8004]
    assert set(ports[1:-2]) == {8002}
    nested = [r for r in res["routes"] if r["location"].startswith("/a > /n")]
    assert max(r["location"].count(" > ") for r in nested) == NESTING_LIMIT - 3
    assert _messages(res) == ["location /n is nested deeper than %d blocks: it and the locations in it are left out "
                              "of the facts" % NESTING_LIMIT]
    assert res["errors"][0]["message"].startswith("%s:%d:" % (tmp_path / "nginx.conf", NESTING_LIMIT + 1))


def test_a_chain_of_includes_deeper_than_the_recursion_limit(tmp_path):
    count = 1500
    for i in range(count):
        write(tmp_path, "inc/%d.conf" % i, "include inc/%d.conf;\n" % (i + 1) if i + 1 < count
              else "location /deep { proxy_pass http://127.0.0.1:8000; }\n")
    res = analyze(tmp_path, "http { server { include inc/0.conf; } }\n")
    assert [r["location"] for r in res["routes"]] == ["/deep"] and res["errors"] == []


@pytest.mark.parametrize("directive, value, message", [
    ("proxy_read_timeout", "99999999999999999999999d", "proxy_read_timeout: invalid time value '99999999999999999999999d' "
                                                       "(larger than nginx's limit)"),
    ("proxy_read_timeout", "1y", "proxy_read_timeout: invalid time value '1y'"),
    ("proxy_connect_timeout", "\"1 s\"", "proxy_connect_timeout: invalid time value '1 s'"),
    ("client_max_body_size", "9223372036854775808", "client_max_body_size: invalid size '9223372036854775808' "
                                                    "(larger than nginx's limit 9223372036854775807)"),
    ("client_max_body_size", "8589934592g", "client_max_body_size: invalid size '8589934592g' "
                                            "(larger than nginx's limit 9223372036854775807)"),
    ("proxy_buffer_size", "1g", "proxy_buffer_size: invalid size '1g'"),
    ("proxy_buffers", "0 4k", "proxy_buffers: invalid value '0 4k'"),
    ("proxy_http_version", "3", "proxy_http_version: invalid value '3' (1.0, 1.1 or 2)"),
    ("proxy_read_timeout", "30s { }", 'proxy_read_timeout: directive "proxy_read_timeout" is not terminated by ";"'),
])
def test_values_nginx_refuses_are_errors_and_defaults(tmp_path, directive, value, message):
    text = "%s %s" % (directive, value)
    if not value.endswith("}"):
        text += ";"
    res = analyze(tmp_path, "http { server { location / { %s proxy_pass http://127.0.0.1:8000; } } }\n" % text)
    assert _messages(res) == [message]
    (route,) = res["routes"]
    assert route["timeouts"] == {"connect": 60.0, "read": 60.0, "send": 60.0}
    assert route["client_max_body_size"] == V.DEFAULT_CLIENT_MAX_BODY_SIZE
    assert route["buffers"]["buffer_size"] == PAGE and route["http_version"] == "1.0"


def test_upstream_values_nginx_refuses(tmp_path):
    res = analyze(tmp_path, """
        http {
            upstream app {
                server 127.0.0.1:8000 weight=0 fail_timeout=500ms max_fails=99999999999999999999;
                server 127.0.0.1:0;
                server [::1]:65536;
                keepalive 99999999999999999999;
                keepalive_requests +5;
                keepalive_timeout 1M;
            }
            server { location / { proxy_pass http://app; } }
        }
    """)
    messages = _messages(res)
    assert "upstream app server 127.0.0.1:8000: invalid weight '0'" in messages
    assert "upstream app server 127.0.0.1:8000: invalid time value '500ms'" in messages
    assert any("max_fails" in m and "larger than nginx's limit" in m for m in messages)
    assert "upstream app: invalid port in '127.0.0.1:0': port 0 is outside 1-65535" in messages
    assert "upstream app: invalid port in '[::1]:65536': port 65536 is outside 1-65535" in messages
    assert any(m.startswith("keepalive: invalid number '99999999999999999999'") for m in messages)
    assert "keepalive_requests: invalid number '+5'" in messages
    assert "keepalive_timeout: invalid time value '1M'" in messages
    up = res["upstreams"]["app"]
    assert [s["endpoint"] is not None for s in up["servers"]] == [True, False, False]
    assert (up["keepalive"], up["keepalive_requests"], up["keepalive_timeout"]) == (None, 1000, 60.0)


def test_paths_cut_apart_by_unquoted_characters_are_errors_not_endpoints(tmp_path):
    res = analyze(tmp_path, """
        http {
            server {
                location /semicolon { proxy_pass http://unix:/run/app;v2.sock:/; }
                location /blank { uwsgi_pass unix:/run/my app.sock; }
                location /brace { proxy_pass http://127.0.0.1:8000 { } }
                location /fine { proxy_pass http://unix:/run/ok.sock:/; }
            }
        }
    """)
    messages = _messages(res)
    assert 'unknown directive "v2.sock:/"' in messages
    assert 'invalid number of arguments in "uwsgi_pass" directive' in messages
    assert 'directive "proxy_pass" is not terminated by ";"' in messages
    r = routes_by_location(res)
    assert r["/blank"]["endpoints"] == [] and r["/blank"]["target"] == "unix:/run/my app.sock"
    assert r["/brace"]["endpoints"] == []
    assert r["/fine"]["endpoints"] == [{"kind": "unix", "path": "/run/ok.sock"}]
    assert len(messages) == 3


def test_quoted_values_and_third_party_directives_are_not_flagged(tmp_path):
    res = analyze(tmp_path, """
        http {
            map $http_upgrade $connection_upgrade { default upgrade; '' ''; ~^x/y z; }
            types { text/html html; }
            server {
                more_set_headers "X-A: b";
                content_by_lua_block { ngx.say("a;b") }
                location / { proxy_pass "http://unix:/run/my app.sock:/"; }
            }
        }
    """)
    assert res["errors"] == []
    (route,) = res["routes"]
    assert route["endpoints"] == [{"kind": "unix", "path": "/run/my app.sock"}]


@pytest.mark.parametrize("target, shown", [
    ("http://127.0.0.1:8000/api?token=abc123&page=2", "http://127.0.0.1:8000/api?token=********&page=2"),
    ("http://user:s3cr3t@backend:8000/", "http://user:********@backend:8000/"),
    ("http://127.0.0.1:8000/$request_uri", "http://127.0.0.1:8000/$request_uri"),
])
def test_route_targets_are_masked(tmp_path, target, shown):
    res = analyze(tmp_path, "http { server { location / { proxy_pass %s; } } }\n" % target)
    (route,) = res["routes"]
    assert route["target"] == shown
    assert "abc123" not in repr(res) and "s3cr3t" not in repr(res)


def test_bad_values_no_route_uses_are_errors_too(tmp_path):
    # nginx refuses a bad value whether or not a request ever meets it
    res = analyze(tmp_path, """
        http {
            uwsgi_read_timeout 1y;
            server {
                location /static/ { root /srv; fastcgi_keep_conn yes; grpc_buffer_size 1g; }
                location / { proxy_pass http://127.0.0.1:8000; }
            }
        }
    """)
    assert sorted(_messages(res)) == ["fastcgi_keep_conn: invalid value 'yes', it must be \"on\" or \"off\"",
                                      "grpc_buffer_size: invalid size '1g'",
                                      "uwsgi_read_timeout: invalid time value '1y'"]
