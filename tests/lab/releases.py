# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A ``releases/<id>`` + ``current`` layout on a lab host, the way ansistrano / deploy_helper leave it.

Built on a running lab host (nothing in the base image): ``install()`` writes the releases under
``/srv/app/releases/``, points ``/srv/app/current`` at one of them and makes ``gunicorn.service`` run
from ``current`` (a drop-in ``fault-releases.conf``, which ``lab-heal`` removes too); ``remove()``
puts the host back. Every release shares the lab's virtualenv (``venv`` -> ``/srv/app/venv``) and
carries its own ``gunicorn.conf.py`` (the bind) and a Django-style ``app/migrations/`` package.

| release | what it does |
| --- | --- |
| ``v1`` | the lab's app: good |
| ``v2`` | imports a module it does not ship: ``ModuleNotFoundError`` at boot (the unit crash-loops) |
| ``v3`` | the same import error **and** a new migration ``app/migrations/0002_order_status.py`` |
| ``v4-wrong-socket`` | good code, binds ``unix:/run/gunicorn/app.sock`` (nginx uses ``gunicorn.sock``) |
| ``v5-slow`` | good, but importing it takes ``SLOW_S`` seconds (``preload_app``: binds after the import) |
| ``v6-too-slow`` | the same, ``TOO_SLOW_S`` seconds |

    import releases
    releases.install(lab, "web1")                 # current -> releases/v1, gunicorn restarted from it
    releases.deploy(lab, "web1", "v2")            # what a deploy tool does: switch current, restart
    releases.state(lab, "web1")                   # {"current": "v2", "running_cwd": ..., ...}
    releases.remove(lab, "web1")
"""
from __future__ import annotations

import json
import shlex

ROOT = "/srv/app"
UNIT = "gunicorn.service"
DROPIN = "/etc/systemd/system/gunicorn.service.d/fault-releases.conf"
SOCKET = "/run/gunicorn/gunicorn.sock"
WRONG_SOCKET = "/run/gunicorn/app.sock"
SLOW_S = 10
TOO_SLOW_S = 40
MISSING_MODULE = "shop_settings_v2"
NEW_MIGRATION = "app/migrations/0002_order_status.py"

# id -> (lines put before the lab's wsgi.py, gunicorn.conf.py extra lines, extra files {relpath: text})
RELEASES = {
    "v1": ("", "", {}),
    "v2": (f"import {MISSING_MODULE}  # v2 forgot to ship its settings module\n", "", {}),
    "v3": (f"import {MISSING_MODULE}  # v3: the same broken import\n", "",
           {NEW_MIGRATION: "# a schema change the previous releases do not know\n"
                           "OPERATIONS = ['AddField(order, status)']\n"}),
    "v4-wrong-socket": ("", f'bind = ["unix:{WRONG_SOCKET}"]\n', {}),
    "v5-slow": (f"import time\ntime.sleep({SLOW_S})  # a slow import (warming caches)\n", "preload_app = True\n", {}),
    "v6-too-slow": (f"import time\ntime.sleep({TOO_SLOW_S})  # far too slow\n", "preload_app = True\n", {}),
}

GUNICORN_CONF = f"""# gunicorn.conf.py of this release (read from the working directory, /srv/app/current)
bind = ["unix:{SOCKET}"]
workers = 2
timeout = 5
umask = 0o007
"""

DROPIN_TEXT = f"""# badgateway.doctor lab: gunicorn runs the release `current` points to
[Service]
WorkingDirectory={ROOT}/current
ExecStart=
ExecStart={ROOT}/current/venv/bin/gunicorn wsgi:application
"""


# a drop-in that changes how systemd restarts the unit (see restart_policy())
DROPIN_RESTART = "/etc/systemd/system/gunicorn.service.d/fault-releases-restart.conf"
RESTART_POLICIES = {
    # Restart=always without a start limit: systemd never gives up, the unit crash-loops for ever
    "crash_loop": "[Unit]\nStartLimitIntervalSec=0\n[Service]\nRestart=always\nRestartSec=1\n",
    # no restart: a release that fails to boot leaves the unit failed at once (a settled state to compare)
    "no_restart": "[Service]\nRestart=no\n",
}


def _files(release: str) -> dict:
    head, conf_extra, extra = RELEASES[release]
    files = {
        "gunicorn.conf.py": GUNICORN_CONF + conf_extra,
        "REVISION": release + "\n",
        "app/__init__.py": "",
        "app/migrations/__init__.py": "",
        "app/migrations/0001_initial.py": "OPERATIONS = ['CreateModel(order)']\n",
        "wsgi.head": head,
    }
    files.update(extra)
    return files


def _script(root: str, current: str, releases: list) -> str:
    lines = ["set -e", f"R={shlex.quote(root)}", "mkdir -p \"$R/releases\""]
    for rel in releases:
        d = f"\"$R/releases/{rel}\""
        lines.append(f"rm -rf {d}; mkdir -p {d}/app/migrations")
        for path, text in _files(rel).items():
            lines.append(f"printf '%s' {shlex.quote(text)} > {d}/{path}")
        lines.append(f"cat {d}/wsgi.head /usr/local/share/bgd-lab/pristine/wsgi.py > {d}/wsgi.py; rm -f {d}/wsgi.head")
        lines.append(f"ln -sfn /srv/app/venv {d}/venv")
    lines += [
        "chown -R root:root \"$R/releases\"; chmod -R u=rwX,go=rX \"$R/releases\"",
        f"ln -sfn releases/{shlex.quote(current)} \"$R/current.tmp\" && mv -T \"$R/current.tmp\" \"$R/current\"",
        f"mkdir -p {shlex.quote(DROPIN.rsplit('/', 1)[0])}",
        f"printf '%s' {shlex.quote(DROPIN_TEXT.replace('/srv/app', root))} > {DROPIN}",
        "systemctl daemon-reload",
        f"systemctl reset-failed {UNIT} 2>/dev/null || true",
        f"systemctl restart {UNIT}",
    ]
    return "\n".join(lines) + "\n"


def install(lab, host: str, current: str = "v1", root: str = ROOT, releases=None, wait: bool = True) -> None:
    """Write the releases on ``host`` (no history), point ``current`` at ``current`` and run gunicorn from it."""
    lab.run(host, f"rm -f {DROPIN_RESTART} {shlex.quote(root)}/.badgateway-releases.json", timeout=30)
    lab.run(host, _script(root, current, list(releases or RELEASES)), timeout=60)
    if wait:
        wait_health(lab, host)


def wait_health(lab, host: str, timeout: float = 15) -> None:
    res = lab.wait_routes(host, timeout=timeout)
    if not all(v == 200 for v in res.values()):
        raise AssertionError(f"the releases layout on {host} does not answer: {res}; "
                             f"{lab.run(host, f'systemctl status {UNIT} --no-pager -n 20', check=False).stdout[-1500:]}")


def deploy(lab, host: str, release: str, root: str = ROOT, restart: bool = True) -> None:
    """What a deploy tool does: switch ``current`` to ``release`` atomically, restart the unit (no wait)."""
    cmd = (f"set -e; cd {shlex.quote(root)}; test -d releases/{shlex.quote(release)}; "
           f"ln -sfn releases/{shlex.quote(release)} current.tmp && mv -T current.tmp current")
    if restart:
        cmd += f"; systemctl reset-failed {UNIT} 2>/dev/null || true; systemctl restart --no-block {UNIT}"
    lab.run(host, cmd)


def restart_policy(lab, host: str, policy: str | None) -> None:
    """``crash_loop``, ``no_restart`` (RESTART_POLICIES) or None: the unit's own Restart=on-failure."""
    cmd = (f"printf '%s' {shlex.quote(RESTART_POLICIES[policy])} > {DROPIN_RESTART}" if policy else f"rm -f {DROPIN_RESTART}")
    lab.run(host, cmd + "; systemctl daemon-reload")


