# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Remediation steps of a finding: which role, on which host, with which role-prefixed variables.

A step is ``{"role": "badgateway.doctor.<role>", "host": <inventory host>, "vars": {<role>_<option>: value}}``;
a finding's ``fix.steps`` lists them in request-path order (app unit -> socket -> nginx) and
``fix.alternative_steps`` the other side's fix of a mismatch. The builders here return None when
the facts do not give every value a step needs; :func:`sequence` then drops the whole list: a half
fix is no fix, and ``fix.summary`` still says what to do by hand.

A value the masker would change (it holds or looks like a secret) is never put in a step: the
role would write the mask into a file, and reports must not carry the secret either.
"""

from __future__ import annotations

import re

from ansible_collections.badgateway.doctor.plugins.plugin_utils._addresses import addr_text, norm_path
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_common import as_dict, as_list, mask, num
from ansible_collections.badgateway.doctor.plugins.plugin_utils.catalog import ROLES, role_fqcn

# app server kinds whose command line app_unit can change (it knows their flag names)
EXEC_OPTION_KINDS = ("gunicorn", "uvicorn")
PASS_PREFIXES = ("proxy", "fastcgi", "uwsgi", "scgi", "grpc")
MAX_BUFFER = 64 * 1024 * 1024     # a buffer size beyond this in the facts is taken for garbage


def _clean_value(value):
    """True when no string in ``value`` is changed by the masker."""
    if isinstance(value, str):
        return mask(value) == value
    if isinstance(value, dict):
        return all(_clean_value(k) and _clean_value(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_clean_value(v) for v in value)
    return True


def step(role, host, **options):
    """One step of ``role`` on ``host``; ``options`` become ``<role>_<option>`` (None values left out)."""
    if role not in ROLES or not host:
        return None
    svars = {f"{role}_{k}": v for k, v in options.items() if v is not None}
    if not _clean_value(svars):
        return None
    return {"role": role_fqcn(role), "host": host, "vars": svars}


def sequence(*steps):
    """The steps in order, or [] when one of them could not be built."""
    if not steps or any(s is None for s in steps):
        return []
    return list(steps)


# ---------------------------------------------------------------------------
# app side: app_service, app_unit
# ---------------------------------------------------------------------------

def listen_text(ep):
    """An Endpoint as the roles' ``listen`` lists take it: ``unix:/path``, ``host:port``, ``[v6]:port``."""
    ep = as_dict(ep)
    if ep.get("kind") == "unix" and ep.get("path"):
        return f"unix:{ep['path']}"
    if ep.get("kind") == "tcp" and ep.get("port"):
        return addr_text(ep.get("host") or "0.0.0.0", ep.get("port"))
    return None


def app_listen(app):
    """What the app binds, as a ``listen`` list (None when it binds nothing a role can wait for)."""
    out = [listen_text(b) for b in as_list(app.get("binds"))]
    out = [x for x in out if x]
    return out or None


def app_service(host, app, action="start", unit=None, listen=True):
    """Start / restart the app's unit (or ``unit``, e.g. its database) and wait for its listeners."""
    unit = unit or app.get("unit")
    if not unit:
        return None
    return step("app_service", host, unit=unit, action=action, listen=app_listen(app) if listen is True else listen)


def app_unit(host, app, settings=None, exec_options=None, listen=None, restart=None):
    """A drop-in for the app's unit with ``settings`` (systemd keys) and/or new app server ``exec_options``."""
    unit = app.get("unit")
    if not unit or not (settings or exec_options):
        return None
    if exec_options and app.get("kind") not in EXEC_OPTION_KINDS:
        return None
    return step("app_unit", host, name=unit, settings=settings or None,
                exec_options=exec_options or None, restart=restart, listen=listen or app_listen(app))


def rebind(host, app, old, new, keep_old=False):
    """app_unit: ``app`` binds ``new`` instead of (``keep_old``: beside) the binds ``old(bind)`` picks.

    None when the app server would need several binds but takes one only (gunicorn repeats --bind).
    """
    if app is None:
        return None
    kept = [b for b in (as_dict(x) for x in as_list(app.get("binds"))) if keep_old or not old(b)]
    texts = list(dict.fromkeys(t for t in [listen_text(b) for b in kept] + [new] if t))
    if len(texts) > 1 and app.get("kind") != "gunicorn":
        return None
    return app_unit(host, app, exec_options={"bind": bind_option(texts)}, listen=texts)


def container_service(host, container, listen=None, reload_nginx=None):
    """Start a stopped container through its engine (it keeps its restart policy), wait for ``listen``, then reload
    the nginx of the containers ``reload_nginx`` that proxy to it by name (they hold its old address)."""
    container = as_dict(container)
    name = container.get("name") or container.get("id")
    if not name:
        return None
    return step("container_service", host, name=name, socket=container.get("engine") or None, listen=listen or None,
                reload_nginx=reload_nginx or None)


def bind_option(binds):
    """``app_unit_exec_options.bind``: one bind as a string, several as a list."""
    binds = [b for b in binds if b]
    return binds[0] if len(binds) == 1 else binds


