# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The app server specs (module_utils/_apps_kinds.py) checked against the servers' own sources.

``fixtures/app_servers/options.json`` holds every command-line option of gunicorn (23.0.0, the lab's
version, and 26.1.0), uvicorn (0.34.0, the lab's, and 0.35.0), hypercorn 0.18.0, daphne 4.2.2 and
uWSGI 2.0.30 as their sources declare them (extracted by ``extract_options.py`` beside it). Each
spec must read every option of its server the way the server does (a switch, a value, an optional
value), name the same settings and carry the same defaults. The same check runs against the real
gunicorn and uvicorn installed on a lab host in tests/integration/test_apps_kinds_lab.py.
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import _apps_kinds as kinds
from ansible_collections.badgateway.doctor.plugins.module_utils._apps_spec import LIST, SECRET, parse_args

UPSTREAM = json.loads((Path(__file__).resolve().parent / "fixtures" / "app_servers" / "options.json").read_text())
COMPLETE = ("gunicorn", "uvicorn", "hypercorn", "daphne")   # every option of these is in the spec
# Defaults that are not a literal in the option table, with where the value comes from.
NOT_LITERAL = {
    ("gunicorn", "workers"): 1,           # config.py: int(os.environ.get("WEB_CONCURRENCY", 1))
    ("uvicorn", "workers"): 1,            # config.py: $WEB_CONCURRENCY, else 1 (the option's default is None)
    ("uwsgi", "max_requests"): 0,         # a zero-initialised global in uwsgi.h; 0 = never
}


def sources(kind):
    return UPSTREAM[kind]


def upstream_flags(kind):
    """{flag: takes_value} over every version in the fixture ("optional" wins over yes/no: it was added)."""
    out = {}
    for src in sources(kind):
        for opt in src["options"]:
            for flag in opt["flags"]:
                if out.get(flag) != "optional":
                    out[flag] = opt["takes_value"]
    return out


def upstream_option(kind, flag, rev=None):
    for src in sources(kind):
        if rev is None or src["rev"] == rev:
            for opt in src["options"]:
                if flag in opt["flags"]:
                    return opt
    return None


def _value(expr):
    """A default such as ``3 * SECONDS`` (hypercorn's units are 1) as a number."""
    if not isinstance(expr, dict):
        return expr
    node = ast.parse(expr["expr"], mode="eval").body
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        left, right = node.left, node.right
        if isinstance(left, ast.Constant) and isinstance(right, ast.Name) and right.id in ("SECONDS", "BYTES", "OCTETS"):
            return left.value
    return expr


@pytest.mark.parametrize("kind", COMPLETE)
def test_spec_reads_every_upstream_option_like_the_server(kind):
    spec = kinds.get(kind)
    wrong = {flag: takes for flag, takes in upstream_flags(kind).items() if not spec.reads_like(flag, takes)}
    assert wrong == {}, "options the spec of %s reads differently from the server: %s" % (kind, wrong)


@pytest.mark.parametrize("kind", sorted(UPSTREAM.keys() - {"_note"}))
def test_every_spec_option_exists_upstream_as_declared(kind):
    spec = kinds.get(kind)
    known = upstream_flags(kind)
    ours = [f for o in spec.options for f in o.flags] + sorted(spec.switches)
    builtin = {"-h", "--help", "-v", "--version"} if kind != "daphne" else {"-h", "--help"}   # argparse / click add these
    unknown = sorted(f for f in ours if f not in known and f not in builtin)
    assert unknown == [], "%s spec options the server does not have: %s" % (kind, unknown)
    # the same reading: a spec switch is a switch upstream, a value option takes a value
    mismatch = {f: (spec.reads(f), known[f]) for f in ours if f in known and not spec.reads_like(f, known[f])}
    assert mismatch == {}


@pytest.mark.parametrize("kind", sorted(UPSTREAM.keys() - {"_note"}))
def test_list_options_are_the_servers_append_options(kind):
    for flag in [f for o in kinds.get(kind).options if o.type == LIST for f in o.flags]:
        up = upstream_option(kind, flag)
        if kind == "uwsgi":       # uWSGI's socket options add a socket each time (uwsgi_opt_add_socket)
            assert up["takes_value"] == "yes"
        else:
            assert up["multiple"] is True, flag


def _setting_default(kind, opt):
    """The server's default for a spec option (from the source that declares it)."""
    if kind == "hypercorn":
        defaults = sources(kind)[0]["config_defaults"]
        setting = spec_setting(kinds.get(kind), opt)
        return _value(defaults.get(setting, defaults.get("_" + setting)))
    if kind == "daphne":
        return sources(kind)[0]["constants"]["DEFAULT_" + opt.key.upper()]
    if kind == "uwsgi":
        init = sources(kind)[0]["init_defaults"]
        return {"workers": init["numproc"], "backlog": init["listen_queue"]}[opt.key]
    up = upstream_option(kind, opt.flags[0], rev=sources(kind)[0]["rev"]) if opt.flags else None
    return _value(up["default"])


def spec_setting(spec, opt):
    return spec.settings_of(opt)[0]


@pytest.mark.parametrize("kind", ("gunicorn", "uvicorn", "hypercorn", "daphne", "uwsgi"))
def test_spec_defaults_are_the_servers(kind):
    spec = kinds.get(kind)
    checked = []
    for key, value in spec.defaults.items():
        if (kind, key) in NOT_LITERAL:
            assert value == NOT_LITERAL[(kind, key)]
            continue
        opt = next(o for o in spec.options if o.key == key)
        assert _setting_default(kind, opt) == value, (kind, key)
        checked.append(key)
    assert checked


def test_gunicorn_facts_from_its_config_py():
    """The options the diagnosis leans on, by name, as gunicorn 23.0.0's config.py declares them."""
    spec = kinds.GUNICORN
    facts = {  # flags: (spec key, gunicorn setting name, default)
        ("-b", "--bind"): ("bind", "bind", ["127.0.0.1:8000"]),
        ("-t", "--timeout"): ("timeout", "timeout", 30),
        ("--graceful-timeout",): ("graceful_timeout", "graceful_timeout", 30),
        ("--keep-alive",): ("keepalive", "keepalive", 2),
        ("-w", "--workers"): ("workers", "workers", 1),
        ("-m", "--umask"): ("umask", "umask", 0),
        ("--backlog",): ("backlog", "backlog", 2048),
        ("-k", "--worker-class"): ("worker_class", "worker_class", "sync"),
        ("--max-requests",): ("max_requests", "max_requests", 0),
    }
    for flags, (key, setting, default) in facts.items():
        up = upstream_option("gunicorn", flags[0], rev="23.0.0")
        assert tuple(up["flags"]) == flags and up["setting"] == setting
        assert _value(up["default"]) == default or (key, default) == ("workers", 1)
        opt = spec.by_flag[flags[0]]
        assert (opt.key, opt.flags, spec_setting(spec, opt), spec.defaults[key]) == (key, flags, setting, default)
    assert spec.env_args == "GUNICORN_CMD_ARGS" and spec.config.default == "gunicorn.conf.py"
    assert spec.env_defaults["WEB_CONCURRENCY"][0] == "workers" and "WEB_CONCURRENCY" in upstream_option("gunicorn", "-w")["default"]["expr"]
    assert spec.by_flag["-e"].type == SECRET
    # the parser reads gunicorn's switches without eating the app, and its value options with theirs
    settings, pos = parse_args(spec, ["--preload", "--access-logfile", "-", "--header-map", "drop", "-m", "007", "-w4",
                                      "--proxy-protocol", "app:app"])
    assert pos == ["app:app"] and settings == {"umask": "007", "workers": "4"}


def test_uvicorn_facts_from_its_main_py():
    spec = kinds.UVICORN
    facts = {"--host": ("host", "127.0.0.1"), "--port": ("port", 8000), "--timeout-keep-alive": ("keepalive", 5),
             "--backlog": ("backlog", 2048)}
    for flag, (key, default) in facts.items():
        up = upstream_option("uvicorn", flag, rev="0.34.0")
        assert up["default"] == default and spec.by_flag[flag].key == key and spec.defaults[key] == default
        assert up["envvar"] in spec.env_names() and spec.env_names()[up["envvar"]].key == key
    assert "UVICORN_SSL_KEYFILE_PASSWORD" not in spec.env_names()      # a secret is never read from the environment
    assert spec.by_flag["--ssl-keyfile-password"].type == SECRET


def test_hypercorn_daphne_uwsgi_facts():
    h = kinds.HYPERCORN
    assert (h.defaults["keepalive"], h.defaults["graceful_timeout"], h.defaults["backlog"], h.defaults["bind"]) == (5, 3, 100, ["127.0.0.1:8000"])
    assert h.settings_of(h.by_flag["--keep-alive"]) == ("keep_alive_timeout",)
    d = kinds.DAPHNE
    assert d.by_flag["-u"].key == "uds" and d.by_flag["-e"].key == "endpoint" and d.by_flag["-s"].key is None
    w = kinds.UWSGI
    assert w.by_flag["-t"].key == "timeout" and w.settings_of(w.by_flag["--harakiri"]) == ("harakiri",)
    assert w.settings_of(w.by_flag["-p"]) == ("processes", "workers")
    assert set(w.env_names()) >= {"UWSGI_SOCKET", "UWSGI_HTTP_SOCKET", "UWSGI_PROCESSES", "UWSGI_HARAKIRI"}
    assert "UWSGI_ENV" not in w.env_names() and "UWSGI_SET" not in w.env_names()


def test_every_kind_is_found_by_its_program_names():
    for spec in kinds.KINDS.values():
        for prog in spec.programs:
            assert spec.matches_program(prog) and spec.matches_program(prog + "3")
            assert not spec.matches_program(prog + "top")
        assert set(spec.unit_words) <= set(kinds.unit_words())
