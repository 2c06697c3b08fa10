# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""testinfra: after app_service, gunicorn runs, is enabled, and nginx's www-data gets answers from its socket."""
from __future__ import annotations

import json

SOCK = "/run/gunicorn/gunicorn.sock"


def test_unit_running_and_enabled(host, systemd_show):
    props = systemd_show("gunicorn.service", "ActiveState", "SubState", "UnitFileState", "NRestarts", "Result")
    assert props == {"ActiveState": "active", "SubState": "running", "UnitFileState": "enabled", "NRestarts": "0",
                     "Result": "success"}


def test_socket_mode_owner(host):
    sock = host.file(SOCK)
    assert sock.is_socket and sock.user == "app" and sock.group == "www-data" and sock.mode == 0o770
    run_dir = host.file("/run/gunicorn")
    assert run_dir.user == "app" and run_dir.group == "www-data" and run_dir.mode == 0o755


def test_socket_answers_www_data(host, socket_status_as):
    assert socket_status_as("www-data", SOCK) == "200"


def test_200_through_nginx(host, http_status):
    assert http_status("/") == "200"
    assert host.check_output("curl -s http://127.0.0.1/") == "wsgi ok"


def test_start_recorded(host):
    manifest = json.loads(host.file("/var/lib/badgateway-doctor/backups/molecule-app-service/manifest.json").content_string)
    assert [(a["kind"], a["unit"], a["before"]["active_state"]) for a in manifest["actions"]] == \
        [("started", "gunicorn.service", "inactive")]
