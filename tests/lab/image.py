# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The recipe of the lab's base image: packages, app code, units, nginx site.

Everything here goes into the recipe hash: change any of it and the next
``up`` builds a fresh base under a new directory name.
"""
from __future__ import annotations

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = [
    "systemd", "systemd-sysv", "dbus", "nginx", "python3", "python3-venv",
    "iproute2", "procps", "openssh-server", "curl", "acl", "util-linux",
    # the app's database on the same host (gunicorn's app connects to it at boot)
    "redis-server",
]
# Pinned so the image (and its log wording) does not drift between runs.
PIP_PACKAGES = ["gunicorn==23.0.0", "uvicorn==0.34.0", "click==8.1.8", "h11==0.14.0", "packaging==24.2",
                # the small Django site (DJANGO_FILES): its settings errors are real Django's
                "Django==5.2.19", "asgiref==3.13.0", "sqlparse==0.6.1"]

# Bumped by hand when the build procedure itself (not a file below) changes.
BUILD_VERSION = "4"

ENV_FILE = """SECRET_KEY=lab-secret-DO-NOT-LEAK-7f3a
DATABASE_URL=postgres://app:pw-DO-NOT-LEAK@127.0.0.1/app
"""

_COMMON_APP = r'''
import os
import signal
import socket
import time
from urllib.parse import parse_qs

_HOLD = []


def _redis_ping(addr):
    """PING the app's Redis (RESP) as a real app checks its database at boot; raise when it is not there."""
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=2) as conn:
        conn.sendall(b"PING\r\n")
        reply = conn.recv(64)
    if not reply.startswith(b"+PONG"):
        raise ConnectionError("redis at %s answered %r to PING" % (addr, reply[:40]))


if os.environ.get("APP_REDIS_ADDR"):
    # the WSGI app's database: without it the app does not boot
    _redis_ping(os.environ["APP_REDIS_ADDR"])

if os.environ.get("APP_CHECK_DB") == "1":
    # The lab's stand-in for "connect to the database at import time".
    _host, _port = os.environ.get("APP_DB_ADDR", "127.0.0.1:5432").rsplit(":", 1)
    socket.create_connection((_host, int(_port)), timeout=2).close()


def _route(path, query):
    """Return (status, extra_headers, body) for a path; shared by both apps."""
    qs = parse_qs(query)
    if path == "/slow":
        return "slow", float(qs.get("s", ["1"])[0]), qs.get("interruptible", ["0"])[0] == "1"
    if path == "/big-header":
        return 200, [("X-Big", "x" * 16384)], b"big header\n"
    if path == "/alloc":
        mb = int(qs.get("mb", ["10"])[0])
        _HOLD.append(b"\x01" * (mb * 1024 * 1024))
        return 200, [], ("holding %d MB\n" % sum(len(b) // 1048576 for b in _HOLD)).encode()
    if path == "/health":
        return 200, [], b"ok\n"
    if path == "/status":
        # the app itself answers this status (an app that is a gateway to another service)
        code = int(qs.get("code", ["200"])[0])
        return code, [], ("status %d\n" % code).encode()
    if path == "/":
        return 200, [], None
    return 404, [], b"not found\n"
'''

WSGI_APP = '"""Tiny WSGI app for the badgateway.doctor lab."""' + _COMMON_APP + r'''

_REASONS = {200: "200 OK", 404: "404 Not Found", 500: "500 Internal Server Error", 502: "502 Bad Gateway",
            503: "503 Service Unavailable", 504: "504 Gateway Timeout"}


def application(environ, start_response):
    res = _route(environ.get("PATH_INFO", "/"), environ.get("QUERY_STRING", ""))
    if res[0] == "slow":
        # Like work stuck in C code (a database call): SIGABRT from gunicorn's WORKER TIMEOUT
        # is held off, so the master ends the worker with SIGKILL and nginx sees the connection
        # close (502). With interruptible=1 the worker's abort handler runs and gunicorn answers 500.
        old = None if res[2] else signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGABRT})
        try:
            time.sleep(min(res[1], 600))
        finally:
            if old is not None:
                signal.pthread_sigmask(signal.SIG_SETMASK, old)
        res = (200, [], b"slow ok\n")
    status, headers, body = res
    if body is None:
        body = b"wsgi ok\n"
    start_response(_REASONS.get(status, "%d Status" % status), [("Content-Type", "text/plain")] + headers)
    return [body]
