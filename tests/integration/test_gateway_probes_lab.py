# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The probes of ``gateway_facts`` on a real lab host, run the way a user runs them.

- ``probe_as_user``: the lab's gunicorn socket (``srwxrwx--- app:www-data``) answers nginx's worker
  user and not ``nobody``; with the ``socket_dir_permission`` fault (``/run/gunicorn`` 0700 root) the
  direct probe as www-data is EACCES exactly when nginx answers 502 with "(13: Permission denied)",
  while root still gets through. The diagnose role passes the option on from
  ``badgateway_gather_options``.
- a ``conditional`` route (``proxy_pass`` in an ``if`` block) is probed directly only; real nginx shows
  why: a plain request to that location does not reach the if block's upstream.

Run:  BGD_LAB_NAME=bgd-mine BGD_LAB_HOSTS=1 .venv/bin/python -m pytest tests/integration/test_gateway_probes_lab.py
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / ".venv" / "bin"
HOST = "web1"
SOCK = "/run/gunicorn/gunicorn.sock"
SECRETS = ("lab-secret-DO-NOT-LEAK-7f3a", "pw-DO-NOT-LEAK", "DO-NOT-LEAK")
ENV = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_LOAD_CALLBACK_PLUGINS="0",
           ANSIBLE_COLLECTIONS_PATH=str(REPO / "tests" / "output" / "collections"))
CONDITIONAL_SITE = "/etc/nginx/sites-enabled/bgd-conditional"


def _checked(res):
    out = res.stdout + res.stderr
    for secret in SECRETS:
        assert secret not in out, "planted secret %s in the output" % secret
    assert "Traceback" not in out, out[-3000:]
    return out


def gateway_probes(lab, **args):
    """``gateway_facts`` (sections nginx and probes) on web1 as root; the probes section."""
    args = dict({"sections": ["nginx", "probes"], "probe_timeout": 3}, **args)
    res = subprocess.run([str(BIN / "ansible"), "-i", str(lab.inventory_path), HOST, "-m", "badgateway.doctor.gateway_facts",
                          "-a", json.dumps(args)], capture_output=True, text=True, timeout=180, env=ENV, check=False)
    out = _checked(res)
    assert res.returncode == 0, out[-3000:]
    return json.loads(res.stdout[res.stdout.index("{"):])["ansible_facts"]["badgateway"]["probes"]


def outcomes(probes, via):
    """{url: (status, error)} of the probes sent ``via`` (direct / nginx)."""
    return {r["url"]: (r["status"], r["error"]) for r in probes["results"] if r["via"] == via}


GUNICORN_URL = "http://unix:%s:/" % SOCK


def test_probe_as_nginx_worker_user_and_as_nobody(lab):
    as_root = gateway_probes(lab)
    as_www = gateway_probes(lab, probe_as_user="www-data")
    as_nobody = gateway_probes(lab, probe_as_user="nobody")
    assert (as_root["as_user"], as_www["as_user"], as_nobody["as_user"]) == (None, "www-data", "nobody")
    assert outcomes(as_root, "direct")[GUNICORN_URL] == (200, None)
    assert outcomes(as_www, "direct")[GUNICORN_URL] == (200, None)       # in the socket's group
    assert outcomes(as_nobody, "direct")[GUNICORN_URL] == (None, "EACCES")
    # through nginx it works whoever sends the request: nginx's workers connect, not the prober
    assert set(outcomes(as_nobody, "nginx").values()) == {(200, None)}


def test_socket_dir_permission_is_eacces_as_www_data_only(lab, tmp_path):
    lab.inject("socket_dir_permission", HOST)          # /run/gunicorn becomes 0700 root:root
    try:
        assert lab.http(HOST, "/")[0] == 502
        assert outcomes(gateway_probes(lab), "direct")[GUNICORN_URL] == (200, None)     # root passes
        probes = gateway_probes(lab, probe_as_user="www-data")
        assert outcomes(probes, "direct")[GUNICORN_URL] == (None, "EACCES")
        assert probes["errors"] == []

        # the diagnose role passes probe_as_user on from badgateway_gather_options
        report = tmp_path / "report"
        res = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(lab.inventory_path), "badgateway.doctor.diagnose",
                              "--limit", HOST, "-e", json.dumps({
                                  "badgateway_report_dir": str(report), "badgateway_fail_on": "none",
                                  "badgateway_save_facts": True, "badgateway_gather_sections": ["nginx", "probes"],
                                  "badgateway_gather_options": {"probe_as_user": "www-data"}})],
                             capture_output=True, text=True, timeout=600, env=ENV, check=False)
        out = _checked(res)
        assert res.returncode == 0, out[-3000:]
        facts = json.loads((report / "facts" / (HOST + ".json")).read_text())[HOST]["facts"]
        probes = facts["probes"]
        assert probes["as_user"] == "www-data"
        assert outcomes(probes, "direct")[GUNICORN_URL] == (None, "EACCES")
    finally:
        lab.heal("socket_dir_permission", HOST)


@pytest.fixture
def conditional_site(lab):
    """A second server (port 8080): its location serves a static file unless ?debug is given, then it
    passes to uvicorn - the pass directive is inside an if block."""
    lab.run(HOST, "mkdir -p /var/www/bgd-cond && echo static > /var/www/bgd-cond/index.html && cat > %s <<'EOF'\n"
                  "server {\n    listen 8080;\n    location /cond/ {\n        alias /var/www/bgd-cond/;\n"
                  "        if ($arg_debug) { proxy_pass http://127.0.0.1:8001; }\n    }\n}\nEOF\n"
                  "nginx -t -q && systemctl reload nginx" % CONDITIONAL_SITE)
    lab.run(HOST, "for i in $(seq 50); do curl -fs http://127.0.0.1:8080/cond/ >/dev/null && exit 0; sleep 0.1; done; exit 1")
    yield
    lab.run(HOST, "rm -rf %s /var/www/bgd-cond; nginx -t -q && systemctl reload nginx" % CONDITIONAL_SITE, check=False)


def test_a_conditional_route_is_probed_directly_only(lab, conditional_site):
    # what nginx itself does: the plain request is answered by the location, only ?debug=1 reaches uvicorn
    assert lab.http(HOST, "/cond/", port=8080) == (200, "static\n")
    # ?debug=1 is passed to uvicorn, which has no /cond/: its own plain-text 404 (nginx's would be an HTML page)
    assert lab.http(HOST, "/cond/?debug=1", port=8080) == (404, "not found\n")
    probes = gateway_probes(lab)
    route = [r for r in probes["results"] if r["route"] == "_:8080 /cond/"]
    assert [(r["via"], r["url"], r["status"]) for r in route] == [("direct", "http://127.0.0.1:8001/", 200)]
    assert probes["skipped"] == 0
