# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Does a release load? Run the app server's own load check for it, the way its unit would run it.

Standard library only. The unit's ``ExecStart`` (drop-ins merged, read with ``systemctl show``) is
rewritten for the release (every path under the ``current`` link, or under the current release's
directory, points into the release instead), then run as a transient unit with ``systemd-run``
under the unit's user, group, supplementary groups, working directory, environment files and
umask - so the check sees what the service would see, secrets included, without any secret
reaching a command line:

- gunicorn: the same command with ``--check-config`` (gunicorn loads the application and exits
  0, or prints the traceback and exits 1);
- uvicorn, hypercorn, daphne: the release's interpreter (``python`` beside the server's binary)
  imports ``module:attribute`` the way the server would;
- anything else: a command the caller gives, or no check (said so, not passed silently).
"""

from __future__ import annotations

import os
import shlex
import tempfile

from ansible_collections.badgateway.doctor.plugins.module_utils import _proc, _runner, _safe_io, systemd
from ansible_collections.badgateway.doctor.plugins.module_utils import _apps_kinds
from ansible_collections.badgateway.doctor.plugins.module_utils._apps_cmdline import detect_kind
from ansible_collections.badgateway.doctor.plugins.module_utils._apps_spec import parse_args
from ansible_collections.badgateway.doctor.plugins.module_utils._mask import mask_text

UNIT_PROPS = ("Id", "LoadState", "User", "Group", "SupplementaryGroups", "WorkingDirectory", "EnvironmentFiles",
              "Environment", "ExecStart", "UMask", "MainPID", "ActiveState", "SubState")
OUTPUT_MAX = 4000

IMPORT_SNIPPET = (
    "import importlib, sys\n"
    "sys.path.insert(0, sys.argv[2] or '.')\n"
    "mod, _sep, attr = sys.argv[1].partition(':')\n"
    "obj = importlib.import_module(mod)\n"
    "for part in (attr or 'app').split('.'):\n"
    "    obj = getattr(obj, part)\n"
    "print('loaded %s from %s' % (sys.argv[1], obj.__module__ if hasattr(obj, '__module__') else mod))\n"
)


def unit_props(unit, errors):
    """``systemctl show`` of the unit (None when it cannot be read; the reason in ``errors``)."""
    props = systemd.show([unit], UNIT_PROPS, errors).get(unit)
    if not props or props.get("LoadState") in (None, "", "not-found"):
        errors.append(_proc.error("systemctl", unit, "the unit %s is not known to systemd" % unit))
        return None
    return props


def rebase(value, prefixes, release_path):
    """``value`` with a leading ``prefix`` (the current link or the current release's path) replaced."""
    for prefix in prefixes:
        if not prefix:
            continue
        prefix = prefix.rstrip("/")
        if value == prefix:
            return release_path
        if value.startswith(prefix + "/"):
            return release_path + value[len(prefix):]
        if value.startswith("--") and "=" in value:
            name, _eq, val = value.partition("=")
            new = rebase(val, [prefix], release_path)
            if new != val:
                return name + "=" + new
    return value


def plan(props, release_path, prefixes, command=None):
    """(argv, workdir, kind, method, note) of the load check for ``release_path``; argv None when there is none."""
    execs = systemd.parse_exec(props.get("ExecStart") or [])
    workdir = props.get("WorkingDirectory") or ""
    if workdir.startswith("!"):
        workdir = workdir[1:]
    optional_wd = workdir.startswith("-")
    workdir = rebase(workdir.lstrip("-"), prefixes, release_path) if workdir else ""
    if workdir == "~":
        workdir = ""
    if command:
        return [rebase(a, prefixes, release_path) for a in command], workdir or release_path, "command", "command", None
    if not execs or not execs[0]["argv"]:
        return None, workdir, None, None, "the unit has no ExecStart to derive a load check from"
    argv = [rebase(a, prefixes, release_path) for a in execs[0]["argv"]]
    exe = rebase(execs[0]["path"] or argv[0], prefixes, release_path)
    argv[0] = exe
    kind, args = detect_kind(argv)
    if not workdir and not optional_wd:
        workdir = release_path
    if kind == "gunicorn":
        return argv + ["--check-config"], workdir, kind, "gunicorn --check-config", None
    if kind in ("uvicorn", "hypercorn", "daphne"):
        settings, positionals = parse_args(_apps_kinds.get(kind), args)
        app = next((p for p in positionals if ":" in p), None)
        if not app:
            return None, workdir, kind, None, "no module:attribute found in the %s command line" % kind
        python = os.path.join(os.path.dirname(exe), "python") if os.path.isabs(exe) else "python3"
        if not os.path.exists(python):
            python = "/usr/bin/python3"
        app_dir = rebase(settings.get("chdir") or "", prefixes, release_path)
        return [python, "-c", IMPORT_SNIPPET, app, app_dir], workdir, kind, "import %s with %s" % (app, python), None
    return None, workdir, kind, None, ("no load check is known for %s; give the rollback a load check command" % (kind or argv[0]))


def _env_file(props, tmpdir):
    """The unit's inline ``Environment=`` as a 0600 file (values never go on a command line)."""
    env = systemd.parse_environment(props.get("Environment") or "")
    if not env:
        return None
    path = os.path.join(tmpdir, "env")
    _safe_io.write_new(path, "".join("%s=%s\n" % (key, shlex.quote(value)) for key, value in env.items()), 0o600)
    return path


def run_check(props, argv, workdir, timeout=60):
    """Run ``argv`` as the unit would (transient unit). Returns {ok, rc, output, argv, error}."""
    systemd_ok, reason = systemd.systemd_running()
    if not systemd_ok:
        return {"ok": False, "rc": None, "output": "", "argv": argv, "error": "cannot run the load check: %s" % reason}
    with tempfile.TemporaryDirectory(prefix="badgateway-load-") as tmpdir:
        os.chmod(tmpdir, 0o700)
        cmd = ["systemd-run", "--quiet", "--wait", "--pipe", "--collect", "--service-type=exec",
               "-p", "RuntimeMaxSec=%d" % max(1, int(timeout))]
        for prop in ("User", "Group"):
            if props.get(prop):
                cmd += ["-p", "%s=%s" % (prop, props[prop])]
        if props.get("SupplementaryGroups"):
            cmd += ["-p", "SupplementaryGroups=%s" % props["SupplementaryGroups"]]
        if props.get("UMask"):
            cmd += ["-p", "UMask=%s" % props["UMask"]]
        if workdir:
            cmd += ["-p", "WorkingDirectory=%s" % workdir]
        for item in systemd.parse_environment_files(props.get("EnvironmentFiles") or []):
            cmd += ["-p", "EnvironmentFile=%s%s" % ("-" if item.get("optional") else "", item["path"])]
        env_file = _env_file(props, tmpdir)
        if env_file:
            cmd += ["-p", "EnvironmentFile=%s" % env_file]
        cmd += ["--"] + list(argv)
        res = _runner.run(cmd, timeout=timeout + 15, max_bytes=256 * 1024)
    output = mask_text(((res.stdout or "") + ("\n" if res.stdout and res.stderr else "") + (res.stderr or "")).strip())
    if len(output) > OUTPUT_MAX:
        output = "...\n" + output[-OUTPUT_MAX:]
    if res.error:
        return {"ok": False, "rc": res.rc, "output": output, "argv": argv, "error": res.error}
    return {"ok": res.rc == 0, "rc": res.rc, "output": output, "argv": argv, "error": None}


def running_cwd(props):
    """(main pid, the working directory of the unit's main process) - (None, None) when it does not run."""
    try:
        pid = int(props.get("MainPID") or 0)
    except ValueError:
        pid = 0
    if pid <= 0:
        return None, None
    try:
        return pid, os.readlink("/proc/%d/cwd" % pid)
    except OSError:
        return pid, None
