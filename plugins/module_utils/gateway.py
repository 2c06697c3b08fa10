# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""All fact sections in one pass on the target (what ``gateway_facts`` runs).

Each section comes from its own ``collect_*`` function; this module only orders them so that
later sections can use earlier ones (the socket walk needs nginx's unix endpoints and worker
user, the log scan needs nginx's error logs and the app units, the probes need the routes),
and makes sure a section that fails for an unexpected reason becomes an ``errors`` entry
instead of a traceback. Nothing here decides what is wrong: that is the rules' job.
"""
from __future__ import annotations

import gc
import threading
import time
import traceback

from ansible_collections.badgateway.doctor.plugins.module_utils import _endpoints as E
from ansible_collections.badgateway.doctor.plugins.module_utils._proc import error
# the facts' schema version: 2 is the compact form of nginx, sockets, listeners and containers the modules return
from ansible_collections.badgateway.doctor.plugins.module_utils._facts_compact import COMPACT_VERSION as SCHEMA_VERSION

SECTIONS = ("system", "nginx", "listeners", "apps", "sockets", "logs", "probes", "containers")
# Every top-level key of the facts that holds a section's data: the sections, and ``access``
# (what users got, from nginx's access logs), which is gathered with ``logs``.
FACT_KEYS = SECTIONS + ("access",)
FREEZE_AFTER = 200000   # objects allocated during one collect_all (see its end)


def _guard(section, func, *args, **kwargs):
    """Run one collector; turn an unexpected exception into a section with one error."""
    try:
        data = func(*args, **kwargs)
        if not isinstance(data, dict):
            raise TypeError("collector returned %s instead of a dict" % type(data).__name__)
        data.setdefault("errors", [])
        return data
    except Exception as exc:  # pylint: disable=broad-except
        tb = traceback.extract_tb(exc.__traceback__)
        where = ("%s:%s" % (tb[-1].filename.rsplit("/", 1)[-1], tb[-1].lineno)) if tb else "?"
        return {"errors": [error(section, None, "gathering the %s section failed unexpectedly: %s: %s (at %s)"
                                 % (section, type(exc).__name__, exc, where))]}


def _unfinished(section):
    return {"errors": [error(section, None, "gathering the %s section did not finish" % section)]}


def unix_socket_paths(nginx, apps):
    """Unix socket paths to walk: nginx's endpoints first, then the app servers' own binds.

    Paths are compared as the endpoint model normalises them (``//run/./x.sock`` is
    ``/run/x.sock``), so a socket both sides name is walked once; abstract names are left out
    (no file to walk)."""
    paths = []
    seen = set()

    def add(ep):
        if isinstance(ep, dict) and ep.get("kind") == "unix":
            try:
                path = E.normalize_unix_path(ep.get("path"))
            except ValueError:
                return
            if path not in seen and not path.startswith("@"):
                seen.add(path)
                paths.append(path)

    for route in (nginx or {}).get("routes") or []:
        for ep in route.get("endpoints") or []:
            add(ep)
    for group in ((nginx or {}).get("upstreams") or {}).values():
        for server in group.get("servers") or []:
            add(server.get("endpoint"))
    for server in (apps or {}).get("servers") or []:
        for ep in server.get("binds") or []:
            add(ep)
    return paths


def error_log_paths(nginx, extra=None):
    """nginx error log files to read: ``extra`` first, then every file the configuration names
    (``stderr``, ``syslog:`` and other non-file targets are left out), without duplicates."""
    paths = list(extra or [])
    for entry in (nginx or {}).get("error_logs") or []:
        path = entry.get("path")
        if path and path.startswith("/") and path not in paths:
            paths.append(path)
    return paths


def access_options(log_options):
    """The options of the access-log reading: the log window and byte budget (``since``,
    ``max_bytes``) of the ``logs`` section, which gathers it."""
    return {k: log_options[k] for k in ("since", "max_bytes") if log_options.get(k) is not None}


def flatten_errors(facts):
    """Every section's ``errors`` in one list, each entry tagged with its ``section``."""
    errors = []
    for section in FACT_KEYS:
        data = facts.get(section)
        if isinstance(data, dict):
            for err in data.get("errors") or []:
                if isinstance(err, dict):
                    entry = {"section": section}
                    entry.update(err)
                    errors.append(entry)
    return errors


def unit_names(apps, extra=None):
    """systemd units whose journal is worth reading: the app servers' and nginx's."""
    names = []
    for server in (apps or {}).get("servers") or []:
        unit = server.get("unit")
        if unit and unit not in names:
            names.append(unit)
        sock = server.get("socket_unit") or {}
        if sock.get("name") and sock["name"] not in names:
            names.append(sock["name"])
    for unit in list(extra or []) + ["nginx.service"]:
        if unit not in names:
            names.append(unit)
    return names


def unit_path_settings(apps, nginx_unit=None):
    """PrivateTmp / RuntimeDirectory of the app units (and nginx's) for the socket walk."""
    units = []
    for server in (apps or {}).get("servers") or []:
        settings = server.get("unit_settings") or {}
        if server.get("unit"):
            units.append({
                "unit": server["unit"],
                "private_tmp": bool(settings.get("private_tmp")),
                "runtime_directory": list(settings.get("runtime_directory") or []),
            })
    if nginx_unit:
        units.append(nginx_unit)
    return units


def collect_all(sections=SECTIONS, nginx_options=None, socket_user=None, socket_paths=None,
                log_options=None, probe_options=None, units=None, container_options=None):
    """Gather the requested sections and return the ``badgateway`` facts dict.

    ``timings`` in the result holds the seconds each section took (a section gathered only for
    another one, such as ``listeners`` for ``sockets``, is timed too) and ``total``. ``system``,
    ``listeners`` and ``apps`` are gathered in other threads while ``nginx`` is, ``logs`` and
    ``probes`` while ``sockets`` is (they mostly wait for systemctl, files and sockets), so the
    section times can add up to more than ``total``.
    """
    # The facts of a large configuration are millions of small objects that all stay alive
    # until the end; the cyclic garbage collector would scan them again and again while the
    # later sections allocate (a third of the run time) for nothing. Nothing here makes cycles.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _collect_all(sections, nginx_options, socket_user, socket_paths, log_options, probe_options, units,
                            container_options)
    finally:
        if gc_was_enabled:
            # Everything allocated meanwhile still counts as young: the first collection after
            # enable() would scan it all (0.1 s for a 10,000-server config). When that is a lot,
            # move it out of the collector's sight (gc.freeze, Python 3.7+); reference counting
            # still frees it.
            if gc.get_count()[0] > FREEZE_AFTER and hasattr(gc, "freeze"):
                gc.freeze()
            gc.enable()


