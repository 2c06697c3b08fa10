# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every app server's fatal-at-boot messages, taken from its own source, are classified.

``fixtures/app_servers/boot_messages.json`` holds the messages ``extract_boot_messages.py`` found in
gunicorn 23.0.0 and uvicorn 0.34.0 (the lab image's), hypercorn 0.18.0, daphne 4.2.2, uWSGI 2.0.30
(their packages) and PHP-FPM (php-src, by hand).  Each one must either be classified by
``_log_patterns`` - a class and a cause (boot / config / dependency) - or be listed in
``extract_boot_messages.NOT_AT_BOOT`` with the reason it is not fatal at boot.  The lab stage extracts them again from the
installed packages (``tests/integration/test_boot_messages_source.py``): a message that appears
there and not here fails it.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import _log_patterns as lp

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "app_servers"
sys.path.insert(0, str(FIXTURES))

import extract_boot_messages as X  # noqa: E402  pylint: disable=wrong-import-position

DATA = json.loads((FIXTURES / "boot_messages.json").read_text())
MESSAGES = [m for server in X.SERVERS for m in DATA[server]["messages"]]
CAUSES = {"boot", "config", "dependency"}


def classified(server, template, how=""):
    """The classification of the line the server writes for ``template`` (None: not classified)."""
    line = X.sample(template)
    candidates = [line]
    if server == "gunicorn" and how.startswith("raise"):
        candidates.append("Error: " + line)       # how gunicorn prints a configuration exception
    if server == "php-fpm":
        candidates = ["[02-Dec-2026 06:00:00] ERROR: " + line]
    for text in candidates:
        for kind in ("journal", "file"):
            res = lp.classify_line(kind, text)
            if res:
                return res
    return None


def test_every_server_was_extracted():
    for server in X.SERVERS:
        assert DATA[server]["messages"], server
    assert len(MESSAGES) > 150


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: "%s:%s" % (m["server"], m["template"][:50]))
def test_each_message_is_classified_or_known_not_fatal(msg):
    key = (msg["server"], msg["template"])
    res = classified(msg["server"], msg["template"], msg["how"])
    if key in X.NOT_AT_BOOT:
        return
    assert res is not None, ("%s: a message from %s:%s is not classified: %r - add it to _log_patterns.BOOT_MESSAGES "
                             "(or to NOT_AT_BOOT with the reason)" % (msg["server"], msg["file"], msg["line"], msg["template"]))
    cls, detail, _targets = res
    if detail.get("cause") is not None:
        assert detail["cause"] in CAUSES


def test_not_at_boot_lists_only_extracted_messages():
    extracted = {(m["server"], m["template"]) for m in MESSAGES}
    stale = [k for k in X.NOT_AT_BOOT if k not in extracted]
    assert not stale, "NOT_AT_BOOT names messages the sources no longer have: %s" % stale


@pytest.mark.parametrize("line,cls,cause,name", [
    ("Failed to find attribute 'applicaton' in 'wsgi'.", "import_error", "boot", "applicaton"),
    ("[2026-12-02 06:00:00 +0000] [12] [ERROR] Reason: App failed to load.", "worker_boot_failed", "boot", None),
    ('ERROR:    Error loading ASGI app. Attribute "appp" not found in module "asgi".', "import_error", "boot", "appp"),
    ('ERROR:    Error loading ASGI app. Import string "asgi" must be in format "<module>:<attribute>".', "import_error",
     "config", None),
    ("ERROR:    Application startup failed. Exiting.", "lifespan_failed", "boot", None),
    ("Error: 'abc' is not a valid port number.", "bind_failed", "config", "abc"),
    ("Error: Invalid value for workers: abc", "config_error", "config", None),
    ("[2026-12-02 06:00:00 +0000] [12] [ERROR] Connection in use: ('127.0.0.1', 8000)", "bind_failed", "config",
     "('127.0.0.1', 8000)"),
    ("hypercorn.utils.NoAppError: Cannot load application from 'app', application not found.", "import_error", "boot", "app"),
    ("unable to load app 0 (mountpoint='') (callable not found or import error)", "import_error", "boot", None),
    ("probably another instance of uWSGI is running on the same address (:8000).", "bind_failed", "config", ":8000"),
    ("chdir(): No such file or directory [core/uwsgi.c line 2664]", "config_error", "config", None),
    ("[02-Dec-2026 06:00:00] ERROR: unable to bind listening socket for address '/run/php/fpm.sock': "
     "Permission denied (13)", "bind_failed", "config", "/run/php/fpm.sock"),
    ("[02-Dec-2026 06:00:00] ERROR: [pool www] cannot get uid for user 'nginx'", "config_error", "config", "www"),
    ("[02-Dec-2026 06:00:00] ERROR: FPM initialization failed", "worker_boot_failed", "boot", None),
])
def test_real_lines(line, cls, cause, name):
    got_cls, detail, _t = lp.classify_line("journal", line)
    assert (got_cls, detail["cause"]) == (cls, cause)
    if name is not None:
        assert detail["name"] == name


@pytest.mark.parametrize("line", [
    "Booting worker with pid: 123",
    "[2026-12-02 06:00:00 +0000] [1] [INFO] Listening at: unix:/run/gunicorn/gunicorn.sock (1)",
    "INFO:     Uvicorn running on http://127.0.0.1:8001 (Press CTRL+C to quit)",
    "WARNING: [pool www] server reached pm.max_children setting (5), consider raising it",
    "user 42 has an invalid token",
    "GET /api/items?id=1 200",
])
def test_ordinary_lines_are_not_boot_failures(line):
    assert lp.classify_boot(line) is None


@pytest.mark.parametrize("name,text,cause", [
    ("django.core.exceptions.ImproperlyConfigured", "The SECRET_KEY setting must not be empty.", "config"),
    ("psycopg2.OperationalError", "could not connect to server", "dependency"),
    ("ModuleNotFoundError", "No module named 'project'", "boot"),
    ("RuntimeError", "Connection refused by the cache", "dependency"),
    ("RuntimeError", "something else", None),
])
def test_exception_causes(name, text, cause):
    assert lp.exception_cause(name, text) == cause
