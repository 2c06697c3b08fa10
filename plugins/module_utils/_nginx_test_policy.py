# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""When ``nginx -t`` runs, and how its answer is read.

Modes: ``always``, ``never``, and ``auto`` (the default): the test is started beside the parse,
but stopped and reported as skipped when the running workers loaded exactly the files on disk
(:func:`nginx_test_needed`) - it would only repeat what nginx already proved when it loaded them.

Target side: Python standard library only.
"""
from __future__ import annotations

import os

from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_running import DEFAULT_CONF_PATH
from ansible_collections.badgateway.doctor.plugins.module_utils._safe_io import open_regular

TEST_MODES = ("auto", "always", "never")
TEST_SKIPPED_OUTPUT = ("not run: nginx is running and no configuration file changed since its workers started "
                       "(the running configuration is valid); set nginx_test: always to run it anyway")
# Directives naming files nginx reads when it loads the configuration (besides includes).
REFERENCED_FILE_DIRECTIVES = frozenset((
    "ssl_certificate", "ssl_certificate_key", "ssl_trusted_certificate", "ssl_client_certificate",
    "ssl_dhparam", "ssl_crl", "ssl_password_file", "auth_basic_user_file", "load_module"))

_OPTION_TRUE = ("yes", "on", "1", "true", "y", "t")
_OPTION_FALSE = ("no", "off", "0", "false", "n", "f")


def nginx_test_mode(run_test):
    """``run_test`` (True, False, "auto", "always", "never") as one of ``TEST_MODES``."""
    if run_test is True:
        return "always"
    if run_test is False or run_test is None:
        return "never"
    if isinstance(run_test, str) and run_test in TEST_MODES:
        return run_test
    raise ValueError("run_test must be True, False or one of %s, got %r" % (", ".join(TEST_MODES), run_test))


def test_option_mode(value):
    """A module's ``test``/``nginx_test`` option value as one of ``TEST_MODES``, or None when invalid.

    Besides the modes, the booleans the option took before it had modes are accepted (as Ansible
    reads them: true/false, yes/no, on/off, 1/0, as booleans or strings): true means "always"
    and false "never".
    """
    if value is None:
        return "auto"
    if isinstance(value, bool):
        return "always" if value else "never"
    if isinstance(value, (int, float)) and value in (0, 1):
        return "always" if value == 1 else "never"
    if isinstance(value, str):
        text = value.strip().lower()
        if text in TEST_MODES:
            return text
        if text in _OPTION_TRUE:
            return "always"
        if text in _OPTION_FALSE:
            return "never"
    return None


def lacks_privileges(output):
    """``nginx -t`` failed only because the caller is not root (permission denied)."""
    try:
        is_root = os.geteuid() == 0
    except AttributeError:
        is_root = True
    return not is_root and "Permission denied" in output


def referenced_files(payload, conf_prefix):
    """Files the configuration makes nginx read at load time: certificates, keys, password files...

    Returns ``(paths, unknown)``: full paths (relative ones are resolved against ``conf_prefix``,
    the directory of the main configuration file, as nginx does) and ``unknown`` True when a
    value holds a variable (the file cannot be known here).  Inline ``data:``/``engine:`` values
    name no file.
    """
    paths = []
    unknown = False
    for config in (payload or {}).get("config") or []:
        stack = [config.get("parsed") or []]
        while stack:
            for stmt in stack.pop():
                block = stmt.get("block")
                if block:
                    stack.append(block)
                if stmt.get("directive") not in REFERENCED_FILE_DIRECTIVES:
                    continue
                args = stmt.get("args") or []
                if not args or not isinstance(args[0], str):
                    continue
                value = args[0]
                if stmt.get("directive") == "auth_basic_user_file" and value == "off":
                    continue
                if value.startswith(("data:", "engine:", "store:")):
                    continue
                if "$" in value:
                    unknown = True
                    continue
                paths.append(value if value.startswith("/") else os.path.join(conf_prefix, value))
    return paths, unknown


def nginx_test_needed(facts, payload, parse_ok, running_conf_ok, slack):
    """Must ``nginx -t`` run in mode "auto"?  Returns ``(needed, reason)``.

    It need not when the running workers loaded exactly the files on disk: nginx runs this
    configuration, nothing it read (configuration files, the files its directives name, the
    binary, the directories of the files) changed after the workers started, and the parse
    was clean.  Any doubt (a file missing or unreadable, a variable in a file name) means: test.
    """
    started = facts.get("workers_started")
    if not facts.get("master_pid") or started is None:
        return True, "nginx is not running"
    if not running_conf_ok:
        return True, "the running master uses another configuration file"
    if not parse_ok or not facts.get("files"):
        return True, "the configuration did not parse cleanly"
    if facts.get("stale"):
        return True, "configuration files changed after the workers started"
    conf_prefix = os.path.dirname(facts.get("conf_path") or DEFAULT_CONF_PATH)
    paths, unknown = referenced_files(payload, conf_prefix)
    if unknown:
        return True, "a referenced file name holds a variable"
    others = set(paths)
    others.update(os.path.dirname(f) for f in facts["files"])
    if facts.get("binary"):
        others.add(facts["binary"])
    limit = started + slack
    for path in others:
        try:
            if os.stat(path).st_mtime > limit:
                return True, "%s changed after the workers started" % path
            if path in paths and not os.path.isdir(path):
                open_regular(path).close()   # a FIFO would block nginx: it counts as unreadable
        except OSError:
            return True, "%s is missing or unreadable" % path
    return False, ""
