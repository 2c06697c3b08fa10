# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exactness of nginx_parser against crossplane's own expected outputs.

``../shared/corpus/oracle/crossplane/`` holds, one JSON file per assertion, what crossplane's
test-suite expects for the configs in ``../shared/corpus/nginx/crossplane/tests/configs``.
Paths in it are relative to ``nginx/crossplane/tests``, so each case runs from there. Error
entries are compared by file and line only (the wording is ours). The ``strict`` case is not
a requirement (no directive table) and is left out; so are formatter cases (no formatter).

The nginx-go-crossplane payloads marked reproducible in that oracle's README are used as
extra checks, also from their own directory.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils.nginx_parser import lex, parse

SHARED = Path(__file__).resolve().parents[4] / ".." / "shared"
CORPUS = SHARED / "corpus"
ORACLE = CORPUS / "oracle" / "crossplane"
TESTS_DIR = CORPUS / "nginx" / "crossplane" / "tests"
GO_ORACLE = CORPUS / "oracle" / "nginx-go-crossplane"
GO_CONFIGS = CORPUS / "nginx" / "nginx-go-crossplane" / "testdata" / "configs"

pytestmark = pytest.mark.skipif(not ORACLE.is_dir(), reason="corpus not found at %s (../shared next to the repo)" % ORACLE)

# crossplane keyword -> ours
_KWARGS = {"single": "single_file", "comments": "comments", "combine": "combine", "ignore": "ignore",
           "catch_errors": "catch_errors"}


def _cases(function):
    if not ORACLE.is_dir():
        return []
    cases = []
    for path in sorted(ORACLE.glob("*.json")):
        data = json.loads(path.read_text())
        if data["call"]["function"] != function:
            continue
        marks = []
        if data["call"]["kwargs"].get("strict"):
            marks.append(pytest.mark.skip(reason="strict (directive table) is outside the requirement"))
        cases.append(pytest.param(data, id=path.stem, marks=marks))
    return cases


def _normalise_errors(payload):
    """Drop error wording: compare errors by file and line."""
    payload = json.loads(json.dumps(payload))
    payload["errors"] = [{"file": e["file"], "line": e["line"]} for e in payload["errors"]]
    for config in payload["config"]:
        config["errors"] = [{"line": e["line"]} for e in config["errors"]]
    return payload


@pytest.mark.parametrize("case", _cases("crossplane.parse"))
def test_parse_matches_crossplane(case, monkeypatch):
    monkeypatch.chdir(TESTS_DIR)
    kwargs = {_KWARGS[k]: v for k, v in case["call"]["kwargs"].items()}
    payload = parse(case["call"]["file"], **kwargs)
    assert _normalise_errors(payload) == _normalise_errors(case["expected"])


@pytest.mark.parametrize("case", _cases("crossplane.lex"))
def test_lex_matches_crossplane(case):
    path = TESTS_DIR / case["call"]["file"]
    tokens = lex(path.read_bytes(), str(path))
    if case["compares"].startswith("list((token, line)"):
        got = [[token, line] for token, line, _quoted in tokens]
    else:
        assert case["compares"].startswith("list(token ")
        got = [token for token, _line, _quoted in tokens]
    assert got == case["expected"]


def _go_cases():
    readme = GO_ORACLE / "README.md"
    if not readme.is_file():
        return []
    cases = []
    for row in readme.read_text().splitlines():
        cells = [c.strip().strip("`") for c in row.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[3].startswith("yes"):
            continue
        payload_name, config = cells[0], cells[1]
        options = cells[3]
        kwargs = {}
        if "comments=True" in options:
            kwargs["comments"] = True
        marks = []
        if payload_name.startswith("bad-args/"):
            marks.append(pytest.mark.skip(reason="needs crossplane's argument-count table (check_args)"))
        cases.append(pytest.param(payload_name, config.replace("testdata/configs/", "", 1), kwargs,
                                  id=payload_name, marks=marks))
    return cases


@pytest.mark.parametrize("payload_name, config, kwargs", _go_cases())
def test_parse_matches_go_oracle(payload_name, config, kwargs, monkeypatch):
    expected = json.loads((GO_ORACLE / payload_name).read_text())
    monkeypatch.chdir(GO_CONFIGS)
    main = expected["config"][0]["file"]
    # the stored payloads use the names crossplane was given; keep only the part after the
    # config directory so both sides name files the same way
    prefix = main[: len(main) - len(config)] if main.endswith(config) else None
    if prefix is None:
        pytest.skip("stored payload names %s, not %s" % (main, config))

    def strip(obj):
        text = json.dumps(obj).replace(json.dumps(prefix)[1:-1], "")
        return json.loads(text)

    got = parse(config, **kwargs)
    assert _normalise_errors(got) == _normalise_errors(strip(expected))


def _golden_cases():
    directory = GO_ORACLE / "upstream_resolver_directive"
    if not directory.is_dir():
        return []
    return sorted(p.name[: -len(".golden")] for p in directory.glob("*.conf.golden"))


def _without_lines(stmts):
    return [{k: (_without_lines(v) if k == "block" else v) for k, v in s.items() if k != "line"} for s in stmts]


@pytest.mark.parametrize("name", _golden_cases())
def test_go_golden_equivalence(name):
    """nginx-go-crossplane's TestParseVarArgs: the .conf and its .conf.golden parse to the same tree."""
    conf = GO_CONFIGS / "upstream_resolver_directive" / name
    golden = GO_ORACLE / "upstream_resolver_directive" / (name + ".golden")
    got = parse(str(conf), single_file=True)
    want = parse(str(golden), single_file=True)
    assert got["status"] == want["status"] == "ok"
    assert _without_lines(got["config"][0]["parsed"]) == _without_lines(want["config"][0]["parsed"])
