# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The drop-in engine: ExecStart rewriting with gunicorn's / uvicorn's own flags, settings checks, systemd
quoting, conflicts with later drop-ins, verification against live values."""
from __future__ import annotations

import json
import shlex

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import _remediation_argv as ra
from ansible_collections.badgateway.doctor.plugins.module_utils import _remediation_dropin as rd

GUNI = ["/srv/app/venv/bin/gunicorn", "--workers", "2", "--timeout", "5", "--bind", "unix:/run/gunicorn/gunicorn.sock",
        "--umask", "007", "wsgi:application"]
UVI = ["/srv/app/venv/bin/uvicorn", "--host", "127.0.0.1", "--port", "8001", "asgi:app"]


def rewrite(argv, **options):
    return ra.rewrite(argv, ra.normalize_options(options))


# ---------------------------------------------------------------- argv

def test_gunicorn_options_in_place():
    out = rewrite(GUNI, timeout=60, workers=4, umask="007", keep_alive=75, backlog=512)
    assert out == ["/srv/app/venv/bin/gunicorn", "--backlog", "512", "--keep-alive", "75", "--workers", "4", "--timeout",
                   "60", "--bind", "unix:/run/gunicorn/gunicorn.sock", "--umask", "0007", "wsgi:application"]
    assert rewrite(out, timeout=60, workers=4, umask="007", keep_alive=75, backlog=512) == out  # idempotent


@pytest.mark.parametrize("spelled", [["-t", "5"], ["-t5"], ["--timeout=5"], ["--timeout", "5", "-t", "9"]])
def test_every_spelling_replaced(spelled):
    argv = ["gunicorn"] + spelled + ["app:app"]
    assert rewrite(argv, timeout=30) == ["gunicorn", "--timeout", "30", "app:app"]


def test_binds_replaced_all_and_ipv6():
    argv = ["/v/bin/gunicorn", "-b", "127.0.0.1:8000", "--bind=unix:/tmp/x.sock", "-w", "2", "app:app"]
    out = rewrite(argv, bind=["unix:/run/app/app.sock", "[::1]:8000"])
    assert out == ["/v/bin/gunicorn", "--bind", "unix:/run/app/app.sock", "--bind", "[::1]:8000", "-w", "2", "app:app"]


def test_option_added_after_the_program_when_absent():
    assert rewrite(["gunicorn", "app:app"], timeout=60) == ["gunicorn", "--timeout", "60", "app:app"]
    argv = ["/usr/bin/python3", "-m", "gunicorn", "app:app"]
    assert rewrite(argv, workers=3) == ["/usr/bin/python3", "-m", "gunicorn", "--workers", "3", "app:app"]
    argv = ["/usr/bin/env", "FOO=1", "gunicorn", "-w", "2", "app:app"]
    assert rewrite(argv, workers=3) == ["/usr/bin/env", "FOO=1", "gunicorn", "--workers", "3", "app:app"]


def test_uvicorn_flags():
    assert rewrite(UVI, keep_alive=75, workers=2) == [
        "/srv/app/venv/bin/uvicorn", "--workers", "2", "--timeout-keep-alive", "75", "--host", "127.0.0.1", "--port",
        "8001", "asgi:app"]
    out = rewrite(UVI, bind="[::1]:9000")
    assert out == ["/srv/app/venv/bin/uvicorn", "--host", "::1", "--port", "9000", "asgi:app"]
    out = rewrite(UVI, keep_alive=75)
    assert out[out.index("--timeout-keep-alive") + 1] == "75"
    with pytest.raises(ra.ArgvError, match="uvicorn has no worker timeout"):
        rewrite(UVI, timeout=60)
    with pytest.raises(ra.ArgvError, match="0666 itself"):
        rewrite(UVI, umask="007")
    with pytest.raises(ra.ArgvError, match="one address"):
        rewrite(UVI, bind=["127.0.0.1:1", "127.0.0.1:2"])


def test_uvicorn_uds_replaces_host_and_port():
    out = rewrite(UVI, bind="unix:/run/uvicorn/app.sock")
    assert out == ["/srv/app/venv/bin/uvicorn", "--uds", "/run/uvicorn/app.sock", "asgi:app"]


@pytest.mark.parametrize("value, text", [("007", "0007"), ("0o027", "0027"), (7, "0007"), ("77", "0077"), ("22", "0022")])
def test_umask_written_octal(value, text):
    out = rewrite(["gunicorn", "app:app"], umask=value)
    assert out[2] == text


@pytest.mark.parametrize("options, msg", [
    ({"umask": "000"}, "every user write"), ({"umask": "20"}, "every user write"), ({"umask": "9"}, "octal"),
    ({"timeout": 0}, "at least 1"), ({"workers": "x"}, "whole number"), ({"timeout": 1.5}, "whole number"),
    ({"bind": "127.0.0.1"}, "no port"), ({"bind": "::1:80"}, "need brackets"), ({"bind": []}, "at least one"),
    ({"colour": 1}, "unknown keys colour"), ({"timeout": True}, "whole number"),
])
def test_bad_options(options, msg):
    with pytest.raises(ra.ArgvError, match=msg):
        ra.normalize_options(options)


def test_not_an_app_server_or_through_a_shell():
    with pytest.raises(ra.ArgvError, match="does not run gunicorn or uvicorn"):
        rewrite(["/usr/bin/redis-server"], timeout=1)
    with pytest.raises(ra.ArgvError, match="through a shell"):
        rewrite(["/bin/sh", "-c", "exec gunicorn -t 5 app:app"], timeout=1)
    with pytest.raises(ra.ArgvError, match="only gunicorn and uvicorn"):
        rewrite(["/usr/bin/uwsgi", "--ini", "x.ini"], timeout=1)


# ---------------------------------------------------------------- settings

@pytest.mark.parametrize("key, value, text", [
    ("RuntimeDirectoryMode", "750", "0750"), ("RuntimeDirectoryMode", 0o750, "0750"), ("UMask", "0027", "0027"),
    ("Restart", "on-failure", "on-failure"), ("RestartSec", 5, "5s"), ("RestartSec", "500ms", "500ms"),
    ("RestartSec", "1min 30s", "90s"), ("PrivateTmp", False, "no"), ("PrivateTmp", "yes", "yes"),
    ("After", ["redis-server.service", "network-online.target"], "redis-server.service network-online.target"),
    ("SupplementaryGroups", "www-data", "www-data"), ("RuntimeDirectory", "gunicorn", "gunicorn"),
    ("RuntimeDirectoryPreserve", True, "yes"), ("RuntimeDirectoryPreserve", "restart", "restart"),
    ("WorkingDirectory", "/srv/app/current", "/srv/app/current"), ("WorkingDirectory", "-/srv/x", "-/srv/x"),
])
def test_settings_normalized(key, value, text):
    assert rd.normalize_settings({key: value}, "app.service") == {key: text}


@pytest.mark.parametrize("settings, msg", [
    ({"RuntimeDirectoryMod": "0750"}, "unknown setting 'RuntimeDirectoryMod'"),
    ({"RuntimeDirectoryMode": "0777"}, "o\\+w"), ({"UMask": "0000"}, "o\\+w"), ({"UMask": "0020"}, "o\\+w"),
    ({"User": "app\nExecStartPre=/bin/evil"}, "one line"), ({"User": "a b"}, "not a user"),
    ({"Restart": "sometimes"}, "not one of"), ({"RestartSec": "5 fortnights"}, "unknown unit"),
    ({"After": "not a unit"}, "not a unit name"), ({"RuntimeDirectory": "/run/x"}, "relative"),
    ({"RuntimeDirectory": "../etc"}, "relative"), ({"WorkingDirectory": "srv"}, "absolute"),
    ({"SocketMode": "0660"}, "setting of .socket units"), ({"PrivateTmp": "maybe"}, "boolean"),
])
def test_settings_refused(settings, msg):
    with pytest.raises(rd.DropinError, match=msg):
        rd.normalize_settings(settings, "app.service")


def test_socket_unit_settings():
    assert rd.normalize_settings({"SocketMode": "0660", "SocketGroup": "www-data"}, "app.socket") == \
        {"SocketMode": "0660", "SocketGroup": "www-data"}
    with pytest.raises(rd.DropinError, match="o\\+w"):
        rd.normalize_settings({"SocketMode": "0666"}, "app.socket")
    with pytest.raises(rd.DropinError, match="setting of .service units"):
        rd.normalize_settings({"User": "app"}, "app.socket")


def test_names():
    assert rd.dropin_path("gunicorn.service", "zz-badgateway.conf") == \
        "/etc/systemd/system/gunicorn.service.d/zz-badgateway.conf"
    for bad in ("../x.conf", "x", "a/b.conf", ""):
        with pytest.raises(rd.DropinError):
            rd.dropin_path("gunicorn.service", bad)
    for bad in ("gunicorn", "../x.service", "a b.service"):
        with pytest.raises(rd.DropinError):
            rd.check_unit(bad)


# ---------------------------------------------------------------- quoting and rendering

def _systemd_split(line):
    """How systemd splits a command line for the words these tests use (quotes, backslash escapes, %%)."""
    return [w.replace("%%", "%") for w in shlex.split(line)]


@pytest.mark.parametrize("word", ["plain", "with space", 'quo"te', "back\\slash", "100%", "$HOME", "", "a'b"])
def test_quote_word_round_trip(word):
    quoted = rd.quote_word(word)
    assert _systemd_split(quoted) == [word]
    assert "%" not in quoted.replace("%%", "")


def test_quote_lone_semicolon_and_controls():
    assert rd.quote_word(";") == "\\;"
    assert rd.quote_word("a\nb") == '"a\\nb"'


def test_render_clears_exec_start_and_keeps_own_settings():
    kept = rd.parse_own("[Service]\nUMask=0027\nExecStart=\nExecStart=/old\n[Unit]\nWants=redis.service\n")
    text = rd.render({"RuntimeDirectoryMode": "0750", "After": "redis.service"}, {"path": "/v/gunicorn"},
                     ["/v/gunicorn", "--timeout", "60", "app:app"], kept)
    assert text.startswith("# Managed by badgateway.doctor")
    body = text.split("\n", 2)[2]
    assert body == ("[Unit]\nWants=redis.service\nAfter=redis.service\n[Service]\nUMask=0027\n"
                    "RuntimeDirectoryMode=0750\nExecStart=\nExecStart=/v/gunicorn --timeout 60 app:app\n")
    # without exec options an earlier ExecStart of ours is kept
    again = rd.render({}, None, None, rd.parse_own(text))
    assert "ExecStart=\nExecStart=/v/gunicorn --timeout 60 app:app\n" in again


def test_exec_line_prefixes():
    assert rd.exec_line({"path": "/v/g", "ignore_errors": True}, ["/v/g", "x y"]) == '-/v/g "x y"'
    assert rd.exec_line({"path": "/v/real"}, ["name", "a"]) == "@/v/real name a"


# ---------------------------------------------------------------- conflicts, busctl, verify

def test_conflicts_only_later_files():
    files = {
        "/lib/systemd/system/g.service.d/10-vendor.conf": "[Service]\nUser=app\n",
        "/etc/systemd/system/g.service.d/override.conf": "[Service]\nExecStart=\nExecStart=/x\nAfter=a.service\n",
        "/etc/systemd/system/g.service.d/zzz-later.conf": "[Service]\nUMask=0077\nSupplementaryGroups=\n",
    }
    own = "/etc/systemd/system/g.service.d/zz-badgateway.conf"
    found = rd.conflicts(list(files), own, {"User", "UMask", "SupplementaryGroups"}, True, read=files.get)
    assert found == [{"path": "/etc/systemd/system/g.service.d/zzz-later.conf", "keys": ["SupplementaryGroups", "UMask"]}]
    own50 = "/etc/systemd/system/g.service.d/50-badgateway.conf"
    found = rd.conflicts(list(files), own50, {"After"}, True, read=files.get)
    assert found == [{"path": "/etc/systemd/system/g.service.d/override.conf", "keys": ["ExecStart"]}]


def test_bus_path_escaping():
    assert rd._bus_path("gunicorn.service") == "/org/freedesktop/systemd1/unit/gunicorn_2eservice"
    assert rd._bus_path("app@1-x.service") == "/org/freedesktop/systemd1/unit/app_401_2dx_2eservice"
    assert rd._bus_path("1app.service").startswith("/org/freedesktop/systemd1/unit/_31app")


def test_read_exec_start_busctl_json_and_fallback():
    calls = []
    data = {"type": "a(sasbttttuii)", "data": [["/v/g", ["/v/g", "-c", "import time; time.sleep(1)"], True, 0, 0, 0, 0, 0, 0, 0]]}

    def run(argv, timeout=30):
        calls.append(argv)
        if "--address=unix:path=/run/systemd/private" not in argv:
            return 1, "", "Failed to connect to bus: No such file or directory"
        return 0, json.dumps(data) if "get-property" in argv else '{"type":"o","data":["/x"]}', ""

    entries = rd.read_exec_start("g.service", run=run)
    assert entries == [{"path": "/v/g", "argv": ["/v/g", "-c", "import time; time.sleep(1)"], "ignore_errors": True}]
    with pytest.raises(rd.DropinError, match="exactly over D-Bus"):
        rd.read_exec_start("g.service", run=lambda argv, timeout=30: (1, "", "no bus"))


def test_verify_compares_live_values():
    show = ("RuntimeDirectoryMode=0750\nRestartUSec=1min 30s\nAfter=redis.service basic.target\nWorkingDirectory=!/srv/x\n"
            "UMask=0022\n")
    data = {"data": [["/v/g", ["/v/g", "--timeout", "60"], False, 0, 0, 0, 0, 0, 0, 0]]}

    def run(argv, timeout=30):
        if argv[0] == "systemctl":
            return 0, show, ""
        return 0, json.dumps(data) if "get-property" in argv else "{}", ""

    settings = {"RuntimeDirectoryMode": "0750", "RestartSec": "90s", "After": "redis.service",
                "WorkingDirectory": "-/srv/x", "UMask": "0027"}
    bad = rd.verify("g.service", settings, ["/v/g", "--timeout", "60"], run=run)
    assert bad == [{"key": "UMask", "want": "0027", "live": "0022"}]
    bad = rd.verify("g.service", {}, ["/v/g", "--timeout", "30"], run=run)
    assert bad[0]["key"] == "ExecStart"


def test_timespans():
    assert rd.timespan_usec("1min 30s") == 90 * 10 ** 6 and rd.timespan_usec("100ms") == 10 ** 5
    assert rd.timespan_usec(2.5) == 2_500_000 and rd.timespan_usec("3") == 3 * 10 ** 6
    for bad in ("", "x", "5 parsecs", -1, True, "infinity"):
        with pytest.raises(rd.DropinError):
            rd.timespan_usec(bad)
