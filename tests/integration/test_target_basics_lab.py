# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The target-side basics on a real lab host, run the way a user runs them (``ansible -m`` over SSH).

- ``upstream_probe as_user``: a socket in a 0700 root directory answers for root and is EACCES
  for nginx's worker user; the lab's gunicorn socket (group www-data, umask 007) answers for
  www-data and not for nobody.
- The bad inputs of issue 8, re-run as a user would: secrets on a listener's command line and in
  nginx's error log (request and upstream URIs), a FIFO, /dev/zero and a directory as error
  logs, ``timeout: inf|1e308|nan``, CR/LF in a probe path or Host header, ports outside
  1-65535, a malformed ``nginx`` argument. Each gives a clear error or partial facts; no hang,
  no traceback, no secret (every output is searched for the planted values).

Run:  BGD_LAB_NAME=bgd-basics BGD_LAB_HOSTS=1 .venv/bin/python -m pytest tests/integration/test_target_basics_lab.py
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from facts_form import expand_listeners

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
           "-e", "ansible_user=" + user] + (["-a", json.dumps(args)] if args else [])
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, check=False)
    out = res.stdout + res.stderr
    for secret in SECRETS:
        assert secret not in out, "planted secret %s in the output of %s" % (secret, name)
    assert "Traceback" not in out, out[-3000:]
    result = json.loads(res.stdout[res.stdout.index("=> {") + 3:])  # "web1 | SUCCESS => {...}"
    assert (res.returncode == 0) == expect_ok and ("| FAILED!" not in res.stdout) == expect_ok, out[-3000:]
    return result


def ansible_tasks(lab, tmp_path, calls):
    """Run several module calls in one playbook (one Ansible start-up instead of one each); return
    their results in order (failed ones included), after the secret and traceback checks."""
    out_file = tmp_path / "results.json"
    tasks = [{"name": "call %d" % i, "badgateway.doctor." + name: args, "register": "r%d" % i, "ignore_errors": True}
             for i, (name, args) in enumerate(calls)]
    save = {"name": "save", "delegate_to": "localhost", "vars": {"ansible_python_interpreter": sys.executable},
            "ansible.builtin.copy": {
        "dest": str(out_file), "content": "{{ [%s] | to_json }}" % ", ".join("r%d" % i for i in range(len(calls)))}}
    book = tmp_path / "calls.yml"
    book.write_text(json.dumps([{"hosts": HOST, "gather_facts": False, "tasks": tasks + [save]}]))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_PIPELINING="1",
               ANSIBLE_COLLECTIONS_PATH=str(REPO / "tests" / "output" / "collections"))
    res = subprocess.run([str(ANSIBLE) + "-playbook", "-i", str(lab.inventory_path), str(book)],
                         capture_output=True, text=True, timeout=300, env=env, check=False)
    out = res.stdout + res.stderr + (out_file.read_text() if out_file.exists() else "")
    for secret in SECRETS:
        assert secret not in out
    assert "Traceback" not in out and out_file.exists(), out[-3000:]
    return json.loads(out_file.read_text())


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


def test_as_user_socket_in_private_root_dir(lab, private_socket, tmp_path):
    cases = [
        (private_socket, {}, (200, None)),                                            # root passes the 0700 directory
        (private_socket, {"as_user": "www-data"}, (None, "EACCES")),                 # nginx's worker does not
        (private_socket, {"as_user": "www-data", "as_group": "root"}, (None, "EACCES")),  # group bits are 0
        # the lab's gunicorn socket: srwxrwx--- app:www-data under a 0755 RuntimeDirectory
        (GUNICORN_SOCK, {"as_user": "www-data"}, (200, None)),
        (GUNICORN_SOCK, {"as_user": "nobody"}, (None, "EACCES")),
        (GUNICORN_SOCK, {"as_user": "nobody", "as_group": "www-data"}, (200, None)),  # like `user nobody www-data;`
    ]
    calls = [("upstream_probe", dict({"targets": [{"url": "http://unix:%s:/" % path, "route": "r"}], "timeout": 2}, **args))
             for path, args, _want in cases]
    for (path, args, want), result in zip(cases, ansible_tasks(lab, tmp_path, calls)):
        probes = result["probes"]
        assert probes["errors"] == [] and probes["as_user"] == args.get("as_user")
        assert [(r["status"], r["error"]) for r in probes["results"]] == [want], (path, args)


