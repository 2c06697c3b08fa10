# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Edit requests -> new file contents: claims, idempotence, set semantics, buffer companions."""
from __future__ import annotations

import os

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_edit import EditError
from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_edit_plan import Plan, check_edit

SITE = """upstream wsgi_app {
    server unix:/run/gunicorn/app.sock fail_timeout=0;  # the app
}

server {
    listen 80 default_server;
    proxy_buffer_size 8k;

    location / {
        proxy_set_header Host $host;
        proxy_pass http://wsgi_app;
        # proxy_read_timeout 10s;
        location /inner {
            proxy_read_timeout 5s;
        }
    }

    location /asgi/ {
        proxy_pass http://127.0.0.1:8002/;
    }
    location /x { fastcgi_pass wsgi_app; }
}
"""


@pytest.fixture()
def conf(tmp_path):
    (tmp_path / "nginx.conf").write_text("events {}\nhttp {\n    proxy_read_timeout 30s;\n    include site;\n}\n")
    (tmp_path / "site").write_text(SITE)
    return tmp_path


def plan(conf, edits):
    return Plan(lambda p: open(p, "rb").read(), str(conf / "nginx.conf"), 4096).apply(edits)


def new_text(conf, edits):
    changed = plan(conf, edits).changed_files()
    key = os.path.realpath(str(conf / "site"))
    return changed[key][1].decode() if key in changed else None


def test_target_edits_on_a_pass_directive_and_an_upstream_server(conf):
    site = str(conf / "site")
    out = new_text(conf, [
        {"file": site, "line": 2, "directive": "server", "target": "http://unix:/run/gunicorn/gunicorn.sock"},
        {"file": site, "line": 19, "directive": "proxy_pass", "target": "http://127.0.0.1:8001"},
        {"file": site, "line": 21, "directive": "fastcgi_pass", "new_directive": "proxy_pass"},
    ])
    assert out == (SITE.replace("app.sock", "gunicorn.sock").replace("8002", "8001")
                   .replace("fastcgi_pass wsgi_app", "proxy_pass http://wsgi_app"))


def test_set_replaces_in_that_block_only_not_nested_not_comments(conf):
    site = str(conf / "site")
    out = new_text(conf, [{"file": site, "line": 11, "set": {"proxy_read_timeout": "90s"}}])
    assert "        # proxy_read_timeout 10s;\n" in out          # the comment is untouched
    assert "            proxy_read_timeout 5s;\n" in out         # the nested location keeps its own
    assert "        }\n        proxy_read_timeout 90s;\n    }\n" in out   # inserted after the last directive


def test_set_replaces_an_existing_directive_of_that_block(conf):
    site = str(conf / "site")
    out = new_text(conf, [{"file": site, "line": 14, "set": {"proxy_read_timeout": "60s"}}])
    assert out == SITE.replace("proxy_read_timeout 5s;", "proxy_read_timeout 60s;")


def test_set_on_a_block_line_edits_inside_that_block(conf):
    site = str(conf / "site")
    out = new_text(conf, [{"file": site, "line": 1, "set": {"keepalive_timeout": "4s"}}])
    assert out.startswith("upstream wsgi_app {\n    server unix:/run/gunicorn/app.sock fail_timeout=0;  # the app\n"
                          "    keepalive_timeout 4s;\n}\n")


def test_buffer_size_gets_its_companions_from_inherited_values(conf):
    site = str(conf / "site")
    p = plan(conf, [{"file": site, "line": 19, "set": {"proxy_buffer_size": "16k"}}])
    assert p.results[0]["set"] == {"proxy_buffer_size": ["16k"], "proxy_busy_buffers_size": ["28k"]}


def test_buffer_edit_that_a_nested_block_could_not_take_is_refused(conf, tmp_path):
    text = SITE.replace("proxy_read_timeout 5s;", "proxy_read_timeout 5s;\n            proxy_buffers 2 4k;")
    (tmp_path / "site").write_text(text)
    with pytest.raises(EditError, match="inherits the new values"):
        plan(conf, [{"file": str(tmp_path / "site"), "line": 11, "set": {"proxy_buffer_size": "16k"}}])


def test_a_directive_set_by_an_included_snippet_in_the_block_is_refused(conf, tmp_path):
    (tmp_path / "snippet").write_text("proxy_busy_buffers_size 8k;\n")
    (tmp_path / "site").write_text(SITE.replace("proxy_pass http://127.0.0.1:8002/;",
                                                "proxy_pass http://127.0.0.1:8002/;\n        include snippet;"))
    with pytest.raises(EditError, match="an included file"):
        plan(conf, [{"file": str(tmp_path / "site"), "line": 19,
                     "set": {"proxy_buffer_size": "16k", "proxy_busy_buffers_size": "16k"}}])


