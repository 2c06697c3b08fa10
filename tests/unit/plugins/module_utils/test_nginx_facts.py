# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nginx facts section: inheritance, defaults, routes, upstreams, processes, staleness."""
from __future__ import annotations

import os
import socket
import textwrap
import time
from pathlib import Path

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import nginx_facts as NF
from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_values import page_size
from ansible_collections.badgateway.doctor.plugins.module_utils.nginx_parser import parse

CORPUS = Path(__file__).resolve().parents[4] / ".." / "shared" / "corpus" / "nginx"
CORPUS = CORPUS.resolve()
PAGE = page_size()


def write(tmp_path, name, text):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return str(path)


def analyze(tmp_path, text, version=None, resolve=False, getaddrinfo=None, name="nginx.conf"):
    conf = write(tmp_path, name, text)
    return NF.analyze_config(parse(conf), version=version, resolve=resolve, getaddrinfo=getaddrinfo)


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
    assert set(r) == {"@proxy_to_app", "/api/ > ~ \\.json$", "= /exact", "^~ /both/"}
    named = r["@proxy_to_app"]
    assert named["upstream"] == "app_server"
    assert named["endpoints"] == [{"kind": "unix", "path": "/tmp/gunicorn.sock"}]
    assert named["id"] == "_:8080 @proxy_to_app"
    nested = r["/api/ > ~ \\.json$"]
    assert nested["target"] == "http://127.0.0.1:9000"
    assert nested["timeouts"]["read"] == 20.0  # the if block's own value
    assert r["= /exact"]["target"] == "http://127.0.0.1:9001"
    # a pass directly in the location wins over one in an if block
    assert r["^~ /both/"]["target"] == "http://127.0.0.1:9003"
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
    res = NF.analyze_config(parse(conf))
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
    res = NF.analyze_config(parse(corpus("gunicorn/examples/nginx.conf")), resolve=False)
    assert [(r["id"], r["upstream"], r["endpoints"]) for r in res["routes"]] == [
        ("example.com:80 @proxy_to_app", "app_server", [{"kind": "unix", "path": "/tmp/gunicorn.sock"}])]
    assert res["user"] == "nobody" and res["group"] == "nogroup"
    assert res["routes"][0]["client_max_body_size"] == 4 * 1024 ** 3
    assert res["upstreams"]["app_server"]["servers"][0]["params"]["fail_timeout"] == 0.0
    assert [s["listen"][0]["default_server"] for s in res["servers"]] == [True, False]
    assert res["error_logs"][0]["level"] == "warn"


def test_corpus_uvicorn_docs():
    res = NF.analyze_config(parse(corpus("uvicorn/docs/deployment/index.md.L160-L193.conf")), resolve=False)
    (route,) = res["routes"]
    assert (route["id"], route["upstream"], route["endpoints"]) == (
        "example.com:80 /", "uvicorn", [{"kind": "unix", "path": "/tmp/uvicorn.sock"}])
    # Connection $connection_upgrade maps '' to close: no keep-alive
    assert route["connection_header_cleared"] is False


def test_corpus_netbox_included_in_http(tmp_path):
    conf = write(tmp_path, "nginx.conf", "events {}\nhttp { include %s; }\n" % corpus("netbox/contrib/nginx.conf"))
    res = NF.analyze_config(parse(conf), resolve=False)
    (route,) = res["routes"]
    assert route["id"] == "netbox.example.com:443 /"
    assert route["endpoints"] == [{"kind": "tcp", "host": "127.0.0.1", "port": 8001, "family": "inet",
                                   "addresses": [{"family": "inet", "address": "127.0.0.1"}]}]
    assert route["client_max_body_size"] == 25 * 1024 * 1024
    assert route["listen"][0]["ipv6"] is True and route["listen"][0]["ssl"] is True
    assert [s["names"] for s in res["servers"]] == [["netbox.example.com"], ["_"]]


def test_corpus_flask_snippet():
    res = NF.analyze_config(parse(corpus("flask/docs/deploying/nginx.rst.L56-L67.conf")), resolve=False)
    (route,) = res["routes"]
    assert (route["id"], route["target"], route["endpoints"][0]["port"]) == ("_:80 /", "http://127.0.0.1:8000/", 8000)


