# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
import struct
import tempfile
from collections import namedtuple

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import _access as A
from ansible_collections.badgateway.doctor.plugins.module_utils import socket_paths as S

# ---------------------------------------------------------------- walk with a synthetic tree

St = namedtuple("St", "st_mode st_uid st_gid")


def fake_fs(entries, links=None):
    links = links or {}

    def lstat(path):
        if path in links:
            return St(stat.S_IFLNK | 0o777, 0, 0)
        if path not in entries:
            raise FileNotFoundError(2, "No such file or directory", path)
        return entries[path]

    def readlink(path):
        return links[path]
    return {"lstat": lstat, "readlink": readlink, "read_acl": lambda p: None}


def tree(run_gunicorn_mode=0o755, sock_mode=0o660, sock_owner=(1001, 33)):
    return {
        "/": St(stat.S_IFDIR | 0o755, 0, 0),
        "/run": St(stat.S_IFDIR | 0o755, 0, 0),
        "/run/gunicorn": St(stat.S_IFDIR | run_gunicorn_mode, 0, 0),
        "/run/gunicorn/gunicorn.sock": St(stat.S_IFSOCK | sock_mode, sock_owner[0], sock_owner[1]),
    }


def test_walk_dir_blocker_words():
    res, errors = S.walk_path("/run/gunicorn/gunicorn.sock", 33, [33], "www-data", **fake_fs(tree(0o700)))
    assert errors == []
    assert res["exists"] and res["is_socket"] and not res["reachable"]
    assert res["blocker"]["path"] == "/run/gunicorn"
    assert res["blocker"]["reason"] == "/run/gunicorn is 0700 root:root; www-data cannot search it"
    assert [c["searchable"] for c in res["components"][:3]] == [True, True, False]


def test_walk_socket_blocker_words():
    res, _errs = S.walk_path("/run/gunicorn/gunicorn.sock", 33, [33], "www-data",
                             **fake_fs(tree(sock_mode=0o600, sock_owner=(0, 0))))
    assert res["blocker"]["reason"] == "/run/gunicorn/gunicorn.sock is 0600 root:root; www-data cannot write it"
    assert res["components"][-1]["writable"] is False and res["components"][-1]["type"] == "socket"


def test_walk_reachable_and_root():
    res, _errs = S.walk_path("/run/gunicorn/gunicorn.sock", 33, [33], "www-data", **fake_fs(tree()))
    assert res["reachable"] and res["blocker"] is None
    res, _errs = S.walk_path("/run/gunicorn/gunicorn.sock", 0, [0], "root", **fake_fs(tree(0o700, 0o600)))
    assert res["reachable"]


def test_walk_missing():
    entries = tree()
    del entries["/run/gunicorn/gunicorn.sock"]
    res, _errs = S.walk_path("/run/gunicorn/gunicorn.sock", 33, [33], "www-data", **fake_fs(entries))
    assert not res["exists"] and not res["reachable"]
    assert res["blocker"]["reason"] == "/run/gunicorn/gunicorn.sock does not exist"
    assert res["components"][-1]["type"] == "missing"
    del entries["/run/gunicorn"]
    res, _errs = S.walk_path("/run/gunicorn/gunicorn.sock", 33, [33], "www-data", **fake_fs(entries))
    assert res["blocker"]["reason"] == "/run/gunicorn does not exist"


def test_walk_first_blocker_wins_over_later_missing():
    entries = tree(0o700)
    del entries["/run/gunicorn/gunicorn.sock"]
    res, _errs = S.walk_path("/run/gunicorn/gunicorn.sock", 33, [33], "www-data", **fake_fs(entries))
    assert res["blocker"]["path"] == "/run/gunicorn"


def test_walk_follows_var_run_symlink():
    entries = tree()
    entries["/var"] = St(stat.S_IFDIR | 0o755, 0, 0)
    res, _errs = S.walk_path("/var/run/gunicorn/gunicorn.sock", 33, [33], "www-data",
                             **fake_fs(entries, links={"/var/run": "../run"}))
    assert [c["path"] for c in res["components"]] == [
        "/", "/var", "/var/run", "/run", "/run/gunicorn", "/run/gunicorn/gunicorn.sock"]
    assert res["components"][2]["type"] == "symlink"
    assert res["reachable"]
    # an absolute link restarts at "/", listed again like namei does
    res, _errs = S.walk_path("/var/run/gunicorn/gunicorn.sock", 33, [33], "www-data",
                             **fake_fs(entries, links={"/var/run": "/run"}))
    assert [c["path"] for c in res["components"]] == [
        "/", "/var", "/var/run", "/", "/run", "/run/gunicorn", "/run/gunicorn/gunicorn.sock"]
    assert res["reachable"]


