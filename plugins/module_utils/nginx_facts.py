# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``nginx`` section of the facts (see docs/FACTS.md): what nginx is configured to do.

``collect_nginx()`` puts the pieces together: it finds the binary and asks it for its build
settings (``_nginx_running``), starts ``nginx -t`` beside the parse when the policy wants it
(``_nginx_test_policy``), parses the configuration from the files or from ``nginx -T``
(``nginx_parser``), analyses it (``_nginx_config``: servers, upstream groups, routes with their
endpoints and effective values), and looks at the running master and workers to tell whether
the configuration on disk is newer than what the workers run (edited, not reloaded).

Target side: Python standard library only.  Nothing here raises for bad host state; every
problem becomes an entry in ``errors`` and the rest is still returned.
"""
from __future__ import annotations

import gc
import os
import re
import stat
import time

from ansible_collections.badgateway.doctor.plugins.module_utils import _nginx_values as V
from ansible_collections.badgateway.doctor.plugins.module_utils import _runner
from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_access_config import DEFAULT_PATH as DEFAULT_ACCESS_LOG
from ansible_collections.badgateway.doctor.plugins.module_utils._mask import MASK, is_secret_name, mask_url
from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_config import NESTING_LIMIT, analyze_config
from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_running import (
    DEFAULT_CONF_PATH,
    STALE_SLACK_BTIME,
    STALE_SLACK_PRECISE,
    configure_value,
    find_binary,
    full_path,
    parse_nginx_V,
    running_conf_matches,
    scan_processes,
    select_master,
    stale_files,
    title_option,
    workers_of,
)
from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_service import collect_service
from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_test_policy import (
    TEST_SKIPPED_OUTPUT,
    lacks_privileges,
    nginx_test_mode,
    nginx_test_needed,
    test_option_mode,
)
from ansible_collections.badgateway.doctor.plugins.module_utils._proc import error
from ansible_collections.badgateway.doctor.plugins.module_utils._safe_io import read_text
from ansible_collections.badgateway.doctor.plugins.module_utils.nginx_parser import (
    NginxParseError,
    parse,
    split_nginx_T,
)

__all__ = ["collect_nginx", "test_option_mode"]

COMMAND_TIMEOUT = 30.0
# nginx -T prints every configuration file: far more than -V or -t, still bounded.
NGINX_T_MAX_BYTES = 64 * 1024 * 1024


def payload_from_nginx_T(output, errors, **parse_options):
    """Parse ``nginx -T`` output; return ``(payload, files)`` (both None when it holds no file)."""
    try:
        files = split_nginx_T(output)
    except (NginxParseError, ValueError) as exc:
        errors.append(error("nginx_bin", None, "cannot split the output of nginx -T: %s" % exc))
        return None, None
    if not files:
        errors.append(error("nginx_bin", None, "the output of nginx -T holds no configuration file"))
        return None, None
    main_file = next(iter(files))
    return _safe_parse(main_file, errors, files=files, **parse_options), files


def _safe_parse(conf_path, errors, files=None, **options):
    try:
        return parse(conf_path, files=files, catch_errors=True, **options)
    except NginxParseError as exc:
        errors.append(error("nginx_conf", getattr(exc, "file", None) or conf_path,
                            "cannot parse %s: %s" % (conf_path, exc)))
    except (OSError, ValueError, TypeError, RecursionError) as exc:
        errors.append(error("nginx_conf", conf_path, "cannot parse %s: %s" % (conf_path, exc)))
    return None


def _is_fifo(path):
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def _missing(path):
    """Is there no file at ``path``?  A path this user cannot reach is not missing: reading it
    reports why (permission denied), where ``os.path.exists`` would only say False."""
    try:
        os.stat(path)
    except FileNotFoundError:
        return True
    except (OSError, ValueError):
        return False
    return False


def _parse_options(tree_options):
    opts = dict(tree_options or {})
    ignore = opts.get("ignore") or ()
    return {
        "comments": bool(opts.get("comments", False)),
        "single_file": bool(opts.get("single_file", False)),
        "combine": bool(opts.get("combine", False)),
        "ignore": tuple(ignore),
    }


def collect_nginx(conf_path=None, source="files", binary=None, resolve=True, run_test="auto",
                  proc="/proc", getaddrinfo=None, command_timeout=COMMAND_TIMEOUT):
    """Return the ``nginx`` facts section (see docs/FACTS.md).

    ``run_test``: "always" (or True) runs ``nginx -t``; "never" (or False) does not; "auto" starts
    it, but stops it and reports it as skipped when nginx runs this configuration and nothing it
    read changed since the workers started (see ``nginx_test_needed``).  ``proc`` and
    ``getaddrinfo`` exist for tests.
    """
    return _gather(conf_path, source, binary, resolve, run_test, False, None, proc, getaddrinfo,
                   command_timeout)[0]


def collect_nginx_and_tree(conf_path=None, source="files", binary=None, resolve=True, run_test="auto",
                           tree_options=None, proc="/proc", getaddrinfo=None, command_timeout=COMMAND_TIMEOUT):
    """``(facts, tree)``: the facts of :func:`collect_nginx` and the parser payload (crossplane's
    format; None when nothing was parsed).  ``tree_options`` are the crossplane-style
    ``comments``, ``single_file``, ``combine`` and ``ignore``."""
    return _gather(conf_path, source, binary, resolve, run_test, True, tree_options, proc, getaddrinfo,
                   command_timeout)


def _gather(conf_path, source, binary, resolve, run_test, tree, tree_options, proc, getaddrinfo,
            command_timeout):
    mode = nginx_test_mode(run_test)
    errors = []
    facts = {
        "present": False,
        "binary": None,
        "version": None,
        "conf_path": conf_path or DEFAULT_CONF_PATH,
        "prefix": None,
        "compiled_user": None,
        "source": source if source in ("files", "nginx_T") else "files",
        "test": {"ok": None, "rc": None, "output": "", "skipped": False},
        "files": [],
        "user": "nobody",
        "group": None,
        "user_directive": None,
        "worker_users": [],
        "master_pid": None,
        "worker_pids": [],
        "master_started": None,
        "workers_started": None,
        "stale": False,
        "stale_files": [],
        "service": None,
        "error_logs": [],
        "access_logs": [],
        "log_formats": {},
        "servers": [],
        "upstreams": {},
        "routes": [],
        "timings": {},
        "errors": errors,
    }
    # The parse payload of a large configuration is millions of small objects; the cyclic
    # garbage collector would scan them again and again (half the run time) for nothing.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    tree_payload = None
    try:
        tree_payload = _collect(facts, conf_path, source, binary, resolve, mode, tree, tree_options, proc,
                                getaddrinfo, command_timeout)
    except Exception as exc:  # pylint: disable=broad-except
        errors.append(error("nginx_conf", None, "gathering nginx facts stopped early: %s: %s"
                            % (type(exc).__name__, exc)))
    finally:
        if gc_was_enabled:
            gc.enable()
    return facts, tree_payload


def _collect(facts, conf_path, source, binary, resolve, mode, tree, tree_options, proc,
             getaddrinfo, command_timeout):
    errors = facts["errors"]
    run_test = mode != "never"
    options = _parse_options(tree_options)
    conf_option = conf_path

    # -- binary and build settings -----------------------------------------------------
    found = find_binary(binary)
    if binary and not found:
        errors.append(error("nginx_bin", binary, "nginx binary %s does not exist or is not executable" % binary))
    configure = {}
    if found:
        facts["present"] = True
        facts["binary"] = found
        res = _runner.run([found, "-V"], timeout=command_timeout, max_bytes=1024 * 1024)
        if res.rc != 0:
            errors.append(error("nginx_bin", found, "%s -V failed: %s"
                                % (found, res.error or (res.stderr or res.stdout).strip() or "rc %s" % res.rc)))
        info = parse_nginx_V(res.stderr + "\n" + res.stdout)
        facts["version"] = info["version"]
        configure = info["configure"]
    prefix = configure_value(configure, "prefix")
    facts["prefix"] = prefix
    compiled_user = configure_value(configure, "user")
    compiled_group = configure_value(configure, "group")
    facts["compiled_user"] = compiled_user

    # -- running processes (also tells which configuration the master runs) ------------
    processes, precise, perrors = scan_processes(proc)
    errors.extend(perrors)

    if not conf_path:
        compiled_conf = configure_value(configure, "conf-path")
        if compiled_conf:
            conf_path = full_path(compiled_conf, prefix)
        elif prefix:
            conf_path = full_path("conf/nginx.conf", prefix)
        else:
            conf_path = DEFAULT_CONF_PATH
        masters = [p for p in processes if p["role"] == "master"]
        if len(masters) == 1:
            running_conf = title_option(masters[0]["title"], "-c")
            if running_conf:
                conf_path = full_path(running_conf, prefix)
    facts["conf_path"] = conf_path
    compiled_conf_full = full_path(configure_value(configure, "conf-path"), prefix)
    conf_args = [] if conf_path == compiled_conf_full else ["-c", conf_path]

    # -- nginx -t, in the background while the configuration is parsed -------------------
    test_cmd = None
    if found and run_test and source != "nginx_T":
        test_cmd = _runner.start([found, "-t"] + conf_args, timeout=command_timeout)
    timings = facts["timings"]
    started = time.monotonic()

    # -- configuration -------------------------------------------------------------------
    payload = None
    parse_opts = {"comments": options["comments"], "single_file": options["single_file"],
                  "ignore": options["ignore"]}
    vfiles = None
    used_source = "files"
    test_done = False
    if source == "nginx_T":
        if not found:
            errors.append(error("nginx_bin", None, "source nginx_T needs the nginx binary, which was not found; "
                                                   "parsing the files instead"))
        else:
            res = _runner.run([found, "-T"] + conf_args, timeout=command_timeout, max_bytes=NGINX_T_MAX_BYTES)
            rc, out, err = res.rc, res.stdout, res.stderr
            if res.truncated:
                err = "its output is larger than %d MiB" % (NGINX_T_MAX_BYTES // (1024 * 1024))
            elif res.error:
                err = res.error
            if run_test and rc is not None and not (rc != 0 and lacks_privileges(err)):
                facts["test"] = {"ok": rc == 0, "rc": rc, "output": err.strip(), "skipped": False}
                test_done = True
            if rc == 0:
                payload, vfiles = payload_from_nginx_T(out, errors, **parse_opts)
                if payload is not None:
                    conf_path = next(iter(vfiles))
                    facts["conf_path"] = conf_path
                    used_source = "nginx_T"
                else:
                    vfiles = None
            else:
                errors.append(error("nginx_bin", found, "%s -T failed (rc %s), parsing the files instead: %s"
                                    % (found, rc, (err or out).strip()[-500:])))
    facts["source"] = used_source

    # Without a binary, only a configuration the caller named explicitly is parsed.
    refused = []    # files the safe reader refused (FIFOs, devices, huge files)
    if payload is None and (found or conf_option):
        if _missing(conf_path):
            errors.append(error("nginx_conf", conf_path, "nginx configuration %s does not exist" % conf_path))
        else:
            payload = _safe_parse(conf_path, errors, refused=refused, **parse_opts)

    timings["parse"] = round(time.monotonic() - started, 4)
    walked = None
    parse_ok = payload is not None and not errors
    if payload is not None:
        parse_ok = parse_ok and not payload.get("errors")
        for e in payload.get("errors") or []:
            line = e.get("line")
            where = "%s:%s" % (e.get("file"), line) if line is not None else "%s" % e.get("file")
            text = "%s" % e.get("error")
            if where not in text:
                text = "%s: %s" % (where, text)
            errors.append(error("nginx_conf", e.get("file"), text))
        facts["files"] = [c.get("file") for c in payload.get("config") or [] if c.get("file")]
        started = time.monotonic()
        walked = analyze_config(payload, facts["version"], resolve, getaddrinfo, prefix)
        timings["analyze"] = round(time.monotonic() - started, 4)
        walked_errors = walked.pop("errors")
        parse_ok = parse_ok and not walked_errors
        errors.extend(walked_errors)
        facts["error_logs"] = walked["error_logs"]
        facts["servers"] = walked["servers"]
        facts["upstreams"] = walked["upstreams"]
        facts["routes"] = walked["routes"]
        facts["user_directive"] = walked["user_directive"]
        facts["log_formats"] = walked["log_formats"]
        default_access = full_path(configure_value(configure, "http-log-path") or DEFAULT_ACCESS_LOG, prefix)
        for entry in walked["access_logs"]:
            if entry["path"] is None:     # no access_log anywhere: nginx's compiled default
                entry["path"], entry["kind"] = default_access, "file"
        facts["access_logs"] = walked["access_logs"]

    # -- effective worker user -------------------------------------------------------------
    if walked and walked["user"]:
        facts["user"] = walked["user"]
        facts["group"] = walked["group"]
    elif compiled_user:
        facts["user"] = compiled_user
        facts["group"] = compiled_group or (compiled_user if compiled_user != "nobody" else None)
    else:
        facts["user"] = "nobody"
        facts["group"] = compiled_group

    # -- default error log when the main level names none ------------------------------------
    if found and payload is not None and not any(e["context"] == "main" for e in facts["error_logs"]):
        compiled_log = configure_value(configure, "error-log-path")
        default_log = compiled_log or "logs/error.log"
        facts["error_logs"].insert(0, {
            "path": default_log if default_log == "stderr" else full_path(default_log, prefix),
            "level": V.DEFAULT_ERROR_LOG_LEVEL, "context": "main", "server_names": [],
            "file": None, "line": None,
        })

    # -- processes, staleness -------------------------------------------------------------
    pid_path = (walked or {}).get("pid_path") or (configure_value(configure, "pid-path"))
    pid_from_file = None
    if pid_path:
        try:
            pid_from_file = int(read_text(full_path(pid_path, prefix), max_bytes=64).strip() or "0")
        except (OSError, ValueError):
            pid_from_file = None    # no pid file (nginx stopped) or not one nginx wrote: pick by title
    master = select_master(processes, pid_from_file, conf_path)
    running_conf_ok = bool(master) and running_conf_matches(master, conf_path, compiled_conf_full, prefix)
    workers = workers_of(processes, master)
    if master:
        facts["master_pid"] = master["pid"]
        facts["master_started"] = master["start_time"]
    facts["service"] = collect_service(found, master, errors)
    facts["worker_pids"] = sorted(p["pid"] for p in workers)
    facts["worker_users"] = sorted(set(p["user"] for p in workers if p["user"]))
    starts = [p["start_time"] for p in workers if p["start_time"] is not None]
    facts["workers_started"] = min(starts) if starts else None

    mtimes = []
    reported = set(e.get("path") for e in errors)
    for path in facts["files"]:
        try:
            mtimes.append((path, os.stat(path).st_mtime))
        except OSError as exc:
            parse_ok = False
            if used_source == "files" and path not in reported:
                errors.append(error("nginx_conf", path, "cannot stat %s: %s" % (path, exc.strerror or exc)))
    slack = STALE_SLACK_PRECISE if precise else STALE_SLACK_BTIME
    facts["stale_files"] = stale_files(mtimes, facts["workers_started"], slack)
    facts["stale"] = bool(facts["stale_files"])

    # -- the result of nginx -t (it ran while the rest was gathered) --------------------------
    fifos = [path for path in refused if _is_fifo(path)]   # nginx -t would block opening them
    started = time.monotonic()
    skip = False
    if found and mode == "auto" and not test_done:
        skip = not nginx_test_needed(facts, payload, parse_ok, running_conf_ok, slack)[0]
    if skip:
        # The running workers loaded exactly these files: nginx -t would only repeat that.
        if test_cmd is not None:
            test_cmd.cancel()
        facts["test"] = {"ok": None, "rc": None, "output": TEST_SKIPPED_OUTPUT, "skipped": True}
    elif found and run_test and not test_done and fifos:
        # nginx -t would block opening the FIFO until its timeout: stop it now, say why
        if test_cmd is not None:
            test_cmd.cancel()
        output = "not run: nginx would wait for ever reading %s (a FIFO, not a file)" % ", ".join(fifos)
        facts["test"] = {"ok": None, "rc": None, "output": output, "skipped": False}
        errors.append(error("nginx_bin", found, "nginx -t " + output))
    elif found and run_test and not test_done:
        if test_cmd is None:   # nginx -T failed: test the files instead
            test_cmd = _runner.start([found, "-t"] + conf_args, timeout=command_timeout)
        res = test_cmd.result()
        rc = res.rc
        output = res.error or (res.stderr + "\n" + res.stdout).strip()
        facts["test"] = {"ok": (rc == 0) if rc is not None else None, "rc": rc, "output": output, "skipped": False}
        if rc is None:
            errors.append(error("nginx_bin", found, output))
        elif rc != 0 and lacks_privileges(output):
            # Not a verdict on the configuration: this user cannot read what nginx needs.
            facts["test"]["ok"] = None
            errors.append(error("nginx_bin", found, "nginx -t could not check the configuration without root "
                                                    "privileges (run with become): %s"
                                % [x for x in output.splitlines() if "Permission denied" in x][0]))

    timings["test_wait"] = round(time.monotonic() - started, 4)

    # -- the tree, on request -------------------------------------------------------------
    if not tree:
        return None
    if options["combine"] and payload is not None:
        payload = _safe_parse(conf_path, errors, files=vfiles, combine=True, **parse_opts)
    return tree_for_output(payload, errors)


# Directives whose first argument names what the second one holds (a header, a parameter, a variable).
_NAMED_VALUE_SUFFIXES = ("_set_header", "_param")
_NAMED_VALUE_DIRECTIVES = frozenset(("add_header", "add_trailer", "set"))
_VARIABLE_ONLY = re.compile(r"\$\{?\w+\}?\Z")


def _mask_args(directive, args):
    """Mask secrets in one statement's arguments, in place: credentials and secret-looking query
    parameters of URLs (``mask_url``), the value of a header / parameter / variable / environment
    variable whose name is a secret's (``proxy_set_header X-Api-Key ...``, ``fastcgi_param
    DB_PASSWORD ...``, ``env SECRET_KEY=...``)."""
    for i, arg in enumerate(args):
        if isinstance(arg, str) and ("?" in arg or "@" in arg or ";" in arg):
            args[i] = mask_url(arg)
    if not isinstance(directive, str) or not args or not isinstance(args[0], str):
        return
    if directive == "env":
        name, sep, _value = args[0].partition("=")
        if sep and is_secret_name(name):
            args[0] = name + "=" + MASK
    elif (directive in _NAMED_VALUE_DIRECTIVES or directive.endswith(_NAMED_VALUE_SUFFIXES)) and len(args) >= 2:
        if is_secret_name(args[0].lstrip("$")) and isinstance(args[1], str) and not _VARIABLE_ONLY.match(args[1]):
            args[1] = MASK


def tree_for_output(payload, errors):
    """The parse tree as the module returns it (changed in place): secrets masked, and blocks
    nested deeper than ``NESTING_LIMIT`` emptied with an error - a tree much deeper than
    anything real would exhaust the recursion of every JSON encoder and decoder on its way to the
    controller.  None stays None."""
    if not payload:
        return payload
    for config in payload.get("config") or []:
        stack = [(config.get("parsed") or [], 1)]
        while stack:
            stmts, depth = stack.pop()
            for stmt in stmts:
                args = stmt.get("args")
                if args:
                    _mask_args(stmt.get("directive"), args)
                block = stmt.get("block")
                if not block:
                    continue
                if depth < NESTING_LIMIT:
                    stack.append((block, depth + 1))
                    continue
                stmt["block"] = []
                file = stmt.get("file") or config.get("file")
                message = ("block %s nested deeper than %d levels: its content is left out of the tree"
                           % (stmt.get("directive"), NESTING_LIMIT))
                text = "%s in %s:%s" % (message, file, stmt.get("line"))    # crossplane's form
                config.setdefault("errors", []).append({"error": text, "line": stmt.get("line")})
                payload.setdefault("errors", []).append({"file": file, "error": text, "line": stmt.get("line")})
                errors.append(error("nginx_conf", file, "%s:%s: %s" % (file, stmt.get("line"), message)))
    return payload