def test_corpus_gunicorn_uwsgi_and_asgi_rigs():
    res = NF.analyze_config(parse(corpus("gunicorn/tests/docker/uwsgi/nginx.conf")), resolve=False)
    (route,) = res["routes"]
    assert (route["directive"], route["upstream"], route["timeouts"]["read"]) == ("uwsgi_pass", "gunicorn", 300.0)
    assert route["buffers"]["busy_buffers_size"] == 65536
    assert route["endpoints"][0]["host"] == "gunicorn" and route["endpoints"][0]["port"] == 8000

    res = NF.analyze_config(parse(corpus("gunicorn/tests/docker/asgi_compliance/nginx.conf")), resolve=False)
    ids = [r["id"] for r in res["routes"]]
    assert ids == ["localhost:8080 /ws/", "localhost:8080 /stream/", "localhost:8080 /",
                   "localhost:8444 /ws/", "localhost:8444 /stream/", "localhost:8444 /"]
    assert all(r["keepalive_in_use"] for r in res["routes"])
    assert routes_by_location(res)["/ws/"]["timeouts"] == {"connect": 60.0, "read": 300.0, "send": 300.0}


# --------------------------------------------------------------------------- nginx -T


# What `nginx -T` printed on a lab host (Debian bookworm, nginx 1.22.1), trimmed: the
# mime.types body is shortened and comments removed.
NGINX_T = """\
# configuration file /etc/nginx/nginx.conf:
user www-data;
worker_processes auto;
pid /run/nginx.pid;
error_log /var/log/nginx/error.log;
include /etc/nginx/modules-enabled/*.conf;

events {
\tworker_connections 768;
}

http {
\tsendfile on;
\tinclude /etc/nginx/mime.types;
\tdefault_type application/octet-stream;
\taccess_log /var/log/nginx/access.log;
\tinclude /etc/nginx/conf.d/*.conf;
\tinclude /etc/nginx/sites-enabled/*;
}

# configuration file /etc/nginx/mime.types:

types {
    text/html                             html htm shtml;
    text/css                              css;
}

# configuration file /etc/nginx/sites-enabled/lab:
upstream wsgi_app {
    server unix:/run/gunicorn/gunicorn.sock fail_timeout=0;
}

server {
    listen 80 default_server;
    server_name _;

    location / {
        proxy_set_header Host $host;
        proxy_pass http://wsgi_app;
    }

    location /asgi/ {
        proxy_pass http://127.0.0.1:8001/;
    }
}

"""


def test_nginx_T_output_gives_the_same_facts_as_the_files(tmp_path):
    errors = []
    payload, files = NF.payload_from_nginx_T(NGINX_T, errors)
    assert errors == []
    assert list(files) == ["/etc/nginx/nginx.conf", "/etc/nginx/mime.types", "/etc/nginx/sites-enabled/lab"]
    assert [c["file"] for c in payload["config"]] == list(files)
    from_t = NF.analyze_config(payload, version="1.22.1", resolve=False)
    r = routes_by_location(from_t)
    assert r["/"]["upstream"] == "wsgi_app"
    assert r["/"]["endpoints"] == [{"kind": "unix", "path": "/run/gunicorn/gunicorn.sock"}]
    assert r["/asgi/"]["endpoints"][0]["port"] == 8001
    assert (r["/"]["file"], r["/"]["line"]) == ("/etc/nginx/sites-enabled/lab", 11)
    assert from_t["user"] == "www-data"

    # the same files on disk, under tmp_path, give the same routes
    for path, text in files.items():
        write(tmp_path, path.lstrip("/"), text)
    main = tmp_path / "etc/nginx/nginx.conf"
    main.write_text(main.read_text().replace("/etc/nginx/", str(tmp_path / "etc/nginx") + "/"))
    from_disk = NF.analyze_config(parse(str(main)), version="1.22.1", resolve=False)

    def strip(routes):
        return [dict(r, file=os.path.basename(r["file"])) for r in routes]
    assert strip(from_disk["routes"]) == strip(from_t["routes"])


def test_nginx_T_without_files_is_an_error():
    errors = []
    assert NF.payload_from_nginx_T("nginx: [emerg] unexpected end of file\n", errors) == (None, None)
    assert errors and errors[0]["source"] == "nginx_bin"


