# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The facts as they travel (schema 2): shared values listed once, and written out again exactly as gathered."""
from __future__ import annotations

import copy
import glob
import json
import os
import random

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import _facts_compact as C
from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_config import analyze_config
from ansible_collections.badgateway.doctor.plugins.module_utils.nginx_parser import parse

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "..", "fixtures", "facts")

SITE = """
upstream wsgi_app { server unix:/run/gunicorn/gunicorn.sock fail_timeout=0; server 127.0.0.1:8000 backup; }
server {
    listen 80 default_server;
    server_name _;
    location / { proxy_pass http://wsgi_app; proxy_read_timeout 30s; }
    location /asgi/ { proxy_pass http://127.0.0.1:8001/; if ($arg_x) { proxy_pass http://127.0.0.1:8002; } }
    location /legacy/ { uwsgi_pass unix:/run/uwsgi/legacy.sock; }
    location /dup/ { proxy_pass http://wsgi_app; }
}
server {
    listen 8080;
    server_name shop.example.com www.shop.example.com;
    location / { proxy_pass http://wsgi_app; proxy_read_timeout 30s; }
    location = /health { grpc_pass grpc://127.0.0.1:9000; }
}
"""


def analysed(tmp_path, text=SITE, servers=1):
    """The nginx analysis of ``text`` (the collectors' form), its files listed as collect_nginx lists them."""
    (tmp_path / "nginx.conf").write_text("events {}\nhttp {\n    include site;\n}\n")
    (tmp_path / "site").write_text(text * servers)
    payload = parse(str(tmp_path / "nginx.conf"))
    facts = analyze_config(payload, resolve=False)
    facts["files"] = [c["file"] for c in payload["config"]]
    return facts


def rows_of(table):
    """A table's rows: they travel as one JSON text."""
    assert isinstance(table["rows"], str)
    return json.loads(table["rows"])


def roundtrip(section, compact, expand):
    wire = json.loads(json.dumps(compact(section)))     # what Ansible carries
    return wire, expand(wire)


def test_nginx_round_trip_is_exact_and_lists_shared_values_once(tmp_path):
    facts = analysed(tmp_path)
    full = json.loads(json.dumps(facts))
    wire, back = roundtrip(facts, C.compact_nginx, C.expand_nginx)
    assert back == full
    assert wire["routes"]["columns"] == list(C.ROUTE_COLUMNS) and len(rows_of(wire["routes"])) == len(full["routes"]) == 7
    assert "unix:/run/uwsgi/legacy.sock" in wire["endpoints"]          # a plain unix endpoint as its text
    assert len(wire["listens"]) == 2 and len(rows_of(wire["servers"])) == 2
    rows = {r[1]: r for r in rows_of(wire["routes"])}
    legacy = rows[wire["locations"].index("/legacy/")]
    assert legacy[3] is True                                             # target written as its endpoint is
    root = rows[wire["locations"].index("/")]
    assert root[5] is None and root[4] == "wsgi_app"                     # an upstream's routes: the group's endpoints
    assert all(r[8] is None for r in rows_of(wire["routes"]))             # every id is the derived one
    # the routes "/" of both servers have the same settings (read timeout 30 s): one profile
    assert root[2] == [r for r in rows_of(wire["routes"]) if r[0] == 1][0][2]


def test_twenty_thousand_routes_share_their_profiles(tmp_path):
    facts = analysed(tmp_path, SITE.replace("server_name _;", "server_name _ a.example;"), servers=1)
    routes = facts["routes"]
    many = copy.deepcopy(facts)
    many["routes"] = [dict(routes[i % len(routes)], id="r%d" % i) for i in range(20000)]
    wire = C.compact_nginx(many)
    assert len(wire["profiles"]) <= len(routes)
    assert len(json.dumps(wire)) < len(json.dumps(many)) / 4
    assert C.expand_nginx(json.loads(json.dumps(wire)))["routes"] == json.loads(json.dumps(many["routes"]))