def write_history(lab, host: str, entries: list, root: str = ROOT) -> None:
    """The history the gate would have recorded (``[{"release": "v1", "event": "passed"}, ...]``)."""
    text = json.dumps({"version": 1, "history": entries})
    lab.run(host, f"printf '%s' {shlex.quote(text)} > {shlex.quote(root)}/.badgateway-releases.json")


def state(lab, host: str, root: str = ROOT) -> dict:
    """What is on the host now: the link, the running master's cwd, checksums of every release file."""
    script = f"""
R={shlex.quote(root)}
link=$(readlink "$R/current" 2>/dev/null || echo)
pid=$(systemctl show -p MainPID --value {UNIT})
cwd=$( [ "$pid" -gt 0 ] 2>/dev/null && readlink /proc/$pid/cwd || echo)
sums=$(cd "$R" && find releases -xdev \\( -type f -o -type l \\) 2>/dev/null | sort | while read -r f; do
  if [ -L "$f" ]; then echo "$f -> $(readlink "$f")"; else echo "$f $(sha256sum < "$f" | cut -c1-16) $(stat -c %a "$f")"; fi; done | sha256sum | cut -c1-16)
modes=$(stat -c '%n %a %U' "$R" "$R"/releases "$R"/releases/* 2>/dev/null | sha256sum | cut -c1-16)
hist=none; [ -f "$R/.badgateway-releases.json" ] && hist=$(sha256sum < "$R/.badgateway-releases.json" | cut -c1-16)
lsl=$(ls -a "$R" | tr '\\n' ' ')
printf '{{"link": "%s", "pid": "%s", "cwd": "%s", "tree": "%s", "modes": "%s", "history": "%s", "entries": "%s", "active": "%s"}}\\n' \\
  "$link" "$pid" "$cwd" "$sums" "$modes" "$hist" "$lsl" "$(systemctl is-active {UNIT})"
"""
    return json.loads(lab.run(host, script, check=False).stdout)


def remove(lab, host: str, root: str = ROOT) -> None:
    """Back to the pristine lab host: no releases, no drop-in, gunicorn from /srv/app again."""
    lab.run(host, f"rm -f {DROPIN} {DROPIN_RESTART}; rm -rf {shlex.quote(root)}/releases {shlex.quote(root)}/current "
                  f"{shlex.quote(root)}/current.tmp {shlex.quote(root)}/.badgateway-releases.json; lab-heal", timeout=60)