# --------------------------------------------------------------------------- nginx -V


def test_parse_nginx_V_debian():
    text = ("nginx version: nginx/1.22.1\nbuilt with OpenSSL 3.0.20 7 Apr 2026\nTLS SNI support enabled\n"
            "configure arguments: --with-cc-opt='-g -O2 -ffile-prefix-map=/build/nginx-1.22.1=. -fPIC' "
            "--prefix=/usr/share/nginx --conf-path=/etc/nginx/nginx.conf --error-log-path=stderr "
            "--pid-path=/run/nginx.pid --with-threads\n")
    info = NF.parse_nginx_V(text)
    assert info["version"] == "1.22.1"
    c = info["configure"]
    assert c["prefix"] == "/usr/share/nginx" and c["conf-path"] == "/etc/nginx/nginx.conf"
    assert c["with-cc-opt"].startswith("-g -O2") and c["with-threads"] is True
    assert "user" not in c


def test_parse_nginx_V_nginx_org_and_openresty():
    info = NF.parse_nginx_V("nginx version: nginx/1.29.7\nconfigure arguments: --prefix=/etc/nginx "
                            "--user=nginx --group=nginx --conf-path=/etc/nginx/nginx.conf\n")
    assert info["version"] == "1.29.7"
    assert (info["configure"]["user"], info["configure"]["group"]) == ("nginx", "nginx")
    assert NF.parse_nginx_V("nginx version: openresty/1.21.4.1\n")["version"] == "1.21.4.1"
    assert NF.parse_nginx_V("nginx version: nginx/1.24.0 (Ubuntu)\n")["version"] == "1.24.0"


# --------------------------------------------------------------------------- processes, staleness


def test_stale_files_compares_with_the_oldest_worker():
    files = [("/etc/nginx/nginx.conf", 1000.0), ("/etc/nginx/sites-enabled/app", 2000.5)]
    assert NF.stale_files(files, None) == []
    assert NF.stale_files(files, 3000.0) == []
    assert NF.stale_files(files, 1500.0) == [{"path": "/etc/nginx/sites-enabled/app", "mtime": 2000.5}]
    assert NF.stale_files(files, 2000.45, slack=0.1) == []
    assert len(NF.stale_files(files, 999.0)) == 2


def make_proc(root, uptime, processes, clk_tck):
    """A /proc tree: ``processes`` is [(pid, ppid, title, uid, started_seconds_after_boot)]."""
    root.mkdir()
    (root / "uptime").write_text("%.2f 12345.67\n" % uptime)
    (root / "stat").write_text("cpu  1 2 3\nbtime %d\n" % int(time.time() - uptime))
    for pid, ppid, title, uid, started in processes:
        d = root / str(pid)
        d.mkdir()
        (d / "cmdline").write_bytes(title.encode() + b"\0" * 8)
        (d / "comm").write_text(title.split()[0].rstrip(":") + "\n")
        ticks = int(started * clk_tck)
        fields = ["S", str(ppid)] + ["0"] * 17 + [str(ticks)] + ["0"] * 10
        (d / "stat").write_text("%d (nginx) %s\n" % (pid, " ".join(fields)))
        (d / "status").write_text("Name:\tnginx\nUid:\t%d\t%d\t%d\t%d\n" % (uid, uid, uid, uid))
    (root / "self").mkdir()


