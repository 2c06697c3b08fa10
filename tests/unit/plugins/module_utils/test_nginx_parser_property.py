# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property tests: on any input the parser returns a payload or raises NginxParseError, fast.

Inputs are random texts and bytes over an alphabet dense in nginx syntax, corpus configs
mutated at random, and random include graphs (globs, cycles, self-includes) in a virtual
file system. Hypothesis' deadline turns a hang or a super-linear blow-up into a failure.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.badgateway.doctor.plugins.module_utils import _nginx_lexer
from ansible_collections.badgateway.doctor.plugins.module_utils.nginx_parser import NginxParseError, lex, parse

CORPUS = (Path(__file__).resolve().parents[4] / ".." / "shared" / "corpus" / "nginx").resolve()
MAIN = "/etc/nginx/nginx.conf"

SETTINGS = settings(max_examples=200, deadline=2000, database=None, suppress_health_check=[HealthCheck.too_slow])

PIECES = list("ab$_ {};#\"'\\\n\r\t()=~^*/.") + [
    "${", "include ", "if (", "_by_lua_block ", "content_by_lua_block {", "set_by_lua_block $x {",
    "--", "\u00a0", "\ufffd", "\x00", "server {", "}\n"]
ALPHABET = st.sampled_from(PIECES)
NGINX_TEXT = st.lists(ALPHABET, max_size=120).map("".join)


def _corpus_texts():
    texts = []
    if CORPUS.is_dir():
        for directory, _dirs, names in os.walk(CORPUS):
            for name in names:
                if name.endswith(".conf") or name in ("nginx.conf", "mime.types", "default"):
                    with open(os.path.join(directory, name), "rb") as handle:
                        data = handle.read()
                    if len(data) < 20000:
                        texts.append(data)
    texts.sort()
    return texts or [b"http {\n server {\n  listen 80;\n  location / { proxy_pass http://x; }\n }\n}\n"]


CORPUS_TEXTS = _corpus_texts()


def check_parse(files, **kwargs):
    """Parse with errors caught and not caught; check the payload's shape."""
    payload = parse(MAIN, files=files, **kwargs)
    assert payload["status"] in ("ok", "failed")
    assert (payload["status"] == "failed") == bool(payload["errors"])
    assert sum(len(c["errors"]) for c in payload["config"]) == len(payload["errors"]) or kwargs.get("combine")
    for error in payload["errors"]:
        assert error["line"] is None or isinstance(error["line"], int)
    names = [c["file"] for c in payload["config"]]
    assert len(names) == len(set(names))  # each file parsed once
    try:
        strict = parse(MAIN, files=files, catch_errors=False, **kwargs)
    except NginxParseError as exc:
        assert payload["status"] == "failed"
        first = payload["errors"][0]
        assert (exc.file, exc.line) == (first["file"], first["line"])
    else:
        assert payload["status"] == "ok" and strict == payload
    return payload


@SETTINGS
@given(text=NGINX_TEXT, comments=st.booleans(), combine=st.booleans())
def test_random_text_never_crashes(text, comments, combine):
    check_parse({MAIN: text}, comments=comments, combine=combine)
    try:
        lex(text)
    except NginxParseError:
        pass


@SETTINGS
@given(data=st.binary(max_size=300))
def test_random_bytes_never_crash(data):
    check_parse({MAIN: data})


@SETTINGS
@given(text=NGINX_TEXT.filter(lambda t: "_by_lua_block" not in t))
def test_fast_tokenizer_equals_slow_tokenizer(text):
    text = _nginx_lexer.decode(text)
    fast_tokens, fast_error = _nginx_lexer._tokenize_fast(text, "f")
    slow_tokens, slow_error = _nginx_lexer._tokenize_slow(text, "f")
    assert fast_tokens == slow_tokens
    assert str(fast_error) == str(slow_error)


@st.composite
def mutated_corpus_file(draw):
    data = bytearray(draw(st.sampled_from(CORPUS_TEXTS)))
    for _mutation in range(draw(st.integers(0, 6))):
        if not data:
            break
        where = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["delete", "insert", "duplicate"]))
        if kind == "delete":
            del data[where:where + draw(st.integers(1, 40))]
        elif kind == "insert":
            data[where:where] = draw(st.sampled_from([b"{", b"}", b";", b'"', b"'", b"\\", b"#", b"${", b"\n",
                                                      b"include *.conf;", b"\xff\xfe", b"\r"]))
        else:
            end = min(len(data), where + draw(st.integers(1, 200)))
            data[where:where] = data[where:end]
    return bytes(data)


@pytest.mark.skipif(not CORPUS.is_dir(), reason="corpus not found")
@SETTINGS
@given(data=mutated_corpus_file(), comments=st.booleans())
def test_mutated_corpus_configs_never_crash(data, comments):
    check_parse({MAIN: data, "/etc/nginx/a.conf": data}, comments=comments)


@st.composite
def include_graph(draw):
    names = ["/etc/nginx/nginx.conf", "/etc/nginx/a.conf", "/etc/nginx/conf.d/b.conf", "/etc/nginx/conf.d/c.conf"]
    targets = ["a.conf", "conf.d/b.conf", "conf.d/*.conf", "/etc/nginx/nginx.conf", "nginx.conf", "missing.conf",
               "conf.d/*.missing", "/etc/nginx/conf.d/c.conf", "./a.conf", "conf.d"]
    files = {}
    for name in names:
        lines = []
        for _line in range(draw(st.integers(0, 4))):
            target = draw(st.sampled_from(targets))
            if draw(st.booleans()):
                lines.append("include %s;" % target)
            else:
                lines.append("http { include %s; x; }" % target)
        files[name] = "\n".join(lines)
    return files


@SETTINGS
@given(files=include_graph(), combine=st.booleans())
def test_random_include_graphs_terminate(files, combine):
    payload = check_parse(files, combine=combine)
    if not combine:
        for config in payload["config"]:
            assert os.path.normpath(config["file"]) in files
