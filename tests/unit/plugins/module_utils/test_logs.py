# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Log tail + classification (module_utils/logs.py, _log_patterns.py)."""
from __future__ import annotations

import json
import os
import random
import re
import time
from pathlib import Path

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import _log_patterns as lp
from ansible_collections.badgateway.doctor.plugins.module_utils import logs as L

CORPUS = Path(__file__).resolve().parents[4] / ".." / "shared" / "corpus" / "logs"
needs_corpus = pytest.mark.skipif(not (CORPUS / "README.md").is_file(),
                                  reason="log corpus ../shared/corpus/logs is not present next to the checkout")

# collector label -> our class (None: the line must NOT be classified as an upstream/app failure)
NGINX_LABELS = {"upstream-connect-refused": "connect_refused"}
OOM_LABELS = {"oom-killed-process", "oom-kill-decision", "oom-kill-constraint"}


def _corpus(kind):
    lines = (CORPUS / ("%s.log" % kind)).read_text(encoding="utf-8").split("\n")
    meta = [json.loads(x) for x in (CORPUS / ("%s.meta.jsonl" % kind)).read_text(encoding="utf-8").splitlines() if x.strip()]
    assert len(lines) >= len(meta)
    return list(zip(lines, meta))


def ts_ngx(epoch):
    return time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(epoch))


# --------------------------------------------------------------------------- corpus


@needs_corpus
def test_corpus_nginx_labels():
    checked = 0
    for line, meta in _corpus("nginx-error"):
        res = lp.classify_line("nginx_error", line)
        want = NGINX_LABELS.get(meta["label"])
        got = res[0] if res else None
        # static files missing / forbidden (open() failed (2:/13:)) are not upstream failures
        assert got == want, (meta["line_no"], meta["label"], line)
        checked += 1
    assert checked == 14


@needs_corpus
def test_corpus_nginx_connect_refused_target():
    for line, meta in _corpus("nginx-error"):
        if meta["label"] == "upstream-connect-refused":
            cls, detail, targets = lp.classify_nginx(line)
            upstream = re.search(r'upstream: "(\w+://[^/"]+)/[^"]*"', line).group(1)
            assert cls == "connect_refused" and detail["errno"] == 111 and targets == [upstream + "/"]


@needs_corpus
def test_corpus_kernel_oom_labels():
    kills = 0
    for line, meta in _corpus("kernel-oom"):
        res = lp.classify_line("kernel", line)
        if meta["label"] in OOM_LABELS:
            assert res and res[0] == "oom_kill", (meta["line_no"], line)
            m = re.search(r"(?:process (\d+) \(([^)]*)\)|task=([^,]*),pid=(\d+))", line)
            pid = int(m.group(1) or m.group(4))
            proc = m.group(2) if m.group(1) else m.group(3)
            assert res[1]["pid"] == pid and res[1]["process"] == proc
            kills += 1
        else:
            # invoked-oom-killer (the allocating task), memcg task summaries, the reaper, report details, unrelated lines
            assert res is None, (meta["line_no"], meta["label"], line)
    assert kills >= 10


@needs_corpus
def test_corpus_kernel_oom_counted_once_per_kill():
    pairs = _corpus("kernel-oom")
    expected = set()
    for line, meta in pairs:
        if meta["label"] in OOM_LABELS:
            res = lp.classify_kernel(line)
            expected.add((res[1]["pid"], res[1]["process"]))
    ev = L._Events(3)
    L._classify_stream(ev, "kernel", "kernel", [(None, line) for line, _m in pairs])
    events = ev.result()
    assert {e["class"] for e in events} == {"oom_kill"}
    assert sum(e["count"] for e in events) == len(expected)
    for e in events:
        assert len(e["samples"]) <= 3 and all(len(s) <= 500 for s in e["samples"])


@needs_corpus
@pytest.mark.parametrize("kind", ["gunicorn", "uvicorn", "systemd"])
def test_corpus_benign_app_lines_not_classified(kind):
    # worker boot / exit, signals, startup, "Started ..." are normal operation, not failures
    for line, meta in _corpus(kind):
        assert lp.classify_line("journal", line) is None, (meta["label"], line)


# --------------------------------------------------------------------------- nginx classes

