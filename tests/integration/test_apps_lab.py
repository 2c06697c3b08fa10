# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The app server specs against the real gunicorn and uvicorn of a lab host, and app_server_facts given
hostile units there (FIFO / device EnvironmentFile and config file, secrets on the command line).

    BGD_LAB_NAME=bgd-apps BGD_LAB_HOSTS=1 .venv/bin/python -m pytest tests/integration/test_apps_lab.py
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[1].parent
HOST = "web1"
VENV_PYTHON = "/srv/app/venv/bin/python3"
PLANTED = "apps-lab-DO-NOT-LEAK-5d2c"

sys.path.insert(0, str(REPO / "tests" / "output" / "collections"))
from ansible_collections.badgateway.doctor.plugins.module_utils import _apps_kinds as kinds  # noqa: E402  pylint: disable=wrong-import-position

# Run with the lab's own gunicorn / uvicorn: every option as their parsers declare it.
DUMP = r'''
import json, click
from gunicorn.config import KNOWN_SETTINGS, Config
from uvicorn.main import main as uv
out = {"gunicorn": [], "uvicorn": []}
for s in KNOWN_SETTINGS:
    if s.cli:
        takes = "no" if s.action in ("store_true", "store_false", "store_const") else "optional" if s.nargs == "?" else "yes"
        out["gunicorn"].append({"setting": s.name, "flags": list(s.cli), "takes_value": takes})
cfg = Config()
out["gunicorn_defaults"] = {k: cfg.settings[k].get() for k in ("bind", "workers", "worker_class", "timeout", "graceful_timeout",
                                                              "keepalive", "max_requests", "backlog", "umask")}
for p in uv.params:
    if isinstance(p, click.Option):
        flags = list(p.opts) + list(p.secondary_opts)
        out["uvicorn"].append({"setting": p.name, "flags": flags, "takes_value": "no" if p.is_flag else "yes",
                               "default": p.default if isinstance(p.default, (int, float, str, type(None))) else repr(p.default),
                               "envvar": "UVICORN_" + p.name.upper()})
print(json.dumps(out))
'''


def module(lab, args=""):
    """Run badgateway.doctor.app_server_facts on web1; no planted secret in its output."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_LOAD_CALLBACK_PLUGINS="0",
               ANSIBLE_COLLECTIONS_PATH=str(REPO / "tests" / "output" / "collections"))
    cmd = [str(REPO / ".venv" / "bin" / "ansible"), "-i", str(lab.inventory_path), HOST, "-m", "badgateway.doctor.app_server_facts"]
    if args:
        cmd += ["-a", args]
    started = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, check=False)
    out = res.stdout + res.stderr
    assert PLANTED not in out
    assert res.returncode == 0 and "Traceback" not in out, out[-3000:]
    return json.loads(res.stdout[res.stdout.index("{"):])["ansible_facts"]["badgateway"]["apps"], time.monotonic() - started


def test_specs_read_every_option_like_the_lab_gunicorn_and_uvicorn(lab):
    dump = json.loads(lab.run(HOST, "%s - <<'EOF'\n%sEOF" % (VENV_PYTHON, DUMP)).stdout)
    for kind in ("gunicorn", "uvicorn"):
        spec = kinds.get(kind)
        wrong = [(f, o["takes_value"]) for o in dump[kind] for f in o["flags"] if not spec.reads_like(f, o["takes_value"])]
        assert wrong == [], "%s options the spec reads differently from the installed %s: %s" % (kind, kind, wrong)
    g = kinds.GUNICORN
    live = dump["gunicorn_defaults"]
    assert live["bind"] == g.defaults["bind"] and live["worker_class"] == g.defaults["worker_class"]
    for key in ("workers", "timeout", "graceful_timeout", "keepalive", "max_requests", "backlog", "umask"):
        assert live[key] == g.defaults[key], key
    u = kinds.UVICORN
    by_flag = {f: o for o in dump["uvicorn"] for f in o["flags"]}
    for flag, key in (("--host", "host"), ("--port", "port"), ("--timeout-keep-alive", "keepalive"), ("--backlog", "backlog")):
        assert by_flag[flag]["default"] == u.defaults[key]
        assert u.env_names()[by_flag[flag]["envvar"]].key == key


UNIT = """[Service]
ExecStart=/srv/app/venv/bin/gunicorn --workers 2 -e SECRET_KEY={planted} --env DB_PASSWORD={planted} -c /run/bgd-apps/fifo.py \
 --bind unix:/run/bgd-apps/app.sock wsgi:application
WorkingDirectory=/srv/app
User=app
EnvironmentFile=/run/bgd-apps/fifo.env
EnvironmentFile=-/dev/zero
Environment=GUNICORN_CMD_ARGS=--timeout=45
"""


def test_hostile_unit_gives_errors_and_facts_without_secrets(lab):
    lab.run(HOST, "mkdir -p /run/bgd-apps && mkfifo /run/bgd-apps/fifo.env /run/bgd-apps/fifo.py && "
                  "cat > /run/systemd/system/bgd-apps.service <<'EOF'\n%sEOF\nsystemctl daemon-reload" % UNIT.format(planted=PLANTED))
    try:
        apps, took = module(lab)
        (srv,) = [s for s in apps["servers"] if s["unit"] == "bgd-apps.service"]
        assert took < 60
        assert srv["binds"] == [{"kind": "unix", "path": "/run/bgd-apps/app.sock", "protocol": "http"}]
        assert (srv["workers"], srv["timeout"], srv["app"]) == (2, 45.0, "wsgi:application")
        assert "SECRET_KEY=********" in srv["unit_settings"]["exec_start"]
        messages = {e["path"]: e["message"] for e in apps["errors"]}
        assert messages["/run/bgd-apps/fifo.env"] == "Cannot read EnvironmentFile: /run/bgd-apps/fifo.env is a FIFO, not a regular file."
        assert "character device" in messages["/dev/zero"]
        assert messages["/run/bgd-apps/fifo.py"] == "Cannot read gunicorn config: /run/bgd-apps/fifo.py is a FIFO, not a regular file."
        # the healthy units are still described
        assert {"gunicorn.service", "uvicorn.service"} <= {s["unit"] for s in apps["servers"]}
    finally:
        lab.run(HOST, "rm -rf /run/systemd/system/bgd-apps.service /run/bgd-apps; systemctl daemon-reload", check=False)


def test_running_server_with_secrets_on_its_command_line(lab):
    lab.run(HOST, "systemd-run --unit bgd-apps-run -p User=app -p WorkingDirectory=/srv/app /srv/app/venv/bin/gunicorn "
                  "-e SECRET_KEY=%s --env DB_PASSWORD=%s --bind 127.0.0.1:8077 wsgi:application && "
                  "for i in $(seq 50); do ss -ltnH | grep -q 127.0.0.1:8077 && break; sleep 0.2; done" % (PLANTED, PLANTED))
    try:
        apps, _took = module(lab, "units=bgd-apps-run.service")
        (srv,) = [s for s in apps["servers"] if s["unit"] == "bgd-apps-run.service"]
        assert srv["running"] is True and srv["binds"][0]["port"] == 8077 and srv["kind"] == "gunicorn"
        assert "DB_PASSWORD=********" in srv["cmdline"] and "SECRET_KEY=********" in srv["cmdline"]
    finally:
        lab.run(HOST, "systemctl stop bgd-apps-run.service; systemctl reset-failed bgd-apps-run.service", check=False)
