# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Access logs: log_format matchers, the backwards window read, per-route counts, masking."""
from __future__ import annotations

import calendar
import os
import time

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import _access_format as F
from ansible_collections.badgateway.doctor.plugins.module_utils import access_logs as AL
from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_access_config import COMBINED
from ansible_collections.badgateway.doctor.plugins.module_utils.nginx_facts import collect_nginx

NOW = 1_800_000_000.0
SIX = calendar.timegm((2026, 12, 2, 6, 0, 0))   # 2026-12-02T06:00:00Z
UPSTREAM_FMT = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
                '"$http_user_agent" host=$host us=$upstream_status ua=$upstream_addr urt=$upstream_response_time '
                'rt=$request_time')


def local(ts):
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(ts))


def combined(ts, status, uri="/", agent="curl/8.0"):
    return '10.0.0.1 - - [%s] "GET %s HTTP/1.1" %d 12 "-" "%s"' % (local(ts), uri, status, agent)


def routes():
    return [
        {"id": "_:80 /", "server_names": ["_"], "location": "/", "upstream": "wsgi_app"},
        {"id": "_:80 /asgi/", "server_names": ["_"], "location": "/asgi/", "upstream": None},
        {"id": "_:80 ~ \\.php$", "server_names": ["_"], "location": "~ \\.php$", "upstream": None},
        {"id": "_:80 = /exact", "server_names": ["_"], "location": "= /exact", "upstream": None},
        {"id": "_:80 ^~ /static/", "server_names": ["_"], "location": "^~ /static/", "upstream": None},
    ]


def facts_for(path, fmt="combined", formats=None):
    return {"routes": routes(), "log_formats": formats or {},
            "access_logs": [{"path": str(path), "format": fmt, "kind": "file", "routes": [0, 1, 2, 3, 4]}]}


def by_route(res):
    return {r["route"]: r for r in res["routes"]}


# --------------------------------------------------------------------------- formats

def test_combined_matches_its_own_lines_and_parses_the_time():
    m = F.compile_format(COMBINED)
    line = combined(NOW, 502, agent='Mozilla \\x22quoted\\x22 (x)')
    hit = m.match(line)
    assert hit and m.value(hit, "status") == "502"
    assert F.parse_time_local(m.value(hit, "time_local")) == NOW
    assert F.unescape(m.value(hit, "http_user_agent")) == "Mozilla %22quoted%22 (x)"


@pytest.mark.parametrize("text,expected", [
    ("02/Dec/2026:06:00:00 +0100", SIX - 3600),
    ("02/Dec/2026:06:00:00 -0230", SIX + 9000),
    ("31/Foo/2026:06:00:00 +0000", None),
])
def test_time_local_offsets(text, expected):
    assert F.parse_time_local(text) == expected


def test_iso8601_and_msec_times():
    assert F.parse_time_iso8601("2026-12-02T06:00:00+00:00") == SIX
    assert F.parse_time_iso8601("2026-12-02T07:00:00+01:00") == SIX
    m = F.compile_format('$msec $status "$request"')
    hit = m.match('1796187600.123 504 "GET / HTTP/1.1"')
    assert m.time_var == "msec" and F.parse_msec(m.value(hit, "msec")) == pytest.approx(1796187600.123)


def test_upstream_lists_with_both_separators():
    m = F.compile_format("[$time_local] $status $upstream_status $upstream_addr $upstream_response_time $request_time")
    hit = m.match("[%s] 502 502, 502 : 502 10.0.0.5:8000, unix:/run/g.sock : 127.0.0.1:9 0.001, 0.002 : - 0.004"
                  % local(NOW))
    assert hit
    assert F.split_list(m.value(hit, "upstream_status")) == ["502", "502", "502"]
    assert F.split_list(m.value(hit, "upstream_addr")) == ["10.0.0.5:8000", "unix:/run/g.sock", "127.0.0.1:9"]
    assert m.value(hit, "request_time") == "0.004"


def test_json_escape_format():
    fmt = '{"t":"$time_iso8601","s":$status,"r":"$request","u":"$upstream_addr"}'
    m = F.compile_format(fmt, "json")
    hit = m.match('{"t":"2026-12-02T06:00:00+00:00","s":502,"r":"GET /a\\"b HTTP/1.1","u":""}')
    assert hit
    assert F.unescape(m.value(hit, "request"), "json") == 'GET /a"b HTTP/1.1'
    assert F.unescape(m.value(hit, "upstream_addr"), "json") is None


