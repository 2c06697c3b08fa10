# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""collect_nginx: the nginx facts section put together (files or nginx -T, nginx -t beside the parse)."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import nginx_facts as NF
from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_config import analyze_config
from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_running import find_binary
from ansible_collections.badgateway.doctor.plugins.module_utils.nginx_parser import parse
from nginx_helpers import fake_nginx, make_fifo, make_proc, release_fifo, within, write


def routes_by_location(result):
    return {r["location"]: r for r in result["routes"]}


# --------------------------------------------------------------------------- nginx -T


# What `nginx -T` printed on a lab host (Debian bookworm, nginx 1.22.1), trimmed: the
# mime.types body is shortened and comments removed.
NGINX_T = """\
# configuration file /etc/nginx/nginx.conf:
user www-data;
worker_processes auto;
pid /run/nginx.pid;
error_log /var/log/nginx/error.log;
include /etc/nginx/modules-enabled/*.conf;

events {
\tworker_connections 768;
}

http {
\tsendfile on;
\tinclude /etc/nginx/mime.types;
\tdefault_type application/octet-stream;
\taccess_log /var/log/nginx/access.log;
\tinclude /etc/nginx/conf.d/*.conf;
\tinclude /etc/nginx/sites-enabled/*;
}

# configuration file /etc/nginx/mime.types:

types {
    text/html                             html htm shtml;
    text/css                              css;
}

# configuration file /etc/nginx/sites-enabled/lab:
upstream wsgi_app {
    server unix:/run/gunicorn/gunicorn.sock fail_timeout=0;
}

server {
    listen 80 default_server;
    server_name _;

    location / {
        proxy_set_header Host $host;
        proxy_pass http://wsgi_app;
    }

    location /asgi/ {
        proxy_pass http://127.0.0.1:8001/;
    }
}

"""


def test_nginx_T_output_gives_the_same_facts_as_the_files(tmp_path):
    errors = []
    payload, files = NF.payload_from_nginx_T(NGINX_T, errors)
    assert errors == []
    assert list(files) == ["/etc/nginx/nginx.conf", "/etc/nginx/mime.types", "/etc/nginx/sites-enabled/lab"]
    assert [c["file"] for c in payload["config"]] == list(files)
    from_t = analyze_config(payload, version="1.22.1", resolve=False)
    r = routes_by_location(from_t)
    assert r["/"]["upstream"] == "wsgi_app"
    assert r["/"]["endpoints"] == [{"kind": "unix", "path": "/run/gunicorn/gunicorn.sock"}]
    assert r["/asgi/"]["endpoints"][0]["port"] == 8001
    assert (r["/"]["file"], r["/"]["line"]) == ("/etc/nginx/sites-enabled/lab", 11)
    assert from_t["user"] == "www-data"

    # the same files on disk, under tmp_path, give the same routes
    for path, text in files.items():
        write(tmp_path, path.lstrip("/"), text)
    main = tmp_path / "etc/nginx/nginx.conf"
    main.write_text(main.read_text().replace("/etc/nginx/", str(tmp_path / "etc/nginx") + "/"))
    from_disk = analyze_config(parse(str(main)), version="1.22.1", resolve=False)

    def strip(routes):
        return [dict(r, file=os.path.basename(r["file"])) for r in routes]
    assert strip(from_disk["routes"]) == strip(from_t["routes"])


def test_nginx_T_without_files_is_an_error():
    errors = []
    assert NF.payload_from_nginx_T("nginx: [emerg] unexpected end of file\n", errors) == (None, None)
    assert errors and errors[0]["source"] == "nginx_bin"


# --------------------------------------------------------------------------- collect_nginx


def test_collect_without_binary_parses_only_the_given_file(tmp_path, monkeypatch):
    conf = write(tmp_path, "nginx.conf", "user app appgroup;\nhttp { server { location / { proxy_pass http://127.0.0.1:8000; } } }\n")
    facts = NF.collect_nginx(conf_path=conf, binary=str(tmp_path / "missing"), run_test=True, proc=str(tmp_path))
    assert facts["present"] is False and facts["binary"] is None
    assert facts["test"] == {"ok": None, "rc": None, "output": "", "skipped": False}
    assert facts["source"] == "files"
    assert facts["user"] == "app" and facts["group"] == "appgroup"
    assert [r["id"] for r in facts["routes"]] == ["_:80 /"]
    assert [e["source"] for e in facts["errors"]] == ["nginx_bin"]  # only: the named binary is missing
    assert set(facts) == {
        "present", "binary", "version", "conf_path", "prefix", "compiled_user", "source", "test", "files",
        "user", "group", "user_directive", "worker_users", "master_pid", "worker_pids", "master_started",
        "workers_started", "stale", "stale_files", "service", "error_logs", "access_logs", "log_formats", "servers",
        "upstreams", "routes", "timings", "errors"}


