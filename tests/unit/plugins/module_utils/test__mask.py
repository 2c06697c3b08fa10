# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one masker: secret shapes that must be masked, and text that must stay as it is."""
from __future__ import annotations

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils._mask import MASK, is_secret_name, mask_argv, mask_text, mask_url

NGX = ('2026/11/22 02:28:48 [error] 6026#6026: *882 connect() failed (111: Connection refused) while connecting to '
       'upstream, client: 10.0.0.7, server: app.example.com, request: "%s", upstream: "%s", host: "app.example.com"')

# (text, the secret that must disappear, a part that must survive)
SECRETS = [
    # command lines in free text (journal lines, systemd's "Started ..." lines)
    ("gunicorn -e SECRET_KEY=s3cr3t-django-key wsgi:app", "s3cr3t-django-key", "SECRET_KEY="),
    ("gunicorn --env DB_PASSWORD=Tr0ub4dor wsgi:app", "Tr0ub4dor", "DB_PASSWORD="),
    ("gunicorn --env=STRIPE_KEY=abc123def wsgi:app", "abc123def", "STRIPE_KEY="),
    ("gunicorn -e DJANGO_SETTINGS_MODULE=prod.settings -e DATABASE_URL=whatever wsgi:app", "whatever", "DATABASE_URL="),
    ("myapp --password hunter2 --port 8000", "hunter2", "--port 8000"),
    ("myapp --secret-key 9f8e7d6c --workers 4", "9f8e7d6c", "--workers 4"),
    ("myapp --api-token 'tok en' --bind 0.0.0.0:8000", "tok en", "--bind 0.0.0.0:8000"),
    ("uvicorn --ssl-keyfile-password p4ss main:app", "p4ss", "main:app"),
    ("celery --broker-password=amqp-pw worker", "amqp-pw", "worker"),
    # key = value forms
    ("password => hunter2", "hunter2", "password =>"),
    (":password => 'rubypw'", "rubypw", ":password =>"),
    ("connecting with pass=letmein host=db", "letmein", "host=db"),
    ("redis auth=r3d1spw db=0", "r3d1spw", "db=0"),
    ("api_key: AbCdEf123456", "AbCdEf123456", "api_key:"),
    ("apikey=0123456789abcdef", "0123456789abcdef", "apikey="),
    ("PGPASSWORD=pgpw psql -h db", "pgpw", "psql -h db"),
    ("MYSQL_PWD=mypw mysql", "mypw", "mysql"),
    ("spring.datasource.password=javapw", "javapw", "spring.datasource.password="),
    ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI", "AWS_SECRET_ACCESS_KEY="),
    ("aws_session_token = FQoGZXIvYXdzEJr", "FQoGZXIvYXdzEJr", "aws_session_token"),
    ("client_secret: 'oauth-client-secret'", "oauth-client-secret", "client_secret"),
    ("private_key=MIIEvQIBADANBgkq", "MIIEvQIBADANBgkq", "private_key="),
    ("SENTRY_DSN=https://abcdef0123456789@o1.ingest.sentry.io/1", "abcdef0123456789", "SENTRY_DSN="),
    ("login failed: credentials=alice:wonderland", "alice:wonderland", "login failed"),
    ("settings: {'SECRET_KEY': 'django-insecure-xyz', 'DEBUG': False}", "django-insecure-xyz", "'DEBUG': False"),
    ('{"token": "abc.def.ghi", "user": "bob"}', "abc.def.ghi", '"user": "bob"'),
    ('{"access_token":"ya29.a0AfH6SMB","expires_in":3599}', "ya29.a0AfH6SMB", '"expires_in":3599'),
    ('{"password": "pa\\"ss", "ok": true}', 'pa\\"ss', '"ok": true'),
    ("X-Api-Key: 7c6a180b36896a0a8c02787eeafb0e4c", "7c6a180b36896a0a8c02787eeafb0e4c", "X-Api-Key:"),
    ("X-Auth-Token: 5f4dcc3b5aa765d61d8327deb882cf99", "5f4dcc3b5aa765d61d8327deb882cf99", "X-Auth-Token:"),
    ("X-CSRFToken: Zm9vYmFyYmF6", "Zm9vYmFyYmF6", "X-CSRFToken:"),
    ("sessionid=q8w7e6r5t4y3", "q8w7e6r5t4y3", "sessionid="),
    # HTTP authorization and cookies
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9", "Authorization: Bearer"),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA==", "Authorization: Basic"),
    ("Proxy-Authorization: Basic YWRtaW46YWRtaW4=", "YWRtaW46YWRtaW4=", "Proxy-Authorization"),
    ("authorization: Token 0123abcd4567", "0123abcd4567", "authorization: Token"),
    ('{"Authorization": "Bearer abcdefgh12345678"}', "abcdefgh12345678", '"Authorization"'),
    ("Authorization=rawtokenvalue123", "rawtokenvalue123", "Authorization="),
    ("sending Bearer AAAAbbbbCCCCdddd to the API", "AAAAbbbbCCCCdddd", "to the API"),
    ("Cookie: sessionid=abc123; csrftoken=def456", "abc123", "Cookie: sessionid="),
    ("Cookie: sessionid=abc123; csrftoken=def456", "def456", "csrftoken="),
    ("Cookie: _myapp_state=eyJ1c2VyIjoxfQ", "eyJ1c2VyIjoxfQ", "_myapp_state="),
    ("Set-Cookie: remember_me=zzz999; Path=/; HttpOnly", "zzz999", "Path=/; HttpOnly"),
    # URLs and DSNs
    ("DATABASE_URL=postgres://app:s3cret@db.internal:5432/app", "s3cret", "@db.internal:5432/app"),
    ("postgres://app:p@ss@w0rd@db:5432/app", "p@ss@w0rd", "@db:5432/app"),
    ("could not connect to mysql://root:r00t@127.0.0.1/db", "r00t", "mysql://root:"),
    ("redis://:redispass@cache:6379/0", "redispass", "@cache:6379/0"),
    ("amqp://guest:gu%40est@rabbit:5672//", "gu%40est", "@rabbit:5672//"),
    ("mongodb+srv://user:mongo!pw@cluster0.example.net/db?retryWrites=true", "mongo!pw", "retryWrites=true"),
    ('sql.Open("mysql", "app:gopw@tcp(127.0.0.1:3306)/app")', "gopw", "@tcp(127.0.0.1:3306)/app"),
    # tokens in request and upstream URIs of nginx's error log
    (NGX % ("GET /api?api_key=abc123&page=2 HTTP/1.1", "http://127.0.0.1:8000/api?api_key=abc123&page=2"),
     "abc123", "page=2"),
    (NGX % ("GET /reset?token=tkn-777 HTTP/1.1", "http://unix:/run/gunicorn/gunicorn.sock:/reset?token=tkn-777"),
     "tkn-777", "unix:/run/gunicorn/gunicorn.sock:/reset"),
    (NGX % ("GET /s3?X-Amz-Signature=deadbeef&X-Amz-Credential=AKID%2F2026 HTTP/1.1", "http://127.0.0.1:8000/s3"),
     "deadbeef", "X-Amz-Signature="),
    (NGX % ("GET /s3?X-Amz-Signature=deadbeef&X-Amz-Credential=AKID%2F2026 HTTP/1.1", "http://127.0.0.1:8000/s3"),
     "AKID%2F2026", "X-Amz-Credential="),
    (NGX % ("GET /cb?state=xyz&access_token=at-42 HTTP/1.1", "http://127.0.0.1:8000/cb?state=xyz&access_token=at-42"),
     "at-42", "state=xyz"),
    (NGX % ("GET /feed?auth=feedtok HTTP/1.1", "http://127.0.0.1:8000/feed?auth=feedtok"), "feedtok", "/feed?auth="),
    (NGX % ("GET /x HTTP/1.1", "http://svc:upw@10.0.0.5:8000/x"), "upw", "@10.0.0.5:8000/x"),
    ("request: \"GET /webhook;jsessionid=ABCDEF0123 HTTP/1.1\"", "ABCDEF0123", "/webhook;"),
    # well-known token shapes wherever they appear
    ("using key AKIAIOSFODNN7EXAMPLE for s3", "AKIAIOSFODNN7EXAMPLE", "for s3"),
    ("git clone https://ghp_16C7e42F292c6912E7710c838347Ae178B4a@github.com/o/r", "ghp_16C7e42F292c6912E7710c838347Ae178B4a", "github.com/o/r"),
    ("token glpat-xxxxxxxxxxxxxxxxxxxx used", "glpat-xxxxxxxxxxxxxxxxxxxx", "used"),
    ("slack xoxb-1234567890-abcdefghij posted", "xoxb-1234567890-abcdefghij", "posted"),
    ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc charged", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "charged"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.SflKxwRJSMeKKF2QT4fwpM is bad", "SflKxwRJSMeKKF2QT4fwpM", "is bad"),
    ("maps AIzaSyA-1234567890abcdefghijklmnopqrstu ok", "AIzaSyA-1234567890abcdefghijklmnopqrstu", "ok"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----", "MIIEowIBAAKCAQEA7", "END RSA PRIVATE KEY"),
    ("CREATE USER app IDENTIFIED BY 'sqlpw'", "sqlpw", "CREATE USER app"),
]