# The collectors are imported when first needed, inside _guard, so that a broken collector module
# becomes that section's error instead of making the whole module fail. They are plain import
# statements (not importlib with a name) because Ansible finds the module_utils to ship to the
# target by reading the import statements.

def _load_system():
    from ansible_collections.badgateway.doctor.plugins.module_utils.system import collect_system
    return collect_system


def _load_nginx():
    from ansible_collections.badgateway.doctor.plugins.module_utils.nginx_facts import collect_nginx
    return collect_nginx


def _load_listeners():
    from ansible_collections.badgateway.doctor.plugins.module_utils.listeners import collect_listeners
    return collect_listeners


def _load_apps():
    from ansible_collections.badgateway.doctor.plugins.module_utils.apps import collect_apps
    return collect_apps


def _load_sockets():
    from ansible_collections.badgateway.doctor.plugins.module_utils.socket_paths import collect_socket_paths
    return collect_socket_paths


def _load_logs():
    from ansible_collections.badgateway.doctor.plugins.module_utils.logs import collect_logs
    return collect_logs


def _load_access():
    from ansible_collections.badgateway.doctor.plugins.module_utils.access_logs import collect_access_logs
    return collect_access_logs


def _load_probes():
    from ansible_collections.badgateway.doctor.plugins.module_utils.probes import collect_from_nginx
    return collect_from_nginx


def _load_containers():
    from ansible_collections.badgateway.doctor.plugins.module_utils.containers import collect_containers
    return collect_containers


def _nothing():
    return None


