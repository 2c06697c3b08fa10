# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""App server discovery (module_utils/apps.py) and systemd helpers (module_utils/systemd.py).

The systemctl show fixtures were captured on a lab host (Debian bookworm, systemd 252) with
gunicorn started with a bad module path (``boot_failure_module`` fault); real systemd behaviour
is tested on the lab (tests/integration/test_app_server_service_log_facts_lab.py).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import _apps_binds as binds
from ansible_collections.badgateway.doctor.plugins.module_utils import _apps_kinds as kinds
from ansible_collections.badgateway.doctor.plugins.module_utils import _apps_php_fpm as fpm
from ansible_collections.badgateway.doctor.plugins.module_utils import _apps_settings as layers
from ansible_collections.badgateway.doctor.plugins.module_utils import _apps_units as units
from ansible_collections.badgateway.doctor.plugins.module_utils import apps as A
from ansible_collections.badgateway.doctor.plugins.module_utils import systemd as sd
from ansible_collections.badgateway.doctor.plugins.module_utils._apps_cmdline import detect_kind
from ansible_collections.badgateway.doctor.plugins.module_utils._apps_files import read_python_config
from ansible_collections.badgateway.doctor.plugins.module_utils._apps_spec import parse_args

FIX = Path(__file__).resolve().parent / "fixtures"
PLANTED = "planted-DO-NOT-LEAK-91c2"


def show_fixture(name="systemctl_show_boot_failure.txt"):
    return sd.parse_show((FIX / name).read_text())


# --------------------------------------------------------------------------- systemctl show parsing


def test_parse_show_real_fixture():
    blocks = show_fixture()
    assert [b["Id"] for b in blocks] == ["gunicorn.service", "uvicorn.service", "nope.service"]
    g, u, nope = blocks
    ex = sd.parse_exec(g["ExecStart"])
    assert ex == [{"path": "/srv/app/venv/bin/gunicorn", "ignore_errors": False,
                   "argv": ["/srv/app/venv/bin/gunicorn", "--workers", "2", "--timeout", "5", "--bind",
                            "unix:/run/gunicorn/gunicorn.sock", "--umask", "007", "project.wsgi:application"]}]
    assert sd.parse_environment_files(g["EnvironmentFiles"]) == [{"path": "/etc/default/app-env", "optional": False}]
    assert g["DropInPaths"] == ["/etc/systemd/system/gunicorn.service.d/fault-module.conf"]
    st = sd.state_from_show(g, now=1000.0, mono=900.0)
    assert st == {"active_state": "failed", "sub_state": "failed", "result": "exit-code", "n_restarts": 5,
                  "exec_main_status": 3, "exec_main_code": "exited", "active_enter": pytest.approx(1000.0 - (900.0 - 823.094289)),
                  "main_pid": None, "load_state": "loaded"}
    assert sd.state_from_show(u)["main_pid"] == 35 and sd.state_from_show(u)["exec_main_code"] is None
    assert sd.state_from_show(nope)["load_state"] == "not-found" and sd.state_from_show(nope)["active_enter"] is None
    assert "ExecStart" not in nope and sd.parse_exec(nope.get("ExecStart")) == []


def test_parse_show_socket_fixture():
    (s,) = show_fixture("systemctl_show_socket.txt")
    assert sd.parse_listen(s["Listen"]) == ["/run/gunicorn.sock", "127.0.0.1:8000"]
    assert sd.to_mode(s["SocketMode"]) == "0660"


def test_parse_exec_quoted_and_ex_variants():
    v = ("{ path=/bin/sh ; argv[]=/bin/sh -c \"exec /srv/v/bin/uvicorn main:app --uds /run/u.sock\" ; flags= ; "
         "start_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }")
    (ex,) = sd.parse_exec([v])
    assert ex["argv"] == ["/bin/sh", "-c", "exec /srv/v/bin/uvicorn main:app --uds /run/u.sock"]
    assert detect_kind(ex["argv"])[0] == "uvicorn"


