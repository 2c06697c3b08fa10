# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The releases/<id> + current layout: current from the link, previous from the history, migrations, switching."""
from __future__ import annotations

import json
import os

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import _release_load, _releases


def make(tmp_path, releases=("v1", "v2"), current="v2", migrations=None, relative=True):
    root = tmp_path / "app"
    for rel in releases:
        (root / "releases" / rel / "app" / "migrations").mkdir(parents=True)
        (root / "releases" / rel / "app" / "migrations" / "__init__.py").write_text("")
        (root / "releases" / rel / "app" / "migrations" / "0001_initial.py").write_text("")
        for path in (migrations or {}).get(rel, []):
            (root / "releases" / rel / path).parent.mkdir(parents=True, exist_ok=True)
            (root / "releases" / rel / path).write_text("# migration\n")
    if current:
        target = f"releases/{current}" if relative else str(root / "releases" / current)
        (root / "current").symlink_to(target)
    return root


def test_natural_order():
    assert sorted(["v10", "v9", "v1"], key=_releases.natural_key) == ["v1", "v9", "v10"]
    assert sorted(["20240102T0100Z", "20231231T2300Z"], key=_releases.natural_key) == ["20231231T2300Z", "20240102T0100Z"]
    assert sorted(["1.10.0", "1.9.2", "1.9.10"], key=_releases.natural_key) == ["1.9.2", "1.9.10", "1.10.0"]


def test_current_is_the_link_target_not_the_newest_directory(tmp_path):
    root = make(tmp_path, releases=("v1", "v2", "v3"), current="v2")
    # v3 is the newest directory (mtime) and the last by name; the link says v2
    os.utime(root / "releases" / "v3", (2_000_000_000, 2_000_000_000))
    out = _releases.inspect(str(root))
    assert out["current"] == {"id": "v2", "path": str(root / "releases" / "v2"), "target": "releases/v2"}
    assert out["previous"] == {"id": "v1", "path": str(root / "releases" / "v1"), "source": "name_order"}
    assert out["releases"] == ["v1", "v2", "v3"]
    assert out["problems"] == []


def test_previous_from_the_history_beats_name_order(tmp_path):
    root = make(tmp_path, releases=("v1", "v2", "v3"), current="v3")
    (root / ".badgateway-releases.json").write_text(json.dumps({"history": [
        {"release": "v1", "event": "passed", "at": 1.0},
        {"release": "v1", "event": "rollback", "from": "v2", "at": 2.0}]}))
    out = _releases.inspect(str(root))
    assert out["previous"]["id"] == "v1" and out["previous"]["source"] == "history"


def test_a_release_rolled_back_from_is_not_a_candidate(tmp_path):
    history = [{"release": "v1", "event": "passed"}, {"release": "v2", "event": "rollback", "from": "v3"},
               {"release": "v3", "event": "passed"}]
    # v3 passed once, then v3 is current again: candidates are v2 (a rollback target) first
    assert _releases.previous_release("v3", ["v1", "v2", "v3"], history) == ("v2", "history")
    history = [{"release": "v1", "event": "passed"}, {"release": "v1", "event": "rollback", "from": "v2"}]
    assert _releases.previous_release("v3", ["v1", "v2", "v3"], history) == ("v1", "history")


def test_after_a_rollback_nothing_more_to_roll_back(tmp_path):
    root = make(tmp_path, releases=("v1", "v2", "v3"), current="v1")
    (root / ".badgateway-releases.json").write_text(json.dumps({"history": [
        {"release": "v1", "event": "passed"}, {"release": "v1", "event": "rollback", "from": "v2"}]}))
    out = _releases.inspect(str(root))
    assert out["rolled_back"] is True and out["previous"] is None and out["problems"] == []
    assert out["notes"] == ["v1 is already the release to roll back to (the newest rollback went from v2 to it)"]
    requested = _releases.inspect(str(root), wanted="v1")
    assert requested["rolled_back"] is True and requested["problems"] == []
    os.unlink(root / "current")
    os.symlink("releases/v3", root / "current")
    again = _releases.inspect(str(root))
    assert again["rolled_back"] is False and again["previous"]["id"] == "v1"


def test_history_of_deleted_releases_falls_back_to_name_order(tmp_path):
    assert _releases.previous_release("v3", ["v2", "v3"], [{"release": "v1", "event": "passed"}]) == ("v2", "name_order")


def test_requested_release(tmp_path):
    assert _releases.previous_release("v3", ["v1", "v2", "v3"], [], wanted="v1") == ("v1", "requested")
    rel, why = _releases.previous_release("v3", ["v1", "v3"], [], wanted="v2")
    assert rel is None and "v2 does not exist" in why
    rel, why = _releases.previous_release("v3", ["v1", "v3"], [], wanted="v3")
    assert rel is None and "already the current release" in why


