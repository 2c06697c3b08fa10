# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""testinfra: after app_unit, gunicorn runs with the role's drop-in - live values, process argv, runtime directory,
socket reachable by nginx's www-data, 200 through nginx."""
from __future__ import annotations

DROPIN = "/etc/systemd/system/gunicorn.service.d/zz-badgateway.conf"
SOCK = "/run/gunicorn/gunicorn.sock"


def test_dropin_owned_by_the_role(host):
    f = host.file(DROPIN)
    assert f.exists and f.user == "root" and f.group == "root" and f.mode == 0o644
    text = f.content_string
    assert text.startswith("# Managed by badgateway.doctor")
    assert "\nExecStart=\nExecStart=/srv/app/venv/bin/gunicorn " in text
    # the vendor unit is untouched
    assert host.check_output("grep -c 'timeout 5' /lib/systemd/system/gunicorn.service") == "1"


def test_live_unit_properties(host, systemd_show):
    props = systemd_show("gunicorn.service", "RuntimeDirectory", "RuntimeDirectoryMode", "RuntimeDirectoryPreserve",
                         "RestartUSec", "ActiveState", "NeedDaemonReload", "DropInPaths")
    assert props["RuntimeDirectory"] == "gunicorn" and props["RuntimeDirectoryMode"] == "0750"
    assert props["RuntimeDirectoryPreserve"] == "restart" and props["RestartUSec"] == "2s"
    assert props["ActiveState"] == "active" and props["NeedDaemonReload"] == "no"
    assert DROPIN in props["DropInPaths"].split()


def test_running_process_has_the_new_options(host, systemd_show):
    pid = systemd_show("gunicorn.service", "MainPID")["MainPID"]
    argv = host.file("/proc/%s/cmdline" % pid).content_string.split("\0")
    for option, value in (("--timeout", "30"), ("--keep-alive", "5"), ("--umask", "0007")):
        assert argv[argv.index(option) + 1] == value, argv
    assert "5" not in [argv[i + 1] for i, a in enumerate(argv) if a in ("-t", "--timeout")]


def test_runtime_directory_and_socket(host):
    run_dir = host.file("/run/gunicorn")
    assert run_dir.is_directory and run_dir.user == "app" and run_dir.group == "www-data" and run_dir.mode == 0o750
    sock = host.file(SOCK)
    assert sock.is_socket and sock.mode == 0o770


def test_socket_answers_www_data_and_nginx_200(host, socket_status_as, http_status):
    assert socket_status_as("www-data", SOCK) == "200"
    assert http_status("/") == "200"
