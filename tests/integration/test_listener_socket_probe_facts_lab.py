# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""listener_facts, socket_path_facts, upstream_probe (and the system section) on a real lab host.

The modules run through ansible-playbook over SSH on web1 and are compared with what the
host's own tools say: ``ss -ltnpx`` for listeners, ``namei -l`` / ``stat`` for the socket walk,
and real faults (chmod 0700 /run/gunicorn, ``systemctl stop gunicorn``) for the blocker and
probe outcomes.  Run:

    BGD_LAB_NAME=bgd-hosta BGD_LAB_HOSTS=1 .venv/bin/python -m pytest tests/integration/test_listener_socket_probe_facts_lab.py
"""
from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import textwrap
import threading
import time
from pathlib import Path

import pytest
from facts_form import expand_facts, expanded_results

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"
HOST = "web1"
SOCK = "/run/gunicorn/gunicorn.sock"


def play(lab, tmp_path, tasks: str, user: str = "root") -> dict:
    """Run ``tasks`` (YAML, indented 4) on web1 as ``user``; return what the last dump task saw.

    Every task should ``register: rN``; the dump writes {facts, r1..r9} to a controller file.
    """
    out = tmp_path / "dump.json"
    text = textwrap.dedent("""\
        - hosts: %s
          gather_facts: false
          tasks:
        %s
            - name: dump
              delegate_to: localhost
              vars:
                ansible_connection: local
                ansible_python_interpreter: "{{ ansible_playbook_python }}"
              ansible.builtin.copy:
                dest: %s
                content: "{{ {'facts': ansible_facts.badgateway | default({}),
                             'r': {'r1': r1 | default(None), 'r2': r2 | default(None), 'r3': r3 | default(None),
                                   'r4': r4 | default(None)}} | to_json }}"
        """) % (HOST, tasks, out)
    pb = tmp_path / "play.yml"
    pb.write_text(text)
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="False",
               ANSIBLE_COLLECTIONS_PATH=str(REPO / "tests" / "output" / "collections"))
    res = subprocess.run([str(PLAYBOOK), "-i", str(lab.inventory_path), str(pb), "-e", "ansible_user=%s" % user],
                         capture_output=True, text=True, timeout=300, env=env, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "Traceback" not in res.stdout + res.stderr, res.stdout[-3000:]
    data = json.loads(out.read_text())
    return {"facts": expand_facts(data["facts"]), "r": expanded_results(data["r"])}


# ---------------------------------------------------------------- ss parsing (host side truth)

def ss_listeners(lab) -> dict:
    """{("tcp", addr, port) | ("unix", path): {"pids": set, "recv": int, "send": int}} from ss -ltnpxH."""
    text = lab.run(HOST, "LC_ALL=C ss -ltnpxH").stdout
    out = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 6 or fields[1] != "LISTEN":
            continue
        netid = fields[0]
        pids = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        recv, send = int(fields[2]), int(fields[3])
        if netid == "tcp":
            addr, port = fields[4].rsplit(":", 1)
            addr = addr.strip("[]")
            if addr == "*":
                addr = "0.0.0.0"
            out[("tcp", addr, int(port))] = {"pids": pids, "recv": recv, "send": send}
        elif netid == "u_str":
            out[("unix", fields[4])] = {"pids": pids, "recv": recv, "send": send}
    return out


def ours(listeners: dict) -> dict:
    out = {}
    for e in listeners["tcp"] + listeners["unix"]:
        key = ("tcp", e["address"], e["port"]) if "port" in e else ("unix", e["path"] or "*")
        out[key] = {"pids": {p["pid"] for p in e["processes"]}, "recv": e["backlog"]["current"], "send": e["backlog"]["max"]}
    return out


def test_listeners_match_ss(lab, tmp_path):
    got = play(lab, tmp_path, "    - {badgateway.doctor.listener_facts: {}, register: r1}")
    listeners = got["facts"]["listeners"]
    assert listeners["errors"] == []
    truth = ss_listeners(lab)
    mine = ours(listeners)
    assert set(mine) == set(truth)
    for key, value in truth.items():
        assert mine[key]["pids"] == value["pids"], key
        assert mine[key]["send"] == value["send"], key          # backlog max == ss Send-Q
    # the lab's own services, with units and users
    sock = [e for e in listeners["unix"] if e["path"] == SOCK][0]
    assert {p["name"] for p in sock["processes"]} == {"gunicorn"}
    assert {p["unit"] for p in sock["processes"]} == {"gunicorn.service"}
    assert {p["user"] for p in sock["processes"]} == {"app"}
    assert sock["backlog"]["max"] == 2048
    nginx = [e for e in listeners["tcp"] if e["port"] == 80][0]
    assert nginx["address"] == "0.0.0.0" and {p["unit"] for p in nginx["processes"]} == {"nginx.service"}
    assert any(p["user"] == "www-data" for p in nginx["processes"])
    uvicorn = [e for e in listeners["tcp"] if e["port"] == 8001][0]
    assert uvicorn["address"] == "127.0.0.1" and uvicorn["processes"][0]["cmdline"][0].startswith("/srv/app/venv/")
    # the /proc fallback agrees on the set of sockets and pids; only backlog max is unknown there
    got = play(lab, tmp_path, "    - {badgateway.doctor.listener_facts: {source: proc}, register: r1}")
    proc = ours(got["facts"]["listeners"])
    assert {k: v["pids"] for k, v in proc.items()} == {k: v["pids"] for k, v in truth.items()}
    assert all(v["send"] is None for v in proc.values())


def _symbolic(comp) -> str:
    kind = {"dir": "d", "socket": "s", "file": "-", "symlink": "l"}.get(comp["type"], "?")
    return kind + stat.filemode(int(comp["mode"], 8))[1:]


def test_socket_walk_matches_namei(lab, tmp_path):
    got = play(lab, tmp_path, textwrap.indent(textwrap.dedent("""\
        - badgateway.doctor.socket_path_facts:
            paths: [%s, /var/run/gunicorn/gunicorn.sock]
            user: www-data
            units:
              - {unit: gunicorn.service, private_tmp: false, runtime_directory: [gunicorn]}
          register: r1
        """ % SOCK), "    "))
    sockets = got["facts"]["sockets"]
    assert sockets["user"] == "www-data" and sockets["groups"] == ["www-data"]
    entry = sockets["paths"][0]
    assert entry["reachable"] and entry["blocker"] is None and entry["listener"] and entry["in_run"]
    assert entry["runtime_directory_units"] == ["gunicorn.service"]
    namei = lab.run(HOST, "namei -l %s" % SOCK).stdout.splitlines()[1:]
    assert [line.split()[:3] for line in namei] == [[_symbolic(c), c["owner"], c["group"]] for c in entry["components"]]
    # /var/run is a symlink to /run on Debian: the walk follows it like namei does
    via_var = sockets["paths"][1]
    namei = lab.run(HOST, "namei -l /var/run/gunicorn/gunicorn.sock").stdout.splitlines()[1:]
    assert [line.split()[0] for line in namei] == [_symbolic(c) for c in via_var["components"]]
    assert via_var["reachable"] and via_var["listener"]


def test_socket_dir_permission_fault(lab, tmp_path):
    lab.inject("socket_dir_permission", HOST)          # chown root:root + chmod 0700 /run/gunicorn
    try:
        assert lab.http(HOST, "/")[0] == 502
        got = play(lab, tmp_path, textwrap.indent(textwrap.dedent("""\
            - {badgateway.doctor.nginx_facts: {}, register: r1}
            - {badgateway.doctor.socket_path_facts: {}, register: r2}
            """), "    "))
        sockets = got["facts"]["sockets"]
        assert sockets["user"] == "www-data"          # taken from the nginx facts by the action plugin
        entry = [p for p in sockets["paths"] if p["path"] == SOCK][0]
        assert entry["blocker"] == {"path": "/run/gunicorn",
                                    "reason": "/run/gunicorn is 0700 root:root; www-data cannot search it"}
        assert not entry["reachable"] and entry["exists"] and entry["listener"]
        namei = lab.run(HOST, "namei -l %s" % SOCK).stdout
        assert re.search(r"drwx------ root\s+root\s+gunicorn", namei), namei
    finally:
        lab.heal("socket_dir_permission", HOST)


def test_socket_file_mode_fault(lab, tmp_path):
    lab.inject("socket_file_mode", HOST)               # gunicorn --umask 077
    try:
        got = play(lab, tmp_path, "    - {badgateway.doctor.socket_path_facts: {paths: [%s], user: www-data}, register: r1}" % SOCK)
        entry = got["facts"]["sockets"]["paths"][0]
        assert entry["blocker"] == {"path": SOCK, "reason": "%s is 0700 app:www-data; www-data cannot write it" % SOCK}
        assert entry["components"][-1]["writable"] is False and entry["components"][-2]["searchable"] is True
    finally:
        lab.heal("socket_file_mode", HOST)


def test_probes_direct_and_via_nginx_then_app_stopped(lab, tmp_path):
    tasks = textwrap.indent(textwrap.dedent("""\
        - {badgateway.doctor.nginx_facts: {}, register: r1}
        - {badgateway.doctor.upstream_probe: {timeout: 3}, register: r2}
        """), "    ")
    got = play(lab, tmp_path, tasks)
    res = {(r["route"], r["via"]): r for r in got["r"]["r2"]["probes"]["results"]}
    assert res[("_:80 /", "direct")]["url"] == "http://unix:%s:/" % SOCK
    assert res[("_:80 /", "direct")]["status"] == 200 and res[("_:80 /", "direct")]["ok"]
    assert res[("_:80 /", "nginx")]["status"] == 200 and res[("_:80 /", "nginx")]["url"] == "http://127.0.0.1/"
    assert res[("_:80 /asgi/", "direct")]["status"] == 200
    assert res[("_:80 /asgi/", "nginx")]["url"] == "http://127.0.0.1/asgi/" and res[("_:80 /asgi/", "nginx")]["status"] == 200
    assert got["facts"]["probes"] == got["r"]["r2"]["probes"]

    lab.inject("app_stopped", HOST)                    # systemctl stop gunicorn
    try:
        got = play(lab, tmp_path, tasks)
        res = {(r["route"], r["via"]): r for r in got["r"]["r2"]["probes"]["results"]}
        assert res[("_:80 /", "direct")]["error"] == "ENOENT" and res[("_:80 /", "direct")]["status"] is None
        assert res[("_:80 /", "nginx")]["status"] == 502 and not res[("_:80 /", "nginx")]["ok"]
        assert res[("_:80 /asgi/", "nginx")]["status"] == 200   # the other app is unaffected
    finally:
        lab.heal("app_stopped", HOST)


def test_uvicorn_stopped_gives_econnrefused(lab, tmp_path):
    lab.run(HOST, "systemctl stop uvicorn")
    try:
        got = play(lab, tmp_path, "    - {badgateway.doctor.upstream_probe: {targets: [{url: 'http://127.0.0.1:8001/'}]}, register: r1}")
        assert got["r"]["r1"]["probes"]["results"][0]["error"] == "ECONNREFUSED"
    finally:
        lab.run(HOST, "systemctl start uvicorn")
    assert lab.wait_routes(HOST)["/asgi/"] == 200


def test_non_root_partial_facts(lab, tmp_path):
    assert lab.ssh(HOST, "id -un", user="auditor").stdout.strip() == "auditor"
    tasks = textwrap.indent(textwrap.dedent("""\
        - {badgateway.doctor.listener_facts: {}, register: r1}
        - badgateway.doctor.socket_path_facts:
            paths: [%s]
            user: www-data
          register: r2
        - badgateway.doctor.upstream_probe:
            targets: [{url: "http://unix:%s:/"}, {url: "http://127.0.0.1/"}]
          register: r3
        - {badgateway.doctor.gateway_facts: {sections: [system]}, register: r4}
        """ % (SOCK, SOCK)), "    ")
    got = play(lab, tmp_path, tasks, user="auditor")
    listeners = got["r"]["r1"]["ansible_facts"]["badgateway"]["listeners"]
    truth = ss_listeners(lab)
    # every socket is still seen (netlink works without root), with backlogs ...
    assert set(ours(listeners)) == set(truth)
    # ... but other users' processes are unknown, reported once
    fd_errors = [e for e in listeners["errors"] if "file descriptors" in e["message"]]
    assert len(fd_errors) == 1 and len(listeners["errors"]) == 1
    sock = [e for e in listeners["unix"] if e["path"] == SOCK][0]
    assert sock["processes"] == [] and sock["backlog"]["max"] == 2048
    # the walk is computed from modes, so it does not depend on who collects it
    entry = got["r"]["r2"]["ansible_facts"]["badgateway"]["sockets"]["paths"][0]
    assert entry["reachable"] and entry["components"][-1]["mode"] == "0770"
    # auditor itself may not connect to the 0770 app:www-data socket; nginx answers
    probes = got["r"]["r3"]["probes"]["results"]
    assert probes[0]["error"] == "EACCES" and probes[1]["status"] == 200
    system = got["r"]["r4"]["ansible_facts"]["badgateway"]["system"]
    assert system["is_root"] is False and system["systemd"] is True
    assert system["memory"]["total"] > 0 and system["selinux"]["present"] is False


def test_system_section_as_root(lab, tmp_path):
    got = play(lab, tmp_path, "    - {badgateway.doctor.gateway_facts: {sections: [system]}, register: r1}")
    system = got["r"]["r1"]["ansible_facts"]["badgateway"]["system"]
    assert system["is_root"] is True and system["systemd"] is True and system["errors"] == []
    assert system["kernel"] == lab.run(HOST, "uname -r").stdout.strip()


HOLDER = r"""
import os, socket, time
u = socket.socket(socket.AF_UNIX); u.bind("/run/bgd-queue.sock"); u.listen(4)
t = socket.socket(); t.bind(("127.0.0.1", 18999)); t.listen(6)
keep = [socket.socket(socket.AF_UNIX) for _ in range(3)] + [socket.socket() for _ in range(2)]
for c in keep[:3]: c.connect("/run/bgd-queue.sock")
for c in keep[3:]: c.connect(("127.0.0.1", 18999))
open("/run/bgd-queue.ready", "w").write(str(os.getpid()))
time.sleep(60)
"""


def test_accept_queue_matches_ss(lab, tmp_path):
    """Connections nobody accepts: backlog.current/max equal ss Recv-Q/Send-Q for unix and TCP."""
    lab.run(HOST, "rm -f /run/bgd-queue.sock /run/bgd-queue.ready; cat > /run/bgd-queue.py", input_=HOLDER)
    lab.run(HOST, "systemd-run --unit bgd-queue-holder --collect python3 /run/bgd-queue.py")
    try:
        lab.run(HOST, "for i in $(seq 50); do test -s /run/bgd-queue.ready && exit 0; sleep 0.1; done; exit 1")
        got = play(lab, tmp_path, "    - {badgateway.doctor.listener_facts: {}, register: r1}")
        truth = ss_listeners(lab)
        mine = ours(got["facts"]["listeners"])
        for key, recv, send in ((("unix", "/run/bgd-queue.sock"), 3, 4), (("tcp", "127.0.0.1", 18999), 2, 6)):
            assert (truth[key]["recv"], truth[key]["send"]) == (recv, send), truth[key]
            assert (mine[key]["recv"], mine[key]["send"]) == (recv, send), mine[key]
        unit = [e for e in got["facts"]["listeners"]["unix"] if e["path"] == "/run/bgd-queue.sock"][0]["processes"][0]["unit"]
        assert unit == "bgd-queue-holder.service"
    finally:
        lab.run(HOST, "systemctl stop bgd-queue-holder; rm -f /run/bgd-queue.sock /run/bgd-queue.ready /run/bgd-queue.py",
                check=False)


def test_backlog_full_fault(lab, tmp_path):
    """gunicorn --backlog 1 busy with slow requests: the accept queue of its socket is at its maximum."""
    lab.inject("backlog_full", HOST)
    try:
        def slow():
            try:
                lab.http(HOST, "/slow?s=6", timeout=20)
            except OSError:
                pass
        threads = [threading.Thread(target=slow) for _n in range(6)]
        for th in threads:
            th.start()
        time.sleep(1.5)
        got = play(lab, tmp_path, textwrap.indent(textwrap.dedent("""\
            - {badgateway.doctor.listener_facts: {}, register: r1}
            - {badgateway.doctor.upstream_probe: {targets: [{url: "http://unix:%s:/health"}]}, register: r2}
            """ % SOCK), "    "))
        sock = [e for e in got["facts"]["listeners"]["unix"] if e["path"] == SOCK][0]
        assert sock["backlog"]["max"] == 1
        assert sock["backlog"]["current"] >= sock["backlog"]["max"], sock["backlog"]
        assert got["r"]["r2"]["probes"]["results"][0]["error"] == "EAGAIN"   # what nginx logs as (11: ...)
        for th in threads:
            th.join(30)
    finally:
        lab.heal("backlog_full", HOST)
