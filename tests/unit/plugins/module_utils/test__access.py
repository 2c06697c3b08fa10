# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_access: who a user is (uid, gid, supplementary groups) and running code as that user."""
from __future__ import annotations

import grp
import json
import os
import pwd
import time

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils._access import identity, run_as

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")


def test_identity_of_nobody():
    ident = identity("nobody")
    pw = pwd.getpwnam("nobody")
    assert (ident.name, ident.uid, ident.gid) == ("nobody", pw.pw_uid, pw.pw_gid)
    assert ident.gids[0] == pw.pw_gid and ident.groups[0] == grp.getgrgid(pw.pw_gid).gr_name
    assert identity(str(pw.pw_uid)).name == "nobody"
    assert "nobody" in repr(ident)


def test_identity_supplementary_groups_and_group_override(supplementary_member):
    user, group = supplementary_member
    ident = identity(user)
    assert group in ident.groups and ident.groups[0] != group
    root_group = identity(user, "root")
    assert root_group.gid == 0 and root_group.gids[0] == 0 and group in root_group.groups


@pytest.mark.parametrize("user, group, message", [
    ("no-such-user-bgd", None, "there is no user no-such-user-bgd on this host"),
    ("nobody", "no-such-group-bgd", "there is no group no-such-group-bgd on this host"),
    ("99999999999999999999", None, "there is no user 99999999999999999999 on this host"),
])
def test_identity_unknown(user, group, message):
    with pytest.raises(ValueError) as exc:
        identity(user, group)
    assert str(exc.value) == message


def whoami():
    return [os.getuid(), os.geteuid(), os.getgid(), os.getegid(), sorted(os.getgroups())]


@needs_root
def test_run_as_takes_uid_gid_and_initgroups(supplementary_member):
    user, _group = supplementary_member
    ident = identity(user)
    value, err = run_as(ident, whoami)
    assert err is None
    assert value == [ident.uid, ident.uid, ident.gid, ident.gid, sorted(ident.gids)]
    assert os.geteuid() == 0  # the parent is unchanged


def _sleep(seconds):
    time.sleep(seconds)


def _boom():
    raise RuntimeError("it broke")


@needs_root
def test_run_as_timeout_and_failure():
    ident = identity("nobody")
    t0 = time.monotonic()
    value, err = run_as(ident, _sleep, (30,), timeout=0.5)
    assert time.monotonic() - t0 < 5
    assert value is None and err == "the process running as user nobody did not finish within 0.5 seconds"
    assert run_as(ident, _boom) == (None, "as user nobody: RuntimeError: it broke")
    assert run_as(ident, lambda: {"a": (1, 2)}) == ({"a": [1, 2]}, None)


@needs_root
def test_run_as_without_root_is_a_sentence():
    nobody = pwd.getpwnam("nobody")
    target = identity("www-data" if _exists("www-data") else "root")
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(rfd)
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            same = run_as(identity("nobody"), whoami)[0][0]
            os.write(wfd, json.dumps([run_as(target, whoami), same]).encode())
        finally:
            os._exit(0)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as f:
        (value, err), same = json.loads(f.read())
    os.waitpid(pid, 0)
    assert value is None
    assert err == "acting as user %s needs root (this runs as uid %d); use become: true" % (target.name, nobody.pw_uid)
    assert same == nobody.pw_uid  # its own user: runs in-process


def _exists(user):
    try:
        pwd.getpwnam(user)
        return True
    except KeyError:
        return False
