# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The configuration layers of each app server kind (module_utils/_apps_settings.py, _apps_files.py):
environment variables, config files, socket activation, and the binds each server writes."""
from __future__ import annotations

import json

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import _apps_php_fpm as fpm
from ansible_collections.badgateway.doctor.plugins.module_utils import _apps_units as units
from ansible_collections.badgateway.doctor.plugins.module_utils import apps as A

PLANTED = "planted-DO-NOT-LEAK-3b7e"


def unit(argv, workdir="/nonexistent", env="", env_files=(), triggered_by=""):
    """``systemctl show`` properties of a stopped service running ``argv``."""
    return {
        "Id": "app.service", "LoadState": "loaded", "FragmentPath": "/etc/systemd/system/app.service", "DropInPaths": [],
        "User": "", "Group": "", "WorkingDirectory": workdir, "Environment": env,
        "EnvironmentFiles": ["%s (ignore_errors=no)" % f for f in env_files],
        "ExecStart": ["{ path=%s ; argv[]=%s ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; "
                      "status=0/0 }" % (argv[0], " ".join(argv))],
        "ActiveState": "inactive", "SubState": "dead", "Result": "success", "NRestarts": "0", "MainPID": "0",
        "TriggeredBy": triggered_by,
    }


def describe(props, socket_props=None):
    errors = []
    srv = A.new_server(units.unit_kind(props)[0], props["Id"], props["Id"])
    ctx = {"unit_props": {props["Id"]: props}, "socket_props": socket_props or {}, "errors": errors, "have_systemd": True}
    out = A.describe(srv, None, ctx)
    assert PLANTED not in json.dumps([out, errors])
    return out[0], errors


def endpoints(srv):
    return [(b["kind"], b.get("path") or b.get("host"), b.get("port"), b["protocol"]) for b in srv["binds"]]


def test_uvicorn_reads_its_uvicorn_variables_below_the_command_line():
    srv, errors = describe(unit(["/srv/v/bin/uvicorn", "--port", "9001"],
                                env='UVICORN_HOST=0.0.0.0 UVICORN_PORT=7000 UVICORN_TIMEOUT_KEEP_ALIVE=75 UVICORN_APP=main:app '
                                    'UVICORN_SSL_KEYFILE_PASSWORD=%s WEB_CONCURRENCY=4' % PLANTED))
    assert errors == []
    assert endpoints(srv) == [("tcp", "0.0.0.0", 9001, "http")]
    assert (srv["keepalive"], srv["workers"], srv["app"]) == (75.0, 4, "main:app")
    assert srv["settings_source"] == {"bind": "env", "keepalive": "env", "workers": "env", "app": "env", "backlog": "default"}


def test_gunicorn_port_and_web_concurrency_are_its_defaults(tmp_path):
    srv, _errors = describe(unit(["/srv/v/bin/gunicorn", "wsgi:app"], workdir=str(tmp_path), env="PORT=5000 WEB_CONCURRENCY=3"))
    assert endpoints(srv) == [("tcp", "0.0.0.0", 5000, "http")] and srv["workers"] == 3
    assert srv["settings_source"]["bind"] == "env" and srv["settings_source"]["workers"] == "env"
    srv, _errors = describe(unit(["/srv/v/bin/gunicorn", "-b", "unix:/run/g.sock", "wsgi:app"], env="PORT=5000"))
    assert endpoints(srv) == [("unix", "/run/g.sock", None, "http")]


def test_environment_file_overrides_environment_as_systemd_does(tmp_path):
    env_file = tmp_path / "app.env"
    env_file.write_text("GUNICORN_CMD_ARGS='--timeout 90 -e K=%s'\nSECRET=%s\n" % (PLANTED, PLANTED))
    srv, _errors = describe(unit(["/srv/v/bin/gunicorn", "wsgi:app"], env='"GUNICORN_CMD_ARGS=--timeout 10"',
                                 env_files=[str(env_file)]))
    assert srv["timeout"] == 90.0 and srv["settings_source"]["timeout"] == "env"
    assert srv["unit_settings"]["environment_files"][0]["keys"] == ["GUNICORN_CMD_ARGS", "SECRET"]


def test_gunicorn_protocol_uwsgi_binds_speak_uwsgi():
    srv, _errors = describe(unit(["/srv/v/bin/gunicorn", "--protocol", "uwsgi", "-b", "127.0.0.1:8000", "wsgi:app"]))
    assert endpoints(srv) == [("tcp", "127.0.0.1", 8000, "uwsgi")]


def test_hostile_numbers_are_no_facts():
    srv, _errors = describe(unit(["/srv/v/bin/gunicorn", "--timeout", "1e400", "-w", "nan", "--keep-alive", "-inf", "w:a"]))
    assert (srv["timeout"], srv["workers"], srv["keepalive"]) == (None, None, None)
    json.dumps(srv, allow_nan=False)


def test_uwsgi_ini_env_and_command_line_add_up(tmp_path):
    ini = tmp_path / "app.ini"
    ini.write_text("[other]\nsocket = /run/other.sock\n[uwsgi]\n; a comment\nsocket = /run/a.sock\nsocket = 127.0.0.1:3031\n"
                   "http-socket = :8080\nprocesses = 4\nharakiri = 30\nenv = SECRET=%s\nset = pw=%s\n" % (PLANTED, PLANTED))
    srv, errors = describe(unit(["/usr/bin/uwsgi", "--ini", str(ini), "--fastcgi-socket", "/run/f.sock", "--listen", "1024"],
                                env="UWSGI_SOCKET=/run/env.sock"))
    assert errors == []
    assert endpoints(srv) == [("unix", "/run/env.sock", None, "uwsgi"), ("unix", "/run/a.sock", None, "uwsgi"),
                              ("tcp", "127.0.0.1", 3031, "uwsgi"), ("tcp", "0.0.0.0", 8080, "http"),
                              ("unix", "/run/f.sock", None, "fastcgi")]
    assert (srv["workers"], srv["timeout"], srv["backlog"]) == (4, 30.0, 1024)
    assert srv["config_file"] == {"path": str(ini), "exists": True, "keys": ["socket", "http-socket", "processes", "harakiri",
                                                                             "env", "set"]}
    assert srv["settings_source"]["workers"] == "config" and srv["settings_source"]["backlog"] == "cmdline"


def test_uwsgi_ini_section_positional_and_protocol(tmp_path):
    ini = tmp_path / "app.ini"
    ini.write_text("[uwsgi]\nsocket = /run/a.sock\n[web]\nsocket = /run/web.sock\nprotocol = http\n")
    srv, _errors = describe(unit(["/usr/bin/uwsgi", "--ini", "%s:web" % ini]))
    assert endpoints(srv) == [("unix", "/run/web.sock", None, "http")]
    srv, _errors = describe(unit(["/usr/bin/uwsgi_python3", "app.ini"], workdir=str(tmp_path)))
    assert endpoints(srv) == [("unix", "/run/a.sock", None, "uwsgi")] and srv["config_file"]["path"] == str(ini)
    srv, errors = describe(unit(["/usr/bin/uwsgi", "--ini", "missing.ini"], workdir=str(tmp_path)))
    assert srv["config_file"]["exists"] is False and [e["source"] for e in errors] == ["app_config"]


def test_hypercorn_toml_config(tmp_path):
    (tmp_path / "hypercorn.toml").write_text(
        'bind = ["unix:/run/h.sock", # the socket nginx uses\n  "127.0.0.1:8001"]\nkeep_alive_timeout = 75\nworkers = 2\n'
        'keyfile_password = "%s"\nworker_class = \'uvloop\'\n[logging]\nbacklog = 5\n' % PLANTED)
    srv, errors = describe(unit(["/srv/v/bin/hypercorn", "-c", "hypercorn.toml", "-w", "3", "app:app"], workdir=str(tmp_path)))
    assert errors == []
    assert endpoints(srv) == [("unix", "/run/h.sock", None, "http"), ("tcp", "127.0.0.1", 8001, "http")]
    assert (srv["keepalive"], srv["workers"], srv["worker_class"], srv["backlog"]) == (75.0, 3, "uvloop", 100)
    assert srv["config_file"]["keys"] == ["bind", "keep_alive_timeout", "workers", "keyfile_password", "worker_class"]
    srv, _errors = describe(unit(["/srv/v/bin/hypercorn", "-c", "python:conf.hyper", "app:app"]))
    assert srv["config_file"] == {"path": None, "exists": None, "keys": [], "module": "conf.hyper"}


@pytest.mark.parametrize("argv,expected", [
    (["/srv/v/bin/uvicorn", "--fd", "3", "main:app"], [("unix", "/run/app.sock", None, "http")]),
    (["/srv/v/bin/hypercorn", "-b", "fd://4", "-b", "127.0.0.1:9", "app:app"],
     [("tcp", "127.0.0.1", 8000, "http"), ("tcp", "127.0.0.1", 9, "http")]),
    (["/srv/v/bin/uvicorn", "--port", "7000", "main:app"], [("tcp", "127.0.0.1", 7000, "http")]),   # not socket-activated
    (["/srv/v/bin/gunicorn", "-b", "127.0.0.1:9", "w:a"],
     [("unix", "/run/app.sock", None, "http"), ("tcp", "127.0.0.1", 8000, "http")]),
])
def test_socket_unit_listeners(argv, expected):
    sock = {"Id": "app.socket", "LoadState": "loaded", "Listen": ["/run/app.sock (Stream)", "127.0.0.1:8000 (Stream)"],
            "SocketUser": "", "SocketGroup": "", "SocketMode": "0660"}
    srv, _errors = describe(unit(argv, triggered_by="app.socket"), {"app.socket": sock})
    assert endpoints(srv) == expected
    assert srv["socket_unit"]["listen_stream"] == ["/run/app.sock", "127.0.0.1:8000"]


def test_php_fpm_timeout_units(tmp_path):
    pool = tmp_path / "www.conf"
    pool.write_text("[www]\nlisten = 9001\nrequest_terminate_timeout = 2m\n[api]\nlisten = [::1]:9002\n"
                    "request_terminate_timeout = 0\n")
    (www, api) = fpm.parse_pool_file(str(pool))
    assert fpm.seconds(www["request_terminate_timeout"]) == 120.0 and fpm.seconds(api["request_terminate_timeout"]) == 0.0
    assert fpm.seconds("soon") is None
    assert fpm.listen_endpoint(www["listen"])["port"] == 9001 and fpm.listen_endpoint(api["listen"])["host"] == "::1"


def test_a_new_kind_is_one_spec(monkeypatch):
    """Adding an app server is one Kind: detection, units, options, defaults, binds and layers follow."""
    from ansible_collections.badgateway.doctor.plugins.module_utils import _apps_binds as binds
    from ansible_collections.badgateway.doctor.plugins.module_utils import _apps_kinds as kinds
    from ansible_collections.badgateway.doctor.plugins.module_utils._apps_spec import INT, Kind, Opt

    granian = Kind("granian", programs=("granian",), options=(
        Opt("host", ("--host",)), Opt("port", ("--port",), INT), Opt("uds", ("--uds",)), Opt("workers", ("--workers",), INT),
        Opt(None, ("--interface",))), switches=("--reload",), defaults={"host": "127.0.0.1", "port": 8000, "workers": 1},
        env_prefix="GRANIAN_", binds=binds.host_port)
    monkeypatch.setitem(kinds.KINDS, "granian", granian)
    assert "granian" in kinds.unit_words() and "GRANIAN_WORKERS" in kinds.wanted_env()
    srv, errors = describe(unit(["/srv/v/bin/python3", "-m", "granian", "--interface", "asgi", "--reload", "--uds",
                                 "/run/g.sock", "main:app"], env="GRANIAN_WORKERS=4"))
    assert errors == [] and srv["kind"] == "granian"
    assert endpoints(srv) == [("unix", "/run/g.sock", None, "http")]
    assert (srv["workers"], srv["app"], srv["settings_source"]) == (4, "main:app", {"bind": "cmdline", "workers": "env",
                                                                                    "app": "cmdline"})
