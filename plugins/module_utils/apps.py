# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""App servers (gunicorn, uvicorn, uwsgi, hypercorn, daphne, php-fpm): the ``apps`` facts section.

Found as running processes (``/proc``) and as systemd units (also stopped / failed ones). For each:
binds, timeouts, workers, the config file (read, never executed; only the settings named in the facts
contract are returned as values), the ``.socket`` unit, PHP-FPM pools, the unit's settings
(``systemctl show``: drop-ins merged by systemd) and its state.

What each kind is (names, options, defaults, binds, config layers) is its spec in ``_apps_kinds``;
the pieces: ``_apps_cmdline`` (which server a command line runs), ``_apps_procs`` (processes),
``_apps_units`` (units), ``_apps_files`` (config and environment files), ``_apps_settings`` (layers ->
settings), ``_apps_binds`` (bind syntax -> endpoints), ``_apps_php_fpm`` (pools).

Secret rule: environment variable values, config values other than the named settings and the
values of secret options (``--env``/``-e``, key passwords) never leave this module.
"""

from __future__ import annotations

import os

from ansible_collections.badgateway.doctor.plugins.module_utils import _apps_binds as binds
from ansible_collections.badgateway.doctor.plugins.module_utils import _apps_kinds as kinds
from ansible_collections.badgateway.doctor.plugins.module_utils import _apps_procs as procs
from ansible_collections.badgateway.doctor.plugins.module_utils import _apps_settings as layers
from ansible_collections.badgateway.doctor.plugins.module_utils import _apps_units as units
from ansible_collections.badgateway.doctor.plugins.module_utils import _proc
from ansible_collections.badgateway.doctor.plugins.module_utils import systemd as sd
from ansible_collections.badgateway.doctor.plugins.module_utils._apps_cmdline import detect_kind
from ansible_collections.badgateway.doctor.plugins.module_utils._apps_files import read_config
from ansible_collections.badgateway.doctor.plugins.module_utils._apps_php_fpm import config_path, describe_pools
from ansible_collections.badgateway.doctor.plugins.module_utils._apps_spec import parse_args
from ansible_collections.badgateway.doctor.plugins.module_utils._mask import mask_argv

discover_app_units = units.discover_app_units   # the public name logs.py uses


def new_server(kind, name, unit):
    """A server entry with every key of the facts contract."""
    return {
        "kind": kind, "name": name, "unit": unit, "pids": [], "running": False, "cmdline": None,
        "worker_class": None, "binds": [], "timeout": None, "graceful_timeout": None, "keepalive": None,
        "workers": None, "max_requests": None, "backlog": None, "app": None, "config_file": None,
        "settings_source": {}, "socket_unit": None, "php_fpm_pool": None, "unit_settings": None, "state": None,
    }


def collect_apps(extra_units=None):
    """Collect the ``apps`` facts section. Never raises for host state problems."""
    errors = []
    servers = []
    try:
        _collect(servers, errors, list(extra_units or []))
    except Exception as exc:  # pylint: disable=broad-except
        errors.append(_proc.error("apps", None, "Unexpected failure while collecting app servers: %s: %s."
                                  % (type(exc).__name__, exc)))
    unique = []
    seen = set()
    for e in errors:
        key = (e["source"], e["path"], e["message"])
        if key not in seen:
            seen.add(key)
            unique.append(e)
    return {"servers": servers, "errors": unique}


def _units(groups, errors, extra_units):
    """({service: show props}, {socket: show props}) of the app server units, or ({}, {}) without systemd."""
    ok, why = sd.systemd_running()
    if not ok:
        errors.append(_proc.error("systemctl", None, "No unit settings or states: %s." % why))
        return {}, {}, False
    names = units.candidate_units(errors)
    proc_units = sorted({g["info"].get("unit") for g in groups.values() if (g["info"].get("unit") or "").endswith(".service")})
    for u in [u for u in extra_units if u.endswith(".service")] + proc_units:
        if u not in names:
            names.append(u)
    disc = sd.show(names, units.SHOW_DISCOVER, errors)
    selected = [n for n, p in disc.items() if units.unit_kind(p)[0] or n in proc_units or n in extra_units]
    unit_props = sd.show(selected, sd.SERVICE_PROPS, errors)
    sockets = units.socket_units_of(selected, unit_props, extra_units)
    socket_props = {k: v for k, v in sd.show(sockets, sd.SOCKET_PROPS, errors).items() if v.get("LoadState") == "loaded"}
    return unit_props, socket_props, True


def _collect(servers, errors, extra_units):
    table = procs.process_table(errors)
    if os.geteuid() != 0:
        errors.append(_proc.error("proc", "/proc", "Not running as root: other users' process environments, working "
                                                   "directories and unreadable files are not inspected."))
    groups = procs.find_processes(table)
    unit_props, socket_props, have_systemd = _units(groups, errors, extra_units)

    found = []          # (server entry, its process group or None)
    by_unit = {}
    for master, g in sorted(groups.items()):
        unit = g["info"].get("unit")
        if unit and not unit.endswith(".service"):
            unit = None
        if unit and unit in by_unit:
            by_unit[unit]["pids"].extend(p for p in g["pids"] if p not in by_unit[unit]["pids"])
            continue
        srv = new_server(g["kind"], unit or "%s:%d" % (g["kind"], master), unit)
        srv["pids"] = list(g["pids"])
        srv["running"] = True
        found.append((srv, g))
        if unit:
            by_unit[unit] = srv
    for unit, props in unit_props.items():
        if unit in by_unit or (props.get("LoadState") == "not-found" and unit not in extra_units):
            continue
        srv = new_server(units.unit_kind(props)[0], unit, unit)
        found.append((srv, None))
        by_unit[unit] = srv

    ctx = {"table": table, "unit_props": unit_props, "socket_props": socket_props, "errors": errors, "have_systemd": have_systemd}
    for srv, g in found:
        try:
            servers.extend(describe(srv, g, ctx))
        except Exception as exc:  # pylint: disable=broad-except
            errors.append(_proc.error("apps", None, "Could not describe %s: %s: %s." % (srv["name"], type(exc).__name__, exc)))
            servers.append(srv)


def describe(srv, group, ctx):
    """Fill a server entry (a process group and/or a unit) -> [entries] (PHP-FPM: one per pool)."""
    errors = ctx["errors"]
    unit = srv["unit"]
    props = ctx["unit_props"].get(unit) if unit else None
    unit_argv, env = None, {}
    if props:
        srv["unit_settings"], unit_argv, env = units.unit_settings(props, errors)
        srv["state"] = sd.state_from_show(props)
        if props.get("LoadState") == "not-found":
            errors.append(_proc.error("systemctl", None, "Unit %s is not loaded (LoadState=not-found)." % unit))
    elif unit and ctx["have_systemd"]:
        errors.append(_proc.error("systemctl", None, "No systemctl show data for unit %s." % unit))

    # argv: the running master's command line, else the unit's ExecStart
    kind, argv, args = srv["kind"], None, []
    if group is not None:
        argv, args = list(group["info"].get("cmdline") or []), group["args"]
        if not args and unit_argv and kinds.get(kind).titles:
            k2, a2 = detect_kind(unit_argv)     # setproctitle hides the arguments: use ExecStart
            if k2 == kind:
                argv, args = unit_argv, a2
    elif unit_argv is not None:
        argv = unit_argv
        k2, args = detect_kind(argv)
        kind = kind or k2
    srv["kind"] = kind
    srv["cmdline"] = mask_argv(argv) if argv is not None else None
    spec = kinds.get(kind)
    if spec is None:
        return [srv]

    settings, positionals = parse_args(spec, args)
    if spec.pools:
        titles = {pid: procs.title(ctx.get("table", {}).get(pid)) for pid in group["pids"][1:]} if group is not None else {}
        return describe_pools(srv, config_path(argv, settings), titles, errors)
    if positionals and spec.app_positional:
        settings["app"] = positionals[0]
    workdir = srv["unit_settings"]["working_directory"] if srv["unit_settings"] else None
    if group is not None:
        workdir = procs.cwd(group["pids"][0]) or workdir
        proc_env = procs.environ(group["pids"][0], kinds.wanted_env())
        if proc_env is not None:
            env = dict(env, **proc_env)
    if settings.get("chdir"):
        workdir = os.path.join(workdir or "/", settings["chdir"])

    env_layers = [("env", layers.from_env_defaults(spec, env)), ("env", layers.from_env_prefix(spec, env))]
    args_layer = layers.from_env_args(spec, env[spec.env_args]) if spec.env_args and env.get(spec.env_args) else {}
    config_layer = _config_layer(srv, spec, settings, positionals, args_layer, env_layers[1][1], workdir, errors)
    cfg_key = spec.config.key if spec.config else None      # names the file: not a setting of its own
    all_layers = env_layers + config_layer + [("env", {k: v for k, v in args_layer.items() if k != cfg_key}),
                                              ("cmdline", {k: v for k, v in settings.items() if k != cfg_key})]
    sock = units.socket_unit(unit, props, ctx["socket_props"])
    listeners = None
    if sock:
        srv["socket_unit"] = sock
        problems = []
        listeners = [ep for ep in (binds.parsed(binds.listen_stream, a, problems) for a in sock["listen_stream"]) if ep]
        errors.extend(_proc.error("systemctl", None, "%s: ListenStream %s" % (sock["name"], p)) for p in problems)
    layers.apply_settings(srv, spec, all_layers, listeners, errors)
    return [srv]


def _config_layer(srv, spec, settings, positionals, args_layer, env_layer, workdir, errors):
    """Find and read the kind's config file -> [("config", values)] or []."""
    cfg = spec.config
    if cfg is None:
        return []
    location = settings.get(cfg.key) or args_layer.get(cfg.key) or env_layer.get(cfg.key)
    if not location:
        location = next((p for p in positionals if p.endswith(cfg.positional_suffixes)), None) \
            if cfg.positional_suffixes else None
    explicit = bool(location)
    reader, section = cfg.reader, cfg.section
    for scheme, scheme_reader in cfg.schemes.items():
        if location and location.startswith(scheme):
            location = location[len(scheme):]
            if scheme_reader is None:       # python:MODULE is imported by the server: nothing to read here
                srv["config_file"] = {"path": None, "exists": None, "keys": [], "module": location}
                return []
            reader = scheme_reader
    if location and reader == "ini" and ":" in location.rpartition("/")[2]:
        location, _sep, section = location.rpartition(":")       # uwsgi --ini file.ini:section
    if not location and cfg.default and workdir:
        location = cfg.default
    if not location:
        return []
    path = os.path.join(workdir or "/", location)
    exists = os.path.exists(path)
    if not exists:
        if explicit:
            srv["config_file"] = {"path": path, "exists": False, "keys": []}
            errors.append(_proc.error("app_config", path, "%s config file %s does not exist." % (spec.name, path)))
        return []
    values, keys, problem = read_config(path, spec, reader, section)
    if problem:
        errors.append(_proc.error("app_config", path, problem))
    srv["config_file"] = {"path": path, "exists": True, "keys": keys}
    return [("config", layers.from_names(spec, values))]