NGX = [
    ("connect() to unix:/run/gunicorn/gunicorn.sock failed (2: No such file or directory) while connecting to upstream, client: 10.0.0.1, "
     "server: _, request: \"GET / HTTP/1.1\", upstream: \"http://unix:/run/gunicorn/gunicorn.sock:/\", host: \"web1\"",
     "crit", "no_such_file", "unix:/run/gunicorn/gunicorn.sock:/"),
    ("connect() to unix:/run/gunicorn/gunicorn.sock failed (13: Permission denied) while connecting to upstream, client: 10.0.0.1, "
     "server: _, request: \"GET / HTTP/1.1\", upstream: \"http://unix:/run/gunicorn/gunicorn.sock:/\", host: \"web1\"",
     "crit", "permission_denied", "unix:/run/gunicorn/gunicorn.sock:/"),
    ("connect() to unix:/run/gunicorn/gunicorn.sock failed (11: Resource temporarily unavailable) while connecting to upstream, "
     "client: 10.0.0.1, server: _, request: \"GET / HTTP/1.1\", upstream: \"http://unix:/run/gunicorn/gunicorn.sock:/\"",
     "error", "resource_unavailable", "unix:/run/gunicorn/gunicorn.sock:/"),
    ("connect() failed (111: Connection refused) while connecting to upstream, client: 10.0.0.1, server: _, request: \"GET /asgi/ HTTP/1.1\", "
     "upstream: \"http://127.0.0.1:8001/\", host: \"web1\"", "error", "connect_refused", "http://127.0.0.1:8001/"),
    ("upstream prematurely closed connection while reading response header from upstream, client: 10.0.0.1, server: _, "
     "request: \"GET /slow?s=8 HTTP/1.1\", upstream: \"http://unix:/run/gunicorn/gunicorn.sock:/slow?s=8\"",
     "error", "premature_close", "unix:/run/gunicorn/gunicorn.sock:/"),
    ("recv() failed (104: Connection reset by peer) while reading response header from upstream, client: 10.0.0.1, server: _, "
     "request: \"GET / HTTP/1.1\", upstream: \"http://127.0.0.1:8000/\"", "error", "reset_by_peer", "http://127.0.0.1:8000/"),
    ("upstream timed out (110: Connection timed out) while reading response header from upstream, client: 10.0.0.1, server: _, "
     "request: \"GET / HTTP/1.1\", upstream: \"http://127.0.0.1:8000/\"", "error", "upstream_timeout", "http://127.0.0.1:8000/"),
    ("no live upstreams while connecting to upstream, client: 10.0.0.1, server: _, request: \"GET / HTTP/1.1\", "
     "upstream: \"http://app_server/\"", "error", "no_live_upstreams", "http://app_server/"),
    ("upstream timed out (110: Connection timed out) while reading response header from upstream, client: 10.0.0.1, server: _, "
     "request: \"GET /api?token=abc HTTP/1.1\", upstream: \"http://[::1]:8000/api?token=abc\"", "error", "upstream_timeout", "http://[::1]:8000/"),
    ("upstream sent too big header while reading response header from upstream, client: 10.0.0.1, server: _, "
     "request: \"GET / HTTP/1.1\", upstream: \"http://127.0.0.1:8000/\"", "error", "too_big_header", "http://127.0.0.1:8000/"),
    ("connect() to unix:/run/php/php8.2-fpm.sock failed (13: Permission denied) while connecting to upstream, client: 10.0.0.1, "
     "server: _, request: \"GET /i.php HTTP/1.1\", upstream: \"fastcgi://unix:/run/php/php8.2-fpm.sock:\"",
     "crit", "permission_denied", "unix:/run/php/php8.2-fpm.sock:"),
]


@pytest.mark.parametrize("msg,level,cls,target", NGX)
def test_nginx_classes(msg, level, cls, target):
    line = "2026/11/22 01:57:22 [%s] 812#812: *7 %s" % (level, msg)
    got = lp.classify_line("nginx_error", line)
    assert got is not None and got[0] == cls and got[2] == [target]


def test_nginx_emerg_and_client_side_lines():
    assert lp.classify_nginx('2026/11/22 01:57:22 [emerg] 1#1: unknown directive "proxy_pas" in /etc/nginx/sites-enabled/app:7')[0] == "nginx_emerg"
    # client side resets / static files are not upstream failures
    assert lp.classify_nginx("2026/11/22 01:57:22 [info] 9#9: *3 recv() failed (104: Connection reset by peer) while reading client request line") is None
    assert lp.classify_nginx('2026/11/22 01:57:22 [error] 9#9: *3 open() "/var/www/x" failed (2: No such file or directory)') is None