def test_processes_and_stale_detection_with_fake_times(tmp_path):
    clk = os.sysconf("SC_CLK_TCK")
    uptime = 100000.0
    now = time.time()
    boot = now - uptime
    master_at, workers_at = uptime - 5000, uptime - 600     # master 5000 s ago, reload 600 s ago
    proc = tmp_path / "proc"
    make_proc(proc, uptime, [
        (100, 1, "nginx: master process /usr/sbin/nginx -g daemon on; master_process on;", 0, master_at),
        (101, 100, "nginx: worker process", 33, workers_at),
        (102, 100, "nginx: worker process", 33, workers_at + 30),
        (103, 100, "nginx: worker process is shutting down", 33, 10.0),
        (104, 100, "nginx: cache manager process", 33, workers_at),
        (200, 1, "python3 -c nginx: worker process", 0, 1.0),
    ], clk)
    conf = write(tmp_path, "nginx.conf", "events {}\nhttp { include site.conf; }\n")
    site = write(tmp_path, "site.conf", "server { location / { proxy_pass http://127.0.0.1:8000; } }\n")
    worker_start = boot + workers_at
    os.utime(conf, (worker_start - 3600, worker_start - 3600))
    os.utime(site, (worker_start - 60, worker_start - 60))

    facts = NF.collect_nginx(conf_path=conf, binary=str(tmp_path / "no-nginx"), run_test=False, proc=str(proc))
    # the module's boot time is time.time() - uptime when it reads /proc/uptime: later than ``now`` by the
    # time this test took so far (seconds on a loaded machine), plus /proc/uptime's 10 ms resolution
    slack = 0.05 + (time.time() - now)
    assert facts["master_pid"] == 100
    assert facts["worker_pids"] == [101, 102]
    assert facts["worker_users"] == [NF._proc.user_name(33)]
    assert abs(facts["master_started"] - (boot + master_at)) < slack
    assert abs(facts["workers_started"] - worker_start) < slack
    assert facts["files"] == [conf, site]
    assert facts["stale"] is False and facts["stale_files"] == []

    # edited after the workers started, not reloaded
    os.utime(site, (worker_start + 120, worker_start + 120))
    facts = NF.collect_nginx(conf_path=conf, binary=str(tmp_path / "no-nginx"), run_test=False, proc=str(proc))
    assert facts["stale"] is True
    assert facts["stale_files"] == [{"path": site, "mtime": os.stat(site).st_mtime}]


def test_master_is_chosen_by_pid_file(tmp_path):
    procs = [
        {"pid": 10, "ppid": 1, "role": "master", "title": "nginx: master process nginx -c /a.conf", "user": "root", "start_time": 1.0},
        {"pid": 20, "ppid": 1, "role": "master", "title": "nginx: master process nginx -c /b.conf", "user": "root", "start_time": 1.0},
    ]
    assert NF.select_master(procs)["pid"] == 10
    assert NF.select_master(procs, pid_from_file=20)["pid"] == 20
    assert NF.select_master(procs, conf_path="/b.conf")["pid"] == 20
    assert NF.select_master([]) is None


def test_real_proc_scan_does_not_fail():
    processes, precise, errors = NF.scan_processes("/proc")
    assert isinstance(processes, list) and isinstance(precise, bool)
    assert all(p["role"] in ("master", "worker") for p in processes)


# --------------------------------------------------------------------------- collect_nginx


def test_collect_without_binary_parses_only_the_given_file(tmp_path, monkeypatch):
    conf = write(tmp_path, "nginx.conf", "user app appgroup;\nhttp { server { location / { proxy_pass http://127.0.0.1:8000; } } }\n")
    facts = NF.collect_nginx(conf_path=conf, binary=str(tmp_path / "missing"), run_test=True, proc=str(tmp_path))
    assert facts["present"] is False and facts["binary"] is None
    assert facts["test"] == {"ok": None, "rc": None, "output": "", "skipped": False}
    assert facts["source"] == "files"
    assert facts["user"] == "app" and facts["group"] == "appgroup"
    assert [r["id"] for r in facts["routes"]] == ["_:80 /"]
    assert [e["source"] for e in facts["errors"]] == ["nginx_bin"]  # only: the named binary is missing
    assert set(facts) == {
        "present", "binary", "version", "conf_path", "prefix", "compiled_user", "source", "test", "files",
        "user", "group", "user_directive", "worker_users", "master_pid", "worker_pids", "master_started",
        "workers_started", "stale", "stale_files", "error_logs", "servers", "upstreams", "routes", "timings",
        "errors"}


