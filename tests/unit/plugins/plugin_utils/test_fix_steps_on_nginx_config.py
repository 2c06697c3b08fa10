# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nginx_proxy steps through the real pieces: nginx config -> nginx facts -> finding -> the edit engine -> config.

A site with a fault is parsed by the collection's nginx parser and analyser (module_utils/nginx_facts),
the rules name the fault and compute ``fix.steps``, the nginx_proxy edits are applied by
nginx_edit's engine (module_utils/_nginx_edit_plan, what the role runs), and the edited site is
parsed and diagnosed again: the finding must be gone, everything else byte-identical.
"""
from __future__ import annotations

import socket

import pytest

from facts_fixtures import one_host

from ansible_collections.badgateway.doctor.plugins.module_utils import nginx_facts as NF
from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_edit_plan import Plan
from ansible_collections.badgateway.doctor.plugins.module_utils.nginx_parser import parse
from ansible_collections.badgateway.doctor.plugins.plugin_utils import rules

SITE = """upstream wsgi_app {
    server unix:/run/gunicorn/gunicorn.sock fail_timeout=0;  # gunicorn
}

server {
    listen 80 default_server;

    location / {
        proxy_set_header Host $host;
        proxy_pass http://wsgi_app;
    }

    location /asgi/ {
        proxy_pass http://127.0.0.1:8001/;
    }
}
"""
# /asgi/ through an upstream group that keeps idle connections (instead of the direct proxy_pass)
POOL = """upstream asgi_pool {
    server 127.0.0.1:8001;
    keepalive 8;
}

"""
POOL_LOCATION = """    location /asgi/ {
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass http://asgi_pool/;
    }"""

GUNICORN = {"name": "gunicorn.service", "unit": "gunicorn.service", "kind": "gunicorn", "running": True, "pids": [200],
            "binds": [{"kind": "unix", "path": "/run/gunicorn/gunicorn.sock", "protocol": "http"}],
            "state": {"active_state": "active", "sub_state": "running", "result": "success", "n_restarts": 0, "active_enter": 50.0},
            "timeout": 30.0, "keepalive": 2.0, "workers": 2, "worker_class": "sync", "backlog": 2048,
            "unit_settings": {"runtime_directory": ["gunicorn"], "user": "app", "private_tmp": False, "dropin_paths": []}}
UVICORN = {"name": "uvicorn.service", "unit": "uvicorn.service", "kind": "uvicorn", "running": True, "pids": [300],
           "binds": [{"kind": "tcp", "host": "127.0.0.1", "port": 8001, "family": "inet",
                      "addresses": [{"family": "inet", "address": "127.0.0.1"}], "protocol": "http"}],
           "state": {"active_state": "active", "sub_state": "running", "result": "success", "n_restarts": 0, "active_enter": 50.0},
           "timeout": None, "keepalive": 5.0, "workers": 1, "worker_class": None, "backlog": 2048,
           "unit_settings": {"runtime_directory": [], "user": "app", "private_tmp": False, "dropin_paths": []}}
LISTENERS = {
    "tcp": [{"family": "inet", "address": "127.0.0.1", "port": 8001, "backlog": {"current": 0, "max": 2048},
             "processes": [{"name": "uvicorn", "pid": 300, "user": "app", "unit": "uvicorn.service"}]}],
    "unix": [{"path": "/run/gunicorn/gunicorn.sock", "abstract": False, "backlog": {"current": 0, "max": 2048},
              "processes": [{"name": "gunicorn", "pid": 200, "user": "app", "unit": "gunicorn.service"}]}],
    "errors": [],
}


def _gai_localhost_v6_only(host, port, *_args):
    assert host == "localhost"
    return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0))]


def facts(conf, events=(), getaddrinfo=None, apps=(GUNICORN, UVICORN)):
    nginx = NF.analyze_config(parse(str(conf / "nginx.conf")), resolve=getaddrinfo is not None, getaddrinfo=getaddrinfo)
    nginx.update(present=True, version="1.22.1", master_pid=1, workers_started=10.0, conf_path=str(conf / "nginx.conf"),
                 test={"ok": True}, stale=False, stale_files=[])
    return {"version": 1, "collected_at": 100.0, "errors": [], "nginx": nginx, "listeners": LISTENERS,
            "apps": {"servers": [dict(a) for a in apps], "errors": []},
            "sockets": {"user": "www-data", "groups": ["www-data"], "paths": [], "errors": []},
            "logs": {"events": list(events), "errors": []}, "probes": {"results": [], "errors": []},
            "system": {"is_root": True, "systemd": True, "errors": []}}


def event(cls, target):
    return {"class": cls, "source": "nginx_error:/var/log/nginx/error.log", "count": 3, "first": 90.0, "last": 95.0,
            "targets": [target], "detail": {}, "samples": [f"... {cls} ... upstream: \"{target}\""]}


@pytest.fixture()
def conf(tmp_path):
    (tmp_path / "nginx.conf").write_text("events {}\nhttp {\n    include site;\n}\n")
    (tmp_path / "site").write_text(SITE)
    return tmp_path


def fault(conf, old, new):
    site = conf / "site"
    text = site.read_text()
    assert old in text
    site.write_text(text.replace(old, new, 1))


def diagnose(conf, **kw):
    return rules.evaluate(one_host(facts(conf, **kw)), now=0)["hosts"]["web1"]


def apply_steps(conf, finding):
    """Apply the finding's nginx_proxy edits as the role does; return the new site text."""
    edits = [e for s in finding["fix"]["steps"] if s["role"] == "badgateway.doctor.nginx_proxy"
             for e in s["vars"]["nginx_proxy_edits"]]
    assert edits, finding["fix"]
    changed = Plan(lambda p: open(p, "rb").read(), str(conf / "nginx.conf"), 4096).apply(edits).changed_files()
    assert changed, "the edits change nothing"
    for path, (_old, new) in changed.items():
        with open(path, "wb") as fh:
            fh.write(new)
    return (conf / "site").read_text()