# --------------------------------------------------------------------------- gunicorn / uvicorn / systemd

GUNICORN_BOOT_FAILURE = """\
[2026-11-22 01:57:20 +0000] [812] [INFO] Starting gunicorn 23.0.0
[2026-11-22 01:57:20 +0000] [812] [INFO] Listening at: unix:/run/gunicorn/gunicorn.sock (812)
[2026-11-22 01:57:20 +0000] [812] [INFO] Using worker: sync
[2026-11-22 01:57:20 +0000] [813] [INFO] Booting worker with pid: 813
[2026-11-22 01:57:20 +0000] [813] [ERROR] Exception in worker process
Traceback (most recent call last):
  File "/srv/app/venv/lib/python3.11/site-packages/gunicorn/arbiter.py", line 608, in spawn_worker
    worker.init_process()
  File "/srv/app/venv/lib/python3.11/site-packages/gunicorn/util.py", line 370, in import_app
    mod = importlib.import_module(module)
          ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "<frozen importlib._bootstrap>", line 1140, in _find_and_load_unlocked
ModuleNotFoundError: No module named 'project'
[2026-11-22 01:57:20 +0000] [813] [INFO] Worker exiting (pid: 813)
[2026-11-22 01:57:21 +0000] [812] [ERROR] Worker (pid:813) exited with code 3
[2026-11-22 01:57:21 +0000] [812] [ERROR] Shutting down: Master
[2026-11-22 01:57:21 +0000] [812] [ERROR] Reason: Worker failed to boot.
"""


def test_gunicorn_boot_failure_lines():
    ev = L._Events(3)
    entries = [(L.parse_generic_ts(x), x) for x in GUNICORN_BOOT_FAILURE.splitlines()]
    L._classify_stream(ev, "journal", "journal:gunicorn.service", entries, unit="gunicorn.service")
    by = {e["class"]: e for e in ev.result()}
    assert set(by) == {"python_exception", "worker_boot_failed"}
    assert by["python_exception"]["detail"] == {"exception": "ModuleNotFoundError"}
    assert by["python_exception"]["count"] == 1 and by["python_exception"]["targets"] == ["gunicorn.service"]
    assert "No module named 'project'" in by["python_exception"]["samples"][0]
    assert by["worker_boot_failed"]["count"] == 1
    assert by["worker_boot_failed"]["last"] == L.parse_generic_ts("[2026-11-22 01:57:21 +0000]")


def test_traceback_chained_reports_last_only():
    text = """Traceback (most recent call last):
  File "/srv/app/db.py", line 3, in connect
    raise ConnectionRefusedError(111, 'refused')
ConnectionRefusedError: [Errno 111] refused

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/srv/app/wsgi.py", line 9, in <module>
    db.connect()
django.db.utils.OperationalError: connection to server at "127.0.0.1", port 5432 failed: Connection refused
[2026-11-22 01:57:21 +0000] [813] [INFO] Worker exiting (pid: 813)
Traceback (most recent call last):
  File "/srv/app/settings.py", line 1, in <module>
django.core.exceptions.ImproperlyConfigured: The SECRET_KEY setting must not be empty."""
    ev = L._Events(3)
    L._classify_stream(ev, "journal", "journal:x", [(None, t) for t in text.splitlines()])
    got = sorted((e["detail"]["exception"], e["count"]) for e in ev.result() if e["class"] == "python_exception")
    assert got == [("ImproperlyConfigured", 1), ("OperationalError", 1)]