# text that must come back unchanged
NOT_SECRETS = [
    "/var/log/nginx/error.log",
    "keepalive_timeout 65;",
    "keepalive_timeout=65",
    "proxy_read_timeout: 60",
    "connect() failed (111: Connection refused) while connecting to upstream",
    NGX % ("GET / HTTP/1.1", "http://127.0.0.1:8000/"),
    NGX % ("GET /accounts/password_reset/ HTTP/1.1", "http://unix:/run/gunicorn/gunicorn.sock:/accounts/password_reset/"),
    NGX % ("GET /auth/login?next=/dashboard HTTP/1.1", "http://[::1]:8000/auth/login?next=/dashboard"),
    NGX % ("GET /tokens/ HTTP/1.1", "http://10.0.0.5:8000/tokens/"),
    "upstream: \"http://unix:/run/gunicorn/gunicorn.sock:/\"",
    "connect() to unix:/run/gunicorn/gunicorn.sock failed (13: Permission denied)",
    "proxy_pass http://unix:/run/gunicorn/app.sock:/api/;",
    "KeyError: 'SECRET_KEY'",
    "django.core.exceptions.ImproperlyConfigured: The SECRET_KEY setting must not be empty.",
    'psycopg2.OperationalError: FATAL:  password authentication failed for user "app"',
    "redis.exceptions.AuthenticationError: Authentication required.",
    "gunicorn.service: Main process exited, code=exited, status=203/EXEC",
    "gunicorn.service: Failed with result 'exit-code'.",
    "[2026-11-22 02:21:31 +0000] [2060] [CRITICAL] WORKER TIMEOUT (pid:2072)",
    "Worker (pid:2629) was sent SIGKILL! Perhaps out of memory?",
    "Out of memory: Killed process 4242 (gunicorn) total-vm:1000kB, anon-rss:900kB",
    "ssh://git@github.com/org/repo.git",
    "--ssl-keyfile /etc/ssl/private/app.key",
    "SECRET_KEY_FILE=/run/secrets/django_key",
    "ssl_certificate_key /etc/ssl/private/site.key;",
    "Authorization header missing",
    "auth_basic off;",
    "passenger_enabled on;",
    "GET /?page=2&q=hello&sort=password HTTP/1.1",
    "author=bob keyboard=us monkey=1",
    "listening at: unix:/run/gunicorn/gunicorn.sock (1234)",
    "Uvicorn running on http://127.0.0.1:8001 (Press CTRL+C to quit)",
    "client: 2001:db8::1, server: _, host: \"[2001:db8::1]:8080\"",
    "--bind unix:/run/gunicorn.sock --workers 3 --timeout 30",
    "nginx: master process /usr/sbin/nginx -g daemon on; master_process on;",
    "upstream sent too big header while reading response header from upstream",
    "",
]