def test_collect_reports_missing_and_unreadable_files(tmp_path):
    (tmp_path / "adir.conf").mkdir()
    conf = write(tmp_path, "nginx.conf", """\
        http {
            include adir.conf;
            include missing.conf;
            server { location / { proxy_pass http://127.0.0.1:8000; } }
        }
    """)
    facts = NF.collect_nginx(conf_path=conf, binary=str(tmp_path / "missing"), run_test=False, proc=str(tmp_path))
    conf_errors = [e for e in facts["errors"] if e["source"] == "nginx_conf"]
    assert len(conf_errors) == 2, facts["errors"]
    assert all(e["path"] == conf for e in conf_errors)
    assert any("missing.conf" in e["message"] for e in conf_errors)
    assert [r["id"] for r in facts["routes"]] == ["_:80 /"]

    missing = NF.collect_nginx(conf_path=str(tmp_path / "nope.conf"), binary=str(tmp_path / "missing"),
                               run_test=False, proc=str(tmp_path))
    assert any(e["source"] == "nginx_conf" and "does not exist" in e["message"] for e in missing["errors"])
    assert missing["routes"] == []


def test_include_cycle_is_one_error_and_the_rest_is_read(tmp_path):
    write(tmp_path, "a.conf", "include b.conf;\nserver { location / { proxy_pass http://127.0.0.1:8000; } }\n")
    write(tmp_path, "b.conf", "include a.conf;\n")
    conf = write(tmp_path, "nginx.conf", "http { include a.conf; }\n")
    facts = NF.collect_nginx(conf_path=conf, binary=str(tmp_path / "missing"), run_test=False, proc=str(tmp_path))
    cycle = [e for e in facts["errors"] if e["source"] != "nginx_bin"]
    assert len(cycle) == 1 and cycle[0]["source"] == "nginx_conf" and "include cycle" in cycle[0]["message"]
    assert [r["id"] for r in facts["routes"]] == ["_:80 /"]


def test_collect_tree_option(tmp_path):
    write(tmp_path, "inc.conf", "# a comment\nserver { listen 81; }\n")
    conf = write(tmp_path, "nginx.conf", "http { include inc.conf; }\n")
    kw = dict(conf_path=conf, binary=str(tmp_path / "missing"), run_test=False, proc=str(tmp_path))
    assert "tree" not in NF.collect_nginx(**kw)
    facts, tree = NF.collect_nginx_and_tree(**kw)
    assert "tree" not in facts      # the facts carry no private keys for the caller to remove
    assert [c["file"] for c in tree["config"]] == [conf, str(tmp_path / "inc.conf")]
    facts, tree = NF.collect_nginx_and_tree(tree_options={"combine": True, "comments": True}, **kw)
    assert len(tree["config"]) == 1
    block = tree["config"][0]["parsed"][0]["block"]
    assert [d["directive"] for d in block] == ["#", "server"]
    # the facts still come from the per-file parse
    assert facts["files"] == [conf, str(tmp_path / "inc.conf")]
    assert facts["servers"][0]["listen"][0]["port"] == 81


@pytest.mark.skipif(find_binary() is not None, reason="nginx is installed here; covered by the lab test")
def test_collect_without_nginx_installed_is_not_a_failure(tmp_path):
    facts = NF.collect_nginx(proc=str(tmp_path))
    assert facts["present"] is False
    assert facts["errors"] == []
    assert facts["routes"] == [] and facts["files"] == []
    assert facts["user"] == "nobody"


# --------------------------------------------------------------------------- nginx -t beside the parse


