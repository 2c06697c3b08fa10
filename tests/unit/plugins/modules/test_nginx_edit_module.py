# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nginx_edit run as Ansible runs it, against a stand-in ``nginx`` binary.

The stand-in answers ``-V`` and ``-t`` (it fails on any file holding the word BROKEN and names
that file:line like nginx). What the real nginx accepts is proven on the lab by the molecule
scenarios nginx_proxy and nginx_reload; here: backups, restore, check mode, diff, line map.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
import sys

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.badgateway.doctor.plugins.modules import nginx_edit

FAKE_NGINX = r'''#!%s
import os, sys
conf = os.environ["FAKE_NGINX_CONF"]
args = sys.argv[1:]
if args[:1] == ["-V"]:
    sys.stderr.write("nginx version: nginx/1.22.1\nconfigure arguments: --conf-path=%%s\n" %% conf)
    sys.exit(0)
if args[:1] == ["-t"]:
    root = os.path.dirname(conf)
    for base, _dirs, names in os.walk(root):
        for name in sorted(names):
            path = os.path.join(base, name)
            for number, line in enumerate(open(path, errors="replace"), 1):
                if "BROKEN" in line:
                    sys.stderr.write('nginx: [emerg] unknown directive "BROKEN" in %%s:%%d\n' %% (path, number))
                    sys.stderr.write("nginx: configuration file %%s test failed\n" %% conf)
                    sys.exit(1)
    sys.stderr.write("nginx: the configuration file %%s syntax is ok\n" %% conf)
    sys.stderr.write("nginx: configuration file %%s test is successful\n" %% conf)
    sys.exit(0)
sys.exit(2)
''' % sys.executable

SITE = """upstream wsgi_app {
    server unix:/run/gunicorn/app.sock fail_timeout=0;  # the app
}
server {
    listen 80;
    location / {
        proxy_pass http://wsgi_app;
    }
    location /asgi/ {
        proxy_pass http://127.0.0.1:8002/;
    }
}
"""


@pytest.fixture
def env(tmp_path, monkeypatch):
    etc = tmp_path / "etc"
    (etc / "sites-available").mkdir(parents=True)
    (etc / "sites-enabled").mkdir()
    conf = etc / "nginx.conf"
    conf.write_text("events {}\nhttp {\n    include sites-enabled/*;\n}\n")
    site = etc / "sites-available" / "app"
    site.write_text(SITE)
    os.chmod(site, 0o640)
    (etc / "sites-enabled" / "app").symlink_to(site)
    fake = tmp_path / "nginx"
    fake.write_text(FAKE_NGINX)
    fake.chmod(0o755)
    monkeypatch.setenv("FAKE_NGINX_CONF", str(conf))
    return {"etc": etc, "conf": conf, "site": site, "link": etc / "sites-enabled" / "app",
            "base": {"binary": str(fake), "conf_path": str(conf), "backup_dir": str(tmp_path / "backups"),
                     "run_id": "r1"}}