def test_as_user_needs_root_says_so(lab):
    result = ansible_module(lab, "upstream_probe", {"targets": [{"url": "http://unix:%s:/" % GUNICORN_SOCK}],
                                                    "as_user": "www-data"}, user="auditor", expect_ok=False)
    assert result["msg"].startswith("Option as_user: probing as www-data needs root (the module runs as uid ")
    assert result["msg"].endswith("use become: true.")


# ---------------------------------------------------------------- issue 8 bad inputs, as a user runs them

LEAKS = ("hunter2-LEAK", "djangokey-LEAK", "dbpw-LEAK", "tok-LEAK", "p@ss-LEAK", "apikey-LEAK")
LISTENER = r"""
import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 18731)); s.listen(8)
time.sleep(600)
"""


def _no_leak(result):
    text = json.dumps(result)
    for leak in LEAKS:
        assert leak not in text, leak


@pytest.fixture
def secret_listener(lab):
    lab.run(HOST, "systemd-run --quiet --unit bgd-secret-listener --collect /usr/bin/python3 -c %s -e SECRET_KEY=djangokey-LEAK "
            "--env DB_PASSWORD=dbpw-LEAK --password hunter2-LEAK --api-key=apikey-LEAK" % _q(LISTENER))
    lab.run(HOST, "for i in $(seq 50); do ss -ltn | grep -q :18731 && exit 0; sleep 0.1; done; exit 1")
    yield
    lab.run(HOST, "systemctl stop bgd-secret-listener", check=False)


def test_listener_command_lines_are_masked(lab, secret_listener, tmp_path):
    for result in ansible_tasks(lab, tmp_path, [("listener_facts", {}), ("gateway_facts", {"sections": ["listeners"]})]):
        _no_leak(result)
        tcp = expand_listeners(result["ansible_facts"]["badgateway"]["listeners"])["tcp"]
        (mine,) = [e for e in tcp if e["port"] == 18731]
        assert mine["processes"][0]["cmdline"][3:] == ["-e", "SECRET_KEY=********", "--env", "DB_PASSWORD=********",
                                                       "--password", "********", "--api-key=********"]


def test_error_log_secrets_from_real_requests_are_masked(lab, tmp_path):
    """nginx itself writes the request and upstream URIs (with their query strings) into error.log."""
    lab.run(HOST, "systemctl stop gunicorn")
    try:
        lab.run(HOST, "curl -s -o /dev/null 'http://127.0.0.1/login?token=tok-LEAK&password=p%40ss-LEAK&next=/home' "
                      "-H 'Cookie: sessionid=hunter2-LEAK'")
        assert "tok-LEAK" in lab.run(HOST, "tail -n 5 /var/log/nginx/error.log").stdout  # the secret is really there
        for result in ansible_tasks(lab, tmp_path, [
                ("service_log_facts", {"since": "10m", "kernel": False, "units": []}),
                ("gateway_facts", {"sections": ["logs"], "since": "10m", "kernel_log": False})]):
            assert not result.get("failed"), result
            _no_leak(result)
            events = result["ansible_facts"]["badgateway"]["logs"]["events"]
            samples = [s for e in events for s in e["samples"] if "/login?" in s]
            assert samples and all("token=********" in s and "next=/home" in s for s in samples), samples
    finally:
        lab.run(HOST, "systemctl start gunicorn")
        lab.wait_routes(HOST)