APP_LINES = [
    ("[2026-11-22 01:57:22 +0000] [812] [CRITICAL] WORKER TIMEOUT (pid:813)", "worker_timeout", {"pid": 813}),
    ("[2026-11-22 01:57:22 +0000] [812] [ERROR] Worker (pid:813) was sent SIGKILL! Perhaps out of memory?", "worker_sigkill", {"pid": 813}),
    ("ERROR:    [Errno 98] error while attempting to bind on address ('127.0.0.1', 8001): address already in use", "bind_failed",
     {"errno": 98, "address": "('127.0.0.1', 8001)", "reason": "address already in use", "server": "uvicorn",
      "cause": "config", "name": "('127.0.0.1', 8001)"}),
    ("[2026-11-22 01:57:22 +0000] [812] [ERROR] Connection in use: ('127.0.0.1', 8000)", "bind_failed",
     {"errno": 98, "address": "('127.0.0.1', 8000)", "reason": None, "server": "gunicorn", "cause": "config",
      "name": "('127.0.0.1', 8000)"}),
    ('ERROR:    Error loading ASGI app. Could not import module "asgi_missing".', "import_error",
     {"name": "asgi_missing", "reason": 'Could not import module "asgi_missing".', "server": "uvicorn", "cause": "boot"}),
    ("gunicorn.service: Failed with result 'exit-code'.", "unit_failed", {"result": "exit-code"}),
    ("gunicorn.service: Main process exited, code=exited, status=203/EXEC", "exec_failed", {"status": "203/EXEC"}),
    ("gunicorn.service: Start request repeated too quickly.", "start_limit_hit", {}),
    ("Out of memory: Killed process 1234 (gunicorn) total-vm:812340kB, anon-rss:512000kB, file-rss:0kB", "oom_kill",
     {"process": "gunicorn", "pid": 1234, "cgroup": False}),
]


@pytest.mark.parametrize("line,cls,detail", APP_LINES)
def test_app_systemd_classes(line, cls, detail):
    got = lp.classify_line("journal", line)
    assert got is not None and got[0] == cls and got[1] == detail


def test_app_exit_status_1_is_not_exec_failure():
    assert lp.classify_line("journal", "gunicorn.service: Main process exited, code=exited, status=3/NOTIMPLEMENTED") is None
    # the spawn failure line always comes with "Main process exited ... status=203/EXEC": counted once, there
    assert lp.classify_line("journal", "gunicorn.service: Failed at step EXEC spawning /srv/x: No such file or directory") is None


# --------------------------------------------------------------------------- secrets

SECRETS = ["pw-DO-NOT-LEAK", "lab-secret-DO-NOT-LEAK-7f3a", "tok-DO-NOT-LEAK", "bearer-DO-NOT-LEAK-123", "key-DO-NOT-LEAK"]


def test_secrets_masked_everywhere(tmp_path):
    now = time.time()
    log = tmp_path / "error.log"
    lines = [
        '%s [error] 9#9: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 1.2.3.4, server: _, '
        'request: "GET /login?password=pw-DO-NOT-LEAK&token=tok-DO-NOT-LEAK HTTP/1.1", upstream: "http://127.0.0.1:8000/login?'
        'password=pw-DO-NOT-LEAK&token=tok-DO-NOT-LEAK", host: "x"' % ts_ngx(now - 60),
        '%s [error] 9#9: *2 upstream prematurely closed connection while reading response header from upstream, client: 1.2.3.4, '
        'request: "GET / HTTP/1.1", upstream: "http://admin:pw-DO-NOT-LEAK@127.0.0.1:8000/", host: "x", '
        'referrer: "Authorization: Bearer bearer-DO-NOT-LEAK-123"' % ts_ngx(now - 50),
        '%s [emerg] 1#1: SECRET_KEY=lab-secret-DO-NOT-LEAK-7f3a api_key="key-DO-NOT-LEAK" in /etc/nginx/x.conf:1' % ts_ngx(now - 40),
    ]
    log.write_text("\n".join(lines) + "\n")
    res = L.collect_logs(nginx_error_logs=[str(log)], units=[], kernel=False, now=now)
    blob = json.dumps(res)
    assert {e["class"] for e in res["events"]} == {"connect_refused", "premature_close", "nginx_emerg"}
    for s in SECRETS:
        assert s not in blob, s
    assert "********" in blob