@pytest.mark.parametrize("text, secret, kept", SECRETS, ids=[str(i) for i in range(len(SECRETS))])
def test_secret_is_masked(text, secret, kept):
    out = mask_text(text)
    assert secret not in out, out
    assert MASK in out
    assert kept in out, out
    assert mask_text(out) == out  # masking is idempotent


def test_at_least_fifty_secret_shapes():
    assert len(SECRETS) >= 50
    assert len(NOT_SECRETS) >= 20


@pytest.mark.parametrize("text", NOT_SECRETS)
def test_not_a_secret_is_kept(text):
    assert mask_text(text) == text


def test_non_text_passes_through():
    assert mask_text(None) is None
    assert mask_text(42) == 42


@pytest.mark.parametrize("name, secret", [
    ("SECRET_KEY", True), ("DB_PASSWORD", True), ("pass", True), ("auth", True), ("api-key", True),
    ("X-Amz-Signature", True), ("sig", True), ("PGPASSWORD", True), ("MYSQL_PWD", True), ("sessionid", True),
    ("--secret-key", True), ("--ssl-keyfile-password", True), ("client_secret", True), ("SENTRY_DSN", True),
    ("keepalive_timeout", False), ("password_file", False), ("--ssl-keyfile", False), ("--key-file", False),
    ("author", False), ("keyboard", False), ("bypass", False), ("host", False), ("upstream", False),
    ("code", False), ("DJANGO_SETTINGS_MODULE", False), ("", False), (None, False),
])
def test_is_secret_name(name, secret):
    assert is_secret_name(name) is secret


