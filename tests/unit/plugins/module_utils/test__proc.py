# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import os
import socket

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import _proc


STATUS = """Name:\tgunicorn
Umask:\t0022
State:\tS (sleeping)
Tgid:\t812
Pid:\t812
PPid:\t1
Uid:\t1001\t1001\t1001\t1001
Gid:\t1001\t1001\t1001\t1001
"""


def test_status_uid():
    assert _proc.parse_status_uid(STATUS) == 1001
    assert _proc.parse_status_field(STATUS, "Name") == "gunicorn"
    assert _proc.parse_status_uid("Name:\tx\n") is None
    assert _proc.parse_status_uid("Uid:\tbogus\n") is None


@pytest.mark.parametrize("text, unit", [
    ("0::/system.slice/gunicorn.service\n", "gunicorn.service"),
    ("0::/user.slice/user-0.slice/session-3.scope\n", "session-3.scope"),
    ("0::/init.scope\n", "init.scope"),
    # systemd socket activation helper
    ("0::/system.slice/gunicorn.socket\n", "gunicorn.socket"),
    # a service's sub-cgroup (delegation): last component ending in a unit suffix wins
    ("0::/system.slice/app.service/worker\n", "app.service"),
    # cgroup v1: the name=systemd line is preferred over controllers
    ("12:cpu,cpuacct:/system.slice/other.service\n1:name=systemd:/system.slice/nginx.service\n", "nginx.service"),
    ("0::/\n", None),
    ("", None),
])
def test_cgroup_unit(text, unit):
    assert _proc.parse_cgroup_unit(text) == unit


def test_cmdline():
    assert _proc.parse_cmdline(b"/venv/bin/python\0/venv/bin/gunicorn\0-b\0unix:/run/g.sock\0") == [
        "/venv/bin/python", "/venv/bin/gunicorn", "-b", "unix:/run/g.sock"]
    assert _proc.parse_cmdline(b"") == []
    # setproctitle style, no NUL separators
    assert _proc.parse_cmdline(b"gunicorn: master [app]") == ["gunicorn: master [app]"]


def test_stat_starttime_with_odd_comm():
    fields = ["S"] + [str(i) for i in range(4, 60)]
    text = "1234 (we ird) name)) " + " ".join(fields)
    # field 22 is the 20th after the state (field 3)
    assert _proc.parse_stat_starttime(text) == 22
    assert _proc.parse_stat_starttime("garbage") is None


def test_boot_time_and_process_info_self():
    bt = _proc.boot_time()
    assert bt is not None and bt > 1e9
    info = _proc.process_info(os.getpid(), btime=bt)
    assert info["pid"] == os.getpid()
    assert info["uid"] == os.getuid()
    assert info["cmdline"] and "python" in info["cmdline"][0]
    assert abs(info["start_time"] - bt) > 0
    assert info["ppid"] == os.getppid()
    assert _proc.process_info(2 ** 22 + 12345) is None


def test_scan_reads_the_command_line_first_and_keeps_what_is_wanted():
    me = os.getpid()
    mine = list(_proc.scan(want=lambda argv: argv == _proc.process_info(me)["cmdline"]))
    assert me in [i["pid"] for i in mine]
    assert all(i["cmdline"] for i in _proc.scan())   # kernel threads (no command line) are left out
    assert list(_proc.scan(want=lambda argv: False)) == []


def test_stat_ppid_and_precise_boot_time():
    assert _proc.parse_stat_ppid("812 (gunicorn: master [a) b]) S 1 812 812 0") == 1
    assert _proc.parse_stat_ppid("garbage") is None
    boot, precise = _proc.precise_boot_time()
    assert precise and abs(boot - _proc.boot_time()) < 2


def test_proc_reads_go_through_the_safe_reader(tmp_path):
    """A fake /proc whose files are FIFOs: process_info returns at once with the fields unknown."""
    base = tmp_path / "42"
    base.mkdir()
    for name in ("comm", "cmdline", "status", "cgroup", "stat"):
        os.mkfifo(str(base / name))
    info = _proc.process_info(42, proc=str(tmp_path), btime=1.0)
    assert info == {"pid": 42, "ppid": None, "name": None, "cmdline": None, "uid": None, "user": None,
                    "unit": None, "start_time": None}
    os.mkfifo(str(tmp_path / "stat"))
    assert _proc.boot_time(str(tmp_path)) is None


def test_socket_owners_finds_own_socket():
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        inode = os.fstat(srv.fileno()).st_ino
        owners, unreadable = _proc.socket_owners({inode})
        assert owners == {inode: [os.getpid()]}
        assert unreadable == 0 or os.geteuid() != 0
    finally:
        srv.close()


def test_socket_owners_fake_proc(tmp_path):
    # a synthetic /proc with symlinks like the kernel's
    for pid, targets in ((10, ["socket:[111]", "/dev/null", "socket:[222]"]), (11, ["socket:[111]"]), (12, [])):
        fd = tmp_path / str(pid) / "fd"
        fd.mkdir(parents=True)
        for n, target in enumerate(targets):
            os.symlink(target, str(fd / str(n)))
    (tmp_path / "self").mkdir()
    owners, unreadable = _proc.socket_owners({111, 222}, proc=str(tmp_path))
    assert owners == {111: [10, 11], 222: [10]}
    assert unreadable == 0
    owners, _unreadable = _proc.socket_owners({222}, proc=str(tmp_path))
    assert owners == {222: [10]}


def test_user_name():
    assert _proc.user_name(0) == "root"
    assert _proc.user_name(4000000) == "4000000"
    assert _proc.user_name(None) is None