@pytest.mark.parametrize("fmt", ['$remote_addr "$request"', "$time_local $request"])
def test_a_format_without_time_or_status_is_refused_with_a_reason(fmt):
    with pytest.raises(F.FormatError):
        F.compile_format(fmt)


def test_braced_variables_and_literal_dollars():
    m = F.compile_format("${status}x[$time_local] $$ ${request}")
    hit = m.match("404x[%s] $$ GET / HTTP/1.1" % local(NOW))
    assert hit and m.value(hit, "request") == "GET / HTTP/1.1"


# --------------------------------------------------------------------------- reading

def test_backwards_reader_yields_newest_first_and_stops_at_the_window(tmp_path):
    log = tmp_path / "access.log"
    lines = [combined(NOW - 7200 + i * 60, 502 if i % 10 == 0 else 200) for i in range(120)]
    log.write_text("\n".join(lines) + "\n")
    res = AL.collect_access_logs(facts_for(log), since=1800, now=NOW)
    summary = res["logs"][0]
    assert summary["in_window"] == 30 and summary["statuses"]["5xx"] == 3
    assert summary["lines"] < 40            # it did not read the old two thirds of the file
    assert not summary["truncated"] and not res["errors"]
    got = by_route(res)["_:80 /"]
    assert got["counts"] == {"502": 3, "503": 0, "504": 0, "5xx_other": 0}
    assert got["first"] == NOW - 7200 + 90 * 60 and got["last"] == NOW - 7200 + 110 * 60
    assert got["requests"] == 30 and got["last_ok"] == NOW - 7200 + 119 * 60 and got["answering"] is True
    assert sum(got["timeline"]["counts"]) == 3


def test_small_blocks_and_a_last_line_without_newline(tmp_path):
    log = tmp_path / "a.log"
    log.write_text("\n".join(combined(NOW - 100 + i, 503) for i in range(50)))
    state, lines = AL.read_backwards(str(log), 1 << 20, block_size=7)
    got = [x.decode() for x in lines]
    assert got == [combined(NOW - 100 + i, 503) for i in reversed(range(50))]
    assert state["reached_start"]


def test_max_bytes_truncates_and_says_so(tmp_path):
    log = tmp_path / "access.log"
    log.write_text("".join(combined(NOW - 600 + i, 502) + "\n" for i in range(600)))
    res = AL.collect_access_logs(facts_for(log), since=3600, max_bytes=4096, now=NOW)
    assert res["logs"][0]["truncated"]
    assert any("max_bytes" in e["message"] for e in res["errors"])
    assert res["logs"][0]["read_bytes"] <= 4096


def test_window_continues_into_the_rotated_file(tmp_path):
    log = tmp_path / "access.log"
    (tmp_path / "access.log.1").write_text("".join(combined(NOW - 900 + i, 504) + "\n" for i in range(10)))
    log.write_text("".join(combined(NOW - 100 + i, 502) + "\n" for i in range(5)))
    res = AL.collect_access_logs(facts_for(log), since=3600, now=NOW)
    got = by_route(res)["_:80 /"]["counts"]
    assert got["502"] == 5 and got["504"] == 10
    assert res["logs"][0]["files"] == [str(log), str(log) + ".1"]


def test_routes_are_matched_as_nginx_picks_locations(tmp_path):
    log = tmp_path / "access.log"
    uris = ["/x", "/asgi/y", "/asgi/z.php", "/exact", "/exact/no", "/static/a.php", "not-a-uri"]
    log.write_text("".join(combined(NOW - 10, 502, u) + "\n" for u in uris))
    got = {k: v["total_5xx"] for k, v in by_route(AL.collect_access_logs(facts_for(log), since=60, now=NOW)).items()}
    assert got == {"_:80 /": 2, "_:80 /asgi/": 1, "_:80 ~ \\.php$": 1, "_:80 = /exact": 1, "_:80 ^~ /static/": 1,
                   None: 1}