# ---------------------------------------------------------------------------
# socket side: socket_permissions
# ---------------------------------------------------------------------------

def socket_permissions(host, path, user=None, unit=None, method=None, php_fpm_pool=None):
    if not path:
        return None
    return step("socket_permissions", host, path=path, user=user, unit=unit, method=method, php_fpm_pool=php_fpm_pool)


# ---------------------------------------------------------------------------
# nginx side: nginx_proxy, nginx_reload
# ---------------------------------------------------------------------------

def nginx_proxy(host, edits):
    edits = [e for e in edits or () if e]
    if not edits:
        return None
    return step("nginx_proxy", host, edits=edits)


def nginx_reload(host, view):
    return step("nginx_reload", host, conf_path=view.nginx.get("conf_path") or None)


def _plain_route(route):
    """A route whose pass directive sits at a known file:line and holds no variables."""
    return bool(route.get("file")) and isinstance(route.get("line"), int) and not route.get("dynamic") and "$" not in str(
        route.get("target") or "")


def target_edits(view, route, ep, target):
    """Edits pointing nginx's ``route`` at ``target`` instead of the endpoint ``ep``.

    Through an upstream group: the group's ``server`` lines for ``ep`` (their parameters kept);
    else the route's pass directive (its scheme and URI kept). None when nginx's configuration
    does not say where ``ep`` is written.
    """
    if not _plain_route(route) or not target:
        return None
    up = as_dict(view.upstreams.get(route.get("upstream"))) if route.get("upstream") else {}
    if up:
        edits = []
        for srv in as_list(up.get("servers")):
            srv = as_dict(srv)
            sep = as_dict(srv.get("endpoint"))
            same = (sep.get("kind") == ep.get("kind") == "unix" and norm_path(sep.get("path")) == norm_path(ep.get("path"))) or (
                sep.get("kind") == ep.get("kind") == "tcp" and sep.get("host") == ep.get("host") and sep.get("port") == ep.get("port"))
            if same and srv.get("file") and isinstance(srv.get("line"), int):
                edits.append({"file": srv["file"], "line": srv["line"], "directive": "server", "target": target})
        return edits or None
    return [{"file": route["file"], "line": route["line"], "directive": route.get("directive") or "proxy_pass", "target": target}]


def directive_prefix(route):
    """``proxy`` for proxy_pass, ``uwsgi`` for uwsgi_pass ... (None for an unknown directive)."""
    prefix = str(route.get("directive") or "proxy_pass").split("_", 1)[0]
    return prefix if prefix in PASS_PREFIXES else None


def route_set_edit(route, settings):
    """Set directives in the block of the route's pass directive (its location)."""
    if not _plain_route(route):
        return None
    return {"file": route["file"], "line": route["line"], "directive": route.get("directive") or "proxy_pass", "set": settings}


def upstream_set_edit(view, name, settings):
    """Set directives in the ``upstream name { }`` block."""
    up = as_dict(view.upstreams.get(name))
    if not up.get("file") or not isinstance(up.get("line"), int):
        return None
    return {"file": up["file"], "line": up["line"], "directive": "upstream", "set": settings}


def seconds(value):
    """nginx's time text for whole seconds: ``59s``."""
    return f"{int(value)}s"


def size_text(nbytes):
    """nginx's size text: ``32k``, ``1m`` (bytes when not a whole kilobyte)."""
    nbytes = int(nbytes)
    if nbytes % (1024 * 1024) == 0:
        return f"{nbytes // (1024 * 1024)}m"
    if nbytes % 1024 == 0:
        return f"{nbytes // 1024}k"
    return str(nbytes)


def header_buffers(buffers):
    """(buffer_size, buffers, busy_buffers_size) in bytes for a response header that did not fit ``buffers``.

    The header buffer grows to at least 32k and four times what it was (a power of two), and
    the other two move with it so that nginx's checks pass (ngx_http_proxy_merge_loc_conf): the
    busy size is at least the larger of the header buffer and one buffer, and less than all
    buffers minus one.
    """
    buffers = as_dict(buffers)
    cur = num(buffers.get("buffer_size"), 0)
    cur = int(cur) if 0 < cur <= MAX_BUFFER else 4096
    new = 32 * 1024
    while new < 4 * cur:
        new *= 2
    bufs = as_dict(buffers.get("buffers"))
    number = bufs.get("number") if isinstance(bufs.get("number"), int) and 4 <= bufs.get("number") <= 1024 else 8
    size = num(bufs.get("size"), 0)
    size = max(new, int(size) if 0 < size <= MAX_BUFFER else 0)
    busy = 2 * size      # >= max(new, size), and < (number - 1) * size as number >= 4
    return new, (number, size), busy


_UNIT_WORD = re.compile(r"[^A-Za-z0-9]+")


def runtime_directory_name(unit):
    """A RuntimeDirectory= name for a socket of ``unit`` moved out of /tmp: the unit's name (``gunicorn.service`` -> ``gunicorn``)."""
    name = _UNIT_WORD.sub("-", str(unit or "").rsplit(".", 1)[0]).strip("-")
    return name or None
