# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nginx in a container (Compose's nginx in front of the app): its own loopback, the app behind it by service
name, and the remediation step of a stopped container (fix.steps -> badgateway.doctor.container_service)."""
from __future__ import annotations

import copy

import pytest

from test_rules_containers import TCP, container, facts, findings, route

EDGE_TCP = {"kind": "tcp", "host": "127.0.0.1", "port": 8090, "family": "inet",
            "addresses": [{"address": "127.0.0.1", "family": "inet"}]}


def edge(target_host="web", port=8000, listeners=None, **changes):
    """The Compose service 'edge': nginx in a container, published on 127.0.0.1:8090, proxying to target_host:port."""
    c = container()
    ep = {"kind": "tcp", "host": target_host, "port": port, "family": "name", "addresses": []}
    c.update(name="shop_edge_1", id="e" * 64, short_id="e" * 12, compose=dict(c["compose"], service="edge"),
             ports=[{"container_port": 80, "protocol": "tcp", "host_ip": "127.0.0.1", "host_port": 8090}],
             mounts=[{"type": "bind", "source": "/srv/compose/shop/edge/nginx.conf", "destination": "/etc/nginx/nginx.conf",
                      "rw": False, "source_kind": "file", "sockets": [], "replaced": False, "name": None}],
             listeners=listeners or {"tcp": [{"family": "inet", "address": "0.0.0.0", "port": 80}], "unix": [],
                                     "shares_host_network": False, "error": None},
             health=None, pid=5151,
             nginx={"pid": 5153, "conf_path": "/etc/nginx/nginx.conf", "files": 1, "truncated": False, "errors": [],
                    "routes": [{"id": "_:80 /", "location": "/", "directive": "proxy_pass", "target": f"http://{target_host}:{port}/",
                                "upstream": None, "dynamic": False, "endpoints": [ep], "file": "/etc/nginx/nginx.conf",
                                "line": 17}]})
    c["networks"] = [dict(c["networks"][0], aliases=["edge"], ip="10.89.0.24")]
    c.update(changes)
    return c


ROUTES = [route("_:80 /ctr/", "http://127.0.0.1:8080/", TCP), route("_:80 /edge/", "http://127.0.0.1:8090/", EDGE_TCP, "/edge/")]


def codes(fs):
    return sorted((x["code"], x["route"]) for x in fs if x["severity"] in ("critical", "warning"))


def test_compose_nginx_by_service_name_is_healthy():
    assert codes(findings(facts([edge(), container()], routes=ROUTES))) == []


def test_nginx_in_a_container_proxying_to_its_own_loopback():
    fs = findings(facts([edge("127.0.0.1"), container()], routes=ROUTES))
    assert codes(fs) == [("CONTAINER_NGINX_LOOPBACK", "_:80 /edge/")]
    f = fs[0]
    assert "shop_edge_1" in f["summary"] and "127.0.0.1:8000" in f["summary"] and "shop_web_1" in f["summary"]
    assert "`proxy_pass http://web:8000/`" in f["fix"]["summary"]
    assert "the host's /srv/compose/shop/edge/nginx.conf" in f["fix"]["summary"]
    assert f["fix"]["steps"] == []                       # a person changes the Compose project's file


def test_no_route_of_the_host_names_the_container_route():
    fs = findings(facts([edge("localhost"), container()], routes=ROUTES[:1]))
    assert codes(fs) == [("CONTAINER_NGINX_LOOPBACK", "shop_edge_1: _:80 /")]


def test_app_on_the_host_gets_the_host_gateway_hint():
    listeners = {"tcp": [{"family": "inet", "address": "127.0.0.1", "port": 8000, "processes": []}], "unix": [], "errors": []}
    fs = findings(facts([edge("127.0.0.1")], routes=ROUTES[1:], listeners=listeners))
    assert fs[0]["code"] == "CONTAINER_NGINX_LOOPBACK" and "host.docker.internal" in fs[0]["fix"]["summary"]


@pytest.mark.parametrize("listeners", [
    {"tcp": [{"family": "inet", "address": "127.0.0.1", "port": 8000}, {"family": "inet", "address": "0.0.0.0", "port": 80}],
     "unix": [], "shares_host_network": False, "error": None},                     # the app shares its namespace (a pod)
    {"tcp": [], "unix": [], "shares_host_network": True, "error": None},           # network_mode: host
    {"tcp": [], "unix": [], "shares_host_network": False, "error": "cannot read"},  # unknown
])
def test_loopback_that_is_served_or_not_the_containers_own_is_not_blamed(listeners):
    fs = findings(facts([edge("127.0.0.1", listeners=listeners), container()], routes=ROUTES))
    assert "CONTAINER_NGINX_LOOPBACK" not in [x["code"] for x in fs]


def test_app_behind_the_containers_nginx_is_judged_for_that_route_too():
    web = container(state="exited", running=False, exit_code=0, pid=None, listeners=None)
    fs = findings(facts([edge(), web], routes=ROUTES))
    assert codes(fs) == [("CONTAINER_STOPPED", "_:80 /ctr/")]
    f = fs[0]
    assert "so are the routes '_:80 /edge/'" in f["summary"]
    assert any("whose nginx proxies to web:8000" in e for e in f["evidence"]), f["evidence"]
    # the step waits for what nginx dials directly, not for the edge's port (no proof that the app serves), and
    # reloads the edge's nginx, which resolved 'web' (its old address) when it started
    assert f["fix"]["steps"][0]["vars"]["container_service_listen"] == ["127.0.0.1:8080"]
    assert f["fix"]["steps"][0]["vars"]["container_service_reload_nginx"] == ["shop_edge_1"]
    # behind the edge only: no listener to wait for
    (f,) = findings(facts([edge(), web], routes=ROUTES[1:]))
    assert f["code"] == "CONTAINER_STOPPED" and f["route"] == "_:80 /edge/"
    assert f["fix"]["steps"][0]["vars"] == {"container_service_name": "shop_web_1",
                                            "container_service_socket": "/run/podman/podman.sock",
                                            "container_service_reload_nginx": ["shop_edge_1"]}
    # an nginx that resolves at request time (a variable and a resolver) needs no reload
    dyn = edge()
    dyn["nginx"]["routes"][0]["dynamic"] = True
    (f,) = findings(facts([dyn, web], routes=ROUTES[1:]))
    assert "container_service_reload_nginx" not in f["fix"]["steps"][0]["vars"]
    bound = container(listeners={"tcp": [{"family": "inet", "address": "127.0.0.1", "port": 8000}], "unix": [],
                                 "shares_host_network": False, "error": None})
    assert ("CONTAINER_LOOPBACK_BIND", "_:80 /edge/") in codes(findings(facts([edge(), bound], routes=ROUTES)))


def test_stopped_container_fix_steps():
    c = container(state="exited", running=False, exit_code=0, pid=None, listeners=None)
    (f,) = findings(facts([c]))
    assert f["fix"]["steps"] == [{"role": "badgateway.doctor.container_service", "host": "ctr1",
                                  "vars": {"container_service_name": "shop_web_1",
                                           "container_service_socket": "/run/podman/podman.sock",
                                           "container_service_listen": ["127.0.0.1:8080",
                                                                        "unix:/srv/compose/shop/run/app.sock"]}}]
    assert f["fix"]["role"] == "badgateway.doctor.container_service"


@pytest.mark.parametrize("state", ["dead", "removing"])
def test_a_container_a_start_cannot_help_gets_no_step(state):
    c = container(state=state, running=False, pid=None, listeners=None)
    f = findings(facts([c]))[0]
    assert f["code"] == "CONTAINER_STOPPED" and f["fix"]["steps"] == [] and f["fix"]["role"] is None


@pytest.mark.parametrize("code", ["CONTAINER_CRASH_LOOP", "CONTAINER_OOM_KILLED", "CONTAINER_UNHEALTHY"])
def test_only_the_stopped_container_is_fixed_automatically(code):
    changes = {"CONTAINER_CRASH_LOOP": dict(state="restarting", restarting=True, running=False, restart_count=5),
               "CONTAINER_OOM_KILLED": dict(state="exited", running=False, oom_killed=True, exit_code=137),
               "CONTAINER_UNHEALTHY": dict(health={"status": "unhealthy", "failing_streak": 3, "last": None})}[code]
    c = container(listeners=None if code != "CONTAINER_UNHEALTHY" else copy.deepcopy(container()["listeners"]), **changes)
    f = findings(facts([c]))[0]
    assert f["code"] == code and f["fix"]["steps"] == []
