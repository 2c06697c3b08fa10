# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""app_server_facts given hostile input: secrets on command lines, FIFOs / devices / huge files where a
unit or a server names a file, binds that are no endpoint. Each gives a clear error entry and the rest
of the facts, never a hang, a traceback or a secret."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import _apps_kinds as kinds
from ansible_collections.badgateway.doctor.plugins.module_utils import _apps_units as units
from ansible_collections.badgateway.doctor.plugins.module_utils import apps as A
from ansible_collections.badgateway.doctor.plugins.module_utils._apps_spec import SECRET
from ansible_collections.badgateway.doctor.plugins.module_utils._mask import mask_argv

PLANTED = "planted-DO-NOT-LEAK-c41f"


class Blocked(Exception):
    """Not an OSError: the code under test must not be able to swallow it."""


@contextlib.contextmanager
def no_hang(seconds=5):
    """Fail (instead of blocking the test run) when the body takes longer than ``seconds``."""
    def _alarm(signum, frame):
        raise Blocked("blocked for %s s" % seconds)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def unit(argv, workdir="/nonexistent", env_files=()):
    return {
        "Id": "app.service", "LoadState": "loaded", "FragmentPath": "/etc/systemd/system/app.service", "DropInPaths": [],
        "User": "", "Group": "", "WorkingDirectory": workdir, "Environment": "",
        "EnvironmentFiles": ["%s (ignore_errors=no)" % f for f in env_files],
        "ExecStart": ["{ path=%s ; argv[]=%s ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; "
                      "status=0/0 }" % (argv[0], " ".join(argv))],
        "ActiveState": "failed", "SubState": "failed", "Result": "exit-code", "NRestarts": "3", "MainPID": "0", "TriggeredBy": "",
    }


def describe(props):
    errors = []
    srv = A.new_server(units.unit_kind(props)[0], props["Id"], props["Id"])
    ctx = {"unit_props": {props["Id"]: props}, "socket_props": {}, "errors": errors, "have_systemd": True}
    with no_hang():
        out = A.describe(srv, None, ctx)
    blob = json.dumps([out, errors], allow_nan=False)
    assert PLANTED not in blob
    for e in errors:
        assert set(e) == {"source", "path", "message"}
    return out, errors


# --------------------------------------------------------------------------- secrets on command lines

SECRET_ARGV = ["/srv/v/bin/gunicorn", "--password", PLANTED, "--secret-key", PLANTED, "-e", "SECRET_KEY=" + PLANTED,
               "--env", "DB_PASSWORD=" + PLANTED, "--env=TOKEN=" + PLANTED, "-eX=" + PLANTED, "--paste",
               "postgres://u:" + PLANTED + "@db/x", "-b", "unix:/run/app.sock", "wsgi:application"]


def test_secret_values_in_exec_start_are_masked():
    (srv,), _errors = describe(unit(SECRET_ARGV))
    for argv in (srv["cmdline"], srv["unit_settings"]["exec_start"]):
        assert argv[:3] == ["/srv/v/bin/gunicorn", "--password", "********"]
        assert argv[-3:] == ["-b", "unix:/run/app.sock", "wsgi:application"]
        assert "SECRET_KEY=********" in argv and "DB_PASSWORD=********" in argv
    assert srv["binds"][0]["path"] == "/run/app.sock" and srv["app"] == "wsgi:application"


