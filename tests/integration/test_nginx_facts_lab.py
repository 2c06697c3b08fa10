# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nginx_facts on a real lab host, compared with the host's own nginx (``nginx -T``, ps, touch)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from facts_form import expand_nginx

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
ANSIBLE = REPO / ".venv" / "bin" / "ansible"
COLLECTIONS = REPO / "tests" / "output" / "collections"
HOST = "web1"
SITE = "/etc/nginx/sites-enabled/lab"


def nginx_facts(lab, args="", host=HOST):
    """Run the module through Ansible against ``host``; return (module result, nginx section)."""
    argv = [str(ANSIBLE), "-i", str(lab.inventory_path)] + host.split() + ["-m", "badgateway.doctor.nginx_facts"]
    if args:
        argv += ["-a", args]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="minimal", ANSIBLE_HOST_KEY_CHECKING="False")
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    text = res.stdout
    assert "=>" in text, text
    result = json.loads(text[text.index("=>") + 2:])
    return result, expand_nginx(result["ansible_facts"]["badgateway"]["nginx"])


def nginx_T_files(lab, host=HOST):
    out = lab.run(host, "nginx -T 2>/dev/null").stdout
    return [line[len("# configuration file "):-1] for line in out.splitlines()
            if line.startswith("# configuration file ") and line.endswith(":")]


@pytest.fixture(scope="module")
def facts(lab):
    return nginx_facts(lab)[1]


@pytest.mark.skipif(not ANSIBLE.exists(), reason="no .venv/bin/ansible")
def test_binary_version_and_test(lab, facts):
    version = lab.run(HOST, "nginx -v 2>&1").stdout.strip().split("/")[-1].split()[0]
    assert facts["present"] is True
    assert facts["binary"] == "/usr/sbin/nginx"
    assert facts["version"] == version
    assert facts["conf_path"] == "/etc/nginx/nginx.conf"
    assert facts["prefix"] == "/usr/share/nginx"
    # a healthy host whose nginx runs exactly these files: the default mode "auto" does not run nginx -t
    assert facts["stale"] is False
    assert facts["test"]["skipped"] is True and facts["test"]["ok"] is None and facts["test"]["rc"] is None
    assert "nginx_test: always" in facts["test"]["output"]
    assert facts["errors"] == []
    # ... and leaves no nginx -t behind
    assert lab.run(HOST, "pgrep -f '^/usr/sbin/nginx -t' || true").stdout.strip() == ""


@pytest.mark.skipif(not ANSIBLE.exists(), reason="no .venv/bin/ansible")
def test_always_runs_the_test(lab):
    _r, checked = nginx_facts(lab, "test=always")
    assert checked["test"]["ok"] is True and checked["test"]["rc"] == 0 and checked["test"]["skipped"] is False
    assert "test is successful" in checked["test"]["output"]
    assert checked["errors"] == []
    # the old boolean still means "always"
    _r, old = nginx_facts(lab, "test=true")
    assert old["test"]["ok"] is True and old["test"]["skipped"] is False
    _r, never = nginx_facts(lab, "test=false")
    assert never["test"] == {"ok": None, "rc": None, "output": "", "skipped": False}


@pytest.mark.skipif(not ANSIBLE.exists(), reason="no .venv/bin/ansible")
def test_files_are_those_of_nginx_T(lab, facts):
    assert facts["files"] == nginx_T_files(lab)
    assert SITE in facts["files"]


@pytest.mark.skipif(not ANSIBLE.exists(), reason="no .venv/bin/ansible")
def test_routes_match_the_lab_site(lab, facts):
    routes = {r["location"]: r for r in facts["routes"]}
    assert set(routes) == {"/", "/asgi/"}
    root, asgi = routes["/"], routes["/asgi/"]
    assert root["id"] == "_:80 /"
    assert root["upstream"] == "wsgi_app"
    assert root["endpoints"] == [{"kind": "unix", "path": "/run/gunicorn/gunicorn.sock"}]
    assert root["file"] == SITE
    line = int(lab.run(HOST, "grep -n 'proxy_pass http://wsgi_app' %s | cut -d: -f1" % SITE).stdout.strip())
    assert root["line"] == line
    assert asgi["id"] == "_:80 /asgi/"
    assert asgi["upstream"] is None
    assert asgi["endpoints"] == [{"kind": "tcp", "host": "127.0.0.1", "port": 8001, "family": "inet",
                                  "addresses": [{"family": "inet", "address": "127.0.0.1"}]}]
    assert facts["upstreams"]["wsgi_app"]["servers"][0]["params"]["fail_timeout"] == 0.0
    # what the site says about listen
    assert facts["servers"][0]["listen"][0]["port"] == 80 and facts["servers"][0]["listen"][0]["default_server"]