def test_env_files_optional_and_environment():
    assert sd.parse_environment_files(["-/etc/x.env (ignore_errors=yes)", "/etc/y (ignore_errors=no)"]) == [
        {"path": "/etc/x.env", "optional": True}, {"path": "/etc/y", "optional": False}]
    env = sd.parse_environment('"GUNICORN_CMD_ARGS=--timeout 60 --workers 3" FOO=bar')
    assert env == {"GUNICORN_CMD_ARGS": "--timeout 60 --workers 3", "FOO": "bar"}


# --------------------------------------------------------------------------- command lines


@pytest.mark.parametrize("argv,kind,rest", [
    (["/srv/v/bin/gunicorn", "app:app"], "gunicorn", ["app:app"]),
    (["/srv/v/bin/python3", "/srv/v/bin/gunicorn", "-w", "2", "wsgi:application"], "gunicorn", ["-w", "2", "wsgi:application"]),
    (["python3", "-u", "-m", "uvicorn", "main:app"], "uvicorn", ["main:app"]),
    (["/usr/bin/env", "PYTHONPATH=/srv", "uvicorn", "main:app"], "uvicorn", ["main:app"]),
    (["/bin/bash", "-c", "cd /srv && exec gunicorn app:app"], None, []),
    (["/bin/sh", "-c", "exec env A=1 /srv/v/bin/hypercorn -b unix:/run/h.sock app:app"], "hypercorn", ["-b", "unix:/run/h.sock", "app:app"]),
    (["/usr/bin/poetry", "run", "daphne", "-u", "/run/d.sock", "proj.asgi:application"], "daphne", ["-u", "/run/d.sock", "proj.asgi:application"]),
    (["gunicorn: master [project.wsgi:application]"], "gunicorn", []),
    (["/usr/bin/uwsgi_python3", "--ini", "/etc/uwsgi/app.ini"], "uwsgi", ["--ini", "/etc/uwsgi/app.ini"]),
    (["php-fpm: master process (/etc/php/8.2/fpm/php-fpm.conf)"], "php-fpm", ["php-fpm: master process (/etc/php/8.2/fpm/php-fpm.conf)"]),
    (["/usr/sbin/php-fpm8.2", "--nodaemonize", "--fpm-config", "/etc/php/8.2/fpm/php-fpm.conf"], "php-fpm",
     ["--nodaemonize", "--fpm-config", "/etc/php/8.2/fpm/php-fpm.conf"]),
    (["/usr/bin/python3", "/opt/netbox/netbox/manage.py", "rqworker"], None, []),
    (["/usr/sbin/nginx", "-g", "daemon off;"], None, []),
])
def test_detect_kind(argv, kind, rest):
    assert detect_kind(argv) == (kind, rest)


def endpoints(kind, argv, extra_layers=()):
    k, args = detect_kind(argv)
    assert k == kind
    spec = kinds.get(k)
    settings, pos = parse_args(spec, args)
    if pos and spec.app_positional:
        settings["app"] = pos[0]
    srv = A.new_server(k, "x", None)
    layers.apply_settings(srv, spec, list(extra_layers) + [("cmdline", {a: b for a, b in settings.items() if a != "config"})])
    return srv


def test_gunicorn_binds_and_defaults():
    srv = endpoints("gunicorn", ["gunicorn", "-k", "uvicorn.workers.UvicornWorker", "-b", "unix:/run/a.sock", "--bind=[::1]:9000",
                                 "-b", "fd://3", "--bind", "localhost", "--preload", "-w4", "app.main:app"])
    assert [b["kind"] for b in srv["binds"]] == ["unix", "tcp", "fd", "tcp"]
    assert srv["binds"][0]["path"] == "/run/a.sock"
    assert srv["binds"][1]["family"] == "inet6" and srv["binds"][1]["port"] == 9000
    assert srv["binds"][2]["fd"] == 3
    assert srv["binds"][3]["family"] == "name" and srv["binds"][3]["port"] == 8000
    assert srv["worker_class"] == "uvicorn.workers.UvicornWorker" and srv["workers"] == 4 and srv["app"] == "app.main:app"
    assert (srv["timeout"], srv["graceful_timeout"], srv["keepalive"], srv["backlog"]) == (30.0, 30.0, 2.0, 2048)
    assert srv["settings_source"]["timeout"] == "default" and srv["settings_source"]["bind"] == "cmdline"
    plain = endpoints("gunicorn", ["gunicorn", "wsgi"])
    assert plain["binds"] == [binds.tcp("127.0.0.1", 8000)] and plain["settings_source"]["bind"] == "default"