def test_walk_symlink_loop_and_not_socket():
    res, _errs = S.walk_path("/a/x.sock", 33, [33], "www-data",
                             **fake_fs({"/": St(stat.S_IFDIR | 0o755, 0, 0)}, links={"/a": "/a"}))
    assert "too many levels" in res["blocker"]["reason"]
    entries = tree()
    entries["/run/gunicorn/gunicorn.sock"] = St(stat.S_IFREG | 0o666, 0, 0)
    res, _errs = S.walk_path("/run/gunicorn/gunicorn.sock", 33, [33], "www-data", **fake_fs(entries))
    assert not res["is_socket"] and res["blocker"]["reason"] == "/run/gunicorn/gunicorn.sock is a file, not a socket"


def test_walk_permission_error_on_lstat():
    def lstat(path):
        if path == "/srv/private/app.sock":
            raise PermissionError(13, "Permission denied", path)
        return St(stat.S_IFDIR | 0o755, 0, 0)
    res, errors = S.walk_path("/srv/private/app.sock", 33, [33], "www-data", lstat=lstat, readlink=os.readlink,
                              read_acl=lambda p: None)
    assert not res["reachable"] and "cannot be inspected" in res["blocker"]["reason"]
    assert errors and errors[0]["path"] == "/srv/private/app.sock"


def test_walk_relative_path():
    res, _errs = S.walk_path("run/x.sock", 33, [33], "www-data", **fake_fs(tree()))
    assert not res["reachable"] and "absolute" in res["blocker"]["reason"]


# ---------------------------------------------------------------- units (pure)

def test_unit_relations():
    units = [
        {"unit": "gunicorn.service", "private_tmp": True, "runtime_directory": ["gunicorn"]},
        {"unit": "nginx.service", "private_tmp": False, "runtime_directory": []},
        {"unit": "other.service", "private_tmp": True, "runtime_directory": ["other"], "paths": ["/tmp/other.sock"]},
    ]
    assert S.unit_relations("/tmp/app.sock", units) == (["gunicorn.service"], [])
    assert S.unit_relations("/run/gunicorn/gunicorn.sock", units) == ([], ["gunicorn.service"])
    assert S.unit_relations("/var/run/gunicorn/gunicorn.sock", units) == ([], ["gunicorn.service"])
    assert S.unit_relations("/run/gunicorn-other/x.sock", units) == ([], [])
    assert S.unit_relations("/tmp/other.sock", units) == (["gunicorn.service", "other.service"], [])
    assert S.unit_relations("/tmp/x.sock", None) == ([], [])


# ---------------------------------------------------------------- real filesystem

@pytest.fixture
def open_dir():
    """A 0755 directory directly under /tmp, so every parent is searchable by everyone."""
    path = tempfile.mkdtemp(prefix="bgd-sp-", dir="/tmp")
    os.chmod(path, 0o755)
    yield __import__("pathlib").Path(path)
    shutil.rmtree(path, ignore_errors=True)


def _nobody():
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody on this machine")


