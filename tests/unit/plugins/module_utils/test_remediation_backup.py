# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The remediation backup store: save, record, restore, undo plan (real files in a temp dir)."""
from __future__ import annotations

import json
import os
import stat
import struct

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import _remediation_backup as rb
from ansible_collections.badgateway.doctor.plugins.module_utils import _remediation_restore as rr
from ansible_collections.badgateway.doctor.plugins.module_utils import _remediation_undo as ru

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="changing owners needs root")


@pytest.fixture
def store(tmp_path):
    return rb.Store(str(tmp_path / "backups"), "run-1")


def _state(path):
    st = os.lstat(path)
    data = open(path, "rb").read() if stat.S_ISREG(st.st_mode) else None
    return data, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns


def restore(store, check_mode=False):
    return rr.restore_files(store, store.load(), check_mode=check_mode)


# ---------------------------------------------------------------- refusals

@pytest.mark.parametrize("bad", ["/etc/nginx/backups", "/etc/nginx", "/etc/systemd/system/x.d", "/lib/systemd/b",
                                 "/usr/lib/systemd", "/run/systemd/bk", "/etc/php/8.2/fpm/pool.d/bk", "/proc/x", "/",
                                 "relative/dir", ""])
def test_backup_dir_refused(bad):
    with pytest.raises(rb.BackupError) as err:
        rb.Store(bad, "r1")
    assert "backup_dir" in str(err.value) or "root directory" in str(err.value)


def test_backup_dir_refused_through_symlink_and_protected_dirs(tmp_path):
    conf = tmp_path / "myconf"
    conf.mkdir()
    link = tmp_path / "link"
    link.symlink_to(conf)
    with pytest.raises(rb.BackupError) as err:
        rb.Store(str(link / "bk"), "r1", extra_protected=[str(conf)])
    assert "inside %s" % conf in str(err.value)
    rb.Store(str(tmp_path / "elsewhere"), "r1", extra_protected=[str(conf)])  # accepted


def test_backup_dir_similar_prefix_is_fine(tmp_path):
    assert rb.inside("/etc/nginx/x", "/etc/nginx") and not rb.inside("/etc/nginx-backups", "/etc/nginx")
    rb.check_backup_dir("/var/lib/etc/nginx")  # only the real tree is protected


@pytest.mark.parametrize("bad", ["../x", "a/b", "", ".hidden", "x" * 129, "a b", "a\nb"])
def test_run_id_refused(tmp_path, bad):
    with pytest.raises(rb.BackupError):
        rb.Store(str(tmp_path), bad)


def test_path_checks(store, tmp_path):
    with pytest.raises(rb.BackupError, match="absolute"):
        rb.save_paths(store, ["relative"])
    with pytest.raises(rb.BackupError, match="inside the backup directory"):
        rb.save_paths(store, [str(tmp_path / "backups" / "x")])


