# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_access: who a user is, what mode bits and ACLs let it do, may it reach a path, and running code as that user."""
from __future__ import annotations

import grp
import os
import pwd
import stat
import struct
import time

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import _access as A
from ansible_collections.badgateway.doctor.plugins.module_utils._access import check_path, identity, run_as

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


def _run_as_others(target):
    return [run_as(target, whoami), run_as(identity("nobody"), whoami)[0][0]]


@needs_root
def test_run_as_without_root_is_a_sentence(as_nobody):
    nobody = pwd.getpwnam("nobody")
    target = identity("www-data" if _exists("www-data") else "root")
    (value, err), same = as_nobody(_run_as_others, target)
    assert value is None
    assert err == "acting as user %s needs root (this runs as uid %d); use become: true" % (target.name, nobody.pw_uid)
    assert same == nobody.pw_uid  # its own user: runs in-process


def _exists(user):
    try:
        pwd.getpwnam(user)
        return True
    except KeyError:
        return False


# ---------------------------------------------------------------- may_access (pure)

U, O = A.ACL_USER_OBJ, A.ACL_OTHER


# ---------------------------------------------------------------- may_access (pure)

@pytest.mark.parametrize("mode, owner, group, uid, gids, want, expected", [
    (0o700, 0, 0, 33, [33], "x", False),          # /run/gunicorn 0700 root:root, www-data
    (0o755, 0, 0, 33, [33], "x", True),
    (0o750, 0, 33, 33, [33], "x", True),           # group www-data
    (0o750, 0, 1001, 33, [33, 1001], "x", True),   # via supplementary group
    (0o750, 0, 1001, 33, [33], "x", False),
    (0o600, 1001, 1001, 33, [33], "w", False),     # socket 0600 app:app
    (0o660, 1001, 33, 33, [33], "w", True),
    (0o606, 1001, 1001, 33, [33], "w", True),      # others may write
    (0o066, 33, 33, 33, [33], "w", False),         # owner class wins even if group/other allow
    (0o000, 1001, 1001, 0, [0], "x", True),        # root always passes
    (0o000, 1001, 1001, 0, [0], "w", True),
])
def test_may_access_modes(mode, owner, group, uid, gids, want, expected):
    assert A.may_access(stat.S_IFDIR | mode, owner, group, uid, gids, want) is expected


def _acl(*entries):
    return list(entries)


def test_may_access_named_user_acl_masked():
    # dir 0750 root:root + user:www-data:r-x, mask r-x -> www-data can search
    acl = _acl((U, None, 7), (A.ACL_USER, 33, 5), (A.ACL_GROUP_OBJ, None, 5), (A.ACL_MASK, None, 5), (O, None, 0))
    assert A.may_access(0o750, 0, 0, 33, [33], "x", acl)
    # the same entry but the mask removes x
    acl_masked = _acl((U, None, 7), (A.ACL_USER, 33, 5), (A.ACL_GROUP_OBJ, None, 5), (A.ACL_MASK, None, 4), (O, None, 0))
    assert not A.may_access(0o740, 0, 0, 33, [33], "x", acl_masked)
    # another user falls through to other::---
    assert not A.may_access(0o750, 0, 0, 34, [34], "x", acl)


def test_may_access_group_acl():
    acl = _acl((U, None, 7), (A.ACL_GROUP_OBJ, None, 0), (A.ACL_GROUP, 33, 2), (A.ACL_MASK, None, 7), (O, None, 0))
    assert A.may_access(0o770, 1001, 1001, 33, [33], "w", acl)
    # a group matched but none grants -> denied even if other would
    acl2 = _acl((U, None, 7), (A.ACL_GROUP, 33, 4), (A.ACL_MASK, None, 7), (O, None, 2))
    assert not A.may_access(0o772, 1001, 1001, 33, [33], "w", acl2)
    # owner entry is not masked
    acl3 = _acl((U, None, 7), (A.ACL_MASK, None, 0), (O, None, 0))
    assert A.may_access(0o700, 33, 0, 33, [33], "w", acl3)


def test_decode_acl_and_text():
    blob = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in (
        (1, 7, 0xFFFFFFFF), (2, 5, 0), (4, 5, 0xFFFFFFFF), (8, 6, 0), (0x10, 5, 0xFFFFFFFF), (0x20, 0, 0xFFFFFFFF)))
    acl = A.decode_acl(blob)
    assert acl == [(1, None, 7), (2, 0, 5), (4, None, 5), (8, 0, 6), (0x10, None, 5), (0x20, None, 0)]
    assert A.acl_to_text(acl) == ["user::rwx", "user:root:r-x", "group::r-x", "group:root:rw-", "mask::r-x", "other::---"]
    assert A.decode_acl(b"\x01\0\0\0") is None
    assert A.decode_acl(b"") is None


# ---------------------------------------------------------------- check_path on a real tree, checked against the kernel