def test_secret_shapes_the_old_log_masker_missed(tmp_path):
    """Issue 8: password =>, pass=, auth=, Cookie values, api_key:, '@' inside a DSN password, query tokens."""
    now = time.time()
    log = tmp_path / "error.log"
    leak = ["pw1-LEAK", "pw2-LEAK", "auth3-LEAK", "cookie4-LEAK", "api5-LEAK", "p@ss6-LEAK", "tok7-LEAK"]
    lines = [
        '%s [error] 9#9: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 1.2.3.4, '
        'server: _, request: "GET /x?pass=pw2-LEAK&auth=auth3-LEAK&session_token=tok7-LEAK HTTP/1.1", '
        'upstream: "http://127.0.0.1:8000/x?pass=pw2-LEAK&auth=auth3-LEAK&session_token=tok7-LEAK", host: "x"' % ts_ngx(now - 60),
        '%s [error] 9#9: *2 upstream prematurely closed connection while reading response header from upstream, '
        'client: 1.2.3.4, request: "GET / HTTP/1.1", upstream: "http://app:p@ss6-LEAK@127.0.0.1:8000/", host: "x", '
        'referrer: "Cookie: sessionid=cookie4-LEAK"' % ts_ngx(now - 50),
        '%s [emerg] 1#1: password => pw1-LEAK api_key: api5-LEAK in /etc/nginx/x.conf:1' % ts_ngx(now - 40),
    ]
    log.write_text("\n".join(lines) + "\n")
    res = L.collect_logs(nginx_error_logs=[str(log)], units=[], kernel=False, now=now)
    blob = json.dumps(res)
    assert {e["class"] for e in res["events"]} == {"connect_refused", "premature_close", "nginx_emerg"}
    for secret in leak:
        assert secret not in blob, secret
    assert "LEAK" not in blob
    assert "http://unix" not in blob and "127.0.0.1:8000" in blob  # the useful part stays


# --------------------------------------------------------------------------- reading from the end


def _make_log(path, n_old, n_new, now, rng, old_age=86400 * 3):
    """n_old lines days ago, then n_new lines inside the last hour (some of them 502 causes)."""
    counts = {}
    with open(path, "w") as f:
        for i in range(n_old):
            t = now - old_age + i * 0.5
            f.write("%s [error] 9#9: *%d connect() failed (111: Connection refused) while connecting to upstream, client: 10.0.0.%d, "
                    "server: _, request: \"GET /%s HTTP/1.1\", upstream: \"http://127.0.0.1:8000/\"\n"
                    % (ts_ngx(t), i, i % 250, "x" * rng.randint(0, 300)))
        for i in range(n_new):
            t = now - 3000 + i * (2900.0 / max(n_new, 1))
            kind = rng.choice(["no_such_file", "connect_refused", "info"])
            if kind == "no_such_file":
                msg = ("[crit] 9#9: *%d connect() to unix:/run/g.sock failed (2: No such file or directory) while connecting to upstream, "
                       "upstream: \"http://unix:/run/g.sock:/%s\"" % (i, "y" * rng.randint(0, 200)))
            elif kind == "connect_refused":
                msg = "[error] 9#9: *%d connect() failed (111: Connection refused) while connecting to upstream, upstream: \"http://127.0.0.1:8000/\"" % i
            else:
                msg = "[info] 9#9: *%d client 10.0.0.1 closed keepalive connection" % i
            counts[kind] = counts.get(kind, 0) + 1
            f.write("%s %s\n" % (ts_ngx(t), msg))
    return counts


def test_read_from_end_reads_only_the_window(tmp_path):
    now = time.time()
    rng = random.Random(7)
    path = tmp_path / "error.log"
    counts = _make_log(path, 60000, 500, now, rng)
    size = path.stat().st_size
    assert size > 15 * 1024 * 1024
    res = L.collect_logs(nginx_error_logs=[str(path)], units=[], kernel=False, since=3600, now=now)
    src = res["sources"][0]
    assert src["ok"] and src["read_bytes"] < 512 * 1024 < size
    by = {e["class"]: e["count"] for e in res["events"]}
    assert by == {"no_such_file": counts["no_such_file"], "connect_refused": counts["connect_refused"]}
    ev = [e for e in res["events"] if e["class"] == "no_such_file"][0]
    assert ev["targets"] == ["unix:/run/g.sock:/"] and ev["first"] >= now - 3600 and ev["last"] <= now
    assert res["errors"] == []


@pytest.mark.parametrize("block", [17, 100, 4096, 65536])
def test_read_tail_matches_naive_scan(tmp_path, block):
    now = time.time()
    rng = random.Random(block)
    path = tmp_path / "error.log"
    lines = []
    for i in range(400):
        t = now - 7200 + i * 18
        extra = "\n  continuation %d" % i if rng.random() < 0.1 else ""
        lines.append("%s [error] 1#1: *%d line %s%s" % (ts_ngx(t), i, "z" * rng.randint(0, 150), extra))
    path.write_text("\n".join(lines) + "\n")
    since = now - 3600
    res = L.read_tail(str(path), since, 10 ** 9, block_size=block)
    naive = []
    for chunk in lines:
        first, _sep, _rest = chunk.partition("\n")
        ts = L.parse_nginx_ts(first)
        if ts >= since:
            naive.append((ts, chunk))
    assert res["entries"] == naive
    assert res["timestamps"] and not res["truncated"]