def loud(host):
    return [f["code"] for f in host["findings"] if f["severity"] in ("critical", "warning")]


def test_the_healthy_site_is_quiet(conf):
    assert loud(diagnose(conf)) == []


@pytest.mark.parametrize("code, old, new, kw", [
    ("TARGET_MISMATCH_SOCKET", "server unix:/run/gunicorn/gunicorn.sock", "server unix:/run/gunicorn/app.sock", {}),
    ("TARGET_MISMATCH_PORT", "proxy_pass http://127.0.0.1:8001/;", "proxy_pass http://127.0.0.1:8002/;", {}),
    ("IP_FAMILY_MISMATCH", "proxy_pass http://127.0.0.1:8001/;", "proxy_pass http://localhost:8001/;",
     {"getaddrinfo": _gai_localhost_v6_only}),
    ("PROTOCOL_MISMATCH", "proxy_pass http://wsgi_app;", "fastcgi_pass wsgi_app;", {}),
])
def test_the_target_fix_brings_the_site_back(conf, code, old, new, kw):
    fault(conf, old, new)
    host = diagnose(conf, **kw)
    assert loud(host)[0] == code
    text = apply_steps(conf, host["findings"][0])
    assert text == SITE                      # exactly the healthy site: comments, URI and server parameters kept
    assert loud(diagnose(conf, **kw)) == []


def test_header_too_big_buffers_are_set_together_in_the_location(conf):
    evs = [event("too_big_header", "http://unix:/run/gunicorn/gunicorn.sock:/big")]
    f = diagnose(conf, events=evs)["findings"][0]
    assert f["code"] == "HEADER_TOO_BIG"
    text = apply_steps(conf, f)
    assert "        proxy_pass http://wsgi_app;\n        proxy_buffer_size 32k;\n        proxy_buffers 8 32k;\n" \
           "        proxy_busy_buffers_size 64k;\n" in text
    route = next(r for r in facts(conf)["nginx"]["routes"] if r["location"] == "/")
    buffers = route["buffers"]
    # nginx -t's checks (ngx_http_proxy_merge_loc_conf), on the values the analyser reads back from the file
    size = max(buffers["buffer_size"], buffers["buffers"]["size"])
    assert buffers["buffer_size"] == 32768 and size <= buffers["busy_buffers_size"]
    assert buffers["busy_buffers_size"] < (buffers["buffers"]["number"] - 1) * buffers["buffers"]["size"]


def test_keepalive_race_fix_sets_the_upstreams_keepalive_timeout(conf):
    fault(conf, "server {", POOL + "server {")
    fault(conf, "    location /asgi/ {\n        proxy_pass http://127.0.0.1:8001/;\n    }", POOL_LOCATION)
    f = diagnose(conf)["findings"][0]
    assert f["code"] == "KEEPALIVE_RACE"     # nginx keeps idle connections 60 s, uvicorn closes them after 5 s
    text = apply_steps(conf, f)
    assert "    keepalive 8;\n    keepalive_timeout 4s;\n}" in text
    assert loud(diagnose(conf)) == []


def test_upstream_timeout_fix_raises_the_read_timeout_above_the_apps(conf):
    fault(conf, "        proxy_pass http://wsgi_app;", "        proxy_read_timeout 2s;\n        proxy_pass http://wsgi_app;")
    evs = [event("upstream_timeout", "http://unix:/run/gunicorn/gunicorn.sock:/slow")]
    f = diagnose(conf, events=evs)["findings"][0]
    assert f["code"] == "UPSTREAM_TIMEOUT"
    text = apply_steps(conf, f)
    assert "proxy_read_timeout 33s;" in text and "proxy_read_timeout 2s;" not in text
    route = next(r for r in facts(conf)["nginx"]["routes"] if r["location"] == "/")
    assert route["timeouts"]["read"] > GUNICORN["timeout"]
