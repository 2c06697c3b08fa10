# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""testinfra verifier of the nginx_reload scenario: the stale configuration was reloaded; a reload is refused,
with nothing reloaded, when the files fail nginx -t or would turn a route that answers today into a 502."""
from __future__ import annotations

import json

import pytest

SITE = "/etc/nginx/sites-available/lab"
MANIFEST = "/var/lib/badgateway-doctor/backups/molecule-nginx-reload/manifest.json"


@pytest.fixture
def healed(host):
    """The lab's site back as built, nginx reloaded, after the test."""
    yield
    assert host.run("lab-heal").rc == 0


def test_the_edited_site_is_what_the_workers_run(host, workers_started, mtime):
    assert "proxy_read_timeout 30s;" in host.file(SITE).content_string
    assert mtime(SITE) <= workers_started()


def test_nginx_t_passes_and_routes_answer(host, http_status):
    assert host.run("nginx -t").rc == 0
    for path in ("/", "/asgi/", "/health"):
        assert http_status(path) == "200", path


def test_the_reload_is_recorded_in_the_run(host):
    manifest = json.loads(host.file(MANIFEST).content_string)
    assert [a["kind"] for a in manifest["actions"]] == ["reloaded"] and manifest["files"] == []


def test_check_mode_reports_the_reload_and_does_not_make_it(host, healed, playbook, nginx_workers):
    host.run("touch %s" % SITE)
    before = nginx_workers()
    assert before
    rc, out = playbook("reload.yml", "--check")
    assert rc == 0, out[-3000:]
    assert "changed=1" in out       # the reload it would make
    assert nginx_workers() == before


def test_a_reload_that_would_break_a_working_route_is_refused(host, healed, playbook, http_status, nginx_workers):
    assert host.run("sed -i 's#proxy_pass http://127.0.0.1:8001/;#proxy_pass http://127.0.0.1:8002/;#' %s" % SITE).rc == 0
    before = nginx_workers()
    assert before
    rc, out = playbook("reload.yml")
    assert rc != 0
    assert "nginx was not reloaded" in out and "route '_:80 /asgi/'" in out, out[-3000:]
    assert "nothing listens at http://127.0.0.1:8002/" in out and "/etc/nginx/sites-enabled/lab:24" in out
    assert nginx_workers() == before and http_status("/asgi/") == "200"
    # the check is what held it back: without it the reload goes through and the route breaks
    rc, out = playbook("reload.yml", "-e", "molecule_check_routes=false")
    assert rc == 0, out[-3000:]
    assert nginx_workers() != before and http_status("/asgi/") == "502"


def test_a_failing_test_never_reaches_the_reload(host, healed, playbook, http_status, nginx_workers):
    assert host.run("printf 'BROKEN;\\n' >> %s" % SITE).rc == 0
    lines = len(host.file(SITE).content_string.splitlines())
    before = nginx_workers()
    assert before
    rc, out = playbook("reload.yml")
    assert rc != 0
    assert "nginx -t failed" in out and "/etc/nginx/sites-enabled/lab:%d" % lines in out, out[-3000:]
    assert nginx_workers() == before and http_status("/") == "200"