@pytest.mark.skipif(not ANSIBLE.exists(), reason="no .venv/bin/ansible")
def test_user_and_processes_match_ps(lab, facts):
    assert facts["user"] == "www-data" and facts["group"] == "www-data"
    assert facts["user_directive"] == {"file": "/etc/nginx/nginx.conf", "line": 1}
    ps = lab.run(HOST, "ps -eo pid=,ppid=,user=,args= | grep 'nginx: [mw]'").stdout.splitlines()
    rows = [line.split(None, 3) for line in ps]
    masters = [int(r[0]) for r in rows if "master process" in r[3]]
    workers = sorted(int(r[0]) for r in rows if r[3].strip() == "nginx: worker process")
    assert facts["master_pid"] == masters[0]
    assert facts["worker_pids"] == workers
    assert facts["worker_users"] == sorted({r[2] for r in rows if r[3].strip() == "nginx: worker process"})
    assert facts["worker_users"] == ["www-data"]
    assert facts["master_started"] <= facts["workers_started"]


@pytest.mark.skipif(not ANSIBLE.exists(), reason="no .venv/bin/ansible")
def test_source_nginx_T_gives_the_same_routes(lab, facts):
    _result, from_t = nginx_facts(lab, "source=nginx_T")
    assert from_t["source"] == "nginx_T"
    assert from_t["files"] == facts["files"]
    assert from_t["routes"] == facts["routes"]
    assert from_t["test"]["ok"] is True


@pytest.mark.skipif(not ANSIBLE.exists(), reason="no .venv/bin/ansible")
def test_tree_is_returned_on_request(lab):
    result, nginx = nginx_facts(lab, "tree=true test=false")
    assert [c["file"] for c in result["tree"]["config"]] == nginx["files"]
    assert "tree" not in nginx


@pytest.mark.skipif(not ANSIBLE.exists(), reason="no .venv/bin/ansible")
def test_stale_after_touch_and_fresh_after_reload(lab):
    _r, before = nginx_facts(lab, "test=false")
    assert before["stale"] is False and before["stale_files"] == []
    try:
        lab.run(HOST, "sleep 1; touch %s" % SITE)
        _r, touched = nginx_facts(lab, "test=false")
        assert touched["stale"] is True
        # an edited file that was not reloaded: auto runs nginx -t
        _r, auto = nginx_facts(lab)
        assert auto["test"]["skipped"] is False and auto["test"]["ok"] is True
        assert [f["path"] for f in touched["stale_files"]] == [SITE]
        assert touched["stale_files"][0]["mtime"] > touched["workers_started"]
    finally:
        # reload: new workers, started after the edit -> no longer stale
        lab.run(HOST, "systemctl reload nginx; sleep 1")
    _r, reloaded = nginx_facts(lab, "test=false")
    assert reloaded["stale"] is False, reloaded["stale_files"]
    assert reloaded["workers_started"] > before["workers_started"]
    assert reloaded["master_pid"] == before["master_pid"]
    assert set(reloaded["worker_pids"]).isdisjoint(before["worker_pids"])


@pytest.mark.skipif(not ANSIBLE.exists(), reason="no .venv/bin/ansible")
def test_invalid_config_is_reported_not_failed(lab):
    try:
        lab.run(HOST, "printf 'server { listen 8099; location / { proxy_pass http://nowhere_group; }\\n' "
                      "> /etc/nginx/conf.d/zz-broken.conf")
        result, broken = nginx_facts(lab)     # auto: the new file is newer than the workers, so it is tested
        assert "failed" not in result
        assert broken["test"]["ok"] is False and broken["test"]["rc"] == 1 and broken["test"]["skipped"] is False
        assert "zz-broken.conf" in broken["test"]["output"]
        assert any(e["source"] == "nginx_conf" and "zz-broken.conf" in (e["path"] or "") for e in broken["errors"])
        # the rest is still there
        assert {r["location"] for r in broken["routes"]} >= {"/", "/asgi/"}
        # nginx -T refuses a broken configuration: the files are parsed instead
        _result, from_t = nginx_facts(lab, "source=nginx_T")
        assert from_t["source"] == "files"
        assert any(e["source"] == "nginx_bin" and "-T failed" in e["message"] for e in from_t["errors"])
    finally:
        lab.run(HOST, "rm -f /etc/nginx/conf.d/zz-broken.conf")


@pytest.mark.skipif(not ANSIBLE.exists(), reason="no .venv/bin/ansible")
def test_without_root_the_test_is_unknown_not_failed(lab, facts):
    result, unprivileged = nginx_facts(lab, "test=always", host=HOST + " -e ansible_user=auditor")
    assert "failed" not in result
    assert unprivileged["test"]["ok"] is None and unprivileged["test"]["rc"] == 1
    assert any(e["source"] == "nginx_bin" and "root privileges" in e["message"] and "Permission denied" in e["message"]
               for e in unprivileged["errors"])
    # /proc and the world-readable configuration still give the rest
    assert unprivileged["routes"] == facts["routes"]
    assert unprivileged["worker_users"] == ["www-data"]
    assert unprivileged["master_pid"] == facts["master_pid"]
