# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""testinfra: after socket_permissions, www-data shares gunicorn's group (nginx's running workers too), nothing is
world-accessible, the socket answers www-data and nginx answers 200."""
from __future__ import annotations

import json

SOCK = "/run/gunicorn/gunicorn.sock"


def test_www_data_joined_the_app_group(host):
    assert "app" in host.user("www-data").groups


def test_nginx_workers_have_the_group(host, nginx_workers):
    gid = host.group("app").gid
    pids = nginx_workers()
    assert pids
    for pid in pids:
        status = host.file("/proc/%s/status" % pid).content_string
        groups = [line.split()[1:] for line in status.splitlines() if line.startswith("Groups:")][0]
        assert str(gid) in groups, status


def test_modes_not_widened(host):
    run_dir = host.file("/run/gunicorn")
    assert run_dir.user == "app" and run_dir.group == "app" and run_dir.mode == 0o750
    sock = host.file(SOCK)
    assert sock.is_socket and sock.group == "app" and sock.mode == 0o770 and not sock.mode & 0o007


def test_socket_answers_www_data_and_nginx_200(host, socket_status_as, http_status):
    assert socket_status_as("www-data", SOCK) == "200"
    assert http_status("/") == "200"
    assert host.check_output("curl -s http://127.0.0.1/") == "wsgi ok"


def test_changes_recorded(host):
    manifest = json.loads(
        host.file("/var/lib/badgateway-doctor/backups/molecule-socket-permissions/manifest.json").content_string)
    kinds = [(a["kind"], a.get("unit"), a.get("user"), a.get("group")) for a in manifest["actions"]]
    assert kinds == [("group_added", None, "www-data", "app"), ("reloaded", "nginx.service", None, None)]