def test_no_previous_release(tmp_path):
    root = make(tmp_path, releases=("v1",), current="v1")
    out = _releases.inspect(str(root))
    assert out["previous"] is None
    assert out["problems"] == ["no previous release: v1 is the oldest release (releases: v1) and the history names no other"]


def test_dangling_current(tmp_path):
    root = make(tmp_path, releases=("v1", "v2"), current=None)
    (root / "current").symlink_to("releases/v9")
    out = _releases.inspect(str(root))
    assert out["current"] is None
    assert out["problems"] == [f"{root}/current points to releases/v9, which does not exist (a dangling link)"]


def test_current_is_a_directory_or_missing_or_foreign(tmp_path):
    root = make(tmp_path, current=None)
    (root / "current").mkdir()
    assert "is a directory, not a symlink" in _releases.inspect(str(root))["problems"][0]
    (root / "current").rmdir()
    assert _releases.inspect(str(root))["problems"] == [f"{root}/current does not exist: there is no current release"]
    (root / "current").symlink_to("/etc")
    assert "which is not a release directory under" in _releases.inspect(str(root))["problems"][0]


def test_absolute_link_and_custom_paths(tmp_path):
    root = tmp_path / "www"
    for rel in ("20240101", "20240202"):
        (root / "rel" / rel).mkdir(parents=True)
    (root / "live").symlink_to(str(root / "rel" / "20240202"))
    out = _releases.inspect(str(root), releases_dir="rel", current_link="live")
    assert out["current"]["id"] == "20240202" and out["previous"]["id"] == "20240101"
    assert _releases.link_target_for(str(root / "live"), out["current"]["target"], str(root / "rel"), "20240101") == \
        str(root / "rel" / "20240101")


def test_migrations_added(tmp_path):
    root = make(tmp_path, releases=("v1", "v2"), current="v2",
                migrations={"v2": ["app/migrations/0002_order_status.py", "shop/orders/migrations/0007_x.py",
                                   "venv/lib/python3.11/site-packages/django/contrib/auth/migrations/0013_x.py",
                                   "app/migrations/__pycache__/0002_order_status.cpython-311.pyc"]})
    out = _releases.inspect(str(root))
    assert out["migrations"]["added"] == ["app/migrations/0002_order_status.py", "shop/orders/migrations/0007_x.py"]
    assert out["migrations"]["previous"] == ["app/migrations/0001_initial.py"]
    alembic = _releases.inspect(str(root), globs=["*/versions/*.py"])
    assert alembic["migrations"]["added"] == []


def test_migrations_do_not_follow_symlinks(tmp_path):
    root = make(tmp_path, releases=("v1", "v2"), current="v2")
    (root / "shared" / "x" / "migrations").mkdir(parents=True)
    (root / "shared" / "x" / "migrations" / "0009.py").write_text("")
    (root / "releases" / "v2" / "linked").symlink_to(root / "shared")
    assert _releases.inspect(str(root))["migrations"]["added"] == []


@pytest.mark.parametrize("text", ["not json", "[]", '{"history": 5}', '{"history": [1, {"release": "../x"}, {"release": "v1"}]}'])
def test_bad_history_is_a_note_not_a_crash(tmp_path, text):
    root = make(tmp_path, releases=("v1", "v2", "v3"), current="v3")
    (root / ".badgateway-releases.json").write_text(text)
    out = _releases.inspect(str(root))
    assert out["previous"]["id"] == "v2" or (out["previous"]["id"] == "v1" and "v1" in text)
    assert out["problems"] == []


def test_history_that_is_a_fifo(tmp_path):
    root = make(tmp_path, releases=("v1", "v2"), current="v2")
    os.mkfifo(root / ".badgateway-releases.json")
    out = _releases.inspect(str(root))
    assert out["previous"]["id"] == "v1"
    assert "FIFO" in out["notes"][0]


