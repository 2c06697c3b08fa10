# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The containers fact section: the Engine API client (over a real unix socket served by a thread,
also hostile) and the facts built from a real Podman 4.3.1 inspection recorded on the lab."""
from __future__ import annotations

import copy
import json
import os
import socket
import struct
import threading
import time
from pathlib import Path

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import _engine_api as A
from ansible_collections.badgateway.doctor.plugins.module_utils import _engine_owner as O
from ansible_collections.badgateway.doctor.plugins.module_utils import containers as C

FIX = Path(__file__).parent / "fixtures" / "containers"
INSPECT = json.loads((FIX / "podman-4.3.1-inspect-running.json").read_text())
LISTING = json.loads((FIX / "podman-4.3.1-list.json").read_text())
VERSION = json.loads((FIX / "podman-4.3.1-version.json").read_text())


# ---------------------------------------------------------------- a tiny engine on a unix socket

class Engine:
    """Serves canned answers on a unix socket: ``routes`` maps a path prefix to (status, body bytes)
    or to a callable(conn) that writes whatever it wants (hostile answers)."""

    def __init__(self, tmp_path, routes):
        self.path = str(tmp_path / "engine.sock")
        self.routes = routes
        self.requests = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(16)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                head, _sep, rest = data.partition(b"\r\n\r\n")
                length = int(next((h.split(b":", 1)[1] for h in head.split(b"\r\n")
                                   if h.lower().startswith(b"content-length:")), b"0") or 0)
                while len(rest) < length:      # read a request's body before answering (POST)
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    rest += chunk
                line = data.split(b"\r\n", 1)[0].decode()
                target = line.split(" ")[1] if " " in line else "/"
                self.requests.append(target)
                path = target.split("?", 1)[0]
                answer = next((v for k, v in self.routes.items() if path.startswith(k)), (404, b'{"message":"no such thing"}'))
                try:
                    if callable(answer):
                        answer(conn)
                    else:
                        status, body = answer
                        conn.sendall(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                                     % (status, len(body)) + body)
                except OSError:
                    pass

    def close(self):
        self.sock.close()


@pytest.fixture
def engine(tmp_path):
    made = []

    def make(routes):
        e = Engine(tmp_path, routes)
        made.append(e)
        return e
    yield make
    for e in made:
        e.close()


def _j(obj):
    return 200, json.dumps(obj).encode()


def frame(stream, text):
    data = text.encode()
    return struct.pack(">BxxxL", stream, len(data)) + data


# ---------------------------------------------------------------- client

def test_client_reads_version_list_inspect(engine):
    e = engine({"/version": _j(VERSION), "/containers/json": _j(LISTING), "/containers/": _j(INSPECT)})
    c = A.EngineClient(e.path)
    c.check_socket()
    assert A.engine_kind(c.version()) == "podman"
    assert [x["Id"] for x in c.containers()] == [INSPECT["Id"]]
    assert c.inspect(INSPECT["Id"])["Name"] == "/shop_web_1"
    assert e.requests[1] == "/containers/json?all=1"


def test_client_logs_demultiplexed(engine):
    body = frame(1, "[INFO] Starting gunicorn 23.0.0\n") + frame(2, "Traceback (most recent call last):\nboom\n")
    e = engine({"/containers/x/logs": (200, body)})
    assert A.EngineClient(e.path).logs("x", tail=2) == ["Traceback (most recent call last):", "boom"]
    assert "tail=2" in e.requests[0] and "stderr=1" in e.requests[0]


def test_demux_passes_raw_tty_output():
    assert A.demux_stream(b"plain tty output\n") == b"plain tty output\n"
    assert A.demux_stream(frame(1, "a\n") + frame(2, "b\n")) == b"a\nb\n"


@pytest.mark.parametrize("version,kind", [
    ({"Components": [{"Name": "Engine", "Version": "20.10.24"}], "ApiVersion": "1.41"}, "docker"),
    (VERSION, "podman"),
    ({}, "unknown"),
    ([], "unknown"),
])
def test_engine_kind(version, kind):
    assert A.engine_kind(version) == kind


def test_missing_socket_and_not_a_socket(tmp_path):
    with pytest.raises(A.EngineError, match="no container engine socket at"):
        A.EngineClient(str(tmp_path / "nope.sock")).check_socket()
    regular = tmp_path / "file"
    regular.write_text("x")
    with pytest.raises(A.EngineError, match="is not a unix socket"):
        A.EngineClient(str(regular)).check_socket()


def test_refused_socket(tmp_path):
    path = str(tmp_path / "dead.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()   # the file stays, nobody listens: what a stopped engine leaves
    with pytest.raises(A.EngineError, match="connection refused") as info:
        A.EngineClient(path).version()
    assert info.value.kind == "connect"


def test_http_error_carries_the_engine_message(engine):
    e = engine({"/version": (500, b'{"cause":"x","message":"database is locked","response":500}')})
    with pytest.raises(A.EngineError, match="HTTP 500: database is locked") as info:
        A.EngineClient(e.path).version()
    assert info.value.status == 500


def test_not_json(engine):
    e = engine({"/version": (200, b"<html>hello</html>")})
    with pytest.raises(A.EngineError, match="not JSON"):
        A.EngineClient(e.path).version()


def test_wrong_json_type(engine):
    e = engine({"/containers/json": _j({"oops": 1})})
    with pytest.raises(A.EngineError, match="not a list"):
        A.EngineClient(e.path).containers()


def test_answer_larger_than_the_cap(engine):
    e = engine({"/version": (200, b'"' + b"x" * 300000 + b'"')})
    with pytest.raises(A.EngineError, match="more than 100000 bytes"):
        A.EngineClient(e.path, max_bytes=100000).version()


def test_silent_engine_times_out(engine):
    def silent(conn):
        time.sleep(3)
    e = engine({"/version": silent})
    t0 = time.monotonic()
    with pytest.raises(A.EngineError, match="did not answer") as info:
        A.EngineClient(e.path, timeout=0.5).version()
    assert time.monotonic() - t0 < 2.5
    assert info.value.kind == "timeout"


def test_slow_drip_is_bounded_in_total(engine):
    def drip(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        for _i in range(100):
            conn.sendall(b"x" * 10)
            time.sleep(0.1)
    e = engine({"/version": drip})
    t0 = time.monotonic()
    with pytest.raises(A.EngineError):
        A.EngineClient(e.path, timeout=1.0).version()
    assert time.monotonic() - t0 < 3


def test_garbage_status_line(engine):
    e = engine({"/version": lambda conn: conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")})
    with pytest.raises(A.EngineError, match="broken HTTP answer"):
        A.EngineClient(e.path).version()


# ---------------------------------------------------------------- facts of one container

def test_facts_of_a_running_compose_container():
    c = C.container_facts(INSPECT, LISTING[0], engine="/run/podman/podman.sock", read_proc=False)
    assert c["name"] == "shop_web_1" and c["short_id"] == INSPECT["Id"][:12]
    assert c["state"] == "running" and c["running"] and not c["restarting"]
    assert c["restart_policy"] == {"name": "unless-stopped", "max_retries": 0}
    assert c["ports"] == [{"container_port": 8000, "protocol": "tcp", "host_ip": "127.0.0.1", "host_port": 8080}]
    assert c["networks"][0]["name"] == "shop_default" and "web" in c["networks"][0]["aliases"]
    assert c["compose"]["project"] == "shop" and c["compose"]["service"] == "web"
    assert c["health"]["status"] == "healthy"
    assert c["mounts"][0]["destination"] == "/run/app" and c["mounts"][0]["type"] == "bind"
    assert c["started_at"] and c["finished_at"] is None


def test_environment_values_never_in_the_facts():
    c = C.container_facts(INSPECT, engine="x", read_proc=False)
    text = json.dumps(c)
    assert "DO-NOT-LEAK" not in text
    assert {"SECRET_KEY", "DATABASE_URL"} <= set(c["env_keys"])


def test_secrets_in_command_health_output_and_error_are_masked():
    info = copy.deepcopy(INSPECT)
    info["Args"] = ["--env", "API_TOKEN=tok-DO-NOT-LEAK", "--password", "pw-DO-NOT-LEAK"]
    info["State"]["Health"]["Log"][-1]["Output"] = "connect postgres://u:pw-DO-NOT-LEAK@db/x failed"
    info["State"]["Error"] = "password=pw-DO-NOT-LEAK rejected"
    text = json.dumps(C.container_facts(info, read_proc=False))
    assert "DO-NOT-LEAK" not in text


def test_exited_podman_container_uses_the_configured_bindings():
    info = copy.deepcopy(INSPECT)
    info["State"].update(Status="exited", Running=False, ExitCode=3, Pid=0, FinishedAt="2026-12-02T06:20:00.5+01:00")
    info["NetworkSettings"]["Ports"] = {}
    c = C.container_facts(info, read_proc=False)
    assert c["state"] == "exited" and c["exit_code"] == 3 and not c["running"] and c["pid"] is None
    assert c["ports"][0]["host_port"] == 8080     # from HostConfig.PortBindings
    assert c["finished_at"] == C.parse_time("2026-12-02T05:20:00.5Z")


def test_docker_restarting_and_oom():
    state = {"Status": "restarting", "Running": True, "Restarting": True, "OOMKilled": True, "ExitCode": 137, "Pid": 0}
    info = {"Id": "a" * 64, "Name": "/web", "State": state,
            "RestartCount": 7, "HostConfig": {"RestartPolicy": {"Name": "always"}},
            "NetworkSettings": {"Ports": {"8000/tcp": None, "53/udp": [{"HostIp": "", "HostPort": "5353"}]}}}
    c = C.container_facts(info, read_proc=False)
    assert c["state"] == "restarting" and c["restarting"] and not c["running"]
    assert c["oom_killed"] and c["restart_count"] == 7 and c["exit_code"] == 137
    assert {"container_port": 8000, "protocol": "tcp", "host_ip": None, "host_port": None} in c["ports"]
    assert {"container_port": 53, "protocol": "udp", "host_ip": "0.0.0.0", "host_port": 5353} in c["ports"]
    assert c["health"] is None and c["compose"] is None


HOSTILE = {"State": "x", "Config": [], "NetworkSettings": {"Ports": "x"}, "Mounts": "x", "HostConfig": 5, "RestartCount": "many"}


@pytest.mark.parametrize("bad", [None, [], "x", HOSTILE])
def test_hostile_inspection_gives_an_entry(bad):
    c = C.container_facts(bad, read_proc=False)
    assert c["ports"] == [] and c["mounts"] == [] and c["restart_count"] == 0


@pytest.mark.parametrize("text,epoch", [
    ("2026-12-02T06:13:05.968446071Z", 1796191985.968),
    ("2026-12-02T07:13:05+01:00", 1796191985.0),
    ("0001-01-01T00:00:00Z", None),
    ("", None), (None, None), ("yesterday", None),
])
def test_parse_time(text, epoch):
    assert C.parse_time(text) == epoch


# ---------------------------------------------------------------- /proc parts (a fake /proc tree)

TCP = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
       "   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 101 1 0 100 0 0 10 0\n")
UNIX = ("Num       RefCount Protocol Flags    Type St Inode Path\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 201 /run/app/app.sock\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 202 @abstract\n")


def fake_proc(tmp_path, pid=4242):
    proc = tmp_path / "proc"
    net = proc / str(pid) / "net"
    net.mkdir(parents=True)
    (net / "tcp").write_text(TCP)
    (net / "unix").write_text(UNIX)
    (proc / str(pid) / "ns").mkdir()
    os.symlink("net:[1]", proc / str(pid) / "ns" / "net")
    (proc / "self" / "ns").mkdir(parents=True)
    os.symlink("net:[2]", proc / "self" / "ns" / "net")
    (proc / str(pid) / "root").mkdir()
    return str(proc)


def test_listeners_of_the_container_namespace(tmp_path):
    proc = fake_proc(tmp_path)
    mounts = [{"type": "bind", "source": "/srv/compose/shop/run", "destination": "/run/app"}]
    out = C.container_listeners(4242, mounts, proc)
    assert out["tcp"] == [{"family": "inet", "address": "127.0.0.1", "port": 8000}]
    assert out["unix"] == [{"path": "/run/app/app.sock", "host_path": "/srv/compose/shop/run/app.sock"}]
    assert out["shares_host_network"] is False and out["error"] is None


def test_listeners_of_a_vanished_process(tmp_path):
    out = C.container_listeners(99999, [], str(tmp_path))
    assert out["error"].startswith("cannot read the listeners of pid 99999")


def test_bind_mount_replaced_and_missing(tmp_path):
    proc = fake_proc(tmp_path)
    host_dir = tmp_path / "run"
    host_dir.mkdir()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(host_dir / "app.sock"))
    try:
        # the container sees <root>/run/app: another directory than the host's now
        (Path(proc) / "4242" / "root" / "run" / "app").mkdir(parents=True)
        info = copy.deepcopy(INSPECT)
        info["State"]["Pid"] = 4242
        info["Mounts"] = [{"Type": "bind", "Source": str(host_dir), "Destination": "/run/app", "RW": True},
                          {"Type": "bind", "Source": str(tmp_path / "gone"), "Destination": "/data", "RW": True}]
        c = C.container_facts(info, proc=proc)
    finally:
        sock.close()
    first, second = c["mounts"]
    assert first["source_kind"] == "directory" and first["sockets"] == [str(host_dir / "app.sock")]
    assert first["replaced"] is True
    assert second["source_kind"] == "missing" and second["replaced"] is True
    assert c["listeners"]["tcp"][0]["port"] == 8000


# ---------------------------------------------------------------- the whole section

def test_collect_against_a_served_engine(engine, tmp_path):
    exited = copy.deepcopy(INSPECT)
    exited["State"].update(Status="exited", Running=False, ExitCode=1, Pid=0)
    logs = frame(2, "Traceback (most recent call last):\nModuleNotFoundError: No module named 'project'\n"
                    "password=hunter2-DO-NOT-LEAK\n")
    e = engine({"/version": _j(VERSION), "/containers/json": _j(LISTING), "/containers/" + INSPECT["Id"] + "/logs": (200, logs),
                "/containers/": _j(exited)})
    out = C.collect_containers(sockets=[e.path], proc=str(tmp_path))
    assert out["errors"] == []
    assert out["engines"][0]["kind"] == "podman" and out["engines"][0]["reachable"]
    c = out["containers"][0]
    assert c["state"] == "exited"
    assert c["logs"]["lines"][1] == "ModuleNotFoundError: No module named 'project'"
    assert "DO-NOT-LEAK" not in json.dumps(out)


def test_collect_errors_but_returns(engine, tmp_path):
    e = engine({"/version": (500, b'{"message":"boom"}')})
    out = C.collect_containers(sockets=[e.path, str(tmp_path / "missing.sock")])
    assert [x["source"] for x in out["errors"]] == ["engine", "engine"]
    assert "HTTP 500: boom" in out["errors"][0]["message"]
    assert "no container engine socket" in out["errors"][1]["message"]
    assert out["containers"] == [] and len(out["engines"]) == 2


def test_no_engine_by_default_is_quiet_unless_required(monkeypatch):
    monkeypatch.setattr(C, "discover_sockets", lambda sockets=None: [])
    assert C.collect_containers()["errors"] == []
    assert "no container engine socket found" in C.collect_containers(require_engine=True)["errors"][0]["message"]


def test_discover_deduplicates_by_real_path(tmp_path):
    real = tmp_path / "podman.sock"
    real.write_text("")
    link = tmp_path / "docker.sock"
    link.symlink_to(real)
    assert C.discover_sockets([str(link), str(real)]) == [str(link)]


def test_container_vanishing_between_list_and_inspect(engine):
    e = engine({"/version": _j(VERSION), "/containers/json": _j(LISTING), "/containers/": (404, b'{"message":"no such container"}')})
    out = C.collect_containers(sockets=[e.path])
    assert out["errors"] == [] and out["containers"] == []


@pytest.mark.parametrize("head", [
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Pad: " + b"a" * 200,            # headers, a byte at a time
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"0" * 200,                    # a chunk-size line, likewise
])
def test_byte_by_byte_engine_is_stopped_at_the_total_timeout(engine, head):
    def dribble(conn):
        for i in range(len(head)):
            conn.sendall(head[i:i + 1])
            time.sleep(0.2)
    e = engine({"/version": dribble})
    t0 = time.monotonic()
    with pytest.raises(A.EngineError) as info:
        A.EngineClient(e.path, timeout=1.0).version()
    assert time.monotonic() - t0 < 1.6
    assert info.value.kind == "timeout"


def _deep(n=100000):
    return b"[" * n + b"]" * n


def _broken(**changes):
    info = copy.deepcopy(INSPECT)
    info["Id"] = "bad1"
    for where, value in changes.items():
        node = info
        keys = where.split("__")
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node[k]
        node[int(keys[-1]) if isinstance(node, list) else keys[-1]] = value
    return json.dumps(info).encode()


MALFORMED = {
    "mount source an int": _broken(Mounts__0__Source=5),
    "mount source with NUL": _broken(Mounts__0__Source="/srv/\0x"),
    "mount destination a list": _broken(Mounts__0__Destination=["/run/app"]),
    "mount type a dict": _broken(Mounts__0__Type={"a": 1}),
    "HostIp a list": _broken(NetworkSettings__Ports={"8000/tcp": [{"HostIp": ["0.0.0.0"], "HostPort": "8000"}]}),
    "Pid infinite": _broken(State__Pid=float("inf")),
    "Pid negative": _broken(State__Pid=-5),
    "health status a list": _broken(State__Health={"Status": ["unhealthy"], "Log": [{"ExitCode": "x"}]}),
    "error deeply nested": _broken(State__Error=[[[[[[[[[[]]]]]]]]]]).replace(b"[[[[[[[[[[", b"[" * 20000).replace(
        b"]]]]]]]]]]", b"]" * 20000),
    "whole inspection nested": _deep(),
    "not an object": b"[1, 2]",
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_inspection_is_an_error_entry_the_others_still_return(engine, tmp_path, name):
    good_id = INSPECT["Id"]
    listing = [dict(LISTING[0], Id="bad1"), LISTING[0]]
    e = engine({"/version": _j(VERSION), "/containers/json": _j(listing),
                "/containers/bad1/": (200, MALFORMED[name]), "/containers/" + good_id: _j(INSPECT)})
    out = C.collect_containers(sockets=[e.path], proc=str(tmp_path), log_lines=0)
    json.dumps(out)   # what Ansible does with it
    names = [c["id"] for c in out["containers"]]
    assert good_id in names
    if "bad1" not in names:
        assert any("bad1" in x["message"] or "bad1" in str(x) for x in out["errors"]), out["errors"]
    for c in out["containers"]:
        for m in c["mounts"]:
            assert m["source"] is None or (isinstance(m["source"], str) and "\0" not in m["source"])
            assert m["destination"] is None or isinstance(m["destination"], str)
        assert all(isinstance(p["host_ip"], (str, type(None))) for p in c["ports"])


@pytest.mark.parametrize("version", [{"Components": 5}, {"Components": "podman"}, {"Components": [1, None]}])
def test_engine_kind_of_malformed_versions(version):
    assert A.engine_kind(version) in ("unknown", "docker")


def test_deeply_nested_answer_is_an_engine_error(engine):
    e = engine({"/version": (200, _deep()), "/containers/x/start": (500, _deep())})
    with pytest.raises(A.EngineError, match="not JSON"):
        A.EngineClient(e.path).version()
    from ansible_collections.badgateway.doctor.plugins.module_utils._engine_control import EngineControl
    with pytest.raises(A.EngineError, match="HTTP 500"):
        EngineControl(e.path).start("x")


# ---------------------------------------------------------------- rootless engines: a user's answers are claims

ROOTLESS_UID = 54321


@pytest.fixture
def user_run(tmp_path, monkeypatch):
    """``<tmp>/run/user/54321/podman/`` owned by the user, as systemd-logind and Podman make it."""
    if os.geteuid() != 0:
        pytest.skip("needs root to hand files to another uid")
    base = tmp_path / "run" / "user"
    podman = base / str(ROOTLESS_UID) / "podman"
    podman.mkdir(parents=True)
    for d in (base / str(ROOTLESS_UID), podman):
        os.chown(d, ROOTLESS_UID, ROOTLESS_UID)
        os.chmod(d, 0o700)
    monkeypatch.setattr(O, "USER_RUN_DIR", str(base))
    return podman


def _rootless_engine(podman, routes):
    e = Engine(podman, routes)
    os.rename(e.path, str(podman / "podman.sock"))
    e.path = str(podman / "podman.sock")
    os.chown(e.path, ROOTLESS_UID, ROOTLESS_UID)
    return e


def _running_at(pid, source):
    info = copy.deepcopy(INSPECT)
    info["State"]["Pid"] = pid
    info["Mounts"] = [{"Type": "bind", "Source": source, "Destination": "/run/app", "RW": True},
                      {"Type": "bind", "Source": source + "-gone", "Destination": "/data", "RW": True}]
    return info


def test_rootless_socket_in_a_directory_others_may_write_is_not_asked(user_run):
    e = _rootless_engine(user_run, {"/version": _j(VERSION), "/containers/json": _j([])})
    try:
        os.chmod(user_run, 0o777)
        out = C.collect_containers(sockets=[e.path])
        assert e.requests == []
        assert "writable by it alone" in out["errors"][0]["message"]
        os.chmod(user_run, 0o700)
        os.chown(e.path, 0, 0)                     # a socket another user (root here) put there
        out = C.collect_containers(sockets=[e.path])
        assert e.requests == [] and "not by uid %d" % ROOTLESS_UID in out["errors"][0]["message"]
    finally:
        e.close()


def test_rootless_claims_are_checked_before_root_acts_on_them(user_run, tmp_path):
    proc = fake_proc(tmp_path)                      # pid 4242 owned by root: not the user's
    subuid = tmp_path / "subuid"
    subuid.write_text("%d:200000:65536\n" % ROOTLESS_UID)
    secret_dir = tmp_path / "root-only"
    secret_dir.mkdir()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(secret_dir / "private.sock"))
    e = _rootless_engine(user_run, {"/version": _j(VERSION), "/containers/json": _j(LISTING),
                                    "/containers/": _j(_running_at(4242, str(secret_dir)))})
    try:
        out = C.collect_containers(sockets=[e.path], proc=proc, subuid=str(subuid), log_lines=0)
        assert out["engines"][0]["rootless"] is True and out["engines"][0]["uid"] == ROOTLESS_UID
        c = out["containers"][0]
        assert c["engine_uid"] == ROOTLESS_UID
        assert c["listeners"] is None and c["nginx"] is None
        assert c["mounts"][0]["source_kind"] is None and c["mounts"][0]["sockets"] == []
        text = json.dumps(out["errors"])
        assert "claims the pid 4242" in text and "does not own" in text
        # the same claims, now true: a subordinate uid of the user runs the pid, the user owns the source
        os.chown(os.path.join(proc, "4242"), 200005, 200005)
        os.chown(secret_dir, ROOTLESS_UID, ROOTLESS_UID)
        out = C.collect_containers(sockets=[e.path], proc=proc, subuid=str(subuid), log_lines=0)
        c = out["containers"][0]
        assert out["errors"] == [] and c["listeners"]["tcp"][0]["port"] == 8000
        assert c["mounts"][0]["sockets"] == [str(secret_dir / "private.sock")]
        assert c["mounts"][1]["source_kind"] == "missing" and c["mounts"][1]["replaced"] is True
    finally:
        sock.close()
        e.close()


def test_rootful_engine_is_not_marked_rootless(engine):
    e = engine({"/version": _j(VERSION), "/containers/json": _j([])})
    assert C.collect_containers(sockets=[e.path])["engines"][0]["rootless"] is False


PEM_LOG = ("loading key\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
           "VTLw7onLRnrq0IzW7yWR7QkrmBL7jTKEn5uqKhbwKfBstIsbMY2Zkp18gnTxKxx\n-----END RSA PRIVATE KEY-----\nexiting\n")


def test_a_private_key_spread_over_log_lines_is_masked_whole(engine, tmp_path):
    exited = copy.deepcopy(INSPECT)
    exited["State"].update(Status="exited", Running=False, ExitCode=1, Pid=0)
    e = engine({"/version": _j(VERSION), "/containers/json": _j(LISTING),
                "/containers/" + INSPECT["Id"] + "/logs": (200, frame(2, PEM_LOG)), "/containers/": _j(exited)})
    out = C.collect_containers(sockets=[e.path], proc=str(tmp_path))
    lines = out["containers"][0]["logs"]["lines"]
    assert "MIIEowIBAAKCAQEA" not in json.dumps(out) and "VTLw7onLRnrq0" not in json.dumps(out)
    assert lines[0] == "loading key" and lines[-1] == "exiting"


def test_bind_mount_destination_linking_out_of_the_container_is_not_followed_to_the_host(tmp_path):
    proc = fake_proc(tmp_path)
    host_dir = tmp_path / "hostdir"
    host_dir.mkdir()
    croot = Path(proc) / "4242" / "root"
    (croot / "run").mkdir()
    os.symlink(str(host_dir), str(croot / "run" / "app"))   # the container's link, absolute: inside its own root
    info = copy.deepcopy(INSPECT)
    info["State"]["Pid"] = 4242
    info["Mounts"] = [{"Type": "bind", "Source": str(host_dir), "Destination": "/run/app", "RW": True}]
    c = C.container_facts(info, proc=proc)
    assert c["mounts"][0]["replaced"] is None       # not the host's directory compared with itself


def test_an_answer_that_ends_with_the_connection_is_read_whole(engine):
    """Podman's attached exec stream: no length, ``Connection: close``; http.client closes the connection before the
    body is read, the socket must stay open for it."""
    def until_eof(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: close\r\n\r\n")
        time.sleep(0.1)
        conn.sendall(frame(1, "reloaded\n"))
    e = engine({"/containers/x/logs": until_eof})
    assert A.EngineClient(e.path, timeout=2).logs("x", tail=5) == ["reloaded"]