def test_uvicorn_hypercorn_daphne_uwsgi_binds():
    u = endpoints("uvicorn", ["uvicorn", "main:app", "--uds", "/run/u.sock", "--timeout-keep-alive", "65"])
    assert u["binds"] == [{"kind": "unix", "path": "/run/u.sock", "protocol": "http"}] and u["keepalive"] == 65.0
    assert u["timeout"] is None and u["worker_class"] is None
    u2 = endpoints("uvicorn", ["uvicorn", "main:app"])
    assert (u2["binds"][0]["host"], u2["binds"][0]["port"], u2["keepalive"], u2["backlog"]) == ("127.0.0.1", 8000, 5.0, 2048)
    u3 = endpoints("uvicorn", ["uvicorn", "--fd", "0", "main:app"])
    assert u3["binds"] == [{"kind": "fd", "fd": 0, "protocol": "http"}]
    h = endpoints("hypercorn", ["hypercorn", "-b", "unix:/run/h.sock", "-u", "33", "app:app"])
    assert h["binds"][0]["path"] == "/run/h.sock" and h["app"] == "app:app"
    d = endpoints("daphne", ["daphne", "-u", "/run/d.sock", "-e", "tcp:port=8001:interface=127.0.0.1", "proj.asgi:application"])
    assert sorted(b["kind"] for b in d["binds"]) == ["tcp", "unix"] and d["app"] == "proj.asgi:application"
    w = endpoints("uwsgi", ["uwsgi", "--socket", "/run/uwsgi/app.sock", "--http-socket", "127.0.0.1:8080", "--harakiri", "20", "-p", "4"])
    assert [(b["kind"], b["protocol"]) for b in w["binds"]] == [("unix", "uwsgi"), ("tcp", "http")]
    assert (w["timeout"], w["workers"], w["backlog"]) == (20.0, 4, 100)


def test_mask_argv_hides_env_values():
    argv = ["gunicorn", "-e", "DB_PASSWORD=" + PLANTED, "--env=TOKEN=" + PLANTED, "-eX=" + PLANTED, "--bind", "unix:/x",
            "--paste", "postgres://u:" + PLANTED + "@db/x", "app:app"]
    out = A.mask_argv(argv)
    assert PLANTED not in json.dumps(out)
    assert out[:4] == ["gunicorn", "-e", "DB_PASSWORD=********", "--env=TOKEN=********"]
    assert out[-1] == "app:app"


# --------------------------------------------------------------------------- gunicorn config with ast


CONFIG = '''
import os
import multiprocessing
open({flag!r}, "w").write("executed")
bind = ["unix:/run/gunicorn/app.sock", "127.0.0.1:9000"]
workers = multiprocessing.cpu_count() * 2 + 1
timeout = 120
keepalive = 75
worker_class = "uvicorn.workers.UvicornWorker"
wsgi_app = "project.wsgi:application"
SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
password = "{planted}"
raw_env = ["DATABASE_URL=postgres://u:{planted}@db/app"]
accesslog: str = "-"
def on_starting(server):
    print("{planted}")
'''


def test_gunicorn_config_read_with_ast_never_executed(tmp_path):
    flag = tmp_path / "executed.flag"
    cfg = tmp_path / "gunicorn.conf.py"
    cfg.write_text(CONFIG.format(flag=str(flag), planted=PLANTED))
    values, keys, problem = read_python_config(str(cfg), kinds.GUNICORN)
    assert problem is None
    assert not flag.exists()
    assert values == {"bind": ["unix:/run/gunicorn/app.sock", "127.0.0.1:9000"], "workers": None, "timeout": 120, "keepalive": 75,
                      "worker_class": "uvicorn.workers.UvicornWorker", "wsgi_app": "project.wsgi:application"}
    assert keys == ["bind", "workers", "timeout", "keepalive", "worker_class", "wsgi_app", "SECRET_KEY", "password", "raw_env", "accesslog"]
    assert PLANTED not in json.dumps([values, keys])


