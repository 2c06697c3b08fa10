# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The container rules on facts: a route through nginx to a published port / bind-mounted socket, and the
``containers`` section built from a real Podman 4.3.1 inspection (tests/unit/plugins/module_utils/fixtures)."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from facts_fixtures import wire

from ansible_collections.badgateway.doctor.plugins.module_utils import containers as C
from ansible_collections.badgateway.doctor.plugins.plugin_utils import _rules_containers as R
from ansible_collections.badgateway.doctor.plugins.plugin_utils import rules

FIX = Path(__file__).parents[1] / "module_utils" / "fixtures" / "containers"
INSPECT = json.loads((FIX / "podman-4.3.1-inspect-running.json").read_text())


def container(**changes):
    c = C.container_facts(INSPECT, engine="/run/podman/podman.sock", read_proc=False)
    c["listeners"] = {"tcp": [{"family": "inet", "address": "0.0.0.0", "port": 8000}],
                      "unix": [{"path": "/run/app/app.sock", "host_path": "/srv/compose/shop/run/app.sock"}],
                      "shares_host_network": False, "error": None}
    c["mounts"][0].update(source_kind="directory", sockets=["/srv/compose/shop/run/app.sock"], replaced=False)
    for k, v in changes.items():
        c[k] = v
    return c


def route(rid, target, ep, location="/ctr/"):
    return {"id": rid, "target": target, "directive": "proxy_pass", "file": "/etc/nginx/sites-enabled/lab", "line": 22,
            "location": location, "endpoints": [ep], "upstream": None}


TCP = {"kind": "tcp", "host": "127.0.0.1", "port": 8080, "family": "inet", "addresses": [{"address": "127.0.0.1", "family": "inet"}]}
UNIX = {"kind": "unix", "path": "/srv/compose/shop/run/app.sock"}


def facts(cs, routes=None, listeners=None, probes=None, nginx_extra=None):
    nginx = {"present": True, "routes": routes if routes is not None else [
        route("_:80 /ctr/", "http://127.0.0.1:8080/", TCP),
        route("_:80 /ctr-sock/", "http://unix:/srv/compose/shop/run/app.sock:/", UNIX, "/ctr-sock/")],
        "upstreams": {}, "errors": []}
    nginx.update(nginx_extra or {})
    return {"nginx": nginx, "listeners": listeners or {"tcp": [], "unix": [], "errors": []},
            "apps": {"servers": [], "errors": []}, "sockets": {"paths": [], "errors": []},
            "logs": {"events": [], "errors": []}, "probes": {"results": probes or [], "errors": []},
            "system": {"is_root": True, "systemd": True}, "containers": {"engines": [], "containers": cs, "errors": []}}


def findings(f):
    out = rules.evaluate({"ctr1": {"facts": wire(f), "address": ["10.0.0.2"]}})
    return out["hosts"]["ctr1"]["findings"]


def codes(fs):
    return [(x["code"], x["route"]) for x in fs if x["severity"] in ("critical", "warning")]


def test_healthy_container_gives_nothing():
    assert codes(findings(facts([container()]))) == []


def test_catalogued():
    ours = {c for c in rules.CODES if c.startswith("CONTAINER_")}
    assert len(ours) == 10 and ours <= set(rules.PRIORITY) and ours <= set(rules.CAUSES)


def test_exited_container_is_the_root_of_both_routes():
    c = container(state="exited", running=False, exit_code=137, pid=None, listeners=None,
                  logs={"lines": ["[INFO] Shutting down: Master"], "error": None})
    fs = findings(facts([c]))
    # one root for the container, on its first route in configuration order, naming the other route it breaks
    assert codes(fs) == [("CONTAINER_STOPPED", "_:80 /ctr/")]
    first = fs[0]
    assert "shop_web_1" in first["summary"] and "exit code 137" in first["summary"]
    assert "so are the routes '_:80 /ctr-sock/'" in first["summary"]
    assert any("unix:/srv/compose/shop/run/app.sock is served by container shop_web_1" in e for e in first["evidence"])
    assert any(e.startswith("log: ") for e in first["evidence"])
    assert "start" in first["fix"]["summary"]


def test_policy_no_says_it_will_stay_down():
    c = container(state="exited", running=False, restart_policy={"name": "no", "max_retries": 0}, listeners=None)
    first = findings(facts([c]))[0]
    assert "unless-stopped" in first["fix"]["summary"]


