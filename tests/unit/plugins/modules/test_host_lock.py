# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""host_lock: one run per host at a time, stale locks recoverable, check mode honest."""
from __future__ import annotations

import json
import multiprocessing
import os

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.badgateway.doctor.plugins.modules import host_lock


def params(tmp_path, **kw):
    p = {"name": "remediate", "run_id": "run-a", "state": "acquired", "stale_after": 3600, "force": False, "description": "",
         "lock_dir": str(tmp_path / "locks")}
    p.update(kw)
    return p


def call(capsys, args, check=False):
    if check:
        args = dict(args, _ansible_check_mode=True)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            host_lock.main()
    return json.loads(capsys.readouterr().out)


def test_acquire_refresh_release(tmp_path):
    r = host_lock.run(params(tmp_path, description="ops from bastion"), False, now=1000.0)
    assert r["changed"] and r["lock"]["run_id"] == "run-a" and r["lock"]["acquired"] == 1000.0
    path = tmp_path / "locks" / "remediate.lock"
    assert json.loads(path.read_text())["description"] == "ops from bastion"
    assert oct((tmp_path / "locks").stat().st_mode & 0o777) == "0o700"
    r = host_lock.run(params(tmp_path), False, now=1500.0)
    assert not r["changed"] and r["lock"]["acquired"] == 1000.0 and r["lock"]["refreshed"] == 1500.0
    assert "refreshed" in r["msg"]
    r = host_lock.run(params(tmp_path, state="released"), False, now=1600.0)
    assert r["changed"] and not path.exists()
    r = host_lock.run(params(tmp_path, state="released"), False, now=1700.0)
    assert not r["changed"] and "not held" in r["msg"]


def test_another_run_is_refused_with_who_and_until_when(tmp_path):
    host_lock.run(params(tmp_path, description="alert #1"), False, now=1000.0)
    r = host_lock.run(params(tmp_path, run_id="run-b"), False, now=1100.0)
    assert r.get("failed") and r["lock"]["run_id"] == "run-a"
    assert "run run-a since 1970-01-01T00:16:40Z" in r["msg"] and "alert #1" in r["msg"]
    assert "stale at 1970-01-01T01:16:40Z" in r["msg"] and "force=true" in r["msg"]
    # releasing someone else's lock leaves it alone (a warning, not a failure)
    r = host_lock.run(params(tmp_path, run_id="run-b", state="released"), False, now=1100.0)
    assert not r["changed"] and not r.get("failed") and r["warnings"]
    assert json.loads((tmp_path / "locks" / "remediate.lock").read_text())["run_id"] == "run-a"


def test_stale_lock_is_taken_over_and_reported(tmp_path):
    host_lock.run(params(tmp_path), False, now=1000.0)
    r = host_lock.run(params(tmp_path, run_id="run-b", stale_after=60), False, now=1061.0)
    assert r["changed"] and r["stale"] and r["previous"]["run_id"] == "run-a" and r["lock"]["run_id"] == "run-b"
    assert "Took over" in r["warnings"][0] and "stale" in r["warnings"][0]
    # stale_after=0: never stale
    r = host_lock.run(params(tmp_path, run_id="run-c", stale_after=0), False, now=10 ** 9)
    assert r.get("failed")


def test_force_takes_and_removes_any_lock(tmp_path):
    host_lock.run(params(tmp_path), False, now=1000.0)
    r = host_lock.run(params(tmp_path, run_id="run-b", force=True), False, now=1001.0)
    assert r["changed"] and r["previous"]["run_id"] == "run-a" and "force=true" in r["warnings"][0]
    r = host_lock.run(params(tmp_path, run_id="ops", state="released", force=True), False, now=1002.0)
    assert r["changed"] and r["previous"]["run_id"] == "run-b"
    assert not (tmp_path / "locks" / "remediate.lock").exists()


