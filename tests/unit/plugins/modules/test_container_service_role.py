# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The container_service role run by ansible-playbook (local connection) against a fake engine on a unix socket:
an nginx in front that does not reload is reported on its own and does not undo the start of the app container.
It needs ansible-core, so it is not among the target-side tests of tests/unit/plugins/module_utils."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "module_utils"))  # the fake engine of test_containers

from test_containers import INSPECT, Engine, _j, frame  # noqa: E402  pylint: disable=wrong-import-position

REPO = Path(__file__).resolve().parents[4]
COLLECTIONS = str(REPO / "tests" / "output" / "collections")
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
APP = INSPECT["Id"]
FRONT = "f" * 64

PLAY = """
- hosts: all
  gather_facts: false
  roles:
    - role: badgateway.doctor.container_service
      container_service_name: shop_web_1
      container_service_socket: "{{ sock }}"
      container_service_reload_nginx: [shop_nginx_1]
      container_service_backup_dir: "{{ backups }}"
      container_service_wait_timeout: 20
"""


def _state(running):
    data = copy.deepcopy(INSPECT)
    data["State"].update(Status="running" if running else "exited", Running=running, Pid=4242 if running else 0,
                         ExitCode=0)
    data["State"].pop("Health", None)
    return data


def test_a_front_nginx_that_does_not_reload_does_not_undo_the_ready_app(tmp_path):
    started = []
    front = dict(_state(True), Id=FRONT, Name="/shop_nginx_1")

    def app(conn):
        body = json.dumps(_state(bool(started))).encode()
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)

    def start(conn):
        started.append(1)
        conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")

    err = frame(2, 'nginx: [emerg] unknown directive "proxy_passs" in /etc/nginx/conf.d/default.conf:9\n')
    e = Engine(tmp_path, {
        f"/containers/{APP}/start": start, f"/containers/{APP}/stop": (204, b""),
        f"/containers/{FRONT}/exec": (201, b'{"Id": "ex1"}'), "/exec/ex1/start": (200, err),
        "/exec/ex1/json": _j({"Running": False, "ExitCode": 1}),
        "/containers/shop_nginx_1/json": _j(front), f"/containers/{FRONT}/json": _j(front),
        "/containers/": app})
    try:
        inv = tmp_path / "inventory.ini"
        inv.write_text(f"h ansible_connection=local ansible_python_interpreter={sys.executable}\n")
        (tmp_path / "play.yml").write_text(PLAY)
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR="1")
        proc = subprocess.run([ANSIBLE_PLAYBOOK, "-i", str(inv), str(tmp_path / "play.yml"), "-e", f"sock={e.path}",
                               "-e", f"backups={tmp_path / 'backups'}"],
                              env=env, capture_output=True, text=True, timeout=300, check=False)
    finally:
        e.close()
    out = proc.stdout
    assert proc.returncode != 0, out[-3000:]
    assert started and not any("/stop" in r for r in e.requests), e.requests        # the ready app was not stopped
    assert "the nginx in front of it did not reload in shop_nginx_1" in out, out[-3000:]
    assert "proxy_passs" in out and "Undone" not in out


def test_the_container_name_has_no_default():
    defaults = (REPO / "roles" / "container_service" / "defaults" / "main.yml").read_text()
    assert "container_service_name" not in defaults