def _collect_all(sections, nginx_options, socket_user, socket_paths, log_options, probe_options, units,
                 container_options=None):
    wanted = [s for s in SECTIONS if s in set(sections or SECTIONS)]
    facts = {"version": SCHEMA_VERSION, "collected_at": time.time()}
    timings = {}
    begin = time.monotonic()
    nginx_options = dict(nginx_options or {})
    log_options = dict(log_options or {})
    probe_options = dict(probe_options or {})

    def run(section, load, *args, **kwargs):
        started = time.monotonic()
        data = _guard(section, lambda: load()(*args, **kwargs))
        timings[section] = round(time.monotonic() - started, 4)
        return data

    def start(target):
        """Run ``target`` in a thread; return a function that waits for it (runs it at once
        when no thread can be started)."""
        thread = threading.Thread(target=target, name="badgateway-" + target.__name__)
        thread.daemon = True
        try:
            thread.start()
        except RuntimeError:
            target()
            return _nothing
        return thread.join

    # system, listeners and apps do not depend on nginx and mostly wait for the kernel and
    # for systemctl: gather them in other threads while this one parses the nginx config
    # (apps, the slowest, alone in one).
    early = {}

    def gather_apps():
        if "apps" in wanted or "sockets" in wanted or "logs" in wanted:
            early["apps"] = run("apps", _load_apps, extra_units=units)

    def gather_system_and_listeners():
        if "system" in wanted:
            early["system"] = run("system", _load_system)
        if "listeners" in wanted or "sockets" in wanted:
            early["listeners"] = run("listeners", _load_listeners)
        if "containers" in wanted:
            early["containers"] = run("containers", _load_containers, **dict(container_options or {}))

    wait_apps = start(gather_apps)
    wait_system = start(gather_system_and_listeners)
    if "nginx" in wanted:
        facts["nginx"] = run("nginx", _load_nginx, **nginx_options)
    nginx = facts.get("nginx") or {}

    # The probes need only nginx and mostly wait for answers: start them now.
    late = {}

    def gather_probes():
        late["probes"] = run("probes", _load_probes, nginx, **probe_options)

    wait_probes = start(gather_probes) if "probes" in wanted else _nothing
    wait_system()
    wait_apps()
    for section, needed in (("system", "system" in wanted),
                            ("listeners", "listeners" in wanted or "sockets" in wanted),
                            ("apps", "apps" in wanted or "sockets" in wanted or "logs" in wanted)):
        if needed and section not in early:
            early[section] = _unfinished(section)   # the thread died (e.g. out of memory): say so
    if "system" in early:
        facts["system"] = early["system"]
    listeners = early.get("listeners")
    if "listeners" in wanted:
        facts["listeners"] = listeners
    apps = early.get("apps")
    if "apps" in wanted:
        facts["apps"] = apps
    if "containers" in wanted:
        facts["containers"] = early.get("containers") or {"errors": [{
            "source": "containers", "path": None, "message": "gathering the containers section did not finish"}]}

    if "logs" in wanted:
        error_logs = error_log_paths(nginx, log_options.pop("nginx_error_logs", None))

        def gather_logs():
            late["logs"] = run("logs", _load_logs, nginx_error_logs=error_logs or None,
                               units=unit_names(apps, units), **log_options)
            late["access"] = run("access", _load_access, nginx, **access_options(log_options))
        wait_logs = start(gather_logs)    # reads files and the journal while the sockets are walked
    else:
        wait_logs = _nothing

    if "sockets" in wanted:
        paths = unix_socket_paths(nginx, apps)
        known = set(paths)
        for extra in socket_paths or []:
            if extra not in known:
                known.add(extra)
                paths.append(extra)
        user = socket_user or nginx.get("user") or None
        facts["sockets"] = run("sockets", _load_sockets, paths, user=user,
                               units=unit_path_settings(apps), listeners=listeners)

    wait_logs()
    wait_probes()
    for section in ("logs", "access", "probes"):
        if section in wanted or (section == "access" and "logs" in wanted):
            facts[section] = late.get(section) or _unfinished(section)

    facts["errors"] = flatten_errors(facts)
    timings["total"] = round(time.monotonic() - begin, 4)
    facts["timings"] = timings
    return facts
