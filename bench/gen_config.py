# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Generate a large, deterministic nginx config tree for the parser benchmark.

``python bench/gen_config.py DIR [--servers N] [--files F]`` writes ``DIR/nginx.conf`` (which
includes ``DIR/sites/*.conf``), ``F`` site files holding ``N`` ``server`` blocks in total, each
with three locations (a ``proxy_pass`` to TCP, a static ``alias`` and a ``uwsgi_pass`` to a
unix socket), plus an ``upstream`` file and ``uwsgi_params``. Same arguments, same bytes.
"""
from __future__ import annotations

import argparse
import os

MAIN = """\
user www-data;
worker_processes auto;
pid /run/nginx.pid;
error_log /var/log/nginx/error.log warn;

events {
    worker_connections 1024;
}

http {
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    default_type application/octet-stream;
    log_format main '$remote_addr - $remote_user [$time_local] "$request" '
                    '$status $body_bytes_sent "$http_referer" "$http_user_agent"';
    access_log /var/log/nginx/access.log main;
    include upstreams.conf;
    include sites/*.conf;
}
"""

UWSGI_PARAMS = "".join(
    "uwsgi_param %s $%s;\n" % (name, value)
    for name, value in (
        ("QUERY_STRING", "query_string"), ("REQUEST_METHOD", "request_method"),
        ("CONTENT_TYPE", "content_type"), ("CONTENT_LENGTH", "content_length"),
        ("REQUEST_URI", "request_uri"), ("PATH_INFO", "document_uri"),
        ("DOCUMENT_ROOT", "document_root"), ("SERVER_PROTOCOL", "server_protocol"),
        ("REMOTE_ADDR", "remote_addr"), ("REMOTE_PORT", "remote_port"),
        ("SERVER_PORT", "server_port"), ("SERVER_NAME", "server_name"),
    )
)

SERVER = """\
server {{
    listen 80;
    server_name app{n:05d}.example.com;
    # application {n}
    location / {{
        proxy_pass http://backend{g};
        proxy_set_header Host $host;
        proxy_read_timeout 30s;
    }}
    location /static/ {{
        alias "/srv/app{n:05d}/static/";
    }}
    location ~ ^/legacy/(.*)$ {{
        uwsgi_pass unix:/run/uwsgi/app{n:05d}.sock;
        include uwsgi_params;
    }}
}}
"""


def generate(directory, servers=10000, files=100):
    """Write the config tree into ``directory``; return the path of the main file."""
    os.makedirs(os.path.join(directory, "sites"), exist_ok=True)
    with open(os.path.join(directory, "nginx.conf"), "w") as handle:
        handle.write(MAIN)
    with open(os.path.join(directory, "uwsgi_params"), "w") as handle:
        handle.write(UWSGI_PARAMS)
    groups = max(1, servers // 100)
    with open(os.path.join(directory, "upstreams.conf"), "w") as handle:
        for g in range(groups):
            handle.write("upstream backend%d {\n    server 127.0.0.1:%d fail_timeout=0;\n    keepalive 16;\n}\n" % (g, 8000 + g))
    per_file = -(-servers // files)
    for f in range(files):
        chunk = range(f * per_file, min(servers, (f + 1) * per_file))
        with open(os.path.join(directory, "sites", "site%03d.conf" % f), "w") as handle:
            handle.write("".join(SERVER.format(n=n, g=n % groups) for n in chunk))
    return os.path.join(directory, "nginx.conf")


def main():
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--servers", type=int, default=10000)
    parser.add_argument("--files", type=int, default=100)
    args = parser.parse_args()
    print(generate(args.directory, args.servers, args.files))


if __name__ == "__main__":
    main()
