# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import os
import socket
import struct
import uuid

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import listeners as L

# Real lines from a Debian host (bookworm): nginx on 0.0.0.0:80 and [::]:80, gunicorn on
# 127.0.0.1:8000 with 3 connections waiting, an ESTABLISHED connection that must be ignored.
TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 21745 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F40 00000000:0000 0A 00000000:00000003 00:00000000 00000000  1001        0 24816 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1F40 0100007F:D2A4 01 00000000:00000000 00:00000000 00000000  1001        0 24999 1 0000000000000000 20 4 30 10 -1
"""
TCP6 = "\n".join([
    "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt"
    "   uid  timeout inode",
    "   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000"
    "     0        0 21746 1 0000000000000000 100 0 0 10 0",
    "   1: 00000000000000000000000001000000:1F41 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000"
    "     0        0 21747 1 0000000000000000 100 0 0 10 0",
    "   2: 0000000000000000FFFF00000100007F:1F42 00000000000000000000000000000000:0000 0A 00000000:00000002 00:00000000 00000000"
    "     0        0 21748 1 0000000000000000 100 0 0 10 0",
]) + "\n"
UNIX = """\
Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 24817 /run/gunicorn/gunicorn.sock
0000000000000000: 00000002 00000000 00010000 0001 01 13001 @/org/kernel/abstract
0000000000000000: 00000002 00000000 00010000 0005 01 13002 /run/systemd/seqpacket.sock
0000000000000000: 00000003 00000000 00000000 0001 03 13003 /run/gunicorn/gunicorn.sock
0000000000000000: 00000002 00000000 00000000 0002 01 13004 /run/systemd/notify
0000000000000000: 00000002 00000000 00010000 0001 01 13005 /tmp/with space.sock
0000000000000000: 00000002 00000000 00010000 0001 01 13006
"""


@pytest.mark.skipif(socket.htonl(1) == 1, reason="the sample /proc lines are from a little-endian host")
def test_parse_tcp4():
    out = L.parse_proc_net_tcp(TCP, socket.AF_INET)
    assert [(e["address"], e["port"], e["inode"], e["backlog"]["current"]) for e in out] == [
        ("0.0.0.0", 80, 21745, 0), ("127.0.0.1", 8000, 24816, 3)]
    assert all(e["backlog"]["max"] is None and e["family"] == "inet" and not e["v4mapped"] for e in out)


def test_parse_tcp6_explicit_byteorder():
    out = L.parse_proc_net_tcp(TCP6, socket.AF_INET6, byteorder="little")
    assert [(e["address"], e["port"], e["v4mapped"]) for e in out] == [
        ("::", 80, False), ("::1", 8001, False), ("::ffff:127.0.0.1", 8002, True)]
    assert out[2]["backlog"]["current"] == 2
    assert out[0]["family"] == "inet6"


def test_parse_tcp_garbage_lines_skipped():
    assert L.parse_proc_net_tcp("header\n 0: zz:zz 0 0A\n\n", socket.AF_INET) == []


def test_parse_unix():
    out = L.parse_proc_net_unix(UNIX)
    assert [(e["path"], e["abstract"], e["inode"]) for e in out] == [
        ("/run/gunicorn/gunicorn.sock", False, 24817),
        ("@/org/kernel/abstract", True, 13001),
        ("/tmp/with space.sock", False, 13005),
        ("", False, 13006),
    ]
    assert out[0]["backlog"] == {"current": None, "max": None}


def test_parse_inet_diag_msg():
    src = socket.inet_pton(socket.AF_INET6, "::1")
    body = struct.pack("=BBBBHH16s16sI8sIIIII", socket.AF_INET6, 10, 0, 0, socket.htons(8443), 0, src,
                       b"\0" * 16, 0, b"\0" * 8, 0, 4, 511, 33, 777)
    entry = L.parse_inet_diag_msg(body, socket.AF_INET6)
    assert entry["address"] == "::1" and entry["port"] == 8443 and entry["inode"] == 777
    assert entry["backlog"] == {"current": 4, "max": 511}


def test_parse_unix_diag_msg_with_attributes():
    name = b"\0abstract-name"
    attr_name = struct.pack("=HH", 4 + len(name), L.UNIX_DIAG_NAME) + name
    attr_name += b"\0" * ((4 - len(attr_name) % 4) % 4)
    attr_rq = struct.pack("=HHII", 12, L.UNIX_DIAG_RQLEN, 2, 128)
    body = struct.pack("=BBBxI8s", socket.AF_UNIX, 1, 10, 4242, b"\0" * 8) + attr_name + attr_rq
    stype, entry = L.parse_unix_diag_msg(body)
    assert stype == 1
    assert entry == {"path": "@abstract-name", "abstract": True, "inode": 4242,
                     "backlog": {"current": 2, "max": 128}, "processes": []}


@pytest.fixture
def live_sockets(tmp_path):
    """A TCP listener on 127.0.0.1:0 with one queued connection, an IPv6 one, a unix path and an abstract one."""
    socks = []
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(7)
    socks.append(tcp)
    socks.append(socket.create_connection(tcp.getsockname()))
    path = str(tmp_path / "app.sock")
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(path)
    unix.listen(5)
    socks.append(unix)
    client = socket.socket(socket.AF_UNIX)
    client.connect(path)
    socks.append(client)
    abstract = "bgd-test-" + uuid.uuid4().hex
    abs_sock = socket.socket(socket.AF_UNIX)
    abs_sock.bind("\0" + abstract)
    abs_sock.listen(3)
    socks.append(abs_sock)
    v6 = None
    if socket.has_ipv6:
        try:
            v6 = socket.socket(socket.AF_INET6)
            v6.bind(("::1", 0))
            v6.listen(4)
            socks.append(v6)
        except OSError:
            v6 = None
    yield {"tcp_port": tcp.getsockname()[1], "path": path, "abstract": "@" + abstract,
           "v6_port": v6.getsockname()[1] if v6 else None}
    for s in socks:
        s.close()


@pytest.mark.parametrize("use_netlink", [True, False])
def test_collect_finds_live_sockets(live_sockets, use_netlink):
    facts = L.collect_listeners(use_netlink=use_netlink)
    assert isinstance(facts["errors"], list)
    tcp = [e for e in facts["tcp"] if e["port"] == live_sockets["tcp_port"] and e["family"] == "inet"]
    assert len(tcp) == 1 and tcp[0]["address"] == "127.0.0.1"
    assert tcp[0]["backlog"]["current"] == 1
    assert [p["pid"] for p in tcp[0]["processes"]] == [os.getpid()]
    proc = tcp[0]["processes"][0]
    assert proc["cmdline"] and proc["user"]
    unix = {e["path"]: e for e in facts["unix"]}
    assert live_sockets["path"] in unix and live_sockets["abstract"] in unix
    assert unix[live_sockets["abstract"]]["abstract"] is True
    assert [p["pid"] for p in unix[live_sockets["path"]]["processes"]] == [os.getpid()]
    if use_netlink and not facts["errors"]:
        assert tcp[0]["backlog"]["max"] == 7
        assert unix[live_sockets["path"]]["backlog"] == {"current": 1, "max": 5}
        assert unix[live_sockets["abstract"]]["backlog"] == {"current": 0, "max": 3}
    if not use_netlink:
        assert tcp[0]["backlog"]["max"] is None
        assert unix[live_sockets["path"]]["backlog"] == {"current": None, "max": None}
    if live_sockets["v6_port"]:
        v6 = [e for e in facts["tcp"] if e["port"] == live_sockets["v6_port"]]
        assert [(e["family"], e["address"]) for e in v6] == [("inet6", "::1")]


def test_netlink_and_proc_agree(live_sockets):
    nl = L.collect_listeners(use_netlink=True, with_processes=False)
    if nl["errors"]:
        pytest.skip("netlink sock_diag unavailable here: %s" % nl["errors"])
    pr = L.collect_listeners(use_netlink=False, with_processes=False)

    def key(facts):
        return (sorted((e["family"], e["address"], e["port"], e["inode"], e["backlog"]["current"]) for e in facts["tcp"]),
                sorted((e["path"], e["inode"]) for e in facts["unix"]))
    assert key(nl) == key(pr)


def test_missing_proc_gives_errors_not_exceptions(tmp_path):
    facts = L.collect_listeners(proc=str(tmp_path), use_netlink=False)
    assert facts["tcp"] == [] and facts["unix"] == []
    paths = {e["path"] for e in facts["errors"]}
    assert str(tmp_path / "net" / "tcp") in paths and str(tmp_path / "net" / "unix") in paths


def test_unreadable_fds_reported_once(tmp_path, monkeypatch):
    net = tmp_path / "net"
    net.mkdir()
    (net / "tcp").write_text(TCP)
    (net / "unix").write_text(UNIX)
    for pid in (100, 101, 102):
        (tmp_path / str(pid)).mkdir()
    real_listdir = os.listdir

    def fake_listdir(path):
        if path.endswith("/fd/"):
            raise PermissionError(13, "Permission denied", path)
        return real_listdir(path)
    monkeypatch.setattr(os, "listdir", fake_listdir)
    facts = L.collect_listeners(proc=str(tmp_path), use_netlink=False)
    fd_errors = [e for e in facts["errors"] if "file descriptors" in e["message"]]
    assert len(fd_errors) == 1 and "3 processes" in fd_errors[0]["message"]
    assert len(facts["tcp"]) == 2 and all(e["processes"] == [] for e in facts["tcp"])


def test_listening_unix_paths(live_sockets):
    assert live_sockets["path"] in L.listening_unix_paths()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_collect_as_non_root_is_partial(live_sockets, as_nobody):
    facts = as_nobody(L.collect_listeners)
    tcp = [e for e in facts["tcp"] if e["port"] == live_sockets["tcp_port"]]
    assert len(tcp) == 1
    # the forked child holds the inherited fds itself and sees its own; root's (this pytest) is unknown
    assert os.getpid() not in [p["pid"] for p in tcp[0]["processes"]]
    assert {p["user"] for p in tcp[0]["processes"]} == {"nobody"}
    assert live_sockets["path"] in {e["path"] for e in facts["unix"]}
    fd_errors = [e for e in facts["errors"] if "file descriptors" in e["message"]]
    assert len(fd_errors) == 1, facts["errors"]


def test_netlink_failure_falls_back_to_proc(live_sockets, monkeypatch):
    def refuse(payload):
        raise L.NetlinkError("netlink sock_diag refused the request: EPERM")
    monkeypatch.setattr(L, "_nl_dump", refuse)
    facts = L.collect_listeners()
    sources = [e["source"] for e in facts["errors"]]
    assert sources.count("netlink") >= 2          # tcp (and tcp6 when present) and unix
    assert all("EPERM" in e["message"] for e in facts["errors"] if e["source"] == "netlink")
    tcp = [e for e in facts["tcp"] if e["port"] == live_sockets["tcp_port"]]
    assert len(tcp) == 1 and tcp[0]["backlog"] == {"current": 1, "max": None}
    assert live_sockets["path"] in {e["path"] for e in facts["unix"]}


def test_unexpected_exception_becomes_error(monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("kaboom")
    monkeypatch.setattr(L, "socket_owners", boom)
    facts = L.collect_listeners()
    assert facts["errors"][-1]["source"] == "listeners" and "kaboom" in facts["errors"][-1]["message"]