'''

ASGI_APP = '"""Tiny ASGI app for the badgateway.doctor lab."""' + _COMMON_APP + r'''
import asyncio


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    res = _route(scope.get("path", "/"), scope.get("query_string", b"").decode())
    if res[0] == "slow":
        await asyncio.sleep(min(res[1], 600))
        res = (200, [], b"slow ok\n")
    status, headers, body = res
    if body is None:
        body = b"asgi ok\n"
    hdrs = [(b"content-type", b"text/plain")] + [(k.lower().encode(), v.encode()) for k, v in headers]
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": body})
'''

# A small Django site under /srv/app/djsite (not served by default: a fault points gunicorn at it).
# Its settings take the secret from the environment, the usual production recipe, and say so with
# Django's own ImproperlyConfigured when it is missing.
DJANGO_FILES = {
    "djsite/__init__.py": "",
    "djsite/settings.py": '''"""Settings of the lab's small Django site: the secret comes from the environment."""
import os

from django.core.exceptions import ImproperlyConfigured


def env(name):
    try:
        return os.environ[name]
    except KeyError:
        raise ImproperlyConfigured("Set the %s environment variable" % name) from None


SECRET_KEY = env("DJANGO_SECRET_KEY")
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "djsite.urls"
INSTALLED_APPS = []
MIDDLEWARE = []
DATABASES = {}
USE_TZ = True
''',
    "djsite/urls.py": '''from django.http import HttpResponse
from django.urls import path

urlpatterns = [path("", lambda request: HttpResponse("django ok\\n", content_type="text/plain"))]
''',
    "djsite/wsgi.py": '''import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djsite.settings")