@pytest.mark.parametrize("rc", [0, 1])
def test_collect_runs_the_test_while_parsing_and_reports_it(tmp_path, rc):
    conf = write(tmp_path, "nginx.conf", "http { server { location / { proxy_pass http://127.0.0.1:8000; } } }\n")
    facts = NF.collect_nginx(conf_path=conf, binary=fake_nginx(tmp_path, rc, 0.3), run_test=True, proc=str(tmp_path))
    assert facts["test"] == {"ok": rc == 0, "rc": rc, "output": "nginx: configuration file %s test (rc %d)" % (conf, rc), "skipped": False}
    assert [r["id"] for r in facts["routes"]] == ["_:80 /"]
    assert set(facts["timings"]) == {"parse", "analyze", "test_wait"}
    # the test ran while the configuration was parsed: what is left to wait for is less than its run time
    assert facts["timings"]["test_wait"] <= 0.3 + 0.2
    quiet = NF.collect_nginx(conf_path=conf, binary=fake_nginx(tmp_path), run_test=False, proc=str(tmp_path))
    assert quiet["test"] == {"ok": None, "rc": None, "output": "", "skipped": False}


def test_collect_test_timeout_is_an_error(tmp_path):
    conf = write(tmp_path, "nginx.conf", "http { }\n")
    facts = NF.collect_nginx(conf_path=conf, binary=fake_nginx(tmp_path, 0, 3), run_test=True,
                             proc=str(tmp_path), command_timeout=0.5)
    assert facts["test"]["ok"] is None and facts["test"]["rc"] is None
    assert any(e["source"] == "nginx_bin" and "did not finish within 0.5 seconds" in e["message"] for e in facts["errors"])


# --------------------------------------------------------------------------- hostile files


SITE = "server { listen 80; location / { proxy_pass http://127.0.0.1:8000; } }\n"


@pytest.fixture
def shared_tmp():
    """A directory every user can reach (pytest's tmp_path is under a directory only root can)."""
    path = tempfile.mkdtemp(prefix="bgd-nginx-")
    os.chmod(path, 0o755)
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def fifo(tmp_path):
    path = make_fifo(tmp_path / "fifo.conf")
    yield path
    release_fifo(path)


def _collect(conf, tmp_path, **kw):
    kw.setdefault("binary", str(tmp_path / "missing"))
    kw.setdefault("run_test", False)
    kw.setdefault("proc", str(tmp_path))
    return within(10, NF.collect_nginx, conf_path=conf, resolve=False, **kw)


def _conf_errors(facts):
    return [e for e in facts["errors"] if e["source"] == "nginx_conf"]


@pytest.mark.parametrize("include", ["fifo.conf", "/dev/zero", "/dev/null", "adir"])
def test_an_include_that_is_no_regular_file_is_an_error_and_the_rest_is_read(tmp_path, fifo, include):
    (tmp_path / "adir").mkdir()
    conf = write(tmp_path, "nginx.conf", "http {\n    include %s;\n    %s}\n" % (include, SITE))
    facts = _collect(conf, tmp_path)
    (err,) = _conf_errors(facts)
    name = include if include.startswith("/") else str(tmp_path / include)
    assert name in err["message"] and ("not a regular file" in err["message"] or "Is a directory" in err["message"]), err
    assert err["path"] == conf and err["message"].startswith("%s:2: " % conf)
    assert [r["id"] for r in facts["routes"]] == ["_:80 /"]


def test_a_glob_include_skips_nothing_silently_and_refuses_special_files(tmp_path):
    (tmp_path / "sites").mkdir()
    write(tmp_path, "sites/a.conf", SITE)
    make_fifo(tmp_path / "sites" / "b.conf")
    try:
        conf = write(tmp_path, "nginx.conf", "http { include sites/*.conf; }\n")
        facts = _collect(conf, tmp_path)
    finally:
        release_fifo(tmp_path / "sites" / "b.conf")
    (err,) = _conf_errors(facts)
    assert "b.conf is a FIFO" in err["message"]
    assert [r["id"] for r in facts["routes"]] == ["_:80 /"]


def test_a_huge_include_is_refused_with_the_cap_named(tmp_path):
    big = tmp_path / "big.conf"
    with open(str(big), "wb") as handle:
        handle.truncate(64 * 1024 * 1024 * 1024)      # sparse: 64 GiB that take no room
    conf = write(tmp_path, "nginx.conf", "http {\n    include big.conf;\n    %s}\n" % SITE)
    facts = _collect(conf, tmp_path)
    (err,) = _conf_errors(facts)
    assert str(big) in err["message"] and "larger than 16 MiB" in err["message"]
    assert [r["id"] for r in facts["routes"]] == ["_:80 /"]