def test_max_bytes_caps_reading(tmp_path):
    now = time.time()
    path = tmp_path / "error.log"
    _make_log(path, 0, 20000, now, random.Random(1))
    res = L.collect_logs(nginx_error_logs=[str(path)], units=[], kernel=False, since=3600, max_bytes=64 * 1024, now=now)
    assert res["sources"][0]["read_bytes"] <= 64 * 1024
    assert any("max_bytes" in e["message"] for e in res["errors"])
    assert sum(e["count"] for e in res["events"]) < 20000


def test_rotated_file_is_read_when_window_reaches_it(tmp_path):
    now = time.time()
    cur = tmp_path / "error.log"
    old = tmp_path / "error.log.1"
    old.write_text("%s [error] 1#1: *1 connect() failed (111: Connection refused) while connecting to upstream, upstream: \"http://127.0.0.1:8000/\"\n"
                   % ts_ngx(now - 1800))
    cur.write_text("%s [error] 1#1: *2 connect() failed (111: Connection refused) while connecting to upstream, upstream: \"http://127.0.0.1:8000/\"\n"
                   % ts_ngx(now - 60))
    res = L.collect_logs(nginx_error_logs=[str(cur)], units=[], kernel=False, now=now)
    assert [e["count"] for e in res["events"]] == [2]
    assert [s["path"] for s in res["sources"]] == [str(cur), str(old)]
    res = L.collect_logs(nginx_error_logs=[str(cur)], units=[], kernel=False, since=600, now=now)
    # the current file starts inside the window, so the rotated one is looked at, but its line is older
    assert [e["count"] for e in res["events"]] == [1] and len(res["sources"]) == 2
    cur.write_text("%s [info] 1#1: old line\n%s [error] 1#1: *2 connect() failed (111: Connection refused) while connecting to upstream, "
                   "upstream: \"http://127.0.0.1:8000/\"\n" % (ts_ngx(now - 900), ts_ngx(now - 60)))
    res = L.collect_logs(nginx_error_logs=[str(cur)], units=[], kernel=False, since=600, now=now)
    assert [e["count"] for e in res["events"]] == [1] and len(res["sources"]) == 1


def test_garbage_binary_and_no_timestamps(tmp_path):
    junk = tmp_path / "junk.log"
    rng = random.Random(3)
    junk.write_bytes(bytes(rng.randrange(256) for _i in range(300000)) +
                     b"\nconnect() failed (111: Connection refused) while connecting to upstream, upstream: \"http://127.0.0.1:1/\"\n\xff\xfe\x00")
    res = L.collect_logs(nginx_error_logs=[str(junk)], units=[], kernel=False)
    assert res["sources"][0]["ok"]
    assert any("no timestamps" in e["message"] for e in res["errors"])
    assert [(e["class"], e["first"]) for e in res["events"]] == [("connect_refused", None)]
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    res = L.collect_logs(nginx_error_logs=[str(empty)], units=[], kernel=False)
    assert res["events"] == [] and res["errors"] == [] and res["sources"][0]["read_bytes"] == 0


def test_unreadable_and_missing_files(tmp_path):
    ok = tmp_path / "ok.log"
    ok.write_text("%s [error] 1#1: *2 no live upstreams while connecting to upstream, upstream: \"http://app/\"\n" % ts_ngx(time.time() - 5))
    paths = [str(tmp_path / "missing.log"), str(tmp_path), str(ok)]
    res = L.collect_logs(nginx_error_logs=paths, units=[], kernel=False)
    assert [s["ok"] for s in res["sources"]] == [False, False, True]
    assert [e["path"] for e in res["errors"]] == paths[:2]
    assert all(e["source"] == "log_file" and e["message"] for e in res["errors"])
    assert [e["class"] for e in res["events"]] == ["no_live_upstreams"]