application = get_wsgi_application()
''',
}

# The WSGI app needs its Redis (same host) at boot; the unit starts after it, as an app ordered after its
# database does (ordering only: stopping Redis leaves the running app alone, the next start fails).
GUNICORN_UNIT = """[Unit]
Description=Gunicorn WSGI app (badgateway.doctor lab)
After=network.target redis-server.service

[Service]
Type=simple
User=app
Group=www-data
RuntimeDirectory=gunicorn
RuntimeDirectoryMode=0755
WorkingDirectory=/srv/app
EnvironmentFile=/etc/default/app-env
Environment=APP_REDIS_ADDR=127.0.0.1:6379
ExecStart=/srv/app/venv/bin/gunicorn --workers 2 --timeout 5 --bind unix:/run/gunicorn/gunicorn.sock --umask 007 wsgi:application
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""

UVICORN_UNIT = """[Unit]
Description=Uvicorn ASGI app (badgateway.doctor lab)
After=network.target

[Service]
Type=simple
User=app
Group=app
WorkingDirectory=/srv/app
EnvironmentFile=/etc/default/app-env
ExecStart=/srv/app/venv/bin/uvicorn --host 127.0.0.1 --port 8001 asgi:app
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""

NGINX_SITE = """# badgateway.doctor lab site
upstream wsgi_app {
    server unix:/run/gunicorn/gunicorn.sock fail_timeout=0;
}

server {
    listen 80 default_server;
    server_name _;

    location / {
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_redirect off;
        proxy_pass http://wsgi_app;
    }

    location /asgi/ {
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_pass http://127.0.0.1:8001/;
    }
}
"""

HOSTS_FILE = """127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
"""

# Not part of the recipe hash: written into each host at `up`.
# Restores everything a fault may have changed (used by the catalog's heal steps).
# /usr/local/share/bgd-lab/pristine/ is written per host at `up` (topology aware).
LAB_HEAL = r"""#!/bin/sh
# lab-heal: put this lab host back into its pristine state (badgateway.doctor lab)
P=/usr/local/share/bgd-lab/pristine
rm -f /etc/systemd/system/*.service.d/fault-*.conf
# what the remediation roles may have left: their drop-ins, backups, socket units' drop-ins, group memberships
rm -f /etc/systemd/system/*.service.d/*badgateway*.conf /etc/systemd/system/*.socket.d/*badgateway*.conf
rm -rf /var/lib/badgateway-doctor /run/lock/badgateway-doctor
for g in $(id -nG www-data 2>/dev/null); do [ "$g" = www-data ] || gpasswd -d www-data "$g" >/dev/null 2>&1 || true; done
for u in gunicorn uvicorn; do
  [ -f "$P/$u.service" ] && cp "$P/$u.service" /lib/systemd/system/$u.service
done
cp "$P/lab.site" /etc/nginx/sites-available/lab
ln -sfn /etc/nginx/sites-available/lab /etc/nginx/sites-enabled/lab
rm -f /etc/nginx/sites-enabled/fault-* /etc/nginx/conf.d/fault-*
cp "$P/hosts" /etc/hosts
cp "$P/app-env" /etc/default/app-env; chmod 0640 /etc/default/app-env; chown root:app /etc/default/app-env
[ -x /srv/app/venv/bin/gunicorn ] || { [ -e /srv/app/venv/bin/gunicorn.fault ] && mv /srv/app/venv/bin/gunicorn.fault /srv/app/venv/bin/gunicorn; }
cp "$P/wsgi.py" /srv/app/wsgi.py; cp "$P/asgi.py" /srv/app/asgi.py
rm -f /srv/app/*.fault
pkill -f 'lab-db-sink' 2>/dev/null || true
rm -f /tmp/gunicorn.sock
systemctl daemon-reload
systemctl reset-failed gunicorn.service uvicorn.service redis-server.service 2>/dev/null || true
systemctl start redis-server.service 2>/dev/null || true
for u in gunicorn.service uvicorn.service; do
  [ "$(systemctl is-enabled $u 2>/dev/null)" = masked ] || systemctl restart $u
done
lab-nginx-reload || systemctl restart nginx.service
# wait until the app answers on its socket/port (bounded)
i=0
while [ $i -lt 50 ]; do
  if curl -fsS -o /dev/null --max-time 2 http://127.0.0.1/health && curl -fsS -o /dev/null --max-time 2 http://127.0.0.1/asgi/health; then
    exit 0
  fi
  i=$((i+1)); sleep 0.2
done
echo "lab-heal: routes did not come back within 10 s" >&2
exit 1
"""

# Not part of the recipe hash either: reload nginx and wait until no worker of the old
# configuration is left (a plain reload returns before the old workers are gone).
LAB_NGINX_RELOAD = r"""#!/bin/sh
# lab-nginx-reload: nginx -t, reload, wait (at most 5 s) until every old worker has exited
old=$(pgrep -f 'nginx: worker process' | sort | tr '\n' ' ')
nginx -t -q || exit 1
systemctl reload nginx.service || exit 1
i=0
while [ $i -lt 100 ]; do
  cur=$(pgrep -f 'nginx: worker process' | sort | tr '\n' ' ')
  stale=0
  for p in $old; do case " $cur " in *" $p "*) stale=1;; esac; done
  [ $stale = 0 ] && [ -n "$cur" ] && exit 0
  i=$((i+1)); sleep 0.05
done
echo "lab-nginx-reload: old nginx workers still running after 5 s" >&2
exit 1
"""

# Units that only slow the boot of a throwaway test host.
MASK_UNITS = [
    "console-getty.service", "getty@.service", "apt-daily.timer", "apt-daily-upgrade.timer",
    "e2scrub_all.timer", "e2scrub_reap.service", "fstrim.timer", "systemd-timesyncd.service",
    "dpkg-db-backup.timer", "systemd-networkd-wait-online.service", "man-db.timer",
    "logrotate.timer", "systemd-tmpfiles-clean.timer",
]