def test_fifo_device_and_directory_as_logs_never_hang(lab, tmp_path):
    lab.run(HOST, "rm -f /run/bgd-fifo.log; mkfifo /run/bgd-fifo.log")
    try:
        bad = ["/run/bgd-fifo.log", "/dev/zero", "/var/log/nginx"]
        t0 = time.monotonic()
        results = ansible_tasks(lab, tmp_path, [
            ("service_log_facts", {"nginx_error_logs": bad, "files": ["/run/bgd-fifo.log"], "units": [], "kernel": False}),
            ("gateway_facts", {"sections": ["logs"], "nginx_error_logs": bad, "kernel_log": False})])
        assert time.monotonic() - t0 < 60
        for result in results:
            assert not result.get("failed"), result
            messages = [e["message"] for e in result["ansible_facts"]["badgateway"]["logs"]["errors"]]
            for expected in ("Log file: /run/bgd-fifo.log is a FIFO, not a regular file.",
                             "Log file: /dev/zero is a character device, not a regular file.",
                             "Log file: /var/log/nginx is a directory, not a regular file."):
                assert expected in messages, messages
    finally:
        lab.run(HOST, "rm -f /run/bgd-fifo.log")


BAD_OPTIONS = [
    ("upstream_probe", {"timeout": "inf"}, "Option timeout must be a number of seconds between 0.001 and 300, got inf."),
    ("upstream_probe", {"timeout": 1e308}, "Option timeout must be a number of seconds between 0.001 and 300, got 1e+308."),
    ("upstream_probe", {"timeout": "nan"}, "Option timeout must be a number of seconds between 0.001 and 300, got nan."),
    ("gateway_facts", {"probe_timeout": "inf"}, "Option probe_timeout must be a number of seconds between 0.001 and 300, got inf."),
    ("gateway_facts", {"since": "inf"}, "Option since must be a duration"),
    ("service_log_facts", {"max_bytes": 1}, "Option max_bytes must be between 4096 and 268435456, got 1."),
    ("gateway_facts", {"max_log_bytes": 1}, "Option max_log_bytes must be between 4096 and 268435456, got 1."),
    ("upstream_probe", {"via": ["nginx"], "path": "/ HTTP/1.0\r\nX-Injected: 1\r\n\r\nGET /second"},
     "Option path must not contain spaces or control characters"),
    ("upstream_probe", {"via": ["nginx"], "host_header": "web1\r\nX-Injected: 1"},
     "Option host_header must not contain spaces or control characters"),
    ("gateway_facts", {"sections": ["probes"], "probe_path": "/\r\nX-Injected: 1"},
     "Option probe_path must not contain spaces or control characters"),
    ("upstream_probe", {"targets": [{"url": "http://127.0.0.1:65616/"}]},
     "Option targets[0].url: URL 'http://127.0.0.1:65616/': invalid port in '127.0.0.1:65616': port 65616 is outside 1-65535."),
    ("upstream_probe", {"targets": [{"url": "http://127.0.0.1/", "host_header": "a\nX-Injected: 1"}]},
     "Option targets[0].host_header must not contain spaces or control characters"),
]


def test_bad_options_are_one_clear_sentence_and_nothing_on_the_wire(lab, tmp_path):
    before = lab.run(HOST, "wc -l < /var/log/nginx/access.log").stdout
    results = ansible_tasks(lab, tmp_path, [(name, args) for name, args, _msg in BAD_OPTIONS])
    for (name, args, message), result in zip(BAD_OPTIONS, results):
        assert result.get("failed") and result["msg"].startswith(message), (name, args, result.get("msg"))
    assert lab.run(HOST, "wc -l < /var/log/nginx/access.log").stdout == before  # no request reached nginx


def test_malformed_nginx_argument_gives_errors_and_the_rest(lab):
    nginx = {"routes": [
        "not a route",
        {"id": "bad-port", "endpoints": [{"kind": "tcp", "host": "127.0.0.1", "port": 70000}]},
        {"id": "bad-path", "endpoints": [{"kind": "unix", "path": "/run/gunicorn/gunicorn.sock:/\r\nX: 1"}]},
        {"id": "good", "endpoints": [{"kind": "unix", "path": GUNICORN_SOCK}], "listen": "garbage"},
    ]}
    result = ansible_module(lab, "upstream_probe", {"nginx": nginx, "timeout": 2})
    probes = result["probes"]
    assert [(r["route"], r["status"]) for r in probes["results"]] == [("good", 200)]
    assert [e["message"] for e in probes["errors"]] == [
        "nginx.routes[0] is not a route (a dict); skipped",
        "route bad-port: endpoint 0 has port 70000, not 1-65535; not probed",
        "route bad-path: endpoint 0 has no usable path; not probed",
    ]