def _kernel_says(path, want):
    return os.access(path, {"r": os.R_OK, "w": os.W_OK, "x": os.X_OK}[want])


@pytest.fixture
def tree(supplementary_member):
    """/tmp/bgd-access-*/{open 0755, locked 0700 root, shared 0750 root:<group>, acl 0700 + user:nobody:x}/file."""
    import shutil
    import tempfile
    member, group = supplementary_member
    base = tempfile.mkdtemp(prefix="bgd-access-", dir="/tmp")
    os.chmod(base, 0o755)
    layout = {"open": (0o755, 0, 0o644), "locked": (0o700, 0, 0o644),
              "shared": (0o750, grp.getgrnam(group).gr_gid, 0o640), "acl": (0o700, 0, 0o600)}
    for name, (dmode, gid, fmode) in layout.items():
        d = os.path.join(base, name)
        os.mkdir(d)
        os.chown(d, 0, gid)
        os.chmod(d, dmode)
        f = os.path.join(d, "file")
        with open(f, "w") as fh:
            fh.write("x\n")
        os.chown(f, 0, gid)
        os.chmod(f, fmode)
    yield base, member, group
    shutil.rmtree(base, ignore_errors=True)


def _acl_blob(entries):
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", tag, perm, 0xFFFFFFFF if ident is None else ident)
                                           for tag, ident, perm in entries)


@needs_root
def test_check_path_agrees_with_the_kernel(tree):
    base, member, _group = tree
    nobody = pwd.getpwnam("nobody").pw_uid
    try:  # user:nobody may search the acl directory and read its file (mask rwx)
        os.setxattr(os.path.join(base, "acl"), A.ACL_XATTR, _acl_blob(
            [(A.ACL_USER_OBJ, None, 7), (A.ACL_USER, nobody, 1), (A.ACL_GROUP_OBJ, None, 0), (A.ACL_MASK, None, 7),
             (A.ACL_OTHER, None, 0)]))
        os.setxattr(os.path.join(base, "acl", "file"), A.ACL_XATTR, _acl_blob(
            [(A.ACL_USER_OBJ, None, 6), (A.ACL_USER, nobody, 4), (A.ACL_GROUP_OBJ, None, 0), (A.ACL_MASK, None, 6),
             (A.ACL_OTHER, None, 0)]))
    except OSError as exc:
        pytest.skip("no POSIX ACLs on /tmp here: %s" % exc)
    cases = []
    for user in ("nobody", member):
        for name in ("open", "locked", "shared", "acl"):
            for want in ("r", "w"):
                cases.append((user, os.path.join(base, name, "file"), want))
    for user, path, want in cases:
        ident = identity(user)
        allowed, reason = check_path(path, user, want)
        kernel, err = run_as(ident, _kernel_says, (path, want))
        assert err is None
        assert allowed is kernel, (user, path, want, reason)
        assert (reason is None) is allowed
    # the answers themselves, for the record
    assert check_path(os.path.join(base, "locked", "file"), "nobody")[1] == (
        "%s/locked is 0700 root:root; nobody cannot search it" % base)
    assert check_path(os.path.join(base, "shared", "file"), member) == (True, None)
    assert check_path(os.path.join(base, "acl", "file"), "nobody") == (True, None)
    assert check_path(os.path.join(base, "acl", "file"), "nobody", "w")[1].endswith("nobody cannot write it")


def test_check_path_root_unknown_and_missing(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    os.chmod(str(f), 0)
    assert check_path(str(f)) == (True, None)           # no user: root, as systemd's empty User=
    assert check_path(str(f), "root", "w") == (True, None)
    assert check_path(str(f), "no-such-user-bgd") == (None, "there is no user no-such-user-bgd on this host")
    missing = str(tmp_path / "missing")
    assert check_path(missing, "root") == (False, "%s does not exist" % missing)
    assert check_path("relative/path", "root") == (False, "relative/path is not an absolute path")


@needs_root
def test_check_path_several_permissions_on_a_directory(tree):
    """``want="rx"``: list and enter a directory (a release the unit's user must read), as the kernel decides."""
    base, _member, _group = tree
    enter_only = os.path.join(base, "enter-only")
    os.mkdir(enter_only)
    os.chmod(enter_only, 0o711)
    ident = identity("nobody")
    for path in (enter_only, os.path.join(base, "open"), os.path.join(base, "locked")):
        kernel = all(run_as(ident, _kernel_says, (path, want))[0] for want in "rx")
        assert check_path(path, "nobody", "rx")[0] is kernel, path
    assert check_path(enter_only, "nobody", "x") == (True, None)
    assert check_path(enter_only, "nobody", "rx")[1] == "%s is 0711 root:root; nobody cannot list it" % enter_only
    assert check_path(os.path.join(base, "locked"), "nobody", "rx")[1].endswith("nobody cannot search it")