@pytest.mark.parametrize("argv, expected", [
    (["gunicorn", "-e", "SECRET_KEY=abc", "-e", "DEBUG=0", "wsgi:app"],
     ["gunicorn", "-e", "SECRET_KEY=" + MASK, "-e", "DEBUG=" + MASK, "wsgi:app"]),
    (["gunicorn", "--env", "DB_PASSWORD=x", "--env=TOKEN=y", "-eAPI_KEY=z"],
     ["gunicorn", "--env", "DB_PASSWORD=" + MASK, "--env=TOKEN=" + MASK, "-eAPI_KEY=" + MASK]),
    (["app", "--password", "hunter2", "--secret-key", "s", "--port", "80"],
     ["app", "--password", MASK, "--secret-key", MASK, "--port", "80"]),
    (["app", "--password=hunter2", "--api-token=t", "--log-level=debug"],
     ["app", "--password=" + MASK, "--api-token=" + MASK, "--log-level=debug"]),
    (["uvicorn", "--ssl-keyfile", "/k.pem", "--ssl-keyfile-password", "pw", "main:app"],
     ["uvicorn", "--ssl-keyfile", "/k.pem", "--ssl-keyfile-password", MASK, "main:app"]),
    (["uwsgi", "--env", "SECRET=1", "--socket", "/run/uwsgi.sock"],
     ["uwsgi", "--env", "SECRET=" + MASK, "--socket", "/run/uwsgi.sock"]),
    (["env", "SECRET_KEY=x", "PATH=/usr/bin", "gunicorn"], ["env", "SECRET_KEY=" + MASK, "PATH=/usr/bin", "gunicorn"]),
    (["celery", "-b", "amqp://u:pw@rabbit//", "worker"], ["celery", "-b", "amqp://u:" + MASK + "@rabbit//", "worker"]),
    (["sh", "-c", "exec gunicorn --password hunter2 app:app"], ["sh", "-c", "exec gunicorn --password " + MASK + " app:app"]),
    (["nginx: worker process", "", ""], ["nginx: worker process", "", ""]),
    (["gunicorn", "--bind", "unix:/run/gunicorn.sock", "-e"], ["gunicorn", "--bind", "unix:/run/gunicorn.sock", "-e"]),
    ([], []),
])
def test_mask_argv(argv, expected):
    assert mask_argv(argv) == expected


def test_mask_argv_none():
    assert mask_argv(None) is None


@pytest.mark.parametrize("url, expected", [
    ("http://user:p@ss@host:8080/x?token=t&page=1", "http://user:" + MASK + "@host:8080/x?token=" + MASK + "&page=1"),
    ("https://host/cb?code_challenge=x&state=s", "https://host/cb?code_challenge=x&state=s"),
    ("http://127.0.0.1:8000/api?api_key=k&sig=s", "http://127.0.0.1:8000/api?api_key=" + MASK + "&sig=" + MASK),
    ("http://unix:/run/gunicorn.sock:/", "http://unix:/run/gunicorn.sock:/"),
    ("http://[::1]:8000/", "http://[::1]:8000/"),
    ("http://h/?password=", "http://h/?password="),
    (None, None),
])
def test_mask_url(url, expected):
    assert mask_url(url) == expected


HOSTILE = ["x" * 100000, "a=" * 50000, "password: " * 10000, "-" * 100000, ":" * 100000, "a." * 50000 + "@(",
           "a." * 50000 + "://", "http://" * 10000, "Authorization: " * 5000, "Cookie: " * 5000 + "a=b;" * 10000,
           "-e " * 30000, "--password " * 10000, "http://u:" + "@" * 100000, "'" * 50000 + '"' * 50000,
           '"token": "' + "\\" * 100000, "a-b_c.d[e]" * 10000, "Bearer " * 10000, "-----BEGIN PRIVATE KEY-----" * 3000,
           "IDENTIFIED BY " * 10000, "token=" * 50000, 'password: "' + "x" * 100000]


@pytest.mark.parametrize("text", HOSTILE, ids=[str(i) for i in range(len(HOSTILE))])
def test_hostile_text_is_linear(text):
    import time
    cpu = time.process_time()    # CPU time, not the wall clock: a loaded machine does not count
    mask_text(text)
    mask_argv([text, text[:1000]])
    mask_url(text)
    # about 0.6 s of CPU for the slowest input on every Python 3.8-3.13; quadratic backtracking on
    # 100 KB would take minutes
    assert time.process_time() - cpu < 3.0