def test_fifo_device_and_directory_logs_never_block(tmp_path, in_child):
    """Issue 8: a FIFO as error log blocked forever; /dev/zero read until memory ran out."""
    fifo = tmp_path / "error.log"
    os.mkfifo(str(fifo))
    ok = tmp_path / "ok.log"
    ok.write_text("%s [error] 1#1: *2 no live upstreams while connecting to upstream, upstream: \"http://app/\"\n"
                  % ts_ngx(time.time() - 5))
    res = in_child(lambda: L.collect_logs(nginx_error_logs=[str(fifo), "/dev/zero", str(tmp_path), str(ok)], units=[],
                                          kernel=False, files=[str(fifo)]))
    assert [s["ok"] for s in res["sources"]] == [False, False, False, True, False]
    assert [e["message"] for e in res["errors"]] == [
        "Log file: %s is a FIFO, not a regular file." % fifo,
        "Log file: /dev/zero is a character device, not a regular file.",
        "Log file: %s is a directory, not a regular file." % tmp_path,
        "Log file: %s is a FIFO, not a regular file." % fifo,
    ]
    assert [e["class"] for e in res["events"]] == ["no_live_upstreams"]


def test_huge_sparse_log_reads_only_max_bytes(tmp_path):
    big = tmp_path / "error.log"
    with open(big, "wb") as f:
        f.truncate(32 * 1024 ** 3)  # 32 GiB of holes
        f.seek(0, 2)
        f.write(("\n%s [error] 1#1: *2 no live upstreams while connecting to upstream\n" % ts_ngx(time.time() - 5)).encode())
    cpu = time.process_time()    # CPU time, not the wall clock: a loaded machine does not count
    res = L.collect_logs(nginx_error_logs=[str(big)], units=[], kernel=False, max_bytes=65536)
    assert time.process_time() - cpu < 5
    assert res["sources"][0]["read_bytes"] == 65536 and [e["class"] for e in res["events"]] == ["no_live_upstreams"]


@pytest.mark.parametrize("since, max_bytes", [(float("inf"), 10 ** 30), (float("nan"), -5), ("1e308", "x"), (10 ** 30, None)])
def test_hostile_window_and_cap_are_errors_not_tracebacks(tmp_path, since, max_bytes):
    res = L.collect_logs(nginx_error_logs=[], units=[], kernel=False, since=since, max_bytes=max_bytes)
    assert [e["source"] for e in res["errors"]] == ["logs"] and "using 3600 seconds" in res["errors"][0]["message"]
    assert 4096 <= res["window"]["max_bytes"] <= 256 * 1024 * 1024


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_permission_denied_file(tmp_path):
    p = tmp_path / "secret.log"
    p.write_text("x\n")
    p.chmod(0)
    res = L.collect_logs(nginx_error_logs=[str(p)], units=[], kernel=False)
    assert res["sources"][0]["ok"] is False and "permission denied" in res["errors"][0]["message"]


# --------------------------------------------------------------------------- journal / kernel parsing


def test_parse_journal_json_bytes_message_and_order():
    msg_bytes = list("Worker failed to boot.\xe9".encode("latin-1"))
    out = b"\n".join(json.dumps(x).encode() for x in [
        {"__REALTIME_TIMESTAMP": "1795312643000000", "MESSAGE": "gunicorn.service: Failed with result 'exit-code'."},
        {"__REALTIME_TIMESTAMP": "1795312642000000", "MESSAGE": msg_bytes},
        {"__REALTIME_TIMESTAMP": "1795312641000000", "MESSAGE": "Traceback (most recent call last):\n  File \"x\", line 1\nKeyError: 'X'"},
        {"__REALTIME_TIMESTAMP": "1795312640000000", "MESSAGE": None},
    ]) + b"\nnot json\n"
    entries = [e[:2] for e in L.parse_journal_json(out, reverse=True)]
    assert [t for _ts, t in entries][:3] == ["Traceback (most recent call last):", '  File "x", line 1', "KeyError: 'X'"]
    assert entries[3] == (1795312642.0, "Worker failed to boot.\ufffd")
    assert entries[-1][1].endswith("'exit-code'.")
    ev = L._Events(3)
    L._classify_stream(ev, "journal", "journal:gunicorn.service", entries, unit="gunicorn.service")
    assert sorted(e["class"] for e in ev.result()) == ["python_exception", "unit_failed", "worker_boot_failed"]