def run(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            nginx_edit.main()
    return json.loads(capsys.readouterr().out)


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def target_edit(env, port="8001"):
    return {"file": str(env["link"]), "line": 10, "directive": "proxy_pass", "target": "127.0.0.1:%s" % port}


def test_edit_saves_writes_in_place_and_tests(env, capsys):
    mode = stat.S_IMODE(env["site"].stat().st_mode)
    out = run(dict(env["base"], edits=[target_edit(env)], _ansible_diff=True), capsys)
    assert out["changed"] and not out.get("failed"), out
    assert env["site"].read_text() == SITE.replace("8002", "8001")
    assert env["link"].is_symlink()                                   # the link is kept, its target edited
    assert stat.S_IMODE(env["site"].stat().st_mode) == mode
    assert out["test"]["ok"] and "-t -c %s" % env["conf"] in out["test"]["command"]
    assert out["backup"]["saved"] == [str(env["site"])]
    manifest = json.loads((env["etc"].parent / "backups" / "r1" / "manifest.json").read_text())
    assert [f["path"] for f in manifest["files"]] == [str(env["site"])]
    assert "-        proxy_pass http://127.0.0.1:8002/;" not in out["diff"][0]["before"]   # plain before/after texts
    assert "8002" in out["diff"][0]["before"] and "8001" in out["diff"][0]["after"]
    assert out["edits"][0]["before"] == "proxy_pass http://127.0.0.1:8002/"
    # the same request again: nothing to do
    again = run(dict(env["base"], edits=[target_edit(env)]), capsys)
    assert not again["changed"] and again["edits"][0]["changed"] is False


def test_failing_test_restores_byte_identical_with_mtime(env, capsys):
    before = digest(env["site"])
    mtime = env["site"].stat().st_mtime_ns
    edit = {"file": str(env["link"]), "line": 7, "directive": "proxy_pass", "args": ["BROKEN"]}
    out = run(dict(env["base"], edits=[edit]), capsys)
    assert out["failed"] and "nginx -t failed" in out["msg"] and "restored byte-identical" in out["msg"]
    (location,) = out["test"]["locations"]
    assert location["file"].endswith("/app") and location["line"] == 7 and '[emerg] unknown directive "BROKEN"' in location["message"]
    assert out["restored"] == [str(env["site"])]
    assert digest(env["site"]) == before and env["site"].stat().st_mtime_ns == mtime
    assert not [p for p in env["site"].parent.iterdir() if p.name.startswith(".")]   # no temp file left


def test_check_mode_changes_nothing_and_shows_the_diff(env, capsys):
    before = digest(env["site"])
    out = run(dict(env["base"], edits=[target_edit(env)], _ansible_check_mode=True, _ansible_diff=True), capsys)
    assert out["changed"] and out["diff"] and digest(env["site"]) == before
    assert not (env["etc"].parent / "backups").exists()


def test_claim_mismatch_refuses_and_changes_nothing(env, capsys):
    before = digest(env["site"])
    edit = {"file": str(env["link"]), "line": 10, "directive": "uwsgi_pass", "target": "127.0.0.1:1"}
    out = run(dict(env["base"], edits=[target_edit(env), edit]), capsys)
    assert out["failed"] and "changed since the diagnosis" in out["msg"]
    assert digest(env["site"]) == before


def test_lines_moved_by_a_first_run_are_found_again(env, capsys):
    edits = [{"file": str(env["link"]), "line": 7, "directive": "proxy_pass",
              "set": {"proxy_read_timeout": "90s", "proxy_connect_timeout": "5s"}},
             target_edit(env)]
    first = run(dict(env["base"], edits=edits), capsys)
    assert first["changed"] and [e["new_line"] for e in first["edits"]] == [7, 12]
    second = run(dict(env["base"], edits=edits, run_id="r2"), capsys)
    assert not second["changed"] and [e["line"] for e in second["edits"]] == [7, 12], second
    # once the file changed by other hands, the old lines are not trusted any more
    env["site"].write_text(env["site"].read_text() + "\n")
    third = run(dict(env["base"], edits=edits, run_id="r3"), capsys)
    assert third["failed"] and "changed since the diagnosis" in third["msg"]


def test_backup_dir_inside_nginx_config_is_refused(env, capsys):
    out = run(dict(env["base"], backup_dir=str(env["etc"] / "sites-enabled" / "bk"), edits=[target_edit(env)]), capsys)
    assert out["failed"] and "inside" in out["msg"] and not (env["etc"] / "sites-enabled" / "bk").exists()


def test_state_restored_puts_the_saved_file_back(env, capsys):
    before = digest(env["site"])
    assert run(dict(env["base"], edits=[target_edit(env)]), capsys)["changed"]
    assert digest(env["site"]) != before
    out = run(dict(env["base"], state="restored", paths=[str(env["site"])]), capsys)
    assert out["changed"] and out["restored"] == [str(env["site"])] and out["test"]["ok"]
    assert digest(env["site"]) == before
    out = run(dict(env["base"], state="restored", paths=[str(env["conf"])]), capsys)
    assert out["failed"] and "was not saved in run r1" in out["msg"]


def test_test_only_reports_a_broken_config_with_its_location(env, capsys):
    env["site"].write_text(SITE + "BROKEN;\n")
    out = run(dict(env["base"], _ansible_check_mode=True), capsys)
    assert out["failed"] and out["test"]["locations"][0]["line"] == 13 and not out["changed"]


def test_no_binary(env, capsys):
    out = run(dict(env["base"], binary="/nonexistent/nginx", edits=[target_edit(env)]), capsys)
    assert out["failed"] and "no nginx binary found at /nonexistent/nginx" in out["msg"]


def test_secret_values_are_masked_in_the_result_and_the_diff(env, capsys):
    env["site"].write_text(SITE.replace("        proxy_pass http://wsgi_app;",
                                        '        proxy_set_header Authorization "Bearer abcdefghijklmnop";\n'
                                        "        proxy_pass http://wsgi_app;"))
    edit = {"file": str(env["link"]), "line": 7, "directive": "proxy_set_header",
            "args": ["Authorization", "Bearer qrstuvwxyz012345"]}
    out = run(dict(env["base"], edits=[edit], _ansible_diff=True), capsys)
    out.pop("invocation", None)    # the arguments as the caller gave them (ansible-core < 2.21 adds them)
    raw = json.dumps(out)
    assert out["changed"] and "abcdefghijklmnop" not in raw and "qrstuvwxyz012345" not in raw, raw
    assert "qrstuvwxyz012345" in env["site"].read_text()