def test_unreadable_release_for_the_unit_user(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to hand the directory to another user")
    root = make(tmp_path, releases=("v1", "v2"), current="v2")
    os.chmod(tmp_path, 0o755)
    os.chmod(root, 0o755)
    os.chmod(root / "releases", 0o755)
    os.chmod(root / "releases" / "v1", 0o700)
    out = _releases.inspect(str(root), user="nobody")
    assert out["problems"] and "is not readable by nobody" in out["problems"][0]
    assert "cannot list it" in out["problems"][0] or "cannot search it" in out["problems"][0]


def test_missing_root_and_releases_dir(tmp_path):
    assert _releases.inspect(str(tmp_path / "nope"))["problems"] == [f"{tmp_path}/nope is not a directory"]
    (tmp_path / "a").mkdir()
    out = _releases.inspect(str(tmp_path / "a"))
    assert out["problems"][0] == f"the releases directory {tmp_path}/a/releases does not exist"


def test_switch_is_atomic_rename_and_history_appends(tmp_path):
    root = make(tmp_path, releases=("v1", "v2"), current="v2")
    link = str(root / "current")
    _releases.switch_link(link, "releases/v1")
    assert os.readlink(link) == "releases/v1"
    assert sorted(os.listdir(root)) == ["current", "releases"]   # no temporary link left behind
    hist = str(root / ".badgateway-releases.json")
    _releases.append_history(hist, {"release": "v1", "event": "rollback", "from": "v2", "at": 1.0})
    _releases.append_history(hist, {"release": "v1", "event": "passed", "at": 2.0})
    assert [e["event"] for e in _releases.read_history(hist, [])] == ["rollback", "passed"]


def test_release_of():
    assert _releases.release_of("/srv/app/releases/v1", "/srv/app/releases") == "v1"
    assert _releases.release_of("/srv/app/releases/v1/sub", "/srv/app/releases") == "v1"
    assert _releases.release_of("/srv/app", "/srv/app/releases") is None
    assert _releases.release_of(None, "/srv/app/releases") is None


# ----------------------------------------------------------------------------- load check plan

def _props(execstart, workdir="/srv/app/current", **kw):
    props = {"ExecStart": [execstart], "WorkingDirectory": workdir, "User": "app"}
    props.update(kw)
    return props


PREFIXES = ["/srv/app/current", "/srv/app/releases/v2"]


def test_plan_gunicorn_check_config_in_the_release():
    props = _props("{ path=/srv/app/current/venv/bin/gunicorn ; argv[]=/srv/app/current/venv/bin/gunicorn --chdir "
                   "/srv/app/current --config=/srv/app/current/gunicorn.conf.py wsgi:application ; ignore_errors=no }")
    argv, workdir, kind, method, note = _release_load.plan(props, "/srv/app/releases/v1", PREFIXES)
    assert kind == "gunicorn" and note is None and method == "gunicorn --check-config"
    assert argv == ["/srv/app/releases/v1/venv/bin/gunicorn", "--chdir", "/srv/app/releases/v1",
                    "--config=/srv/app/releases/v1/gunicorn.conf.py", "wsgi:application", "--check-config"]
    assert workdir == "/srv/app/releases/v1"


def test_plan_resolved_release_paths_and_shared_venv():
    props = _props("{ path=/srv/venv/bin/gunicorn ; argv[]=/srv/venv/bin/gunicorn --chdir /srv/app/releases/v2 app:wsgi ; }",
                   workdir="/")
    argv, workdir, kind, _m, _n = _release_load.plan(props, "/srv/app/releases/v1", PREFIXES)
    assert argv[:3] == ["/srv/venv/bin/gunicorn", "--chdir", "/srv/app/releases/v1"] and workdir == "/"


def test_plan_uvicorn_imports_the_app():
    props = _props("{ path=/srv/app/current/venv/bin/uvicorn ; argv[]=/srv/app/current/venv/bin/uvicorn --port 8001 asgi:app ; }")
    argv, _wd, kind, method, _n = _release_load.plan(props, "/srv/app/releases/v1", PREFIXES)
    assert kind == "uvicorn" and argv[1] == "-c" and argv[3:] == ["asgi:app", ""]
    assert method.startswith("import asgi:app with ")


def test_plan_unknown_server_needs_a_command():
    props = _props("{ path=/usr/bin/uwsgi ; argv[]=/usr/bin/uwsgi --ini /srv/app/current/uwsgi.ini ; }")
    argv, _wd, kind, _m, note = _release_load.plan(props, "/srv/app/releases/v1", PREFIXES)
    assert argv is None and "no load check is known for uwsgi" in note
    command = ["/srv/app/current/venv/bin/python", "-c", "import app"]
    argv, _wd, kind, _m, note = _release_load.plan(props, "/srv/app/releases/v1", PREFIXES, command)
    assert argv == ["/srv/app/releases/v1/venv/bin/python", "-c", "import app"] and kind == "command"


def test_rebase_leaves_other_paths_alone():
    assert _release_load.rebase("/srv/app/currently", PREFIXES, "/r/v1") == "/srv/app/currently"
    assert _release_load.rebase("/srv/app/current", PREFIXES, "/r/v1") == "/r/v1"
    assert _release_load.rebase("--pythonpath=/srv/app/current/src", PREFIXES, "/r/v1") == "--pythonpath=/r/v1/src"