def test_collect_reports_missing_and_unreadable_files(tmp_path):
    (tmp_path / "adir.conf").mkdir()
    conf = write(tmp_path, "nginx.conf", """\
        http {
            include adir.conf;
            include missing.conf;
            server { location / { proxy_pass http://127.0.0.1:8000; } }
        }
    """)
    facts = NF.collect_nginx(conf_path=conf, binary=str(tmp_path / "missing"), run_test=False, proc=str(tmp_path))
    conf_errors = [e for e in facts["errors"] if e["source"] == "nginx_conf"]
    assert len(conf_errors) == 2, facts["errors"]
    assert all(e["path"] == conf for e in conf_errors)
    assert any("missing.conf" in e["message"] for e in conf_errors)
    assert [r["id"] for r in facts["routes"]] == ["_:80 /"]

    missing = NF.collect_nginx(conf_path=str(tmp_path / "nope.conf"), binary=str(tmp_path / "missing"),
                               run_test=False, proc=str(tmp_path))
    assert any(e["source"] == "nginx_conf" and "does not exist" in e["message"] for e in missing["errors"])
    assert missing["routes"] == []


def test_include_cycle_is_one_error_and_the_rest_is_read(tmp_path):
    write(tmp_path, "a.conf", "include b.conf;\nserver { location / { proxy_pass http://127.0.0.1:8000; } }\n")
    write(tmp_path, "b.conf", "include a.conf;\n")
    conf = write(tmp_path, "nginx.conf", "http { include a.conf; }\n")
    facts = NF.collect_nginx(conf_path=conf, binary=str(tmp_path / "missing"), run_test=False, proc=str(tmp_path))
    cycle = [e for e in facts["errors"] if e["source"] != "nginx_bin"]
    assert len(cycle) == 1 and cycle[0]["source"] == "nginx_conf" and "include cycle" in cycle[0]["message"]
    assert [r["id"] for r in facts["routes"]] == ["_:80 /"]


def test_collect_tree_option(tmp_path):
    write(tmp_path, "inc.conf", "# a comment\nserver { listen 81; }\n")
    conf = write(tmp_path, "nginx.conf", "http { include inc.conf; }\n")
    kw = dict(conf_path=conf, binary=str(tmp_path / "missing"), run_test=False, proc=str(tmp_path))
    assert "tree" not in NF.collect_nginx(**kw)
    facts = NF.collect_nginx(tree=True, **kw)
    assert [c["file"] for c in facts["tree"]["config"]] == [conf, str(tmp_path / "inc.conf")]
    facts = NF.collect_nginx(tree=True, tree_options={"combine": True, "comments": True}, **kw)
    assert len(facts["tree"]["config"]) == 1
    block = facts["tree"]["config"][0]["parsed"][0]["block"]
    assert [d["directive"] for d in block] == ["#", "server"]
    # the facts still come from the per-file parse
    assert facts["files"] == [conf, str(tmp_path / "inc.conf")]
    assert facts["servers"][0]["listen"][0]["port"] == 81


@pytest.mark.skipif(NF.find_binary() is not None, reason="nginx is installed here; covered by the lab test")
def test_collect_without_nginx_installed_is_not_a_failure(tmp_path):
    facts = NF.collect_nginx(proc=str(tmp_path))
    assert facts["present"] is False
    assert facts["errors"] == []
    assert facts["routes"] == [] and facts["files"] == []
    assert facts["user"] == "nobody"


# --------------------------------------------------------------------------- nginx -t in the background


