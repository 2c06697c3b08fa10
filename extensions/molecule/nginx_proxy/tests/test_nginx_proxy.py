# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""testinfra verifier of the nginx_proxy scenario: the faults are fixed with minimal edits, nginx -t passes,
every route answers 200 through nginx, and an edit that breaks nginx -t changes nothing (checksums)."""
from __future__ import annotations

import json
import os
import sys

import pytest

SITE = "/etc/nginx/sites-available/lab"
LINK = "/etc/nginx/sites-enabled/lab"
PRISTINE = "/usr/local/share/bgd-lab/pristine/lab.site"
MANIFEST = "/var/lib/badgateway-doctor/backups/molecule-nginx-proxy/manifest.json"


def name(host):
    return host.backend.get_hostname()


def expected_site(host):
    pristine = host.file(PRISTINE).content_string
    if name(host) == "web2":
        return pristine
    assert host.run("getconf PAGESIZE").stdout.strip() == "4096", "the expected buffers below assume 4 KiB pages"
    return (pristine
            .replace("proxy_pass http://wsgi_app;", "include fastcgi_params;\n        proxy_pass http://wsgi_app;\n"
                     "        proxy_buffer_size 32k;\n        proxy_buffers 17 4k;"))


def test_site_holds_exactly_the_fixes(host):
    # every byte not named by an edit is the pristine file's; the faults' injected text is gone
    assert host.file(SITE).content_string == expected_site(host)
    assert host.file(LINK).is_symlink and host.file(LINK).linked_to == SITE


def test_nothing_beside_the_site_in_nginx_directories(host):
    # no backup copy, no temporary file: the only file changed under /etc/nginx is the edited site
    out = host.run("find /etc/nginx \\( -type f -newer %s -o -name '.*.bgd-*' \\) -print" % PRISTINE).stdout.split()
    assert out == [SITE]


def test_nginx_t_passes(host):
    res = host.run("nginx -t")
    assert res.rc == 0, res.stderr


@pytest.mark.parametrize("path", ["/", "/health", "/big-header", "/asgi/", "/asgi/health"])
def test_every_route_answers_200_through_nginx(host, http_status, path):
    if path == "/big-header" and name(host) != "web1":
        pytest.skip("only web1's buffers were raised (the 16 KiB header is too big for nginx's defaults)")
    assert http_status(path) == "200"


def test_the_running_workers_loaded_the_files(host, workers_started, mtime):
    assert mtime(SITE) <= workers_started()


def test_backup_and_reload_are_recorded_in_the_run(host):
    manifest = json.loads(host.file(MANIFEST).content_string)
    assert [f["path"] for f in manifest["files"]] == [SITE]
    assert {"kind": "reloaded", "unit": "nginx.service"}.items() <= manifest["actions"][0].items()
    assert not MANIFEST.startswith("/etc/nginx")


def _edits_args(edits, run_id):
    return ["-e", "molecule_test_edits=%s" % json.dumps(json.dumps(edits)), "-e", "molecule_test_run_id=%s" % run_id]


def _snapshot(host, workers):
    files = host.run("find -L /etc/nginx -type f -print0 | sort -z | xargs -0 sha256sum").stdout
    mtimes = host.run("find -L /etc/nginx -type f -printf '%p %T@\\n' | sort").stdout
    pids = workers()
    assert pids and files
    return files, mtimes, pids


def test_an_edit_that_breaks_nginx_t_reloads_nothing_and_restores_every_byte(host, playbook, http_status, nginx_workers):
    if name(host) != "web1":
        pytest.skip("run once, on web1")
    before = _snapshot(host, nginx_workers)
    edits = [{"file": LINK, "line": 3, "directive": "server",
              "args": ["unix:/run/gunicorn/gunicorn.sock", "fail_timeout=soon"]},
             {"file": LINK, "line": 27, "directive": "proxy_pass", "set": {"proxy_read_timeout": "5s"}}]
    rc, out = playbook("invalid_edit.yml", *_edits_args(edits, "molecule-invalid"))
    assert rc != 0
    assert "nginx -t failed on the edited configuration" in out, out[-3000:]
    assert "/etc/nginx/sites-enabled/lab:3" in out
    assert "restored byte-identical" in out
    assert _snapshot(host, nginx_workers) == before
    assert http_status("/") == "200" and http_status("/asgi/") == "200"


def test_check_mode_shows_the_diff_and_changes_nothing(host, playbook, nginx_workers):
    if name(host) != "web1":
        pytest.skip("run once, on web1")
    before = _snapshot(host, nginx_workers)
    edits = [{"file": LINK, "line": 27, "directive": "proxy_pass", "set": {"proxy_read_timeout": "75s"}}]
    rc, out = playbook("invalid_edit.yml", "--check", "--diff", *_edits_args(edits, "molecule-check"))
    assert rc == 0, out[-3000:]
    assert "+        proxy_read_timeout 75s;" in out
    assert "changed=2" in out       # the edit and the reload it would make
    assert _snapshot(host, nginx_workers) == before


def _buffers_config(directives):
    return ("events {}\nhttp {\n    server {\n        listen 127.0.0.1:1;\n        location / {\n%s"
            "            proxy_pass http://127.0.0.1:1;\n        }\n    }\n}\n"
            % "".join("            %s %s;\n" % (key, " ".join(args)) for key, args in directives.items()))


def test_buffer_sets_the_engine_makes_pass_the_real_nginx(host):
    """The constraints come from ngx_http_proxy_module.c; the lab's nginx judges every set derived from them:
    each completed set passes nginx -t, and a companion is added exactly when the size alone fails."""
    if name(host) != "web2":
        pytest.skip("run once, on web2")
    sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "tests", "output", "collections"))
    from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_edit_values import (  # pylint: disable=import-outside-toplevel
        BufferState, complete_buffers)
    page = int(host.run("getconf PAGESIZE").stdout.strip())
    cases = []
    for size in ("8k", "16k", "32k", "64k", "256k", "1m"):
        for inherited in ({}, {"proxy_buffers": ["4", "8k"]}, {"proxy_busy_buffers_size": ["8k"]}):
            wanted = {"proxy_buffer_size": [size]}
            extra = complete_buffers("proxy", wanted, BufferState("proxy", page).child(inherited), "test")
            cases.append((size, inherited, extra, dict(inherited, **wanted), dict(inherited, **dict(wanted, **extra))))
    script = ["d=$(mktemp -d)"]
    for number, (_size, _inherited, _extra, alone, together) in enumerate(cases):
        for kind, directives in (("alone", alone), ("together", together)):
            script.append("cat > $d/%d-%s.conf <<'EOF'\n%sEOF" % (number, kind, _buffers_config(directives)))
            script.append("nginx -t -q -c $d/%d-%s.conf >/dev/null 2>&1; echo %d-%s $?" % (number, kind, number, kind))
    script.append("rm -rf $d")
    results = dict(line.split() for line in host.run("\n".join(script)).stdout.splitlines())
    wrong = []
    for number, (size, inherited, extra, _alone, _together) in enumerate(cases):
        if results["%d-together" % number] != "0" or (results["%d-alone" % number] != "0") != bool(extra):
            wrong.append((size, inherited, extra, results["%d-alone" % number], results["%d-together" % number]))
    assert len(results) == 2 * len(cases) and wrong == []


def test_a_reload_nginx_rejects_puts_the_files_back(host, playbook, http_status, nginx_workers):
    """nginx -t tolerates a listen address that is in use (EADDRINUSE is ignored in test mode), the reload does not:
    a listen on uvicorn's 127.0.0.1:8001 passes the test and the master rejects it ([emerg] bind() ... 98: Address
    already in use). The role sees the reload did not take and restores the files."""
    if name(host) != "web1":
        pytest.skip("run once, on web1")
    before = _snapshot(host, nginx_workers)
    edits = [{"file": LINK, "line": 7, "directive": "listen",
              "set": {"listen": [["80", "default_server"], ["127.0.0.1:8001"]]}}]
    rc, out = playbook("invalid_edit.yml", *_edits_args(edits, "molecule-rejected"))
    assert rc != 0
    assert "the reload did not take: nginx rejected the reload" in out and "bind()" in out, out[-3000:]
    assert "Put the edited files back from the run's backup" in out
    assert _snapshot(host, nginx_workers) == before
    assert http_status("/") == "200" and http_status("/asgi/") == "200"