def test_conf_path_that_is_a_fifo(tmp_path, fifo):
    facts = _collect(fifo, tmp_path)
    (err,) = _conf_errors(facts)
    assert fifo in err["message"] and "FIFO" in err["message"]
    assert facts["routes"] == [] and facts["files"] == [fifo]


def test_compiled_conf_path_that_is_a_fifo(tmp_path, fifo):
    binary = fake_nginx(tmp_path, configure="--prefix=%s --conf-path=%s" % (tmp_path, fifo))
    facts = _collect(None, tmp_path, binary=binary)
    assert facts["conf_path"] == fifo
    (err,) = _conf_errors(facts)
    assert fifo in err["message"] and "FIFO" in err["message"]


def test_a_pid_file_that_is_a_fifo(tmp_path, fifo):
    conf = write(tmp_path, "nginx.conf", "pid %s;\nhttp { %s}\n" % (fifo, SITE))
    proc = tmp_path / "proc"
    make_proc(proc, 1000.0, [(100, 1, "nginx: master process nginx -c %s" % conf, 0, 10.0),
                             (101, 100, "nginx: worker process", 33, 20.0)], os.sysconf("SC_CLK_TCK"))
    facts = _collect(conf, tmp_path, proc=str(proc))
    assert facts["master_pid"] == 100 and facts["worker_pids"] == [101]
    assert [r["id"] for r in facts["routes"]] == ["_:80 /"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a directory only root can read, and to drop to nobody")
def test_a_glob_over_a_directory_the_user_cannot_list_is_an_error(shared_tmp, as_nobody):
    # As over a non-root connection: /etc/nginx/sites-enabled readable by root only.
    tmp_path = shared_tmp
    etc = tmp_path / "etc"
    etc.mkdir()
    os.chmod(str(etc), 0o755)
    conf = write(etc, "nginx.conf", "http {\n    include sites/*.conf;\n    include more/*/*.conf;\n}\n")
    write(etc, "sites/app.conf", SITE)
    write(etc, "more/x/y.conf", SITE)
    for path in (conf, str(etc / "sites" / "app.conf"), str(etc / "more" / "x" / "y.conf")):
        os.chmod(path, 0o644)
    os.chmod(str(etc / "sites"), 0o700)
    os.chmod(str(etc / "more"), 0o755)
    os.chmod(str(etc / "more" / "x"), 0o711)     # searchable, not listable

    as_root = _collect(conf, tmp_path)
    assert [r["id"] for r in as_root["routes"]] == ["_:80 /", "_:80 / #2"] and _conf_errors(as_root) == []

    facts = as_nobody(_collect, conf, tmp_path)
    assert facts["routes"] == []
    errors = _conf_errors(facts)
    assert [e["message"] for e in errors] == [
        "%s:2: cannot list directory %s: permission denied (include sites/*.conf): the files it holds are not known"
        % (conf, etc / "sites"),
        "%s:3: cannot list directory %s: permission denied (include more/*/*.conf): the files it holds are not known"
        % (conf, etc / "more" / "x"),
    ]
    assert all(e["path"] == conf for e in errors)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to nobody")
def test_a_conf_path_the_user_cannot_reach_is_not_called_missing(shared_tmp, as_nobody):
    private = shared_tmp / "private"
    conf = write(private, "nginx.conf", "http { %s}\n" % SITE)
    os.chmod(str(private), 0o700)
    facts = as_nobody(_collect, conf, shared_tmp)
    (err,) = _conf_errors(facts)
    assert "Permission denied" in err["message"] and "does not exist" not in err["message"], err


def test_nginx_t_is_not_left_to_block_on_a_fifo(tmp_path, fifo):
    # the fake nginx -t stands for the real one, which would block opening the FIFO until killed
    conf = write(tmp_path, "nginx.conf", "http {\n    include fifo.conf;\n    %s}\n" % SITE)
    facts = _collect(conf, tmp_path, binary=fake_nginx(tmp_path, 0, 30), run_test="always", command_timeout=60)
    assert facts["test"] == {"ok": None, "rc": None, "skipped": False,
                             "output": "not run: nginx would wait for ever reading %s (a FIFO, not a file)" % fifo}
    assert any(e["source"] == "nginx_bin" and fifo in e["message"] for e in facts["errors"])