def test_collect_real_tree(open_dir):
    _nobody()
    tmp_path = open_dir
    run = tmp_path / "gunicorn"
    run.mkdir()
    path = str(run / "g.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(1)
    try:
        os.chmod(path, 0o666)
        os.chmod(str(run), 0o700)
        facts = S.collect_socket_paths([path, "unix:" + str(run / "none.sock"), path], user="nobody")
        assert facts["user"] == "nobody" and facts["groups"]
        assert len(facts["paths"]) == 2
        first = facts["paths"][0]
        assert first["exists"] and first["is_socket"] and first["listener"]
        assert first["blocker"]["reason"] == "%s is 0700 root:root; nobody cannot search it" % run
        assert first["in_tmp"] == str(tmp_path).startswith(("/tmp/", "/var/tmp/"))
        os.chmod(str(run), 0o755)
        facts = S.collect_socket_paths([path], user="nobody", listeners={"unix": []})
        assert facts["paths"][0]["reachable"] and facts["paths"][0]["listener"] is False
        second = S.collect_socket_paths([str(run / "none.sock")], user="nobody", listeners=[])["paths"][0]
        assert second["blocker"]["reason"] == "%s does not exist" % (run / "none.sock")
    finally:
        srv.close()


def test_collect_real_acl(open_dir):
    nobody = _nobody()
    tmp_path = open_dir
    d = tmp_path / "acl"
    d.mkdir()
    os.chmod(str(d), 0o750)
    blob = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in (
        (1, 7, 0xFFFFFFFF), (2, 5, nobody.pw_uid), (4, 5, 0xFFFFFFFF), (0x10, 5, 0xFFFFFFFF), (0x20, 0, 0xFFFFFFFF)))
    try:
        os.setxattr(str(d), A.ACL_XATTR, blob)
    except OSError as exc:
        pytest.skip("POSIX ACLs not supported on %s: %s" % (tmp_path, exc))
    facts = S.collect_socket_paths([str(d / "x.sock")], user="nobody", listeners=[])
    comp = [c for c in facts["paths"][0]["components"] if c["path"] == str(d)][0]
    assert comp["acl"] == ["user::rwx", "user:nobody:r-x", "group::r-x", "mask::r-x", "other::---"]
    assert comp["searchable"] is True
    assert facts["paths"][0]["blocker"]["reason"] == "%s does not exist" % (d / "x.sock")
    os.setxattr(str(d), A.ACL_XATTR, blob.replace(struct.pack("<HHI", 2, 5, nobody.pw_uid), struct.pack("<HHI", 2, 4, nobody.pw_uid)))
    facts = S.collect_socket_paths([str(d / "x.sock")], user="nobody", listeners=[])
    assert facts["paths"][0]["blocker"]["reason"] == (
        "%s is 0750 root:root with ACL user::rwx,user:nobody:r--,group::r-x,mask::r-x,other::---; nobody cannot search it" % d)
    facts = S.collect_socket_paths([str(d / "x.sock")], user="root", listeners=[])
    assert facts["paths"][0]["blocker"]["reason"].endswith("does not exist")


def test_collect_unknown_user_and_default():
    facts = S.collect_socket_paths(["/nonexistent/x.sock"], user="no-such-user-bgd", listeners=[])
    assert any(e["source"] == "passwd" for e in facts["errors"])
    assert facts["paths"][0]["reachable"] is False
    facts = S.collect_socket_paths([], listeners=[])
    assert facts["user"] in S.FALLBACK_USERS


def test_collect_many_paths_inspects_each_directory_once(open_dir, monkeypatch):
    """Thousands of sockets under one directory: the shared parents are looked at once per run,
    and every path gets the same answer as when it is checked alone."""
    tmp_path = open_dir
    run = tmp_path / "many"
    run.mkdir()
    servers = []
    try:
        for n in range(3):
            srv = socket.socket(socket.AF_UNIX)
            srv.bind(str(run / ("s%d.sock" % n)))
            srv.listen(1)
            servers.append(srv)
        paths = [str(run / ("s%d.sock" % n)) for n in range(6)]     # 3 exist, 3 are missing
        calls = []
        real_lstat = os.lstat

        def counting_lstat(path, *args, **kwargs):
            calls.append(path)
            return real_lstat(path, *args, **kwargs)
        monkeypatch.setattr(S.os, "lstat", counting_lstat)
        together = S.collect_socket_paths(paths, user="root", listeners=[])
        assert calls.count(str(run)) == 1 and calls.count("/") == 1
        alone = [S.collect_socket_paths([p], user="root", listeners=[])["paths"][0] for p in paths]
        assert together["paths"] == alone
        assert [p["exists"] for p in together["paths"]] == [True] * 3 + [False] * 3
    finally:
        for srv in servers:
            srv.close()


def test_real_path_shortcut_matches_realpath(open_dir):
    tmp_path = open_dir
    (tmp_path / "real").mkdir()
    os.symlink(str(tmp_path / "real"), str(tmp_path / "link"))
    for path in (str(tmp_path / "real" / "x.sock"), str(tmp_path / "link" / "x.sock"),
                 str(tmp_path / "real" / ".." / "real" / "./x.sock"), str(tmp_path / "none" / ".." / "y.sock"),
                 "//run/x.sock"):
        walked, _errors = S.walk_path(path, 0, [0], "root")
        assert S._real_path(path, walked) == os.path.realpath(path), path
