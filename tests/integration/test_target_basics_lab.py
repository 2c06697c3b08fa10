# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The target-side basics on a real lab host, run the way a user runs them (``ansible -m`` over SSH).

- ``upstream_probe as_user``: a socket in a 0700 root directory answers for root and is EACCES
  for nginx's worker user; the lab's gunicorn socket (group www-data, umask 007) answers for
  www-data and not for nobody.

Run:  BGD_LAB_NAME=bgd-basics BGD_LAB_HOSTS=1 .venv/bin/python -m pytest tests/integration/test_target_basics_lab.py
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
ANSIBLE = REPO / ".venv" / "bin" / "ansible"
HOST = "web1"
SECRETS = ("lab-secret-DO-NOT-LEAK-7f3a", "pw-DO-NOT-LEAK", "DO-NOT-LEAK")
PRIVATE_DIR = "/run/bgd-private"
PRIVATE_SOCK = PRIVATE_DIR + "/app.sock"
GUNICORN_SOCK = "/run/gunicorn/gunicorn.sock"

# a tiny HTTP server on a unix socket (the lab host's own python3), socket mode 0777: only the
# directory decides who gets through
SERVER = r"""
import os, socketserver, http.server
path = %r
try:
    os.unlink(path)
except FileNotFoundError:
    pass
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
    def address_string(self):
        return "unix"
srv = socketserver.UnixStreamServer(path, H)
os.chmod(path, 0o777)
srv.serve_forever()
""" % PRIVATE_SOCK


def ansible_module(lab, name, args, user="root", expect_ok=True):
    """Run badgateway.doctor.<name> on web1 with JSON ``args``; return the module result (secret-checked)."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_LOAD_CALLBACK_PLUGINS="0",
               ANSIBLE_COLLECTIONS_PATH=str(REPO / "tests" / "output" / "collections"))
    cmd = [str(ANSIBLE), "-i", str(lab.inventory_path), HOST, "-m", "badgateway.doctor." + name,
           "-e", "ansible_user=" + user, "-a", json.dumps(args)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, check=False)
    out = res.stdout + res.stderr
    for secret in SECRETS:
        assert secret not in out, "planted secret %s in the output of %s" % (secret, name)
    assert "Traceback" not in out, out[-3000:]
    result = json.loads(res.stdout[res.stdout.index("=> {") + 3:])  # "web1 | SUCCESS => {...}"
    assert (res.returncode == 0) == expect_ok and ("| FAILED!" not in res.stdout) == expect_ok, out[-3000:]
    return result


@pytest.fixture(scope="module")
def private_socket(lab):
    lab.run(HOST, "install -d -m 0700 -o root -g root %s" % PRIVATE_DIR)
    lab.run(HOST, "systemd-run --quiet --unit bgd-private-sock --collect /usr/bin/python3 -c %s"
            % _q(SERVER))
    lab.run(HOST, "for i in $(seq 50); do [ -S %s ] && exit 0; sleep 0.1; done; exit 1" % PRIVATE_SOCK)
    yield PRIVATE_SOCK
    lab.run(HOST, "systemctl stop bgd-private-sock; rm -rf %s" % PRIVATE_DIR, check=False)


def _q(s):
    return "'" + s.replace("'", "'\"'\"'") + "'"


def probe(lab, path, **args):
    args = dict({"targets": [{"url": "http://unix:%s:/" % path, "route": "r"}], "timeout": 2}, **args)
    result = ansible_module(lab, "upstream_probe", args)
    probes = result["probes"]
    assert probes["errors"] == [] and probes["as_user"] == args.get("as_user")
    return [(r["status"], r["error"]) for r in probes["results"]]


def test_as_user_socket_in_private_root_dir(lab, private_socket):
    assert probe(lab, private_socket) == [(200, None)]                            # root passes the 0700 directory
    assert probe(lab, private_socket, as_user="www-data") == [(None, "EACCES")]  # nginx's worker does not
    assert probe(lab, private_socket, as_user="www-data", as_group="root") == [(None, "EACCES")]  # group bits are 0
    # the lab's gunicorn socket: srwxrwx--- app:www-data under a 0755 RuntimeDirectory
    assert probe(lab, GUNICORN_SOCK, as_user="www-data") == [(200, None)]
    assert probe(lab, GUNICORN_SOCK, as_user="nobody") == [(None, "EACCES")]
    assert probe(lab, GUNICORN_SOCK, as_user="nobody", as_group="www-data") == [(200, None)]  # like `user nobody www-data;`


def test_as_user_needs_root_says_so(lab):
    result = ansible_module(lab, "upstream_probe", {"targets": [{"url": "http://unix:%s:/" % GUNICORN_SOCK}],
                                                    "as_user": "www-data"}, user="auditor", expect_ok=False)
    assert result["msg"].startswith("Option as_user: probing as www-data needs root (the module runs as uid ")
    assert result["msg"].endswith("use become: true.")