def test_crash_loop_shows_the_exception():
    lines = ["Traceback (most recent call last):", "  File \"x\", line 1", "ModuleNotFoundError: No module named 'project'",
             "[ERROR] Worker (pid:3) exited with code 3", "[ERROR] Worker (pid:4) was sent SIGTERM!", "[ERROR] Shutting down: Master",
             "[ERROR] Reason: Worker failed to boot.", "[INFO] x", "[INFO] y", "[INFO] z"]
    c = container(restart_count=9, health={"status": "unhealthy", "failing_streak": 4, "last": None},
                  logs={"lines": lines, "error": None})
    f = facts([c])
    f["collected_at"] = c["started_at"] + 20        # up 20 s after its 9th restart
    first = findings(f)[0]
    assert first["code"] == "CONTAINER_CRASH_LOOP"
    assert "log: ModuleNotFoundError: No module named 'project'" in first["evidence"]


def test_docker_restarting_state():
    c = container(state="restarting", running=False, restarting=True, restart_count=1, listeners=None)
    assert findings(facts([c]))[0]["code"] == "CONTAINER_CRASH_LOOP"


def test_oom_killed():
    c = container(state="exited", running=False, oom_killed=True, exit_code=137, listeners=None)
    first = findings(facts([c]))[0]
    assert first["code"] == "CONTAINER_OOM_KILLED" and "memory" in first["fix"]["summary"]


@pytest.mark.parametrize("probe_ok,severity", [(False, "critical"), (True, "warning")])
def test_unhealthy(probe_ok, severity):
    c = container(health={"status": "unhealthy", "failing_streak": 3,
                          "last": {"exit_code": 28, "output": "curl: (28) Operation timed out", "start": 1, "end": 2}})
    probes = [{"route": "_:80 /ctr/", "via": "nginx", "url": "http://127.0.0.1/ctr/", "ok": probe_ok,
               "status": 200 if probe_ok else 504, "error": None}]
    fs = [x for x in findings(facts([c], probes=probes)) if x["route"] == "_:80 /ctr/"]
    assert fs[0]["code"] == "CONTAINER_UNHEALTHY" and fs[0]["severity"] == severity
    assert any("curl: (28)" in e for e in fs[0]["evidence"])


def test_loopback_bind_inside():
    c = container(listeners={"tcp": [{"family": "inet", "address": "127.0.0.1", "port": 8000}], "unix": [],
                             "shares_host_network": False, "error": None})
    fs = findings(facts([c], routes=[route("_:80 /ctr/", "http://127.0.0.1:8080/", TCP)]))
    assert codes(fs) == [("CONTAINER_LOOPBACK_BIND", "_:80 /ctr/")]
    assert "0.0.0.0:8000" in fs[0]["fix"]["summary"]


def test_nothing_listens_inside():
    c = container(listeners={"tcp": [{"family": "inet", "address": "0.0.0.0", "port": 9000}], "unix": [],
                             "shares_host_network": False, "error": None})
    fs = findings(facts([c], routes=[route("_:80 /ctr/", "http://127.0.0.1:8080/", TCP)]))
    assert codes(fs) == [("CONTAINER_NOT_LISTENING", "_:80 /ctr/")]


def test_unknown_listeners_or_host_network_say_nothing_about_binds():
    for lst in (None, {"tcp": [], "unix": [], "shares_host_network": False, "error": "cannot read"}):
        c = container(listeners=lst)
        assert codes(findings(facts([c], routes=[route("_:80 /ctr/", "http://127.0.0.1:8080/", TCP)]))) == []
    # --network host: the host's own listeners are the app's; the host-side rules speak, not the bind rules
    c = container(listeners={"tcp": [], "unix": [], "shares_host_network": True, "error": None})
    fs = codes(findings(facts([c], routes=[route("_:80 /ctr/", "http://127.0.0.1:8080/", TCP)])))
    assert not [x for x in fs if x[0] in ("CONTAINER_LOOPBACK_BIND", "CONTAINER_NOT_LISTENING")]


def test_port_no_longer_published():
    c = container(ports=[{"container_port": 8000, "protocol": "tcp", "host_ip": "127.0.0.1", "host_port": 8081}])
    fs = findings(facts([c], routes=[route("_:80 /ctr/", "http://127.0.0.1:8080/", TCP)]))
    assert codes(fs) == [("CONTAINER_PORT_UNPUBLISHED", "_:80 /ctr/")]
    assert "8081" in fs[0]["summary"] and "8081" in fs[0]["fix"]["summary"]


def test_port_served_by_a_host_process_is_not_a_container_matter():
    c = container(ports=[{"container_port": 8000, "protocol": "tcp", "host_ip": "127.0.0.1", "host_port": 8081}])
    listeners = {"tcp": [{"family": "inet", "address": "127.0.0.1", "port": 8080, "processes": []}], "unix": [], "errors": []}
    assert codes(findings(facts([c], routes=[route("_:80 /ctr/", "http://127.0.0.1:8080/", TCP)], listeners=listeners))) == []