def test_upstream_details_retries_and_masked_uris(tmp_path):
    log = tmp_path / "access.log"
    fmts = {"up": {"format": UPSTREAM_FMT, "escape": "default"}}
    rows = [
        combined(NOW - 5, 502, "/?token=s3cr3t&page=2") + " host=a us=502 ua=unix:/run/g.sock urt=0.001 rt=0.002",
        combined(NOW - 4, 504, "/") + " host=a us=504 ua=10.0.0.5:8000 urt=60.001 rt=60.002",
        combined(NOW - 3, 200, "/") + " host=a us=502, 200 ua=10.0.0.5:8000, 10.0.0.6:8000 urt=0.001, 0.010 rt=0.02",
        combined(NOW - 2, 502, "/") + " host=a us=- ua=- urt=- rt=0.000",
    ]
    log.write_text("\n".join(rows) + "\n")
    res = AL.collect_access_logs(facts_for(log, "up", fmts), since=60, now=NOW)
    got = by_route(res)["_:80 /"]
    assert got["counts"]["502"] == 2 and got["counts"]["504"] == 1 and got["retried"] == 1
    assert got["upstream_status"] == {"502": 1, "504": 1, "-": 1}
    assert set(got["upstream_addrs"]) == {"unix:/run/g.sock", "10.0.0.5:8000", "-"}
    assert got["upstream_response_time"]["max"] == 60.001
    assert not any("s3cr3t" in s for s in got["samples"])
    assert any("page=2" in s for s in got["samples"])


def test_hostile_lines_and_files_never_raise(tmp_path):
    log = tmp_path / "access.log"
    log.write_bytes(b"\xff\xfe garbage\n" + b"x" * 200000 + b"\n" + b"\x00" * 100 + b"\n"
                    + combined(NOW - 1, 502).encode() + b"\n")
    res = AL.collect_access_logs(facts_for(log), since=60, now=NOW)
    assert res["logs"][0]["unparsed"] == 3 and by_route(res)["_:80 /"]["total_5xx"] == 1
    fifo = tmp_path / "fifo.log"
    os.mkfifo(fifo)
    res = AL.collect_access_logs(facts_for(fifo), since=60, now=NOW)
    assert res["logs"] == [] and "FIFO" in res["errors"][0]["message"]
    res = AL.collect_access_logs(facts_for(tmp_path / "missing.log"), since=60, now=NOW)
    assert res["logs"] == [] and res["errors"]
    res = AL.collect_access_logs(facts_for(log, "nope"), since=60, now=NOW)
    assert "does not define" in res["errors"][0]["message"]
    assert AL.collect_access_logs({"access_logs": "x", "routes": None}, since=60, now=NOW)["logs"] == []


def test_the_config_side_names_each_routes_access_log(tmp_path):
    conf = tmp_path / "nginx.conf"
    conf.write_text("""events {}
http {
  log_format up escape=json '$remote_addr [$time_local] "$request" '
                            '$status $upstream_status';
  access_log %(d)s/main.log;
  server { listen 80; server_name a;
    access_log %(d)s/a.log up;
    location / { proxy_pass http://127.0.0.1:9000; }
    location /off/ { access_log off; proxy_pass http://127.0.0.1:9001; }
    location /two/ { access_log %(d)s/t1.log; access_log syslog:server=unix:/dev/log; proxy_pass http://127.0.0.1:9002; }
  }
  server { listen 81; location / { proxy_pass http://127.0.0.1:9003; } }
}
""" % {"d": tmp_path})
    facts = collect_nginx(str(conf), resolve=False, run_test="never", proc=str(tmp_path))
    logs = {(e["path"], e["format"]): e for e in facts["access_logs"]}
    ids = [r["id"] for r in facts["routes"]]
    assert [ids[i] for i in logs[(str(tmp_path / "a.log"), "up")]["routes"]] == ["a:80 /"]
    assert [ids[i] for i in logs[(str(tmp_path / "main.log"), "combined")]["routes"]] == ["_:81 /"]
    assert [ids[i] for i in logs[(str(tmp_path / "t1.log"), "combined")]["routes"]] == ["a:80 /two/"]
    assert logs[("syslog:server=unix:/dev/log", "combined")]["kind"] == "syslog"
    assert not any("/off/" in ids[i] for e in facts["access_logs"] for i in e["routes"])
    assert facts["log_formats"]["up"]["escape"] == "json"
    assert facts["log_formats"]["up"]["format"].endswith("$status $upstream_status")


def test_no_access_log_anywhere_is_the_compiled_default(tmp_path):
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp { server { location / { proxy_pass http://127.0.0.1:9000; } } }\n")
    facts = collect_nginx(str(conf), resolve=False, run_test="never", proc=str(tmp_path))
    assert [(e["path"], e["format"], e["kind"]) for e in facts["access_logs"]] == [
        ("/usr/local/nginx/logs/access.log", "combined", "file")]