def test_background_command_result_timeout_and_missing(tmp_path):
    done = NF.BackgroundCommand(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert done.result() == (3, "out\n", "err\n")
    slow = NF.BackgroundCommand(["sh", "-c", "sleep 5"], timeout=0.3)
    t0 = time.monotonic()
    rc, out, err = slow.result()
    assert rc is None and out == "" and "did not finish within 0.3 seconds" in err
    assert time.monotonic() - t0 < 3
    rc, out, err = NF.BackgroundCommand([str(tmp_path / "no-such-binary"), "-t"]).result()
    assert rc is None and err.startswith("cannot run ")


def _fake_nginx(tmp_path, test_rc=0, test_sleep=0.0):
    """A stand-in binary for what collect_nginx does with it: ``-V`` and ``-t`` (no real nginx here)."""
    script = tmp_path / "nginx"
    script.write_text(textwrap.dedent("""\
        #!/bin/sh
        case "$1" in
          -V) echo "nginx version: nginx/1.22.1" >&2; echo "configure arguments: --prefix=/usr/share/nginx" >&2 ;;
          -t) sleep %s; echo "nginx: configuration file $3 test (rc %d)" >&2; exit %d ;;
        esac
    """ % (test_sleep, test_rc, test_rc)))
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize("rc", [0, 1])
def test_collect_runs_the_test_while_parsing_and_reports_it(tmp_path, rc):
    conf = write(tmp_path, "nginx.conf", "http { server { location / { proxy_pass http://127.0.0.1:8000; } } }\n")
    facts = NF.collect_nginx(conf_path=conf, binary=_fake_nginx(tmp_path, rc, 0.3), run_test=True, proc=str(tmp_path))
    assert facts["test"] == {"ok": rc == 0, "rc": rc, "output": "nginx: configuration file %s test (rc %d)" % (conf, rc), "skipped": False}
    assert [r["id"] for r in facts["routes"]] == ["_:80 /"]
    assert set(facts["timings"]) == {"parse", "analyze", "test_wait"}
    # the test ran while the configuration was parsed: what is left to wait for is less than its run time
    assert facts["timings"]["test_wait"] <= 0.3 + 0.2
    quiet = NF.collect_nginx(conf_path=conf, binary=_fake_nginx(tmp_path), run_test=False, proc=str(tmp_path))
    assert quiet["test"] == {"ok": None, "rc": None, "output": "", "skipped": False}


def test_collect_test_timeout_is_an_error(tmp_path):
    conf = write(tmp_path, "nginx.conf", "http { }\n")
    facts = NF.collect_nginx(conf_path=conf, binary=_fake_nginx(tmp_path, 0, 3), run_test=True,
                             proc=str(tmp_path), command_timeout=0.5)
    assert facts["test"]["ok"] is None and facts["test"]["rc"] is None
    assert any(e["source"] == "nginx_bin" and "did not finish within 0.5 seconds" in e["message"] for e in facts["errors"])


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
    result = NF.analyze_config(parse(conf, catch_errors=True), "1.22.1", resolve=False)
    routes = {r["location"]: r for r in result["routes"]}
    assert routes["/a"]["timeouts"]["read"] == NF.V.DEFAULT_TIMEOUT and routes["/b"]["timeouts"]["read"] == 7.0
    # in effect for /a only, written once: one error, not one per route
    assert [e["message"] for e in result["errors"]] == ["%s:2: proxy_read_timeout: invalid time value '5q'" % conf]
    assert routes["/a"]["endpoints"] == routes["/b"]["endpoints"] == [
        {"kind": "tcp", "host": "127.0.0.1", "port": 8000, "family": "inet",
         "addresses": [{"family": "inet", "address": "127.0.0.1"}]},
        {"kind": "unix", "path": "/run/app.sock"}]
    assert routes["/c"]["timeouts"]["read"] == routes["/d"]["timeouts"]["read"] == 9.0
    assert routes["/a"]["listen"][0]["port"] == 8080 and routes["/a"]["server_names"] == []


# --------------------------------------------------------------------------- nginx -t modes (auto, always, never)


SLOW_TEST = 4.37   # seconds the fake ``nginx -t`` sleeps: a unique command line to look for


def _slow_nginx(tmp_path):
    """A fake nginx whose ``-t`` takes SLOW_TEST seconds (in a child ``sleep``) and then passes."""
    script = tmp_path / "bin" / "nginx"
    script.parent.mkdir()
    script.write_text(textwrap.dedent("""\
        #!/bin/sh
        case "$1" in
          -V) echo "nginx version: nginx/1.22.1" >&2; echo "configure arguments: --prefix=/usr/share/nginx" >&2 ;;
          -t) sleep %s; echo "nginx: configuration file $3 test is successful" >&2 ;;
        esac
    """ % SLOW_TEST))
    script.chmod(0o755)
    os.utime(str(script), (time.time() - 7200, time.time() - 7200))   # installed before the workers started
    return str(script)


def _processes_running(*needles):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if any(n in cmdline for n in needles):
            found.append((pid, cmdline))
    return found


def _running_site(tmp_path, site_text="", master_conf=True):
    """A fake /proc with nginx running (workers started 600 s ago) and config files older than that.

    Returns ``(proc, conf, worker_start)``.
    """
    clk = os.sysconf("SC_CLK_TCK")
    uptime = 100000.0
    boot = time.time() - uptime
    etc = tmp_path / "etc"     # the binaries and the fake /proc live beside it, not in it
    conf = str(etc / "nginx.conf")
    title = "nginx: master process /usr/sbin/nginx" + (" -c %s" % conf if master_conf else "")
    proc = tmp_path / "proc"
    make_proc(proc, uptime, [
        (100, 1, title, 0, uptime - 5000),
        (101, 100, "nginx: worker process", 33, uptime - 600),
    ], clk)
    write(etc, "nginx.conf", "events {}\nhttp { include site.conf; }\n")
    site = write(etc, "site.conf", "server { listen 80; %s location / { proxy_pass http://127.0.0.1:8000; } }\n" % site_text)
    worker_start = boot + uptime - 600
    for path in (conf, site, str(etc)):
        os.utime(path, (worker_start - 3600, worker_start - 3600))
    return str(proc), conf, worker_start


def _collect_timed(**kw):
    t0 = time.monotonic()
    facts = NF.collect_nginx(resolve=False, **kw)
    return facts, time.monotonic() - t0


def test_auto_skips_the_test_when_the_running_nginx_loaded_these_files(tmp_path):
    proc, conf, _start = _running_site(tmp_path)
    binary = _slow_nginx(tmp_path)
    facts, took = _collect_timed(conf_path=conf, binary=binary, proc=proc)   # "auto" is the default
    assert facts["master_pid"] == 100 and facts["stale"] is False
    assert facts["test"] == {"ok": None, "rc": None, "output": NF.TEST_SKIPPED_OUTPUT, "skipped": True}
    assert "nginx_test: always" in facts["test"]["output"]
    assert took < SLOW_TEST - 1, "waited for nginx -t although it was not needed"
    # the speculative nginx -t (and the sleep it started) was killed, not left behind
    assert _processes_running(binary, "sleep %s" % SLOW_TEST) == []
    # skipping is not a problem with the facts
    assert facts["errors"] == []


def test_always_runs_the_test_on_the_same_host(tmp_path):
    proc, conf, _start = _running_site(tmp_path)
    for run_test in ("always", True):
        facts, took = _collect_timed(conf_path=conf, binary=_slow_nginx(tmp_path) if run_test == "always" else str(tmp_path / "bin" / "nginx"),
                                     proc=proc, run_test=run_test)
        assert facts["test"] == {"ok": True, "rc": 0, "output": "nginx: configuration file %s test is successful" % conf,
                                 "skipped": False}
        assert took >= SLOW_TEST - 0.5


@pytest.mark.parametrize("run_test", ["never", False])
def test_never_does_not_run_it(tmp_path, run_test):
    proc, conf, _start = _running_site(tmp_path)
    binary = _slow_nginx(tmp_path)
    facts, took = _collect_timed(conf_path=conf, binary=binary, proc=proc, run_test=run_test)
    assert facts["test"] == {"ok": None, "rc": None, "output": "", "skipped": False}
    assert took < SLOW_TEST - 1


def _fast_nginx(tmp_path):
    binary = _fake_nginx(tmp_path, 0, 0.0)
    os.utime(binary, (time.time() - 7200, time.time() - 7200))
    return binary


def _ran(facts, conf):
    return facts["test"] == {"ok": True, "rc": 0, "output": "nginx: configuration file %s test (rc 0)" % conf, "skipped": False}


def test_auto_runs_the_test_when_a_config_file_is_stale(tmp_path):
    proc, conf, start = _running_site(tmp_path)
    os.utime(str(tmp_path / "etc" / "site.conf"), (start + 60, start + 60))
    facts, _took = _collect_timed(conf_path=conf, binary=_fast_nginx(tmp_path), proc=proc)
    assert facts["stale"] is True
    assert _ran(facts, conf), facts["test"]


@pytest.mark.parametrize("directive", ["ssl_certificate", "ssl_certificate_key", "ssl_trusted_certificate",
                                       "ssl_client_certificate", "ssl_dhparam", "ssl_crl", "ssl_password_file",
                                       "auth_basic_user_file"])
def test_auto_runs_the_test_when_a_referenced_file_is_newer_or_missing(tmp_path, directive):
    (tmp_path / "etc" / "certs").mkdir(parents=True)
    ref = tmp_path / "etc" / "certs" / "file.pem"
    ref.write_text("x\n")
    # relative to the directory of nginx.conf, as nginx resolves it
    proc, conf, start = _running_site(tmp_path, "%s certs/file.pem;" % directive)
    for path in (str(ref), str(ref.parent)):
        os.utime(path, (start - 100, start - 100))
    binary = _fast_nginx(tmp_path)
    facts, _took = _collect_timed(conf_path=conf, binary=binary, proc=proc)
    assert facts["test"]["skipped"] is True, facts["test"]      # unchanged: not needed

    os.utime(str(ref), (start + 30, start + 30))                # renewed certificate, not reloaded
    facts, _took = _collect_timed(conf_path=conf, binary=binary, proc=proc)
    assert facts["stale"] is False       # the configuration files themselves are unchanged
    assert _ran(facts, conf), facts["test"]

    ref.unlink()
    os.utime(str(ref.parent), (start - 100, start - 100))
    facts, _took = _collect_timed(conf_path=conf, binary=binary, proc=proc)
    assert _ran(facts, conf), facts["test"]


def test_auto_runs_the_test_when_a_file_name_holds_a_variable(tmp_path):
    proc, conf, _start = _running_site(tmp_path, "ssl_certificate /etc/ssl/$ssl_server_name.crt;")
    facts, _took = _collect_timed(conf_path=conf, binary=_fast_nginx(tmp_path), proc=proc)
    assert _ran(facts, conf), facts["test"]


def test_auto_runs_the_test_when_nginx_is_not_running(tmp_path):
    _proc_dir, conf, _start = _running_site(tmp_path)
    empty = tmp_path / "noproc"
    make_proc(empty, 100000.0, [], os.sysconf("SC_CLK_TCK"))
    facts, _took = _collect_timed(conf_path=conf, binary=_fast_nginx(tmp_path), proc=str(empty))
    assert facts["master_pid"] is None
    assert _ran(facts, conf), facts["test"]


def test_auto_runs_the_test_when_the_master_runs_another_file(tmp_path):
    proc, conf, _start = _running_site(tmp_path, master_conf=False)   # master started without -c: its compiled default
    facts, _took = _collect_timed(conf_path=conf, binary=_fast_nginx(tmp_path), proc=proc)
    assert facts["master_pid"] == 100
    assert _ran(facts, conf), facts["test"]


def test_auto_runs_the_test_after_parse_errors_or_a_newer_binary(tmp_path):
    proc, conf, start = _running_site(tmp_path, "proxy_read_timeout 5q;")
    binary = _fast_nginx(tmp_path)
    facts, _took = _collect_timed(conf_path=conf, binary=binary, proc=proc)
    assert facts["errors"] and _ran(facts, conf), facts["test"]

    (tmp_path / "b").mkdir()
    proc, conf, start = _running_site(tmp_path / "b")
    binary = _fake_nginx(tmp_path / "b", 0, 0.0)     # the binary was replaced after the workers started (upgrade)
    os.utime(binary, (start + 10, start + 10))
    facts, _took = _collect_timed(conf_path=conf, binary=binary, proc=proc)
    assert _ran(facts, conf), facts["test"]


def test_run_test_values():
    assert [NF.nginx_test_mode(v) for v in (True, False, "auto", "always", "never")] == [
        "always", "never", "auto", "always", "never"]
    with pytest.raises(ValueError):
        NF.nginx_test_mode("sometimes")


def test_referenced_files_skips_inline_values(tmp_path):
    payload = {"config": [{"file": "/etc/nginx/nginx.conf", "parsed": [
        {"directive": "http", "args": [], "block": [
            {"directive": "ssl_certificate", "args": ["data:-----BEGIN"]},
            {"directive": "ssl_certificate_key", "args": ["engine:pkcs11:key"]},
            {"directive": "auth_basic_user_file", "args": ["htpasswd"]},
            {"directive": "server", "args": [], "block": [{"directive": "ssl_dhparam", "args": ["/etc/ssl/dh.pem"]}]},
        ]}]}]}
    assert NF.referenced_files(payload, "/etc/nginx") == (["/etc/nginx/htpasswd", "/etc/ssl/dh.pem"], False)
