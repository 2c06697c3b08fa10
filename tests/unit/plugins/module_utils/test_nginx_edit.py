# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The token-located edit engine: spans, minimal replacements, inserts, deletes, self-verification."""
from __future__ import annotations

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_edit import (
    Document,
    EditError,
    render_arg,
    walk,
)


def doc(text):
    return Document("/etc/nginx/x.conf", text.encode("utf-8") if isinstance(text, str) else text)


def find(d, name, nth=0):
    return [s for s in walk(d.root) if s.name == name][nth]


SITE = """# lab site
upstream app {
    server unix:/run/app.sock fail_timeout=0;   # the app
}
server {
\tlisten 80;
\tlocation / {
\t\tproxy_set_header Host "$host";
\t\tproxy_pass http://app;   # main
\t}
}
"""


def test_spans_cover_every_token_exactly():
    d = doc(SITE)
    for (token, _line, quoted), (start, end) in zip(d.tokens, d.spans):
        raw = d.text[start:end]
        if quoted:
            assert raw[1:-1] == token
        else:
            assert raw == token


def test_spans_with_crlf_lua_escapes_and_non_utf8():
    data = (b"http {\r\n  content_by_lua_block { ngx.say('}') }\r\n  set $a \"x\\\"y\";\r\n"
            b"  return 200 'caf\xe9';\r\n}\r\n")
    d = doc(data)
    stmt = find(d, "set")
    assert d.args(stmt) == ["$a", 'x"y']
    d.replace(stmt, "set", ["$a", "z"])
    out = d.render()
    assert out == data.replace(b'"x\\"y"', b'"z"')
    assert b"caf\xe9" in out          # bytes that are not UTF-8 survive


def test_replace_keeps_comments_quotes_and_indentation():
    d = doc(SITE)
    d.replace(find(d, "server"), "server", ["unix:/run/gunicorn.sock", "fail_timeout=0"])
    d.replace(find(d, "proxy_set_header"), "proxy_set_header", ["Host", "$http_host"])
    out = d.render().decode()
    assert "    server unix:/run/gunicorn.sock fail_timeout=0;   # the app\n" in out
    assert '\t\tproxy_set_header Host "$http_host";\n' in out      # the quote style is kept
    assert out.replace("unix:/run/gunicorn.sock", "unix:/run/app.sock").replace("$http_host", "$host") == SITE


def test_replace_name_and_argument_count():
    d = doc("location / { uwsgi_pass   127.0.0.1:9000 ; }\n")
    d.replace(find(d, "uwsgi_pass"), "proxy_pass", ["http://127.0.0.1:9000"])
    assert d.render() == b"location / { proxy_pass   http://127.0.0.1:9000 ; }\n"
    d = doc("a x y z;\n")
    d.replace(find(d, "a"), "a", ["x"])
    assert d.render() == b"a x;\n"
    d = doc("a x;\n")
    d.replace(find(d, "a"), "a", ["x", "y y"])
    assert d.render() == b'a x "y y";\n'


def test_unchanged_replace_is_no_change():
    d = doc(SITE)
    assert d.replace(find(d, "proxy_pass"), "proxy_pass", ["http://app"]) is False
    assert d.render() == SITE.encode()


def test_insert_after_last_directive_with_its_indentation_and_after_its_comment():
    d = doc(SITE)
    loc = find(d, "location")
    d.insert(loc, loc.block, "proxy_read_timeout", ["90s"])
    out = d.render().decode()
    assert "\t\tproxy_pass http://app;   # main\n\t\tproxy_read_timeout 90s;\n\t}" in out


def test_insert_into_empty_and_one_line_blocks_and_crlf():
    d = doc("server {\n    location /e {\n    }\n}\n")
    loc = find(d, "location")
    d.insert(loc, loc.block, "proxy_read_timeout", ["5s"])
    assert d.render() == b"server {\n    location /e {\n        proxy_read_timeout 5s;\n    }\n}\n"
    d = doc("location /x { proxy_pass http://a; }\n")
    loc = find(d, "location")
    d.insert(loc, loc.block, "proxy_buffer_size", ["16k"])
    assert d.render() == b"location /x { proxy_pass http://a; proxy_buffer_size 16k; }\n"
    d = doc("server {\r\n  location / {\r\n    proxy_pass http://a;\r\n  }\r\n}\r\n")
    loc = find(d, "location")
    d.insert(loc, loc.block, "proxy_read_timeout", ["5s"])
    assert d.render() == b"server {\r\n  location / {\r\n    proxy_pass http://a;\r\n    proxy_read_timeout 5s;\r\n  }\r\n}\r\n"


def test_delete_whole_line_or_just_the_directive():
    d = doc("location / {\n    a 1;\n    b 2;\n    c 3; d 4;\n}\n")
    d.delete(find(d, "b"))
    d.delete(find(d, "d"))
    assert d.render() == b"location / {\n    a 1;\n    c 3;\n}\n"


def test_new_line_follows_inserted_lines():
    d = doc("server {\n    location / {\n        proxy_pass http://a;\n    }\n    location /b {\n        x 1;\n    }\n}\n")
    loc = find(d, "location")
    d.insert(loc, loc.block, "y", ["1"])
    d.insert(loc, loc.block, "z", ["1"])
    assert d.new_line(3) == 3
    assert d.new_line(5) == 7
    assert d.new_line(6) == 8


def test_overlapping_edits_are_refused():
    d = doc("a 1;\n")
    d.replace(find(d, "a"), "a", ["2"])
    with pytest.raises(EditError, match="same directive"):
        d.replace(find(d, "a"), "a", ["3"])


@pytest.mark.parametrize("value, text", [
    ("16k", "16k"), ("http://unix:/run/a.sock:", "http://unix:/run/a.sock:"), ("a b", '"a b"'),
    ("", '""'), ('say "hi"', "'say \"hi\"'"), ("x;y", '"x;y"'), ("#x", '"#x"'), ("${a}b", '"${a}b"'),
])
def test_render_arg(value, text):
    assert render_arg(value) == text
    assert doc("d %s;\n" % text).args(doc("d %s;\n" % text).root[0]) == [value]


@pytest.mark.parametrize("value", ["a\nb", "both ' and \"", "back\\slash ' \""])
def test_render_arg_refuses_what_it_cannot_write(value):
    with pytest.raises(EditError):
        render_arg(value)


@pytest.mark.parametrize("text", ["server {\n", "a 1\n", "}\n", 'a "open;\n'])
def test_broken_files_are_refused_with_a_location(text):
    with pytest.raises(EditError, match="x.conf"):
        doc(text)


def test_verification_catches_an_edit_that_would_swallow_the_terminator():
    d = doc("proxy_pass a # note\n    b;\n")
    d.replace(find(d, "proxy_pass"), "proxy_pass", ["a"])
    with pytest.raises(EditError, match="refusing to write"):
        d.render()


def test_deeply_nested_blocks_are_no_problem():
    depth = 3000
    d = doc("http {\n" + "location /x {\n" * depth + "proxy_pass http://a;\n" + "}\n" * depth + "}\n")
    d.replace(find(d, "proxy_pass"), "proxy_pass", ["http://b"])
    assert b"proxy_pass http://b;" in d.render()


def test_insert_after_a_block_is_verified_in_place():
    d = doc("server {\n    location / {\n        a 1;\n    }\n}\n")
    srv = find(d, "server")
    d.insert(srv, srv.block, "b", ["2"])
    assert d.render() == b"server {\n    location / {\n        a 1;\n    }\n    b 2;\n}\n"