def test_second_run_is_idempotent(conf):
    site = str(conf / "site")
    edits = [{"file": site, "line": 19, "directive": "proxy_pass", "target": "http://127.0.0.1:8001"},
             {"file": site, "line": 21, "directive": "fastcgi_pass", "new_directive": "proxy_pass"},
             {"file": site, "line": 2, "directive": "server", "args": ["unix:/run/g.sock", "fail_timeout=0"]},
             {"file": site, "line": 19, "set": {"proxy_buffer_size": "16k", "proxy_read_timeout": 90}}]
    first = plan(conf, edits)
    assert [r["new_line"] for r in first.results] == [19, 24, 2, 19]
    (conf / "site").write_bytes(first.changed_files()[os.path.realpath(site)][1])
    # the same requests at the lines the directives are on now
    again = plan(conf, [dict(e, line=r["new_line"]) for e, r in zip(edits, first.results)])
    assert [r["changed"] for r in again.results] == [False] * 4
    assert again.changed_files() == {}


@pytest.mark.parametrize("edit, message", [
    ({"line": 19, "directive": "uwsgi_pass", "target": "127.0.0.1:1"}, "holds proxy_pass"),
    ({"line": 3, "directive": "proxy_pass", "target": "127.0.0.1:1"}, "holds no directive"),
    ({"line": 19, "directive": "proxy_pass", "old_args": ["http://127.0.0.1:9/"], "target": "127.0.0.1:1"}, "changed since"),
    ({"line": 19, "directive": "proxy_pass", "target": "http://127.0.0.1:8001/api"}, "not an address"),
    ({"line": 19, "directive": "proxy_pass", "new_directive": "uwsgi_pass"}, "cannot keep the URI"),
    ({"line": 10, "directive": "proxy_set_header", "target": "127.0.0.1:1"}, "apply to pass directives"),
    ({"line": 12, "set": {"a": "1"}}, "no directive at this line"),
    ({"line": 19, "set": {"proxy_read_timeout": ["1\n2"]}}, "line break"),
])
def test_claims_that_do_not_hold_are_refused(conf, edit, message):
    with pytest.raises(EditError, match=message):
        new_text(conf, [dict(edit, file=str(conf / "site"))])


@pytest.mark.parametrize("edit, message", [
    ("x", "not a dict"), ({"file": "rel", "line": 1, "set": {"a": 1}}, "absolute"),
    ({"file": "/a", "line": 0, "set": {"a": 1}}, "positive"), ({"file": "/a", "line": 1}, "give directive"),
    ({"file": "/a", "line": 1, "set": {"a": 1}, "args": ["x"]}, "cannot be combined"),
    ({"file": "/a", "line": 1, "set": {"bad name": 1}}, "not a directive name"),
    ({"file": "/a", "line": 1, "directive": "x"}, "give args, target or new_directive"),
    ({"file": "/a", "line": 1, "set": {"a": {"b": 1}}}, "not a directive argument"),
    ({"file": "/a", "line": 1, "set": {"a": 1}, "color": "red"}, "unknown keys"),
])
def test_malformed_requests(edit, message):
    with pytest.raises(EditError, match=message):
        check_edit(0, edit)


def test_set_values_forms():
    values = {"proxy_buffers": "8 16k", "proxy_buffering": True, "add_header": [["X-A", "1"], ["X-B", "2"]],
              "proxy_read_timeout": 90, "proxy_set_header": ["Host", "$host"]}
    spec = check_edit(0, {"file": "/a", "line": "3", "set": values})
    assert spec["line"] == 3
    assert dict(spec["set"]) == {"proxy_buffers": [["8", "16k"]], "proxy_buffering": [["on"]],
                                 "add_header": [["X-A", "1"], ["X-B", "2"]], "proxy_read_timeout": [["90"]],
                                 "proxy_set_header": [["Host", "$host"]]}


def test_set_several_of_a_name_and_remove_the_surplus(conf, tmp_path):
    (tmp_path / "site").write_text("server {\n    add_header A 1;\n    add_header B 2;\n    add_header C 3;\n}\n")
    out = new_text(conf, [{"file": str(tmp_path / "site"), "line": 2, "set": {"add_header": [["A", "9"], ["B", "2"]]}}])
    assert out == "server {\n    add_header A 9;\n    add_header B 2;\n}\n"


def test_a_buffer_size_replaced_by_args_gets_its_companions_too(conf, tmp_path):
    site = str(conf / "site")
    p = plan(conf, [{"file": site, "line": 7, "directive": "proxy_buffer_size", "args": "16k"}])
    assert p.results[0]["set"] == {"proxy_buffer_size": ["16k"], "proxy_busy_buffers_size": ["28k"]}
    out = p.changed_files()[os.path.realpath(site)][1].decode()
    assert "    proxy_buffer_size 16k;\n" in out and "proxy_busy_buffers_size 28k;" in out