def test_gunicorn_config_syntax_error_and_missing(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("bind = [\n")
    assert read_python_config(str(bad), kinds.GUNICORN)[2].startswith("Cannot parse gunicorn config")
    assert read_python_config(str(tmp_path / "nope.py"), kinds.GUNICORN)[2].startswith("Cannot read gunicorn config")


def _props(tmp_path, exec_start, env_file_mode=0o640, extra=None):
    env = tmp_path / "app-env"
    env.write_text("# comment\nSECRET_KEY=%s\nexport DATABASE_URL='postgres://u:%s@db/app'\nGUNICORN_CMD_ARGS=\"--timeout 45\"\n" % (PLANTED, PLANTED))
    env.chmod(env_file_mode)
    binary = tmp_path / "gunicorn"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    argv = [str(binary)] + exec_start
    props = {
        "Id": "gunicorn.service", "LoadState": "loaded", "FragmentPath": "/lib/systemd/system/gunicorn.service", "DropInPaths": [],
        "User": "nobody", "Group": "", "WorkingDirectory": str(tmp_path),
        "EnvironmentFiles": ["%s (ignore_errors=no)" % env, "-%s/missing.env (ignore_errors=yes)" % tmp_path],
        "Environment": "", "ExecStart": ["{ path=%s ; argv[]=%s ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }"
                                         % (binary, " ".join(argv))],
        "RuntimeDirectory": "gunicorn", "RuntimeDirectoryMode": "0755", "PrivateTmp": "yes", "UMask": "0022", "Restart": "on-failure",
        "MemoryMax": "536870912", "Requires": "gunicorn.socket", "After": "network.target", "ActiveState": "inactive", "SubState": "dead",
        "Result": "success", "NRestarts": "0", "ExecMainStatus": "0", "ExecMainCode": "0", "ActiveEnterTimestampMonotonic": "0",
        "MainPID": "0", "TriggeredBy": "",
    }
    props.update(extra or {})
    return props


def describe(props, socket_props=None):
    errors = []
    srv = A.new_server(units.unit_kind(props)[0], props["Id"], props["Id"])
    ctx = {"unit_props": {props["Id"]: props}, "socket_props": socket_props or {}, "errors": errors, "have_systemd": True}
    (out,) = A.describe(srv, None, ctx)
    return out, errors


def test_unit_described_from_show_with_config_and_env(tmp_path):
    flag = tmp_path / "executed.flag"
    (tmp_path / "gunicorn.conf.py").write_text(CONFIG.format(flag=str(flag), planted=PLANTED))
    props = _props(tmp_path, ["--workers", "3", "-e", "API_TOKEN=" + PLANTED, "wsgi:application"])
    srv, errors = describe(props)
    blob = json.dumps(srv)
    assert PLANTED not in blob and not flag.exists()
    assert errors == []
    # precedence: default < config file < GUNICORN_CMD_ARGS (from the EnvironmentFile) < command line
    assert srv["timeout"] == 45.0 and srv["settings_source"]["timeout"] == "env"
    assert srv["workers"] == 3 and srv["settings_source"]["workers"] == "cmdline"
    assert srv["keepalive"] == 75.0 and srv["settings_source"]["keepalive"] == "config"
    assert srv["graceful_timeout"] == 30.0 and srv["settings_source"]["graceful_timeout"] == "default"
    assert srv["app"] == "wsgi:application" and srv["settings_source"]["app"] == "cmdline"
    assert [b.get("path") or b.get("port") for b in srv["binds"]] == ["/run/gunicorn/app.sock", 9000]
    assert srv["config_file"] == {"path": str(tmp_path / "gunicorn.conf.py"), "exists": True,
                                  "keys": ["bind", "workers", "timeout", "keepalive", "worker_class", "wsgi_app", "SECRET_KEY",
                                           "password", "raw_env", "accesslog"]}
    us = srv["unit_settings"]
    assert us["environment_files"] == [
        {"path": str(tmp_path / "app-env"), "optional": False, "exists": True, "readable_by_user": False,
         "keys": ["SECRET_KEY", "DATABASE_URL", "GUNICORN_CMD_ARGS"]},
        {"path": str(tmp_path / "missing.env"), "optional": True, "exists": False, "readable_by_user": False, "keys": []}]
    assert us["exec_binary_ok"] is True and us["working_directory_exists"] is True and us["private_tmp"] is True
    assert us["memory_max"] == 536870912 and us["runtime_directory"] == ["gunicorn"] and us["requires"] == ["gunicorn.socket"]
    assert srv["state"]["active_state"] == "inactive" and srv["running"] is False and srv["pids"] == []
    assert "********" in " ".join(srv["cmdline"])


def test_env_file_readable_by_user_mode_check(tmp_path):
    # tmp_path's parents are 0700 root: nobody cannot even reach the file
    props = _props(tmp_path, ["wsgi:application"], env_file_mode=0o644)
    assert describe(props)[0]["unit_settings"]["environment_files"][0]["readable_by_user"] is False
    with tempfile.TemporaryDirectory(dir="/tmp") as d:
        os.chmod(d, 0o755)
        props = _props(Path(d), ["wsgi:application"], env_file_mode=0o644)
        assert describe(props)[0]["unit_settings"]["environment_files"][0]["readable_by_user"] is True
        props = _props(Path(d), ["wsgi:application"], env_file_mode=0o600)
        assert describe(props)[0]["unit_settings"]["environment_files"][0]["readable_by_user"] is (os.stat(d).st_uid == 65534)
        props = _props(Path(d), ["wsgi:application"], env_file_mode=0o600, extra={"User": ""})
        assert describe(props)[0]["unit_settings"]["environment_files"][0]["readable_by_user"] is True  # root reads all


def _acl_user_read(path, uid):
    import struct
    from ansible_collections.badgateway.doctor.plugins.module_utils import _access
    entries = [(_access.ACL_USER_OBJ, None, 6), (_access.ACL_USER, uid, 4), (_access.ACL_GROUP_OBJ, None, 0),
               (_access.ACL_MASK, None, 4), (_access.ACL_OTHER, None, 0)]
    os.setxattr(path, _access.ACL_XATTR, struct.pack("<I", 2) + b"".join(
        struct.pack("<HHI", tag, perm, 0xFFFFFFFF if ident is None else ident) for tag, ident, perm in entries))


def _kernel_reads(path):
    return os.access(path, os.R_OK)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to own files as others and to switch users")
def test_env_file_readable_by_the_units_identity_as_systemd_gives_it(supplementary_member):
    """Group= is the primary group, initgroups(User, Group) and SupplementaryGroups= add theirs, ACLs count;
    every answer is checked against the kernel in a process that took that identity."""
    import grp
    import pwd
    from ansible_collections.badgateway.doctor.plugins.module_utils._access import identity, run_as
    member, group = supplementary_member
    gid = grp.getgrnam(group).gr_gid
    with tempfile.TemporaryDirectory(dir="/tmp") as d:
        os.chmod(d, 0o755)
        env = os.path.join(d, "app-env")
        Path(env).write_text("SECRET_KEY=x\n")
        os.chown(env, 0, gid)
        os.chmod(env, 0o640)
        acl = os.path.join(d, "acl-env")
        Path(acl).write_text("SECRET_KEY=x\n")
        os.chmod(acl, 0o600)
        try:
            _acl_user_read(acl, pwd.getpwnam("nobody").pw_uid)
        except OSError as exc:
            pytest.skip("no POSIX ACLs on /tmp here: %s" % exc)
        cases = [
            (env, "nobody", "", [], False),
            (env, "nobody", group, [], True),           # Group=: the primary group
            (env, member, "", [], True),                # a group listing the user (initgroups)
            (env, "nobody", "", [group], True),         # SupplementaryGroups=
            (acl, "nobody", "", [], True),              # user:nobody:r-- in the file's ACL
            (acl, member, "", [], member == "nobody"),
        ]
        for path, user, unit_group, extra, expected in cases:
            assert units.readable_by(path, user, unit_group or None, extra) is expected, (path, user, unit_group, extra)
            kernel, err = run_as(identity(user, unit_group or None, extra), _kernel_reads, (path,))
            assert (kernel, err) == (expected, None), (path, user, unit_group, extra)
        # through the unit's settings, as the facts say it
        props = _props(Path(d), ["wsgi:application"], extra={"User": "nobody", "SupplementaryGroups": group})
        props["EnvironmentFiles"] = ["%s (ignore_errors=no)" % env]
        assert describe(props)[0]["unit_settings"]["environment_files"][0]["readable_by_user"] is True
        assert units.readable_by(env, "no-such-user-bgd") is None
        assert units.readable_by(env, "nobody", "no-such-group-bgd") is None


def test_exec_missing_and_workdir_missing(tmp_path):
    props = _props(tmp_path, ["wsgi:application"])
    props["ExecStart"] = [props["ExecStart"][0].replace(str(tmp_path / "gunicorn"), "/nonexistent/venv/bin/gunicorn")]
    props["WorkingDirectory"] = "/nonexistent/app"
    srv, _errors = describe(props)
    us = srv["unit_settings"]
    assert us["exec_binary"] == "/nonexistent/venv/bin/gunicorn" and us["exec_binary_ok"] is False
    assert us["working_directory"] == "/nonexistent/app" and us["working_directory_exists"] is False
    assert srv["kind"] == "gunicorn" and srv["config_file"] is None


def test_explicit_missing_config_is_an_error(tmp_path):
    props = _props(tmp_path, ["-c", "conf/nope.py", "wsgi:application"])
    srv, errors = describe(props)
    assert srv["config_file"] == {"path": str(tmp_path / "conf/nope.py"), "exists": False, "keys": []}
    assert [e["source"] for e in errors] == ["app_config"]


def test_socket_activated_binds_come_from_socket_unit(tmp_path):
    props = _props(tmp_path, ["wsgi:application"], extra={"TriggeredBy": "gunicorn.socket"})
    (sock,) = show_fixture("systemctl_show_socket.txt")
    srv, _errors = describe(props, {"gunicorn.socket": sock})
    assert srv["socket_unit"] == {"name": "gunicorn.socket", "listen_stream": ["/run/gunicorn.sock", "127.0.0.1:8000"],
                                  "socket_user": "www-data", "socket_group": "www-data", "socket_mode": "0660"}
    assert [b.get("path") or b.get("port") for b in srv["binds"]] == ["/run/gunicorn.sock", 8000]
    assert srv["settings_source"]["bind"] == "socket_unit"


def test_php_fpm_pools(tmp_path):
    conf = tmp_path / "php-fpm.conf"
    (tmp_path / "pool.d").mkdir()
    conf.write_text("[global]\npid = /run/php/php8.2-fpm.pid\ninclude=%s/pool.d/*.conf\n" % tmp_path)
    (tmp_path / "pool.d" / "www.conf").write_text(
        "[www]\nuser = www-data\ngroup = www-data\nlisten = /run/php/php8.2-fpm.sock\nlisten.owner = www-data\n"
        ";listen.mode = 0666\npm.max_children = 5\n\n[api]\nuser = api\ngroup = api\nlisten = 127.0.0.1:9001\nlisten.mode = 0600\n")
    srv = A.new_server("php-fpm", "php8.2-fpm.service", "php8.2-fpm.service")
    out = fpm.describe_pools(srv, fpm.config_path(["php-fpm: master process (%s)" % conf], {}), {}, [])
    assert [s["name"] for s in out] == ["php8.2-fpm.service:www", "php8.2-fpm.service:api"]
    assert out[0]["php_fpm_pool"] == {"name": "www", "file": str(tmp_path / "pool.d" / "www.conf"), "listen": "/run/php/php8.2-fpm.sock",
                                      "owner": "www-data", "group": "www-data", "mode": "0660"}
    assert out[0]["binds"] == [{"kind": "unix", "path": "/run/php/php8.2-fpm.sock", "protocol": "fastcgi"}] and out[0]["workers"] == 5
    assert out[1]["php_fpm_pool"]["owner"] == "api" and out[1]["php_fpm_pool"]["mode"] == "0600"
    assert out[1]["binds"][0]["port"] == 9001


# --------------------------------------------------------------------------- real processes on this host


@pytest.fixture
def fake_gunicorn(tmp_path):
    """A real process whose command line looks like gunicorn's (python3 /path/gunicorn ...)."""
    script = tmp_path / "gunicorn"
    script.write_text("import time\ntime.sleep(60)\n")
    env = dict(os.environ, GUNICORN_CMD_ARGS="--timeout 77 --keep-alive 9", DB_PASSWORD=PLANTED)
    proc = subprocess.Popen([sys.executable, str(script), "-b", "unix:%s/g.sock" % tmp_path, "-w", "2", "-e", "K=" + PLANTED,
                             "myproj.wsgi:application"], env=env, cwd=str(tmp_path))
    deadline = time.time() + 5
    while time.time() < deadline:
        try:
            with open("/proc/%d/cmdline" % proc.pid, "rb") as f:
                if b"myproj" in f.read():
                    break
        except OSError:
            pass
        time.sleep(0.02)
    yield proc
    proc.kill()
    proc.wait()


def test_collect_apps_finds_real_process(fake_gunicorn, tmp_path):
    res = A.collect_apps()
    blob = json.dumps(res)
    assert PLANTED not in blob
    mine = [s for s in res["servers"] if fake_gunicorn.pid in s["pids"]]
    assert len(mine) == 1
    srv = mine[0]
    assert srv["kind"] == "gunicorn" and srv["running"] is True and srv["pids"][0] == fake_gunicorn.pid
    assert srv["binds"] == [{"kind": "unix", "path": "%s/g.sock" % tmp_path, "protocol": "http"}]
    assert srv["app"] == "myproj.wsgi:application" and srv["workers"] == 2
    if os.geteuid() == 0 or os.stat("/proc/%d" % fake_gunicorn.pid).st_uid == os.getuid():
        assert (srv["timeout"], srv["keepalive"]) == (77.0, 9.0)
        assert srv["settings_source"]["timeout"] == "env"
    for e in res["errors"]:
        assert set(e) == {"source", "path", "message"}
    if not sd.systemd_running()[0]:
        assert srv["unit_settings"] is None and srv["state"] is None
        assert any(e["source"] == "systemctl" for e in res["errors"])
        assert srv["name"] == "gunicorn:%d" % fake_gunicorn.pid or srv["unit"]


def test_scan_unit_files_finds_app_units_by_file_and_drop_in(tmp_path):
    from ansible_collections.badgateway.doctor.plugins.module_utils import systemd as sd

    etc, lib = tmp_path / "etc", tmp_path / "lib"
    (etc / "api.service.d").mkdir(parents=True)
    lib.mkdir()
    (lib / "web.service").write_text("[Service]\nExecStart=/srv/venv/bin/gunicorn app:app\n")
    (lib / "cron.service").write_text("[Service]\nExecStart=/usr/sbin/cron -f\n")
    (lib / "api.service").write_text("[Service]\nExecStart=/srv/start.sh\n")
    (etc / "api.service.d" / "override.conf").write_text("[Service]\nExecStart=\nExecStart=/srv/venv/bin/uvicorn a:b\n")
    (lib / "worker@.service").write_text("[Service]\nExecStart=/srv/venv/bin/gunicorn %i\n")
    (etc / "web.service").write_text("[Service]\nExecStart=/srv/venv/bin/gunicorn app:app\n")  # same unit twice
    (lib / "notes.txt").write_text("gunicorn")
    errors = []
    names = sd.scan_unit_files(("gunicorn", "uvicorn"), dirs=(str(etc), str(lib), str(tmp_path / "missing")), errors=errors)
    assert sorted(names) == ["api.service", "web.service"]
    assert errors == []