def test_an_id_that_is_not_the_derived_one_travels_and_a_repeated_id_keeps_its_suffix(tmp_path):
    text = SITE + "server { listen 80; server_name _; location / { proxy_pass http://127.0.0.1:8009; } }\n"
    facts = analysed(tmp_path, text)
    ids = [r["id"] for r in facts["routes"]]
    assert "_:80 / #2" in ids
    wire, back = roundtrip(facts, C.compact_nginx, C.expand_nginx)
    assert [r[8] for r in rows_of(wire["routes"]) if r[8] is not None] == ["_:80 / #2"]
    assert [r["id"] for r in back["routes"]] == ids


def test_keys_a_collector_adds_later_travel_too(tmp_path):
    facts = analysed(tmp_path)
    for r in facts["routes"]:
        r["access_log"] = "/var/log/nginx/access.log"
    for srv in facts["servers"]:
        srv["ssl_certificate"] = "/etc/ssl/a.pem"
    listeners = {"tcp": [{"family": "inet", "address": "0.0.0.0", "port": 80, "v4mapped": False, "inode": 1,
                          "backlog": {"current": 0, "max": 511}, "processes": [], "reuseport": True}], "unix": [], "errors": []}
    assert roundtrip(facts, C.compact_nginx, C.expand_nginx)[1] == json.loads(json.dumps(facts))
    assert roundtrip(listeners, C.compact_listeners, C.expand_listeners)[1] == listeners


def test_sockets_in_one_directory_share_their_walk():
    def entry(path, listener=True):
        return {"path": path, "exists": True, "is_socket": True, "reachable": True, "blocker": None, "in_tmp": False,
                "in_run": True, "private_tmp_units": [], "runtime_directory_units": ["uwsgi.service"], "listener": listener,
                "components": [{"path": "/", "type": "dir", "owner": "root", "group": "root", "mode": "0755", "acl": None,
                                "searchable": True, "writable": None},
                               {"path": "/run/uwsgi", "type": "dir", "owner": "app", "group": "www-data", "mode": "0750",
                                "acl": None, "searchable": True, "writable": None},
                               {"path": path, "type": "socket", "owner": "app", "group": "www-data", "mode": "0660",
                                "acl": None, "searchable": None, "writable": True}]}
    section = {"user": "www-data", "groups": ["www-data"], "errors": [],
               "paths": [entry("/run/uwsgi/app%05d.sock" % i, listener=i % 2 == 0) for i in range(1000)]}
    wire, back = roundtrip(section, C.compact_sockets, C.expand_sockets)
    assert len(wire["walks"]) == 1 and back == section
    assert len(json.dumps(wire)) < len(json.dumps(section)) / 10


def test_listeners_name_their_processes_once():
    proc = {"pid": 200, "name": "uwsgi", "cmdline": ["/usr/bin/uwsgi", "--ini", "/etc/uwsgi/app.ini"], "user": "app",
            "unit": "uwsgi.service"}
    section = {"errors": [], "tcp": [], "unix": [
        {"path": "/run/uwsgi/app%05d.sock" % i, "abstract": False, "inode": 1000 + i, "backlog": {"current": 0, "max": 100},
         "processes": [proc]} for i in range(1000)]}
    wire, back = roundtrip(section, C.compact_listeners, C.expand_listeners)
    assert wire["processes"] == [proc] and back == section