def test_check_mode_writes_nothing_but_fails_like_a_real_run(tmp_path):
    r = host_lock.run(params(tmp_path), True, now=1000.0)
    assert r["changed"] and not (tmp_path / "locks" / "remediate.lock").exists()
    host_lock.run(params(tmp_path), False, now=1000.0)
    r = host_lock.run(params(tmp_path, run_id="run-b"), True, now=1001.0)
    assert r.get("failed")
    r = host_lock.run(params(tmp_path, state="released"), True, now=1002.0)
    assert r["changed"] and (tmp_path / "locks" / "remediate.lock").exists()


def test_unreadable_lock_counts_as_held_since_its_mtime(tmp_path):
    d = tmp_path / "locks"
    d.mkdir(mode=0o700)
    lock = d / "remediate.lock"
    lock.write_text("{garbage")
    os.utime(lock, (1000, 1000))
    r = host_lock.run(params(tmp_path), False, now=1010.0)
    assert r.get("failed") and "unreadable" in r["msg"]
    r = host_lock.run(params(tmp_path, stale_after=5), False, now=1010.0)
    assert r["changed"] and r["stale"]


@pytest.mark.parametrize("setup, match", [
    ("link", "not a directory"),
    ("mode", "writable by group or others"),
    ("lockfile_link", "link"),
    ("lockfile_fifo", "not a regular file"),
])
def test_unsafe_places_are_refused(tmp_path, setup, match):
    d = tmp_path / "locks"
    if setup == "link":
        (tmp_path / "elsewhere").mkdir()
        d.symlink_to(tmp_path / "elsewhere")
    else:
        d.mkdir(mode=0o700)
    if setup == "mode":
        d.chmod(0o777)
    if setup == "lockfile_link":
        (tmp_path / "target").write_text("{}")
        (d / "remediate.lock").symlink_to(tmp_path / "target")
    if setup == "lockfile_fifo":
        os.mkfifo(d / "remediate.lock")
    with pytest.raises(host_lock.LockError, match=match):
        host_lock.run(params(tmp_path), False)


@pytest.mark.parametrize("key, value, match", [
    ("name", "../x", "not a lock name"),
    ("run_id", "a b", "not a run id"),
    ("run_id", "{{ x }}", "not a run id"),
    ("stale_after", -1, "stale_after"),
])
def test_bad_options(tmp_path, key, value, match):
    with pytest.raises(host_lock.LockError, match=match):
        host_lock.run(params(tmp_path, **{key: value}), False)


def _contend(args):
    lock_dir, run_id, barrier = args
    barrier.wait()
    p = {"name": "remediate", "run_id": run_id, "state": "acquired", "stale_after": 3600, "force": False, "description": "",
         "lock_dir": lock_dir}
    return not host_lock.run(p, False).get("failed")


def test_two_runs_at_the_same_moment_never_both_get_it(tmp_path):
    ctx = multiprocessing.get_context("fork")
    with ctx.Manager() as mgr:
        barrier = mgr.Barrier(6)
        with ctx.Pool(6) as pool:
            won = pool.map(_contend, [(str(tmp_path / "locks"), f"run-{i}", barrier) for i in range(6)])
    assert sum(won) == 1


def test_module_interface(tmp_path, capsys):
    args = {"run_id": "r1", "lock_dir": str(tmp_path / "l")}
    out = call(capsys, args)
    assert out["changed"] and out["lock"]["run_id"] == "r1" and out["path"].endswith("/l/remediate.lock")
    out = call(capsys, dict(args, run_id="r2"))
    assert out["failed"] and "held by run r1" in out["msg"]
    out = call(capsys, dict(args, run_id="r2", state="released"))
    assert not out["changed"] and not out.get("failed") and "left as it is" in out["msg"]
    out = call(capsys, dict(args, state="released"), check=True)
    assert out["changed"] and (tmp_path / "l" / "remediate.lock").exists()
    out = call(capsys, dict(args, run_id="bad id"))
    assert out["failed"] and "not a run id" in out["msg"]