def test_fifo_and_socket_refused(store, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(rb.BackupError, match="is a FIFO"):
        rb.save_paths(store, [str(fifo)])
    assert not os.path.exists(store.manifest_path)


def test_large_file_refused(store, tmp_path, monkeypatch):
    big = tmp_path / "big"
    big.write_bytes(b"x" * 100)
    monkeypatch.setattr(rb, "MAX_FILE_BYTES", 10)
    with pytest.raises(rb.BackupError, match="larger than"):
        rb.save_paths(store, [str(big)])


# ---------------------------------------------------------------- save and restore

@needs_root
def test_save_change_restore_byte_identical(store, tmp_path):
    f = tmp_path / "etc" / "app.conf"
    f.parent.mkdir()
    f.write_bytes(b"one\ntwo\n\xff binary\n")
    os.chown(f, 33, 33)
    os.chmod(f, 0o640)
    os.utime(f, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    before = _state(f)
    saved, already = rb.save_paths(store, [str(f)])
    assert [s["path"] for s in saved] == [str(f)] and already == []
    assert saved[0]["mode"] == "0640" and saved[0]["uid"] == 33 and "blob" not in saved[0]
    f.write_bytes(b"changed\n")
    os.chown(f, 0, 0)
    os.chmod(f, 0o4755)
    changes, errors = restore(store)
    assert errors == [] and [(c["path"], c["change"]) for c in changes] == [(str(f), "content")]
    assert _state(f) == before
    # again: nothing to do
    assert restore(store) == ([], [])


@needs_root
def test_metadata_only_restore(store, tmp_path):
    f = tmp_path / "x"
    f.write_text("same\n")
    os.chmod(f, 0o644)
    rb.save_paths(store, [str(f)])
    os.chmod(f, 0o600)
    os.chown(f, 33, 0)
    changes = restore(store)[0]
    assert changes[0]["change"] == "metadata"
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o644 and os.stat(f).st_uid == os.geteuid()


def test_first_save_wins(store, tmp_path):
    f = tmp_path / "a"
    f.write_text("original\n")
    rb.save_paths(store, [str(f)])
    f.write_text("edited once\n")
    saved, already = rb.save_paths(store, [str(f), str(f)])
    assert saved == [] and [a["path"] for a in already] == [str(f)]
    f.write_text("edited twice\n")
    restore(store)
    assert f.read_text() == "original\n"


def test_absent_path_removed_on_restore(store, tmp_path):
    d = tmp_path / "unit.service.d"
    f = d / "50-badgateway.conf"
    saved = rb.save_paths(store, [str(d), str(f)])[0]
    assert [(s["existed"], s["type"]) for s in saved] == [(False, None), (False, None)]
    d.mkdir()
    f.write_text("[Service]\n")
    changes, errors = restore(store)
    assert errors == [] and [c["change"] for c in changes] == ["removed", "removed"]
    assert not d.exists()


def test_created_directory_not_empty_is_left_with_error(store, tmp_path):
    d = tmp_path / "newdir"
    rb.save_paths(store, [str(d)])
    d.mkdir()
    (d / "other").write_text("not ours")
    changes, errors = restore(store)
    assert changes == [] and "not empty" in errors[0]["message"] and d.exists()


def test_symlink_saved_and_restored(store, tmp_path):
    target1, target2 = tmp_path / "t1", tmp_path / "t2"
    target1.write_text("1")
    target2.write_text("2")
    link = tmp_path / "enabled"
    link.symlink_to(target1)
    saved = rb.save_paths(store, [str(link)])[0]
    assert saved[0]["type"] == "link" and saved[0]["target"] == str(target1)
    link.unlink()
    link.symlink_to(target2)
    changes = restore(store)[0]
    assert changes[0]["change"] == "link" and os.readlink(link) == str(target1)
    assert target2.read_text() == "2"  # the old target is untouched
    link.unlink()
    link.write_text("now a file")
    restore(store)
    assert os.readlink(link) == str(target1)


def test_directory_mode_restored(store, tmp_path):
    d = tmp_path / "run-gunicorn"
    d.mkdir(mode=0o755)
    os.chmod(d, 0o755)
    rb.save_paths(store, [str(d)])
    os.chmod(d, 0o700)
    changes = restore(store)[0]
    assert changes[0]["change"] == "metadata" and stat.S_IMODE(os.stat(d).st_mode) == 0o755


def test_file_replaced_by_directory_is_an_error(store, tmp_path):
    f = tmp_path / "f"
    g = tmp_path / "g"
    f.write_text("x")
    g.write_text("g1")
    rb.save_paths(store, [str(f), str(g)])
    f.unlink()
    f.mkdir()
    g.write_text("g2")
    changes, errors = restore(store)
    assert [c["path"] for c in changes] == [str(g)] and g.read_text() == "g1"  # the others still restored
    assert "now a directory" in errors[0]["message"]


def test_tampered_blob_not_restored(store, tmp_path):
    f = tmp_path / "f"
    f.write_text("orig")
    rb.save_paths(store, [str(f)])
    entry = store.load()["files"][0]
    with open(store.blob_path(entry), "wb") as fh:
        fh.write(b"evil")
    f.write_text("new")
    changes, errors = restore(store)
    assert changes == [] and "checksum" in errors[0]["message"] and f.read_text() == "new"


def test_removed_file_recreated_with_parent(store, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    f = d / "f"
    f.write_text("keep me\n")
    rb.save_paths(store, [str(f)])
    f.unlink()
    d.rmdir()
    changes = restore(store)[0]
    assert changes[0]["change"] == "created" and f.read_text() == "keep me\n"


def test_check_mode_writes_nothing(store, tmp_path):
    f = tmp_path / "f"
    f.write_text("a")
    saved = rb.save_paths(store, [str(f)], check_mode=True)[0]
    assert saved[0]["path"] == str(f) and not os.path.exists(store.run_dir)
    rb.save_paths(store, [str(f)])
    f.write_text("b")
    changes = restore(store, check_mode=True)[0]
    assert changes[0]["change"] == "content" and f.read_text() == "b"
    assert changes[0]["diff"]["before"].endswith("b") and changes[0]["diff"]["after"].endswith("a")


def test_store_permissions_and_manifest(store, tmp_path):
    f = tmp_path / "secret.env"
    f.write_text("SECRET=x\n")
    rb.save_paths(store, [str(f)])
    assert stat.S_IMODE(os.stat(store.run_dir).st_mode) == 0o700
    manifest = json.loads(open(store.manifest_path).read())
    blob = os.path.join(store.run_dir, manifest["files"][0]["blob"])
    assert stat.S_IMODE(os.stat(blob).st_mode) == 0o600
    assert "SECRET" not in json.dumps(manifest)


def _acl(entries):
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", tag, perm, uid) for tag, perm, uid in entries)


def test_acl_restored(store, tmp_path):
    f = tmp_path / "acl"
    f.write_text("x")
    os.chmod(f, 0o640)
    acl = _acl([(0x01, 6, 0xFFFFFFFF), (0x02, 4, 33), (0x04, 4, 0xFFFFFFFF), (0x10, 4, 0xFFFFFFFF),
                (0x20, 0, 0xFFFFFFFF)])
    try:
        os.setxattr(f, "system.posix_acl_access", acl)
    except OSError as exc:
        pytest.skip("no POSIX ACLs on this file system: %s" % exc)
    rb.save_paths(store, [str(f)])
    os.removexattr(f, "system.posix_acl_access")
    changes, errors = restore(store)
    assert errors == [] and changes and os.getxattr(f, "system.posix_acl_access") == acl
    f2 = tmp_path / "noacl"
    f2.write_text("y")
    rb.save_paths(store, [str(f2)])
    os.setxattr(f2, "system.posix_acl_access", acl)  # an ACL added by the run is removed again
    restore(store)
    with pytest.raises(OSError):
        os.getxattr(f2, "system.posix_acl_access")


# ---------------------------------------------------------------- actions and undo plan

def test_record_dedupes_and_validates(store):
    entry, new = rb.record_action(store, {"kind": "restarted", "unit": "gunicorn.service"}, before={"active_state": "active"})
    assert new and entry["before"]["active_state"] == "active"
    _entry, new = rb.record_action(store, {"kind": "restarted", "unit": "gunicorn.service"})
    assert not new and len(store.load()["actions"]) == 1
    for bad, msg in (({"kind": "exploded"}, "not one of"), ({"kind": "started"}, "needs a unit"),
                     ({"kind": "group_added", "user": "www-data"}, "needs a user and a group"), ("x", "must be a dict")):
        with pytest.raises(rb.BackupError, match=msg):
            rb.record_action(store, bad)


def test_record_check_mode_writes_nothing(store):
    _entry, new = rb.record_action(store, {"kind": "daemon_reload"}, check_mode=True)
    assert new and not os.path.exists(store.manifest_path)


def test_undo_plan():
    manifest = {"actions": [
        {"kind": "started", "unit": "redis-server.service", "before": {"active_state": "inactive"}},
        {"kind": "started", "unit": "already.service", "before": {"active_state": "active"}},
        {"kind": "restarted", "unit": "gunicorn.service", "before": {"active_state": "active"}},
        {"kind": "restarted", "unit": "was-failed.service", "before": {"active_state": "failed"}},
        {"kind": "reloaded", "unit": "nginx.service"},
        {"kind": "reloaded", "unit": "php8.2-fpm.service"},
        {"kind": "stopped", "unit": "app.socket", "before": {"active_state": "active"}},
        {"kind": "group_added", "user": "www-data", "group": "app"},
        {"kind": "enabled", "unit": "gunicorn.service", "before": {"unit_file_state": "disabled"}},
        {"kind": "enabled", "unit": "x.service", "before": {"unit_file_state": "enabled"}},
        {"kind": "restarted", "unit": "old.service", "undone": "2026-01-01"},
    ]}
    plan = rr.undo_plan(manifest, ["/etc/systemd/system/gunicorn.service.d/50-badgateway.conf"])
    assert plan == {"daemon_reload": True, "groups_remove": [{"user": "www-data", "group": "app"}],
                    "disable": ["gunicorn.service"], "stop": ["redis-server.service", "was-failed.service"],
                    "reset_failed": ["redis-server.service"], "start": ["app.socket"], "restart": ["gunicorn.service"], "reload": ["php8.2-fpm.service"],
                    "nginx_reload": True, "nginx_unit": "nginx.service"}
    assert rr.plan_is_empty(rr.undo_plan({"actions": []}, ["/srv/app/x"]))
    assert rr.undo_plan({"actions": []}, ["/etc/nginx/sites-available/lab"])["nginx_reload"] is True


def test_run_undo_order_and_results():
    calls = []

    def fake(argv, timeout=30):
        calls.append(argv)
        if argv[:2] == ["gpasswd", "-d"]:
            return 3, "", "gpasswd: user 'www-data' is not a member of 'app'\n"
        if argv[:2] == ["systemctl", "restart"]:
            return 1, "", "Job for gunicorn.service failed.\n"
        if argv[:2] == ["systemctl", "is-failed"]:   # the first unit is failed after the stop, the other not
            return (0 if argv[-1] == "redis-server.service" else 1), "", ""
        return 0, "", ""

    plan = {"daemon_reload": True, "groups_remove": [{"user": "www-data", "group": "app"}], "disable": [],
            "stop": ["redis-server.service", "x.service"], "reset_failed": ["redis-server.service", "x.service"],
            "start": [],
            "restart": ["gunicorn.service"], "reload": [], "nginx_reload": True, "nginx_unit": "nginx.service"}
    steps = ru.run_undo(plan, run=fake)
    assert [c[:2] for c in calls] == [["systemctl", "daemon-reload"], ["gpasswd", "-d"], ["systemctl", "stop"],
                                      ["systemctl", "stop"], ["systemctl", "is-failed"], ["systemctl", "reset-failed"],
                                      ["systemctl", "is-failed"], ["systemctl", "reset-failed"],
                                      ["systemctl", "restart"], ["nginx", "-t"], ["systemctl", "is-active"],
                                      ["systemctl", "reload"]]
    assert calls[5][-1] == "redis-server.service" and calls[7][-1] == "gunicorn.service"
    assert [(s["step"], s["ok"]) for s in steps] == [("daemon-reload", True), ("group-remove", True), ("stop", True),
                                                     ("stop", True), ("reset-failed", True), ("restart", False),
                                                     ("reload", True)]
    assert steps[5]["message"] == "Job for gunicorn.service failed."


def test_run_undo_nginx_test_fails_no_reload():
    calls = []

    def fake(argv, timeout=30):
        calls.append(argv)
        return (1, "", "nginx: [emerg] unknown directive \"x\" in /etc/nginx/sites-enabled/lab:3\n") if argv[0] == "nginx" \
            else (0, "", "")

    steps = ru.run_undo({"nginx_reload": True}, run=fake)
    assert not steps[0]["ok"] and "not reloaded" in steps[0]["message"] and "lab:3" in steps[0]["message"]
    assert ["systemctl", "reload", "--", "nginx.service"] not in calls


def test_unit_before_parses_show():
    def fake(argv, timeout=30):
        return 0, "ActiveState=failed\nSubState=failed\nUnitFileState=enabled\n", ""

    assert ru.unit_before("x.service", run=fake) == {"active_state": "failed", "sub_state": "failed",
                                                     "unit_file_state": "enabled"}
    assert ru.unit_before("x.service", run=lambda argv, timeout=30: (None, "", "no systemctl")) == \
        {"active_state": None, "sub_state": None, "unit_file_state": None}


def test_mark_restored(store, tmp_path):
    f = tmp_path / "f"
    f.write_text("a")
    rb.save_paths(store, [str(f)])
    rb.record_action(store, {"kind": "restarted", "unit": "u.service"})
    f.write_text("b")
    changes = restore(store)[0]
    rr.mark_restored(store, changes, undone=True)
    manifest = store.load()
    assert manifest["restores"][0]["restored"] == [str(f)] and manifest["actions"][0]["undone"]
    assert rr.plan_is_empty(rr.undo_plan(manifest, []))


def test_restore_diff_is_masked(store, tmp_path):
    f = tmp_path / "unit.conf"
    f.write_text("[Service]\nEnvironment=SECRET_KEY=s3cr3t-value\n")
    rb.save_paths(store, [str(f)])
    f.write_text("[Service]\nEnvironment=DATABASE_URL=postgres://app:pw-hidden@db/app\n")
    diff = restore(store, check_mode=True)[0][0]["diff"]
    assert "s3cr3t-value" not in diff["after"] and "pw-hidden" not in diff["before"]
    assert "SECRET_KEY=" in diff["after"] and "[Service]" in diff["before"]
