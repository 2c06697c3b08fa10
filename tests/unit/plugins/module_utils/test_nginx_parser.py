# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of nginx_parser: lexing rules, parse options, includes, nginx -T splitting.

Expected values for crossplane-compatible behaviour were checked against crossplane 0.5.8
by running it on the same input (see the module docstring for where we differ on purpose).
"""
from __future__ import annotations

import os

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import _nginx_lexer
from ansible_collections.badgateway.doctor.plugins.module_utils.nginx_parser import (
    NginxParseError,
    lex,
    parse,
    split_nginx_T,
)


def toks(text):
    return [(t, line) for t, line, _q in lex(text)]


def parsed(text, **kwargs):
    """Parse ``text`` as a virtual /etc/nginx/nginx.conf; return the payload."""
    return parse("/etc/nginx/nginx.conf", files={"/etc/nginx/nginx.conf": text}, **kwargs)


def tree(text, **kwargs):
    return parsed(text, **kwargs)["config"][0]["parsed"]


def error_lines(payload):
    return [(e["file"], e["line"]) for e in payload["errors"]]


# --- lexer ------------------------------------------------------------------------------


class TestLex:
    def test_simple_tokens_and_lines(self):
        assert lex("events {\n  worker_connections 10;\n}\n") == [
            ("events", 1, False), ("{", 1, False), ("worker_connections", 2, False),
            ("10", 2, False), (";", 2, False), ("}", 3, False)]

    def test_quotes_and_escapes(self):
        # only the escaped quote of the same kind loses its backslash inside quotes
        assert lex("x \"a\\\"b\\'c\\\\\" 'd\\'e\\\"';") == [
            ("x", 1, False), ("a\"b\\'c\\\\", 1, True), ("d'e\\\"", 1, True), (";", 1, False)]

    def test_quotes_inside_a_word_are_plain_characters(self):
        assert toks('a x"y"; b "x"y;') == [("a", 1), ('x"y"', 1), (";", 1), ("b", 1), ("x", 1), ("y", 1), (";", 1)]

    def test_empty_quoted_strings(self):
        assert lex("map '' \"\";") == [("map", 1, False), ("", 1, True), ("", 1, True), (";", 1, False)]

    def test_braces_semicolons_and_hash_inside_quotes(self):
        assert lex('return 200 "{;}#x";') == [
            ("return", 1, False), ("200", 1, False), ("{;}#x", 1, True), (";", 1, False)]

    def test_escaped_specials_stay_in_word(self):
        assert toks("location /\\{\\;\\}\\ #\\ ab {}") == [
            ("location", 1), ("/\\{\\;\\}\\ #\\ ab", 1), ("{", 1), ("}", 1)]

    def test_comment_only_at_token_start(self):
        assert toks("a b#c #d\n;") == [("a", 1), ("b#c", 1), ("#d", 1), (";", 2)]

    def test_comment_ending_in_escaped_newline(self):
        # the escaped newline ends the comment and is dropped, the line still counts
        assert toks("# a \\\nb;") == [("# a ", 1), ("b", 2), (";", 2)]

    def test_escaped_newline_starting_a_word(self):
        assert toks("a \\\nb;") == [("a", 1), ("\\\nb", 2), (";", 2)]

    def test_multiline_quoted_string_keeps_line_of_its_start(self):
        assert toks('a "x\ny"\nb;') == [("a", 1), ("x\ny", 1), ("b", 3), (";", 3)]

    @pytest.mark.parametrize("text, expected", [
        ("set $a ${b};", ["set", "$a", "${b}", ";"]),
        ("a ${x}y;", ["a", "${x}y", ";"]),
        ("a ${x} y;", ["a", "${x} y", ";"]),
        ("a ${x y;", ["a", "${x y", ";"]),
        ("a $${x};", ["a", "$${x}", ";"]),
        ("a ${x}${y}z;", ["a", "${x}${y}z", ";"]),
        ("try_files /abc/${uri} /abc/${uri}.html =404 ;", ["try_files", "/abc/${uri} /abc/${uri}.html", "=404", ";"]),
        ("location ~ ^/x$ {}", ["location", "~", "^/x$", "{", "}"]),
        ("a ${x};b;", ["a", "${x}", ";", "b", ";"]),
    ])
    def test_dollar_brace_like_crossplane(self, text, expected):
        assert [t for t, _l, _q in lex(text)] == expected

    def test_crlf_and_cr(self):
        assert toks("a\r\nb;\rc;") == [("a", 1), ("b", 2), (";", 2), ("c", 3), (";", 3)]

    def test_non_utf8_bytes_are_replaced(self):
        assert lex(b"return 200 M\xfclln;") == [
            ("return", 1, False), ("200", 1, False), ("M\ufffdlln", 1, False), (";", 1, False)]

    def test_unicode_whitespace_separates(self):
        assert [t for t, _l, _q in lex("a\x0bb\u00a0c;")] == ["a", "b", "c", ";"]

    def test_very_long_line(self):
        text = "server_name " + " ".join("h%d.example" % i for i in range(50000)) + ";"
        tokens = lex(text)
        assert len(tokens) == 50002 and tokens[-1] == (";", 1, False)
        assert tokens[-2] == ("h49999.example", 1, False)

    def test_trailing_token_at_eof_is_kept(self):
        assert toks("a b") == [("a", 1), ("b", 1)]

    def test_unbalanced_braces_raise(self):
        with pytest.raises(NginxParseError) as info:
            lex("a {\n b;\n")
        assert info.value.line == 2 and "expecting" in info.value.message
        with pytest.raises(NginxParseError) as info:
            lex("a;\n}\n", "f.conf")
        assert (info.value.file, info.value.line) == ("f.conf", 2)
        assert str(info.value) == 'unexpected "}" in f.conf:2'

    def test_unterminated_quote_raises(self):
        with pytest.raises(NginxParseError) as info:
            lex('a;\nb "c;\n')
        assert info.value.line == 2


class TestLexLua:
    def test_body_is_one_quoted_token_then_semicolon(self):
        assert lex("content_by_lua_block {\n  ngx.say('}')\n}\nx;") == [
            ("content_by_lua_block", 1, False), ("\n  ngx.say('}')\n", 3, True), (";", 3, False),
            ("x", 4, False), (";", 4, False)]

    def test_nested_braces_strings_and_lua_comments(self):
        body = ' a = { 1 } -- } "\n b = "{" '
        assert lex("access_by_lua_block {%s}" % body)[1] == (body, 2, True)

    def test_set_by_lua_block_argument(self):
        assert lex("set_by_lua_block $a\n{ x }") == [
            ("set_by_lua_block", 1, False), ("$a", 2, False), (" x ", 2, True), (";", 2, False)]

    def test_quoted_directive_name_triggers(self):
        assert lex('"rewrite_by_lua_block" { a }')[1] == (" a ", 1, True)

    def test_only_in_directive_position(self):
        assert [t for t, _l, _q in lex("server_name content_by_lua_block ;")] == [
            "server_name", "content_by_lua_block", ";"]
        assert [t for t, _l, _q in lex("upstream content_by_lua_block { }")] == [
            "upstream", "content_by_lua_block", "{", "}"]

    def test_missing_opening_brace(self):
        with pytest.raises(NginxParseError) as info:
            lex("content_by_lua_block x;")
        assert info.value.line == 1

    def test_unterminated_body(self):
        with pytest.raises(NginxParseError):
            lex("content_by_lua_block { a {")

    def test_parse_keeps_body_as_single_argument(self):
        assert tree("http { init_by_lua_block { x = {} } }")[0]["block"] == [
            {"directive": "init_by_lua_block", "line": 1, "args": [" x = {} "]}]


def test_fast_and_slow_tokenizers_agree_on_corner_cases():
    samples = [
        "a b;", "a ${x} y;\n", "# c\\\nb;", "\\\nb;", 'a "x\\"y" \'z\';', "a\\", "a ${", "a ${x",
        "a #c\n;", "x { y } z;", "$${a}{b};", "a \\${x} y;", "q 'a\nb' c;\n", "#", "a b\\\n\\\nc;",
    ]
    for text in samples:
        fast_tokens, fast_error = _nginx_lexer._tokenize_fast(text, "f")
        slow_tokens, slow_error = _nginx_lexer._tokenize_slow(text, "f")
        assert (fast_tokens, str(fast_error)) == (slow_tokens, str(slow_error)), text


# --- parser -----------------------------------------------------------------------------


class TestParse:
    def test_payload_shape(self):
        assert parsed("events { worker_connections 10; }\n") == {
            "status": "ok", "errors": [],
            "config": [{"file": "/etc/nginx/nginx.conf", "status": "ok", "errors": [], "parsed": [
                {"directive": "events", "line": 1, "args": [], "block": [
                    {"directive": "worker_connections", "line": 1, "args": ["10"]}]}]}]}

    def test_comments_kept_or_dropped(self):
        text = "# top\nhttp { # after brace\n  gzip on; # after stmt\n}\n"
        assert tree(text) == [{"directive": "http", "line": 2, "args": [], "block": [
            {"directive": "gzip", "line": 3, "args": ["on"]}]}]
        assert tree(text, comments=True) == [
            {"directive": "#", "line": 1, "args": [], "comment": " top"},
            {"directive": "http", "line": 2, "args": [], "block": [
                {"directive": "#", "line": 2, "args": [], "comment": " after brace"},
                {"directive": "gzip", "line": 3, "args": ["on"]},
                {"directive": "#", "line": 3, "args": [], "comment": " after stmt"}]}]

    def test_comments_between_arguments_follow_the_statement(self):
        assert tree("log_format #c1\n a #c2\n b;", comments=True) == [
            {"directive": "log_format", "line": 1, "args": ["a", "b"]},
            {"directive": "#", "line": 1, "args": [], "comment": "c1"},
            {"directive": "#", "line": 1, "args": [], "comment": "c2"}]

    def test_comment_at_eof_without_newline(self):
        assert tree("a;\n# end", comments=True)[-1] == {"directive": "#", "line": 2, "args": [], "comment": " end"}

    @pytest.mark.parametrize("text, args", [
        ("if ( $a = b ) {}", ["$a", "=", "b"]),
        ("if ($a) {}", ["$a"]),
        ("if () {}", []),
        ("if ( ) {}", []),
        ("if (a {}", ["(a"]),
        ("if ( \"\" a ) {}", ["", "a"]),
        ('if ($request_method = P\\{O\\)\\###\\;ST  ){}', ["$request_method", "=", "P\\{O\\)\\###\\;ST"]),
    ])
    def test_if_parentheses_stripped_like_crossplane(self, text, args):
        assert tree(text)[0]["args"] == args

    def test_ignore_drops_directives_and_their_blocks(self):
        text = "events {} ignored { a { include x.conf; } c; } d; server_name x;"
        payload = parsed(text, ignore=("ignored", "server_name"))
        assert [s["directive"] for s in payload["config"][0]["parsed"]] == ["events", "d"]
        assert payload["status"] == "ok"  # the include inside the ignored block is not followed

    def test_missing_semicolon_before_brace(self):
        payload = parsed("http {\n  server {\n    proxy_pass x\n  }\n  y;\n}\n")
        assert error_lines(payload) == [("/etc/nginx/nginx.conf", 3)]
        assert 'directive "proxy_pass" is not terminated by ";"' in payload["errors"][0]["error"]
        http = payload["config"][0]["parsed"][0]
        assert http["block"] == [{"directive": "server", "line": 2, "args": [], "block": []},
                                 {"directive": "y", "line": 5, "args": []}]

    @pytest.mark.parametrize("text, line, words", [
        ("a;\n}\nb;\n", 2, 'unexpected "}"'),
        ("a {\n b;\n", 2, 'expecting "}"'),
        ("http {\n  listen", 2, 'expecting ";" or "}"'),
        ("a;\n; b;", 2, 'unexpected ";"'),
        ("a;\n{ b; }\nc;", 2, 'unexpected "{"'),
        ("a;\n'b;\n", 2, "quoted string"),
        ("a;\ncontent_by_lua_block x;", 2, "Lua block"),
        ("include a b;", 1, "invalid number of arguments"),
    ])
    def test_syntax_errors_are_located(self, text, line, words):
        payload = parsed(text)
        assert payload["status"] == "failed"
        assert payload["config"][0]["status"] == "failed"
        assert error_lines(payload)[0] == ("/etc/nginx/nginx.conf", line)
        assert words in payload["errors"][0]["error"]
        assert payload["config"][0]["errors"][0]["line"] == line

    def test_partial_tree_kept_after_error(self):
        payload = parsed("a;\nb {\n c;\n}\n}\nd;\n")
        assert [s["directive"] for s in payload["config"][0]["parsed"]] == ["a", "b", "d"]
        assert error_lines(payload) == [("/etc/nginx/nginx.conf", 5)]

    def test_catch_errors_false_raises_first_error(self):
        with pytest.raises(NginxParseError) as info:
            parsed("a;\nb;\n}\n{", catch_errors=False)
        assert (info.value.file, info.value.line) == ("/etc/nginx/nginx.conf", 3)

    def test_catch_errors_false_raises_for_missing_main_file(self, tmp_path):
        with pytest.raises(NginxParseError) as info:
            parse(str(tmp_path / "nope.conf"), catch_errors=False)
        assert info.value.file == str(tmp_path / "nope.conf") and info.value.line is None

    def test_missing_main_file_reported(self, tmp_path):
        missing = str(tmp_path / "nope.conf")
        payload = parse(missing)
        assert payload["status"] == "failed"
        assert payload["errors"] == [{"file": missing, "line": None,
                                      "error": "[Errno 2] No such file or directory: '%s'" % missing}]

    def test_deep_nesting_does_not_recurse(self):
        depth = 5000
        text = "a {" * depth + "}" * depth
        payload = parsed(text, combine=True)
        node = payload["config"][0]["parsed"][0]
        for _level in range(depth - 1):
            node = node["block"][0]
        assert node["block"] == [] and payload["status"] == "ok"

    def test_gc_state_restored(self):
        import gc
        assert gc.isenabled()
        parsed("a;")
        assert gc.isenabled()


# --- includes ---------------------------------------------------------------------------


def write(root, name, text):
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


class TestIncludes:
    def test_relative_to_main_config_and_each_file_once(self, tmp_path):
        main = write(tmp_path, "nginx.conf", "http { include conf.d/a.conf; include conf.d/a.conf; }\n")
        write(tmp_path, "conf.d/a.conf", "include b.conf;\n")  # relative to the MAIN dir
        write(tmp_path, "b.conf", "server { listen 80; }\n")
        payload = parse(main)
        assert payload["status"] == "ok"
        assert [c["file"] for c in payload["config"]] == [main, str(tmp_path / "conf.d/a.conf"), str(tmp_path / "b.conf")]
        http = payload["config"][0]["parsed"][0]
        assert [s["includes"] for s in http["block"]] == [[1], [1]]
        assert payload["config"][1]["parsed"][0]["includes"] == [2]

    def test_prefix_overrides_the_base_directory(self, tmp_path):
        main = write(tmp_path, "sub/nginx.conf", "include x.conf;\n")
        write(tmp_path, "x.conf", "a;\n")
        assert parse(main)["status"] == "failed"
        payload = parse(main, prefix=str(tmp_path))
        assert payload["status"] == "ok" and payload["config"][1]["file"] == str(tmp_path / "x.conf")

    def test_glob_sorted_hidden_skipped_and_no_match_ok(self, tmp_path):
        main = write(tmp_path, "nginx.conf", "include s/*.conf;\ninclude none/*.conf;\n")
        for name in ("c.conf", "a.conf", "b.conf", ".hidden.conf", "z.txt"):
            write(tmp_path, "s/" + name, "x;\n")
        payload = parse(main)
        assert payload["status"] == "ok"
        assert [os.path.basename(c["file"]) for c in payload["config"][1:]] == ["a.conf", "b.conf", "c.conf"]
        assert payload["config"][0]["parsed"][1]["includes"] == []

    def test_missing_include_reported_at_the_include_line(self, tmp_path):
        main = write(tmp_path, "nginx.conf", "a;\ninclude missing.conf;\nb;\n")
        payload = parse(main)
        missing = os.path.join(str(tmp_path), "missing.conf")
        assert payload["errors"] == [{"file": main, "line": 2,
                                      "error": "[Errno 2] No such file or directory: '%s'" % missing}]
        assert payload["config"][0]["parsed"][1] == {"directive": "include", "line": 2, "args": ["missing.conf"], "includes": []}
        assert payload["config"][0]["parsed"][2]["directive"] == "b"

    def test_directory_and_broken_symlink_reported(self, tmp_path):
        main = write(tmp_path, "nginx.conf", "include d;\ninclude links/*.conf;\nok;\n")
        (tmp_path / "d").mkdir()
        (tmp_path / "links").mkdir()
        (tmp_path / "links" / "dead.conf").symlink_to(tmp_path / "nowhere.conf")
        payload = parse(main)
        assert payload["status"] == "failed"
        assert payload["errors"][0]["line"] == 1 and "Is a directory" in payload["errors"][0]["error"]
        dead = payload["config"][1]
        assert dead["file"].endswith("dead.conf") and dead["status"] == "failed" and dead["errors"][0]["line"] is None
        assert payload["config"][0]["parsed"][-1]["directive"] == "ok"

    @pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can read a mode 000 file")
    def test_unreadable_file_reported_and_rest_parsed(self, tmp_path):
        main = write(tmp_path, "nginx.conf", "include secret.conf;\nok;\n")
        secret = write(tmp_path, "secret.conf", "a;\n")
        os.chmod(secret, 0)
        try:
            payload = parse(main)
        finally:
            os.chmod(secret, 0o600)
        assert error_lines(payload) == [(main, 1)] and "Permission denied" in payload["errors"][0]["error"]
        assert payload["config"][0]["parsed"][-1]["directive"] == "ok"

    def test_unreadable_file_via_os_error(self, tmp_path, monkeypatch):
        """The same as above for root: reading raises PermissionError."""
        main = write(tmp_path, "nginx.conf", "include secret.conf;\ninclude g/*.conf;\nok;\n")
        write(tmp_path, "secret.conf", "a;\n")
        write(tmp_path, "g/other.conf", "a;\n")
        real_open = os.open

        def fake_open(path, *args, **kwargs):
            if str(path).endswith(("secret.conf", "other.conf")):
                raise PermissionError(13, "Permission denied", path)
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr("os.open", fake_open)
        payload = parse(main)
        assert [(e["file"], e["line"]) for e in payload["errors"]] == [(main, 1), (str(tmp_path / "g/other.conf"), None)]
        assert "Permission denied" in payload["errors"][0]["error"]
        assert payload["config"][0]["parsed"][-1]["directive"] == "ok"

    def test_symlinks_are_followed(self, tmp_path):
        write(tmp_path, "sites-available/app", "server { listen 8000; }\n")
        (tmp_path / "sites-enabled").mkdir()
        (tmp_path / "sites-enabled" / "app").symlink_to(tmp_path / "sites-available" / "app")
        main = write(tmp_path, "nginx.conf", "http { include sites-enabled/*; }\n")
        payload = parse(main)
        assert payload["status"] == "ok"
        assert payload["config"][1]["parsed"][0]["block"][0]["args"] == ["8000"]

    def test_include_cycle_reported_and_finite(self, tmp_path):
        main = write(tmp_path, "nginx.conf", "include a.conf;\n")
        write(tmp_path, "a.conf", "x;\ninclude b.conf;\n")
        write(tmp_path, "b.conf", "y;\ninclude a.conf;\n")
        payload = parse(main)
        assert [c["file"] for c in payload["config"]] == [main, str(tmp_path / "a.conf"), str(tmp_path / "b.conf")]
        assert error_lines(payload) == [(str(tmp_path / "b.conf"), 2)]
        assert "include cycle" in payload["errors"][0]["error"]
        combined = parse(main, combine=True)
        assert [s["directive"] for s in combined["config"][0]["parsed"]] == ["x", "y"]

    def test_self_include_cycle(self):
        payload = parsed("include nginx.conf;\n")
        assert len(payload["config"]) == 1 and error_lines(payload) == [("/etc/nginx/nginx.conf", 1)]

    def test_single_file_does_not_follow(self, tmp_path):
        main = write(tmp_path, "nginx.conf", "include missing.conf;\n")
        payload = parse(main, single_file=True)
        assert payload["status"] == "ok"
        assert payload["config"][0]["parsed"] == [{"directive": "include", "line": 1, "args": ["missing.conf"]}]

    def test_combine(self, tmp_path):
        main = write(tmp_path, "nginx.conf", "http {\n include s/*.conf;\n}\n")
        write(tmp_path, "s/1.conf", "server { include loc.conf; }\n")
        write(tmp_path, "s/2.conf", "server { include loc.conf; }\n")
        write(tmp_path, "loc.conf", "location / { return 204; }\n")
        payload = parse(main, combine=True)
        assert len(payload["config"]) == 1
        servers = payload["config"][0]["parsed"][0]["block"]
        assert [s["file"] for s in servers] == [str(tmp_path / "s/1.conf"), str(tmp_path / "s/2.conf")]
        for server in servers:
            assert server["block"] == [{"file": str(tmp_path / "loc.conf"), "directive": "location", "line": 1,
                                        "args": ["/"], "block": [{"file": str(tmp_path / "loc.conf"),
                                                                  "directive": "return", "line": 1, "args": ["204"]}]}]

    def test_virtual_files_and_globs(self):
        files = {
            "/etc/nginx/nginx.conf": b"http { include /etc/nginx/conf.d/*.conf; include mime.types; }\n",
            "/etc/nginx/mime.types": "types { text/html html; }\n",
            "/etc/nginx/conf.d/b.conf": "server { listen 81; }\n",
            "/etc/nginx/conf.d/a.conf": "server { listen 80; }\n",
            "/etc/nginx/conf.d/sub/c.conf": "server { listen 82; }\n",
            "/etc/nginx/conf.d/.x.conf": "server { listen 83; }\n",
        }
        payload = parse("/etc/nginx/nginx.conf", files=files)
        assert payload["status"] == "ok"
        assert [c["file"] for c in payload["config"]] == [
            "/etc/nginx/nginx.conf", "/etc/nginx/conf.d/a.conf", "/etc/nginx/conf.d/b.conf", "/etc/nginx/mime.types"]

    def test_virtual_files_never_touch_disk(self, tmp_path):
        real = write(tmp_path, "real.conf", "a;\n")
        payload = parse("/v/nginx.conf", files={"/v/nginx.conf": "include %s;\n" % real})
        assert payload["status"] == "failed" and payload["errors"][0]["line"] == 1

    def test_relative_paths_stay_relative(self, tmp_path, monkeypatch):
        write(tmp_path, "conf/nginx.conf", "include x.conf;\n")
        write(tmp_path, "conf/x.conf", "a;\n")
        monkeypatch.chdir(tmp_path)
        payload = parse("conf/nginx.conf")
        assert [c["file"] for c in payload["config"]] == ["conf/nginx.conf", os.path.join("conf", "x.conf")]


# --- nginx -T ---------------------------------------------------------------------------


def test_split_nginx_T_and_parse_it():
    output = (
        "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n"
        "nginx: configuration file /etc/nginx/nginx.conf test is successful\n"
        "# configuration file /etc/nginx/nginx.conf:\n"
        "user www-data;\n"
        "http {\n    include /etc/nginx/sites-enabled/*;\n}\n"
        "\n"
        "# configuration file /etc/nginx/sites-enabled/default:\n"
        "server {\n    # configuration file in a comment, not a marker\n    listen 80;\n}\n"
        "\n"
    )
    files = split_nginx_T(output)
    assert list(files) == ["/etc/nginx/nginx.conf", "/etc/nginx/sites-enabled/default"]
    assert files["/etc/nginx/nginx.conf"] == "user www-data;\nhttp {\n    include /etc/nginx/sites-enabled/*;\n}\n"
    assert files["/etc/nginx/sites-enabled/default"].startswith("server {\n")
    payload = parse(next(iter(files)), files=files)
    assert payload["status"] == "ok"
    assert payload["config"][1]["parsed"][0]["block"][0] == {"directive": "listen", "line": 3, "args": ["80"]}


def test_split_nginx_T_without_markers():
    assert split_nginx_T("nginx: [emerg] unknown directive\n") == {}
