# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Settings layers -> the settings of an app server entry, each with the layer it came from.

A layer is ``(source, {fact key: raw value})``, lowest precedence first: ``env`` (variables the
defaults depend on, per-option variables, an argument variable such as ``GUNICORN_CMD_ARGS``),
``config`` (the config file), ``cmdline``. Defaults come from the kind's spec (source ``default``),
the binds from the kind's bind style or, under socket activation, from the ``.socket`` unit.
"""

from __future__ import annotations

import math
import shlex

from ansible_collections.badgateway.doctor.plugins.module_utils import _proc
from ansible_collections.badgateway.doctor.plugins.module_utils._apps_spec import LIST, SECRET, parse_args, store

NUMBERS = (("timeout", float), ("graceful_timeout", float), ("keepalive", float), ("workers", int),
           ("max_requests", int), ("backlog", int))
SOURCE_KEYS = ("bind", "worker_class", "app") + tuple(k for k, _t in NUMBERS)
SD_LISTEN_FDS_START = 3


def from_names(kind, values):
    """{server setting name: value} (config file, environment) -> {fact key: value} by the kind's spec."""
    out = {}
    for name, value in values.items():
        opt = kind.by_setting.get(name)
        if opt is None or opt.key is None or opt.type == SECRET:
            continue
        if opt.type == LIST and isinstance(value, str):
            value = [value]
        if opt.type == LIST and isinstance(value, list) and isinstance(out.get(opt.key), list):
            out[opt.key] = out[opt.key] + value
        else:
            out[opt.key] = value
    return out


def from_env_prefix(kind, env):
    """The per-option variables (``UVICORN_PORT``, ``UWSGI_SOCKET``) set in ``env``."""
    out = {}
    for name, opt in kind.env_names().items():
        if name in env:
            store(out, opt, env[name])
    return out


def from_env_defaults(kind, env):
    """Defaults the server takes from the environment (gunicorn's ``PORT``, ``WEB_CONCURRENCY``)."""
    out = {}
    for name, (key, template) in kind.env_defaults.items():
        if env.get(name):
            value = template % env[name]
            out[key] = [value] if kind.types.get(key) == LIST else value
    return out


def from_env_args(kind, value):
    """An argument variable (``GUNICORN_CMD_ARGS``) read like the command line; its positional is the app."""
    try:
        argv = shlex.split(value)
    except ValueError:
        argv = value.split()
    settings, positionals = parse_args(kind, argv)
    if positionals and kind.app_positional:
        settings["app"] = positionals[0]
    return settings


def _number(value, cast):
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if math.isnan(v) or math.isinf(v):
        return None
    return int(v) if cast is int else v


def _merge(kind, layers):
    merged = {}
    source = {}
    for src, values in layers:
        for k, v in values.items():
            if v is None and src != "config":
                continue
            if kind.lists_add_up and isinstance(v, list) and isinstance(merged.get(k), list):
                v = merged[k] + v
            merged[k] = v
            source[k] = src
    return merged, source


def _socket_binds(kind, binds, bind_src, listeners, protocol):
    """Under socket activation gunicorn serves the ``.socket`` unit's listeners; other servers' ``fd`` binds
    (``--fd 3``, ``fd://3``) are the listener systemd passed as that descriptor."""
    if not listeners:
        return binds, bind_src
    listeners = [dict(ep, protocol=protocol) for ep in listeners]
    if kind.socket_activation:
        return listeners, "socket_unit"
    out = []
    mapped = False
    for ep in binds:
        index = ep.get("fd") - SD_LISTEN_FDS_START if ep["kind"] == "fd" and isinstance(ep.get("fd"), int) else -1
        if 0 <= index < len(listeners):
            out.append(listeners[index])
            mapped = True
        else:
            out.append(ep)
    return out, ("socket_unit" if mapped else bind_src)


def apply_settings(server, kind, layers, listeners=None, errors=None):
    """Fill the server entry's binds and settings from the layers (lowest precedence first); a bind that
    is no endpoint is left out with an entry in ``errors``."""
    merged, source = _merge(kind, layers)
    problems = []
    binds, bind_src = kind.binds(kind, merged, source, problems) if kind.binds else ([], None)
    for problem in problems:
        if errors is not None:
            errors.append(_proc.error("app_config", None, "%s %s: %s" % (kind.name, server["name"], problem)))
    protocol = merged.get("protocol") if isinstance(merged.get("protocol"), str) and merged.get("protocol") else kind.protocol
    binds, bind_src = _socket_binds(kind, binds, bind_src, listeners, protocol)
    server["binds"] = binds
    sources = {k: source[k] for k in SOURCE_KEYS if k in source}
    if bind_src:
        sources["bind"] = bind_src
    server["settings_source"] = sources
    defaults = kind.defaults
    for key, cast in NUMBERS:
        if key in merged:
            server[key] = _number(merged[key], cast) if merged[key] is not None else None
        elif key in defaults:
            sources[key] = "default"
            server[key] = _number(defaults[key], cast)
        else:
            server[key] = None
    wc = merged.get("worker_class")
    if wc is None and "worker_class" in defaults:
        wc = defaults["worker_class"]
        sources["worker_class"] = "default"
    server["worker_class"] = wc if isinstance(wc, str) else None
    app = merged.get("app")
    server["app"] = app if isinstance(app, str) else None