def test_compose_service_name_on_the_host():
    ep = {"kind": "tcp", "host": "web", "port": 8000, "addresses": []}
    fs = findings(facts([container()], routes=[route("_:80 /ctr/", "http://web:8000/", ep)],
                        nginx_extra={"test": {"ok": False, "output": "nginx: [emerg] host not found in upstream \"web\" in x:22"}}))
    assert fs[0]["code"] == "CONTAINER_NAME_ONLY_IN_NETWORK"
    assert "shop_default" in fs[0]["summary"] and "127.0.0.1:8080" in fs[0]["fix"]["summary"]


def test_resolvable_name_is_not_blamed():
    ep = {"kind": "tcp", "host": "web", "port": 8000, "addresses": [{"address": "10.0.0.9", "family": "inet"}]}
    fs = findings(facts([container()], routes=[route("_:80 /ctr/", "http://web:8000/", ep)]))
    assert "CONTAINER_NAME_ONLY_IN_NETWORK" not in [x["code"] for x in fs]


def test_bind_mount_source_replaced():
    c = container()
    c["mounts"][0].update(replaced=True, sockets=[])
    fs = findings(facts([c], routes=[route("_:80 /ctr-sock/", "x", UNIX, "/ctr-sock/")]))
    assert codes(fs)[0] == ("CONTAINER_BIND_SOURCE_MISSING", "_:80 /ctr-sock/")
    assert any("old directory" in e for e in fs[0]["evidence"])


def test_container_served_socket_and_port_count_as_listeners():
    view = rules.HostView("ctr1", wire(facts([container()])))
    R.add_container_listeners(view)
    assert any(t.get("port") == 8080 and t.get("container") == "shop_web_1" for t in view.tcp)
    assert any(u.get("path") == "/srv/compose/shop/run/app.sock" for u in view.unix)


@pytest.mark.parametrize("bad", [
    None, "x", [1, "a", None], {"containers": "x"}, {"containers": [{"ports": "x", "mounts": [None]}]},
    # the compact form (a table), broken
    {"containers": {"columns": "x", "rows": [[1]]}},
    {"engines": "y", "containers": {"columns": ["id", "engine", "short_id", "nginx", "ports"],
                                    "rows": [[5, 99, None, {"routes": {"columns": [1], "rows": "x"}}, "x"], "x", [None]]}},
])
def test_hostile_container_facts(bad):
    f = facts([])
    f["containers"] = bad
    findings(f)   # no traceback


def test_no_secret_in_findings():
    c = container(state="exited", running=False, listeners=None,
                  logs={"lines": ["connecting to postgres://shop:ctr-pw-DO-NOT-LEAK@db/shop failed"], "error": None})
    assert "DO-NOT-LEAK" not in json.dumps(findings(facts([c])))


def test_copy_is_not_mutated():
    f = facts([container()])
    before = copy.deepcopy(f)
    findings(f)
    assert f == before


def _tcp_held(port, user):
    return {"family": "inet", "address": "127.0.0.1", "port": port, "processes": [{"pid": 77, "name": "rootlessport",
                                                                                   "user": user}]}


@pytest.mark.parametrize("holder,counted", [(None, False), ("mallory", False), ("alice", True), ("1000", True)])
def test_rootless_published_port_counts_only_when_the_user_holds_it(holder, counted):
    c = container(engine_uid=1000, engine_user="alice")
    c["mounts"][0]["source_kind"] = None            # the facts did not check the claimed source (not the user's)
    tcp = [_tcp_held(8080, holder)] if holder else []
    view = rules.HostView("ctr1", wire(facts([c], listeners={"tcp": tcp, "unix": [], "errors": []})))
    R.add_container_listeners(view)
    assert any(t.get("container") == "shop_web_1" for t in view.tcp) is counted
    assert not any(u.get("path") == "/srv/compose/shop/run/app.sock" for u in view.unix)


def test_unnamed_container_beside_a_named_one_does_not_break_the_evaluation():
    ports = [{"container_port": 8000, "protocol": "tcp", "host_ip": "127.0.0.1", "host_port": 8081}]
    fs = findings(facts([container(ports=ports), container(name=None, ports=ports, id="abc", short_id="abc")],
                        routes=[route("_:80 /ctr/", "http://127.0.0.1:8080/", TCP)]))
    assert codes(fs) == [("CONTAINER_PORT_UNPUBLISHED", "_:80 /ctr/")]


@pytest.mark.parametrize("output", ["", "   \n \n", "\n"])
def test_blank_nginx_test_output_does_not_break_the_evaluation(output):
    ep = {"kind": "tcp", "host": "web", "port": 8000, "addresses": []}
    fs = findings(facts([container()], routes=[route("_:80 /ctr/", "http://web:8000/", ep)],
                        nginx_extra={"test": {"ok": False, "output": output}}))
    assert fs[0]["code"] == "CONTAINER_NAME_ONLY_IN_NETWORK"
    assert not any(e.startswith("nginx -t") for e in fs[0]["evidence"])


