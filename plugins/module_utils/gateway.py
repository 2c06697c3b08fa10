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

import time
import traceback

SECTIONS = ("system", "nginx", "listeners", "apps", "sockets", "logs", "probes")
SCHEMA_VERSION = 1


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
        return {
            "errors": [{
                "source": section,
                "path": None,
                "message": "gathering the %s section failed unexpectedly: %s: %s (at %s)"
                           % (section, type(exc).__name__, exc, where),
            }],
        }


def unix_socket_paths(nginx, apps):
    """Unix socket paths to walk: nginx's endpoints first, then the app servers' own binds."""
    paths = []

    def add(ep):
        if isinstance(ep, dict) and ep.get("kind") == "unix" and ep.get("path") and ep["path"] not in paths:
            paths.append(ep["path"])

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
                log_options=None, probe_options=None, units=None):
    """Gather the requested sections and return the ``badgateway`` facts dict."""
    # Imported here so that a broken collector module shows up as that section's error
    # instead of making the whole module fail to load.
    wanted = [s for s in SECTIONS if s in set(sections or SECTIONS)]
    facts = {"version": SCHEMA_VERSION, "collected_at": time.time()}
    nginx_options = dict(nginx_options or {})
    log_options = dict(log_options or {})
    probe_options = dict(probe_options or {})

    if "system" in wanted:
        from ansible_collections.badgateway.doctor.plugins.module_utils.system import collect_system
        facts["system"] = _guard("system", collect_system)
    if "nginx" in wanted:
        from ansible_collections.badgateway.doctor.plugins.module_utils.nginx_facts import collect_nginx
        facts["nginx"] = _guard("nginx", collect_nginx, **nginx_options)
    nginx = facts.get("nginx") or {}

    listeners = None
    if "listeners" in wanted or "sockets" in wanted:
        from ansible_collections.badgateway.doctor.plugins.module_utils.listeners import collect_listeners
        listeners = _guard("listeners", collect_listeners)
        if "listeners" in wanted:
            facts["listeners"] = listeners

    apps = None
    if "apps" in wanted or "sockets" in wanted or "logs" in wanted:
        from ansible_collections.badgateway.doctor.plugins.module_utils.apps import collect_apps
        apps = _guard("apps", collect_apps, extra_units=units)
        if "apps" in wanted:
            facts["apps"] = apps

    if "sockets" in wanted:
        from ansible_collections.badgateway.doctor.plugins.module_utils.socket_paths import collect_socket_paths
        paths = unix_socket_paths(nginx, apps)
        for extra in socket_paths or []:
            if extra not in paths:
                paths.append(extra)
        user = socket_user or nginx.get("user") or None
        facts["sockets"] = _guard("sockets", collect_socket_paths, paths, user=user,
                                  units=unit_path_settings(apps), listeners=listeners)

    if "logs" in wanted:
        from ansible_collections.badgateway.doctor.plugins.module_utils.logs import collect_logs
        error_logs = list(log_options.pop("nginx_error_logs", None) or [])
        for entry in nginx.get("error_logs") or []:
            path = entry.get("path")
            if path and path.startswith("/") and path not in error_logs:
                error_logs.append(path)
        facts["logs"] = _guard("logs", collect_logs, nginx_error_logs=error_logs or None,
                               units=unit_names(apps, units), **log_options)

    if "probes" in wanted:
        from ansible_collections.badgateway.doctor.plugins.module_utils.probes import (
            collect_probes, probe_targets_from_nginx)
        targets = probe_targets_from_nginx(nginx) if nginx.get("routes") else []
        facts["probes"] = _guard("probes", collect_probes, targets, **probe_options)

    errors = []
    for section in SECTIONS:
        data = facts.get(section)
        if isinstance(data, dict):
            for err in data.get("errors") or []:
                if isinstance(err, dict):
                    entry = {"section": section}
                    entry.update(err)
                    errors.append(entry)
    facts["errors"] = errors
    return facts