def test_containers_are_a_table_naming_their_engine_and_their_nginx_routes_a_table():
    with open(os.path.join(FIXTURES, "lab", "container_nginx_loopback.json"), encoding="utf-8") as fh:
        recorded = json.load(fh)["hosts"]["ctr1"]["containers"]
    section = C.expand_containers(recorded)     # the collectors' form
    with_nginx = [c for c in section["containers"] if c["nginx"]]
    assert len(section["containers"]) >= 2 and with_nginx and with_nginx[0]["nginx"]["routes"]
    assert all(c["engine"] == section["engines"][0]["socket"] and c["short_id"] == c["id"][:12] for c in section["containers"])
    wire, back = roundtrip(section, C.compact_containers, C.expand_containers)
    assert back == section and wire == recorded
    assert wire["containers"]["columns"][:len(C.CONTAINER_COLUMNS)] == list(C.CONTAINER_COLUMNS)
    assert {row[3] for row in rows_of(wire["containers"])} == {0} and {row[1] for row in rows_of(wire["containers"])} == {None}
    assert isinstance(next(r for r in rows_of(wire["containers"]) if r[26])[26]["routes"]["rows"], str)
    # a container of an engine not listed, a short id of its own, a key a later collector adds
    odd = {"engines": [], "containers": [{"id": "abc", "short_id": "x", "engine": "/run/other.sock", "name": "n", "new": 1}]}
    _wire, back = roundtrip(odd, C.compact_containers, C.expand_containers)
    assert {k: back["containers"][0][k] for k in ("id", "short_id", "engine", "name", "new")} == odd["containers"][0]


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(FIXTURES, "lab", "*.json"))), ids=os.path.basename)
def test_the_lab_recordings_are_in_the_form_the_modules_return(path):
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    for facts in data["hosts"].values():
        assert facts["version"] == C.COMPACT_VERSION
        assert C.compact_facts(facts) == facts                          # already compact: left as it is
        tables = [facts["nginx"]["routes"], facts["nginx"]["servers"], facts["sockets"]["paths"], facts["listeners"]["tcp"],
                  facts["listeners"]["unix"]] + ([facts["containers"]["containers"]] if "containers" in facts else [])
        assert all(isinstance(t["rows"], str) and isinstance(json.loads(t["rows"]), list) for t in tables)
        nginx = C.expand_facts(facts)["nginx"]
        assert nginx["routes"] and all(r["id"] and r["endpoints"] is not None for r in nginx["routes"])


def _hostile(rng, depth=0):
    choices = [None, True, 0, -1, 1.5, "", "x", "unix:", [], {}]
    if depth < 3:
        choices += [[_hostile(rng, depth + 1) for _i in range(rng.randint(0, 3))],
                    {rng.choice(["columns", "rows", "routes", "servers", "paths", "tcp", "unix", "walks", "profiles",
                                 "endpoints", "listens", "locations", "upstreams", "files", "containers",
                                 "engines", "nginx", "engine", "short_id", "id", "x"]): _hostile(rng, depth + 1)
                     for _i in range(rng.randint(0, 4))}]
    return rng.choice(choices)


def test_hostile_input_never_raises():
    rng = random.Random(13)
    for _round in range(3000):
        value = _hostile(rng)
        facts = {"nginx": value, "sockets": value, "listeners": value, "containers": value}
        C.expand_facts(facts)
        C.compact_facts(facts)
        C.expand_facts(C.compact_facts(facts))
    assert C.expand_facts("not a dict") == {}
    bad = {"routes": {"columns": ["server", "location", "profile", "endpoints", "target"],
                      "rows": [[99, -1, "x", [0, 5, "y"], True], "not a row", [None] * 9, []]},
           "servers": {"columns": ["names", "listen"], "rows": [["not a list", 7]]}, "endpoints": ["unix:/a", 3]}
    routes = C.expand_nginx(bad)["routes"]
    assert len(routes) == 3 and routes[0]["endpoints"] == [{"kind": "unix", "path": "/a"}] and routes[0]["target"] == "unix:/a"


def test_an_old_schema_section_expands_to_nothing_rather_than_to_wrong_routes():
    old = {"routes": [{"id": "_:80 /", "endpoints": []}], "servers": [{"names": ["_"]}], "upstreams": {}}
    out = C.expand_nginx(old)
    assert out["routes"] == [] and out["servers"] == []