@pytest.fixture
def secret_process(tmp_path):
    """A real process whose command line carries secrets, as a gunicorn started that way."""
    script = tmp_path / "gunicorn"
    script.write_text("import time\ntime.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, str(script)] + SECRET_ARGV[1:], cwd=str(tmp_path))
    deadline = time.time() + 5
    while time.time() < deadline:
        with contextlib.suppress(OSError), open("/proc/%d/cmdline" % proc.pid, "rb") as f:
            if b"wsgi:application" in f.read():
                break
        time.sleep(0.02)
    yield proc
    proc.kill()
    proc.wait()


def test_secret_values_in_a_running_command_line_are_masked(secret_process):
    res = A.collect_apps()
    assert PLANTED not in json.dumps(res)
    (srv,) = [s for s in res["servers"] if secret_process.pid in s["pids"]]
    assert "--password" in srv["cmdline"] and srv["app"] == "wsgi:application"


@pytest.mark.parametrize("kind", sorted(kinds.KINDS))
def test_the_one_masker_masks_every_secret_option_of_the_specs(kind):
    spec = kinds.get(kind)
    for flag in [f for o in spec.options if o.type == SECRET for f in o.flags]:
        value = "NAME=" + PLANTED if flag in ("-e", "--env") else PLANTED
        for argv in ([flag, value], [flag + "=" + value]):
            assert PLANTED not in " ".join(mask_argv([spec.programs[0]] + argv)), (kind, argv)


# --------------------------------------------------------------------------- files that are no regular files

@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(str(path))
    return str(path)


def test_environment_file_fifo_device_and_huge_file(tmp_path, fifo):
    huge = tmp_path / "huge.env"
    with open(str(huge), "wb") as f:
        f.write(b"SECRET=" + PLANTED.encode() + b"\n")
        f.truncate(64 * 1024 * 1024)
    good = tmp_path / "good.env"
    good.write_text("GUNICORN_CMD_ARGS=--timeout 70\n")
    (srv,), errors = describe(unit(["/srv/v/bin/gunicorn", "wsgi:app"], env_files=[fifo, "/dev/zero", str(huge), str(good)]))
    files = srv["unit_settings"]["environment_files"]
    assert [f["keys"] for f in files] == [[], [], [], ["GUNICORN_CMD_ARGS"]]
    assert srv["timeout"] == 70.0                      # the rest of the facts still come
    messages = {e["path"]: e["message"] for e in errors if e["source"] == "env_file"}
    assert messages[fifo] == "Cannot read EnvironmentFile: %s is a FIFO, not a regular file." % fifo
    assert "character device" in messages["/dev/zero"] and "(the cap)" in messages[str(huge)]


def test_gunicorn_config_fifo_and_device(tmp_path, fifo):
    (srv,), errors = describe(unit(["/srv/v/bin/gunicorn", "-c", fifo, "-w", "3", "wsgi:app"]))
    assert srv["config_file"] == {"path": fifo, "exists": True, "keys": []} and srv["workers"] == 3
    assert [e["message"] for e in errors] == ["Cannot read gunicorn config: %s is a FIFO, not a regular file." % fifo]
    (srv,), errors = describe(unit(["/srv/v/bin/gunicorn", "-c", "/dev/zero", "wsgi:app"]))
    assert "character device" in errors[0]["message"] and srv["timeout"] == 30.0
    os.rename(fifo, str(tmp_path / "gunicorn.conf.py"))        # the default config file, read without -c
    (srv,), errors = describe(unit(["/srv/v/bin/gunicorn", "wsgi:app"], workdir=str(tmp_path)))
    assert "is a FIFO" in errors[0]["message"]


def test_uwsgi_ini_and_hypercorn_toml_fifo(fifo):
    (srv,), errors = describe(unit(["/usr/bin/uwsgi", "--ini", fifo, "--socket", "/run/u.sock"]))
    assert srv["binds"][0]["path"] == "/run/u.sock" and "is a FIFO" in errors[0]["message"]
    (srv,), errors = describe(unit(["/srv/v/bin/hypercorn", "-c", fifo, "app:app"]))
    assert srv["binds"][0]["port"] == 8000 and "is a FIFO" in errors[0]["message"]


def test_php_fpm_config_and_pool_fifo(tmp_path):
    (tmp_path / "pool.d").mkdir()
    os.mkfifo(str(tmp_path / "pool.d" / "www.conf"))
    (tmp_path / "pool.d" / "api.conf").write_text("[api]\nlisten = /run/php/api.sock\n")
    conf = tmp_path / "php-fpm.conf"
    conf.write_text("include=%s/pool.d/*.conf\n" % tmp_path)
    out, errors = describe(unit(["/usr/sbin/php-fpm8.2", "--nodaemonize", "--fpm-config", str(conf)]))
    assert [s["php_fpm_pool"]["name"] for s in out] == ["api"]
    assert [e["path"] for e in errors] == [str(tmp_path / "pool.d" / "www.conf")]
    os.mkfifo(str(tmp_path / "main.conf"))
    out, errors = describe(unit(["/usr/sbin/php-fpm8.2", "-y", str(tmp_path / "main.conf")]))
    assert "is a FIFO" in errors[0]["message"]


# --------------------------------------------------------------------------- binds that are no endpoint

@pytest.mark.parametrize("argv,message", [
    (["/srv/v/bin/gunicorn", "-b", "127.0.0.1:99999", "-b", "unix:/run/ok.sock", "w:a"], "invalid port in '127.0.0.1:99999': port 99999 is outside 1-65535"),
    (["/srv/v/bin/gunicorn", "-b", "unix:", "-b", "unix:/run/ok.sock", "w:a"], "empty unix socket path"),
    (["/srv/v/bin/gunicorn", "-b", "unix:/" + "x" * 200, "-b", "unix:/run/ok.sock", "w:a"], "longer than 107 bytes"),
    (["/srv/v/bin/uvicorn", "--port", "0", "a:b"], "port 0 is outside 1-65535"),
    (["/srv/v/bin/uvicorn", "--host", "a/b", "a:b"], "invalid host 'a/b'"),
    (["/usr/bin/uwsgi", "--socket", "[::1:3031", "--socket", "/run/ok.sock"], "no closing bracket"),
    (["/srv/v/bin/daphne", "-e", "tcp:port=70000", "-u", "/run/ok.sock", "a:b"], "port 70000 is outside 1-65535"),
])
def test_invalid_binds_are_errors_not_facts(argv, message):
    (srv,), errors = describe(unit(argv))
    assert all(b.get("path") == "/run/ok.sock" for b in srv["binds"])
    assert len(errors) == 1 and errors[0]["source"] == "app_config" and message in errors[0]["message"], errors