def test_fix_commands_quote_names_and_labels_from_the_engine():
    import shlex
    evil = {"project": "shop; touch /tmp/pwned", "service": "web$(id)", "working_dir": "/srv/my dir$(id)"}
    c = container(state="exited", running=False, pid=None, listeners=None, name="web;reboot", compose=evil)
    fs = findings(facts([c]))
    fix = fs[0]["fix"]["summary"]
    cmd = fix.split("`")[1]
    words = shlex.split(cmd)
    assert words[:2] == ["cd", "/srv/my dir$(id)"] and "shop; touch /tmp/pwned" in words and "web$(id)" in words
    c = container(state="exited", running=False, pid=None, listeners=None, name="web;reboot", compose=None)
    fix = findings(facts([c]))[0]["fix"]["summary"]
    assert shlex.split(fix.split("`")[1]) == ["podman", "start", "web;reboot"]


@pytest.mark.parametrize("up_for,window,looping", [
    (20, None, True),                 # restarted moments ago: it may be looping
    (3 * 86400, None, False),         # the 3 restarts were days ago: up for 3 days now, not a loop
    (3 * 86400, 4 * 86400, True),     # ... unless the diagnosis window reaches back to that start
    (None, None, False),              # unknown start time: no claim
])
def test_running_container_with_old_restarts_is_not_a_crash_loop(up_for, window, looping):
    c = container(restart_count=3, health=None)
    f = facts([c])
    f["collected_at"] = c["started_at"] + (up_for or 0)
    if up_for is None:
        c["started_at"] = None
    if window:
        f["logs"]["window"] = {"since": f["collected_at"] - window}
    got = [x["code"] for x in findings(f) if x["severity"] in ("critical", "warning")]
    assert ("CONTAINER_CRASH_LOOP" in got) is looping


def test_listener_lookups_see_what_the_container_rules_add_after_a_first_lookup():
    view = rules.HostView("ctr1", wire(facts([container()])))
    assert view.tcp_on_port(8080) == [] and view.unix_listeners("/srv/compose/shop/run//app.sock") == []
    R.add_container_listeners(view)     # after the views' indexes were built
    assert [t.get("container") for t in view.tcp_listeners("inet", "127.0.0.1", 8080)] == ["shop_web_1"]
    assert [u.get("container") for u in view.unix_listeners("/srv/compose/shop/run//app.sock")] == ["shop_web_1"]
    assert view.tcp_on_port(["unhashable"]) == [] and view.unix_listeners({"x": 1}) == []


def test_rootless_running_container_claiming_a_port_someone_else_holds_is_not_blamed():
    # alice's rootless engine says its unhealthy container publishes the route's port; the host's listener facts show
    # the port held by another user's process: the claim is not taken, the container is not named
    c = container(engine_uid=1000, engine_user="alice", health={"status": "unhealthy"},
                  ports=[{"container_port": 8000, "protocol": "tcp", "host_ip": "127.0.0.1", "host_port": 8080}])
    c["mounts"][0]["source_kind"] = None
    for holder, named in (("mallory", False), ("alice", True)):
        fs = findings(facts([copy.deepcopy(c)], listeners={"tcp": [_tcp_held(8080, holder)], "unix": [], "errors": []}))
        assert any("shop_web_1" in f["summary"] for f in fs if f["code"].startswith("CONTAINER_")) is named, holder


def test_rootless_stopped_container_is_named_but_never_started_by_the_remediation():
    ports = [{"container_port": 8000, "protocol": "tcp", "host_ip": "127.0.0.1", "host_port": 8080}]
    root = findings(facts([container(state="exited", running=False, exit_code=0, pid=None, listeners=None, ports=ports)]))
    assert root[0]["code"] == "CONTAINER_STOPPED" and root[0]["fix"]["steps"]
    c = container(state="exited", running=False, exit_code=0, pid=None, listeners=None, ports=ports,
                  engine_uid=1000, engine_user="alice")
    assert "so are the routes '_:80 /ctr-sock/'" in findings(facts([copy.deepcopy(c)]))[0]["summary"]
    c["mounts"][0]["source_kind"] = None            # the facts did not check the claimed source as alice's
    fs = findings(facts([c]))
    first = fs[0]
    assert first["code"] == "CONTAINER_STOPPED" and not first["fix"]["steps"]
    assert "run by alice (its rootless engine's user), not by root" in first["fix"]["summary"]
    assert any(e.startswith("engine: the rootless engine of alice (uid 1000)") for e in first["evidence"])
    # its bind mount's source was not checked as alice's: the socket route is not served by it
    assert "so are the routes" not in first["summary"]