def test_journal_tracebacks_followed_per_pid():
    # two workers fail at the same moment; journald interleaves their lines
    recs = []
    for pid, exc in ((101, "ModuleNotFoundError: No module named 'project'"), (102, "KeyError: 'SECRET_KEY'")):
        recs.append([(1.0, "Traceback (most recent call last):", pid), (1.0, '  File "/srv/app/wsgi.py", line 1, in <module>', pid),
                     (1.0, exc, pid)])
    entries = [e for pair in zip(*recs) for e in pair]
    ev = L._Events(3)
    L._classify_stream(ev, "journal", "journal:g", entries)
    assert sorted(e["detail"]["exception"] for e in ev.result()) == ["KeyError", "ModuleNotFoundError"]


def test_parse_dmesg():
    entries = L.parse_dmesg("[ 1234.500000] Out of memory: Killed process 77 (gunicorn) total-vm:1kB\nplain\n", 1000.0)
    assert entries == [(2234.5, "Out of memory: Killed process 77 (gunicorn) total-vm:1kB"), (None, "plain")]


def test_generic_timestamps():
    assert L.parse_generic_ts("[2026-11-22 01:57:22 +0000] [1] [INFO] x") == 1795312642.0
    assert L.parse_generic_ts("2026-11-22T02:57:22.5+01:00 host kernel: x") == 1795312642.5
    assert L.parse_generic_ts("INFO:     Started server process [62727]") is None
    assert L.parse_generic_ts("Nov 22 01:57:22 host kernel: x", now=1795312700.0) == time.mktime((2026, 11, 22, 1, 57, 22, 0, 0, -1))


@pytest.mark.skipif(L.journal_available(), reason="this host keeps a journal; the no-journal path is checked on hosts without one")
def test_no_journal_is_an_error_and_files_still_read(tmp_path):
    ok = tmp_path / "e.log"
    ok.write_text("%s [error] 1#1: *2 no live upstreams while connecting to upstream, upstream: \"http://app/\"\n" % ts_ngx(time.time() - 5))
    res = L.collect_logs(nginx_error_logs=[str(ok)], units=["gunicorn.service"], kernel=True)
    # the kernel log of this machine may hold real OOM kills; nothing else can come from it
    assert [e["class"] for e in res["events"] if e["source"] != "kernel"] == ["no_live_upstreams"]
    assert {e["class"] for e in res["events"] if e["source"] == "kernel"} <= {"oom_kill"}
    assert any(e["source"] == "journalctl" and "gunicorn.service" in e["message"] for e in res["errors"])
    kernel_sources = [s for s in res["sources"] if s["kind"] == "kernel"]
    assert len(kernel_sources) == 1


def test_samples_option(tmp_path):
    now = time.time()
    path = tmp_path / "e.log"
    path.write_text("".join("%s [error] 1#1: *%d connect() failed (111: Connection refused) while connecting to upstream, "
                            "upstream: \"http://127.0.0.1:8000/%s\"\n" % (ts_ngx(now - 100 + i), i, "q" * 900) for i in range(10)))
    res = L.collect_logs(nginx_error_logs=[str(path)], units=[], kernel=False, samples=2, now=now)
    ev = res["events"][0]
    assert ev["count"] == 10 and len(ev["samples"]) == 2 and all(len(s) <= 500 for s in ev["samples"])
    assert "*9 " in ev["samples"][-1]
    res = L.collect_logs(nginx_error_logs=[str(path)], units=[], kernel=False, samples=0, now=now)
    assert res["events"][0]["samples"] == []


def test_journal_limited_for_plain_users(monkeypatch):
    monkeypatch.setattr(L.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(L.os, "getegid", lambda: 1000)
    monkeypatch.setattr(L.os, "getgroups", lambda: [1000])
    monkeypatch.setattr(L.grp, "getgrgid", lambda gid: type("G", (), {"gr_name": {1000: "auditor", 4: "adm"}[gid]})())
    assert "systemd-journal" in L._journal_limited()
    monkeypatch.setattr(L.os, "getgroups", lambda: [1000, 4])
    assert L._journal_limited() is None


def test_since_accepts_durations(tmp_path):
    res = L.collect_logs(nginx_error_logs=[], units=[], kernel=False, since="30m", now=10000.0)
    assert res["window"]["since"] == 10000.0 - 1800 and res["errors"] == []
    res = L.collect_logs(nginx_error_logs=[], units=[], kernel=False, since="soon", now=10000.0)
    assert res["window"]["since"] == 10000.0 - 3600 and res["errors"][0]["source"] == "logs"
