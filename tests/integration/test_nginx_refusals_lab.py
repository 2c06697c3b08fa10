# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What nginx refuses, nginx_facts reports: each configuration below goes to the lab host's own
``nginx -t``, and the facts' verdict on the same text (an error or not) must be nginx's.

The cases are values at and past nginx's limits (``ngx_parse_time``, ``ngx_parse_size``,
``ngx_parse_offset``, ``ngx_atoi``, ports, unix socket paths) and paths cut apart by unquoted
characters, with the accepted neighbours of each, so that a checker that refused everything
fails as surely as one that refused nothing.  Plus, on the host, over Ansible: a FIFO include
and a glob include over a directory the connecting user cannot list.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
from pathlib import Path

import pytest
from facts_form import expand_nginx

from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_config import analyze_config
from ansible_collections.badgateway.doctor.plugins.module_utils.nginx_parser import parse

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
ANSIBLE = REPO / ".venv" / "bin" / "ansible"
COLLECTIONS = REPO / "tests" / "output" / "collections"
HOST = "web1"
MAX = 2 ** 63 - 1
LONG = "/run/" + "x" * 103          # 108 bytes with "unix:"'s path: one past sun_path

# (name, text in a location, text in the upstream, text of the server block)
CASES = [
    ("timeout ok", "proxy_read_timeout 1m30s;", "", ""),
    ("timeout ms", "proxy_read_timeout 500ms;", "", ""),
    ("timeout blank", "proxy_read_timeout '1h 30m';", "", ""),
    ("timeout bare sum", "proxy_read_timeout '10 20';", "", ""),
    ("timeout year", "proxy_read_timeout 1y;", "", ""),
    ("timeout month", "proxy_connect_timeout 1M;", "", ""),
    ("timeout overflow", "proxy_read_timeout 99999999999999999999999d;", "", ""),
    ("timeout max ms", "proxy_read_timeout %dms;" % MAX, "", ""),
    ("timeout max+1 ms", "proxy_read_timeout %dms;" % (MAX + 1), "", ""),
    ("timeout max s", "proxy_read_timeout %ds;" % (MAX // 1000), "", ""),
    ("timeout max+1 s", "proxy_read_timeout %ds;" % (MAX // 1000 + 1), "", ""),
    ("timeout fraction", "proxy_read_timeout 1.5s;", "", ""),
    ("timeout leading blank", "proxy_read_timeout ' 30s';", "", ""),
    ("size ok", "proxy_buffer_size 8k;", "", ""),
    ("size g", "proxy_buffer_size 1g;", "", ""),
    ("size overflow", "proxy_buffer_size %d;" % (MAX + 1), "", ""),
    ("offset g", "client_max_body_size 8g;", "", ""),
    ("offset max", "client_max_body_size %d;" % MAX, "", ""),
    ("offset max+1", "client_max_body_size %d;" % (MAX + 1), "", ""),
    ("offset g overflow", "client_max_body_size %dg;" % (MAX // 1024 ** 3 + 1), "", ""),
    ("buffers zero", "proxy_buffers 0 4k;", "", ""),
    ("flag", "fastcgi_keep_conn ON;", "", ""),
    ("flag bad", "fastcgi_keep_conn yes;", "", ""),
    ("version bad", "proxy_http_version 3;", "", ""),
    ("port leading zero", "proxy_pass http://127.0.0.1:08;", "", ""),
    ("port 0", "proxy_pass http://127.0.0.1:0;", "", ""),
    ("port 65536", "proxy_pass http://127.0.0.1:65536;", "", ""),
    ("ipv6 without brackets", "uwsgi_pass ::1:3031;", "", ""),
    ("unix path ok", "proxy_pass http://unix:/run/app.sock:/;", "", ""),
    ("unix path too long", "proxy_pass http://unix:%s:/;" % LONG, "", ""),
    ("unix path fits", "proxy_pass http://unix:%s:/;" % LONG[:-1], "", ""),
    ("path cut by ;", "proxy_pass http://unix:/run/app;v2.sock:/;", "", ""),
    ("path cut by blank", "uwsgi_pass unix:/run/my app.sock;", "", ""),
    ("path quoted", "uwsgi_pass 'unix:/run/my app.sock';", "", ""),
    ("pass with a block", "proxy_pass http://127.0.0.1:8000 { }", "", ""),
    ("listen leading zero", "", "", "listen 127.0.0.1:08;"),
    ("listen 65536", "", "", "listen 65536;"),
    ("upstream weight 0", "", "server 127.0.0.1:8000 weight=0;", ""),
    ("upstream fail_timeout ms", "", "server 127.0.0.1:8000 fail_timeout=500ms;", ""),
    ("upstream fail_timeout year", "", "server 127.0.0.1:8000 fail_timeout=1y;", ""),
    ("upstream max_fails overflow", "", "server 127.0.0.1:8000 max_fails=%d;" % (MAX + 1), ""),
    ("upstream port 0", "", "server 127.0.0.1:0;", ""),
    ("upstream keepalive", "", "keepalive 16;", ""),
    ("upstream keepalive overflow", "", "keepalive %d;" % (MAX + 1), ""),
    ("upstream keepalive_timeout year", "", "keepalive_timeout 1y;", ""),
]


def _config(location, upstream, server):
    pass_ = "" if "_pass " in location else "proxy_pass http://app;"
    return ("events {}\nhttp {\n upstream app { server 127.0.0.1:8000; %s }\n"
            " server { listen 127.0.0.1:8080; %s\n  location / { %s %s }\n }\n}\n" % (upstream, server, location, pass_))


def _facts_refuse(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "nginx.conf")
        with open(path, "w") as handle:
            handle.write(text)
        payload = parse(path)
        result = analyze_config(payload, "1.22.1", resolve=False)
    return bool(payload["errors"] or result["errors"]), [e["message"] for e in result["errors"]]


def test_the_facts_refuse_what_nginx_refuses(lab):
    texts = [_config(*case[1:]) for case in CASES]
    script = ["mkdir -p /tmp/bgd-refusals"]
    for i, text in enumerate(texts):
        script.append("printf %%s %s > /tmp/bgd-refusals/%d.conf" % (shlex.quote(text), i))
    script.append("for i in $(seq 0 %d); do nginx -t -q -c /tmp/bgd-refusals/$i.conf >/dev/null 2>&1; echo $i $?; done"
                  % (len(texts) - 1))
    try:
        out = lab.run(HOST, "\n".join(script), timeout=120).stdout
    finally:
        lab.run(HOST, "rm -rf /tmp/bgd-refusals", check=False)
    nginx_refuses = {int(i): rc != "0" for i, rc in (line.split() for line in out.splitlines())}
    assert len(nginx_refuses) == len(CASES)
    disagree = []
    for i, case in enumerate(CASES):
        refused, messages = _facts_refuse(texts[i])
        if refused != nginx_refuses[i]:
            verdicts = ("refuses" if nginx_refuses[i] else "accepts", "refuse" if refused else "accept")
            disagree.append("%s: nginx %s, facts %s %s" % ((case[0],) + verdicts + (messages,)))
    assert disagree == []
    # both kinds are among the cases
    assert 10 < sum(nginx_refuses.values()) < len(CASES) - 10


def _nginx_facts(lab, args, user=None):
    argv = [str(ANSIBLE), "-i", str(lab.inventory_path), HOST, "-m", "badgateway.doctor.nginx_facts", "-a", args]
    if user:
        argv += ["-e", "ansible_user=%s" % user]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="minimal", ANSIBLE_HOST_KEY_CHECKING="False")
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    text = res.stdout
    return expand_nginx(json.loads(text[text.index("=>") + 2:])["ansible_facts"]["badgateway"]["nginx"])


@pytest.mark.skipif(not ANSIBLE.exists(), reason="no .venv/bin/ansible")
def test_fifo_include_and_unlistable_glob_on_the_host(lab):
    lab.run(HOST, "mkdir -p /etc/nginx/bgd-private && chmod 700 /etc/nginx/bgd-private"
                  " && printf 'location /p { proxy_pass http://127.0.0.1:8009; }\\n' > /etc/nginx/bgd-private/p.conf"
                  " && mkfifo /etc/nginx/bgd-fifo.conf"
                  " && printf 'server { listen 8098; include /etc/nginx/bgd-private/*.conf;"
                  " location /f { include /etc/nginx/bgd-fifo.conf; proxy_pass http://127.0.0.1:8008; } }\\n'"
                  " > /etc/nginx/conf.d/zz-bgd.conf")
    try:
        as_root = _nginx_facts(lab, "test=always resolve=false")
        assert as_root["test"]["ok"] is None and "FIFO" in as_root["test"]["output"]
        assert any("/etc/nginx/bgd-fifo.conf is a FIFO" in e["message"] for e in as_root["errors"])
        ids = [r["id"] for r in as_root["routes"]]
        assert {"_:8098 /p", "_:8098 /f", "_:80 /"} <= set(ids)
        # over a non-root connection the private directory cannot be listed: said, not skipped
        auditor = _nginx_facts(lab, "test=never resolve=false", user="auditor")
        assert "_:8098 /p" not in [r["id"] for r in auditor["routes"]]
        assert any("cannot list directory /etc/nginx/bgd-private: permission denied" in e["message"]
                   for e in auditor["errors"]), auditor["errors"]
    finally:
        # and reload, so that the running workers are newer than the directories touched here
        lab.run(HOST, "rm -rf /etc/nginx/bgd-private /etc/nginx/bgd-fifo.conf /etc/nginx/conf.d/zz-bgd.conf;"
                      " systemctl reload nginx; sleep 1", check=False)
