# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules about nginx, its pass targets and the unix sockets between nginx and the app."""

from __future__ import annotations

import posixpath

from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_common import (
    HTTP_APP_KINDS,
    ROLE_APP_SERVICE,
    ROLE_APP_UNIT,
    ROLE_NGINX_PROXY,
    ROLE_NGINX_RELOAD,
    ROLE_SOCKET_PERMISSIONS,
    WHAT_USERS_SEE,
    addr_text,
    as_dict,
    as_list,
    ep_addresses,
    ep_text,
    event_text,
    finding,
    iso,
    proc_text,
)

APP_PROCESS_NAMES = ("gunicorn", "uvicorn", "uwsgi", "hypercorn", "daphne", "php-fpm", "python", "python3")


def _is_app_process(listener):
    for p in as_list(listener.get("processes")):
        name = str(as_dict(p).get("name") or "")
        if any(name.startswith(n) for n in APP_PROCESS_NAMES):
            return True
    return False


def _route_unix_paths(view):
    return {ep.get("path") for r in view.routes for ep in view.route_endpoints(r) if ep.get("kind") == "unix"}


def _route_tcp_ports(view):
    return {ep.get("port") for r in view.routes for ep in view.route_endpoints(r)
            if ep.get("kind") == "tcp" and view.endpoint_is_local(ep)}


def _unclaimed_unix(view):
    """Unix sockets app servers listen on (or would) that no nginx route uses: (text, source)."""
    used = _route_unix_paths(view)
    out = []
    for app in view.apps:
        for b in as_list(app.get("binds")):
            if as_dict(b).get("kind") == "unix" and b.get("path") not in used:
                out.append((f"unix:{b.get('path')}", f"{app.get('unit') or app.get('name')} binds it"))
    for u in view.unix:
        if u.get("path") and u.get("path") not in used and _is_app_process(u) and not any(
                f"unix:{u.get('path')}" == t for t, _s in out):
            out.append((f"unix:{u.get('path')}", f"listening: {proc_text(u.get('processes'))}"))
    return out


def _unclaimed_tcp(view):
    used = _route_tcp_ports(view)
    out = []
    for app in view.apps:
        for b in as_list(app.get("binds")):
            if as_dict(b).get("kind") == "tcp" and b.get("port") not in used:
                out.append((ep_text(b), f"{app.get('unit') or app.get('name')} binds it", b.get("port")))
    for t in view.tcp:
        if t.get("port") not in used and _is_app_process(t) and not any(p == t.get("port") for _x, _y, p in out):
            out.append((addr_text(t.get("address"), t.get("port")), f"listening: {proc_text(t.get('processes'))}", t.get("port")))
    return out


def _route_evidence(view, r, ep, classes):
    ev = [f"nginx route '{r.get('id')}': {view.route_where(r)}"]
    ev += [event_text(e) for e in view.events_of(classes, ep)]
    ev += view.probe_evidence(r)
    return ev


def _users(view, r):
    key = view.route_users_see(r, "502")
    return WHAT_USERS_SEE.get(key, WHAT_USERS_SEE["502"])


def _proxy_fix_vars(r, **kw):
    out = {"badgateway_nginx_proxy_file": r.get("file"), "badgateway_nginx_proxy_line": r.get("line"),
           "badgateway_nginx_proxy_location": r.get("location")}
    for k, v in kw.items():
        out[f"badgateway_nginx_proxy_{k}"] = v
    return out


# ---------------------------------------------------------------------------
# nothing listens where nginx points
# ---------------------------------------------------------------------------

def rule_unix_endpoint(view):
    """SOCKET_MISSING and TARGET_MISMATCH_SOCKET for every unix endpoint of every route."""
    out = []
    unclaimed = _unclaimed_unix(view)
    for r, ep, path, sp in view.unix_endpoints():
        listeners = view.unix_listeners(path)
        exists = sp.get("exists") if sp else None
        if listeners and exists is not False:
            continue
        if not view.unix and not sp:
            continue   # no listener or socket facts at all: FACTS_INCOMPLETE says so
        subj = view.route_subjects(r, ep)
        evidence = _route_evidence(view, r, ep, ("no_such_file", "connect_refused"))
        if exists is False:
            missing = [c for c in as_list(sp.get("components")) if as_dict(c).get("type") == "missing"]
            first = as_dict(missing[0]).get("path") if missing else path
            state = f"{path} does not exist" + (f" (first missing component: {first})" if first != path else "")
        elif exists and sp.get("is_socket") is False:
            state = f"{path} exists but is not a socket"
        elif listeners:
            state = f"{path} is not visible to nginx"
        else:
            state = f"{path} exists but nothing listens on it (stale socket file)" if exists else f"nothing listens on {path}"
        evidence.insert(1, state)
        if listeners:
            evidence.append(f"/proc/net/unix lists a listener bound to {path}: {proc_text(listeners[0].get('processes'))}")
        out.append(finding(
            "SOCKET_MISSING", "critical", "socket", view.name, r.get("id"),
            f"route '{r.get('id')}' proxies to unix:{path}, but {state}: {_users(view, r)}",
            evidence,
            "start the app server that creates this socket (see the root cause), or point nginx at the socket it really uses",
            None, None, subj))
        if unclaimed and not listeners and not view.apps_binding(ep):
            cands = "; ".join(f"{t} ({s})" for t, s in unclaimed[:3])
            out.append(finding(
                "TARGET_MISMATCH_SOCKET", "critical", "proxy", view.name, r.get("id"),
                f"route '{r.get('id')}' proxies to unix:{path}, but the app server listens on {unclaimed[0][0]}: {_users(view, r)}",
                evidence + [f"app server sockets no route uses: {cands}"],
                f"make both sides agree: change the nginx target to {unclaimed[0][0]} (then nginx -t && reload) or change the app's "
                f"--bind to unix:{path}",
                ROLE_NGINX_PROXY, _proxy_fix_vars(r, target=f"http://{unclaimed[0][0]}"),
                subj))
    return out


def rule_tcp_endpoint(view):
    """TARGET_MISMATCH_PORT, IP_FAMILY_MISMATCH and 'nothing listens' for local tcp endpoints."""
    out = []
    unclaimed = _unclaimed_tcp(view)
    if not view.listeners:
        return out
    for r in view.routes:
        for ep in view.route_endpoints(r):
            if ep.get("kind") != "tcp" or not view.endpoint_is_local(ep):
                continue
            port = ep.get("port")
            addrs = ep_addresses(ep)
            ok = [(f, a) for f, a in addrs if view.tcp_listeners(f, a, port)]
            bad = [(f, a) for f, a in addrs if (f, a) not in ok]
            if not bad:
                continue
            subj = view.route_subjects(r, ep)
            evidence = _route_evidence(view, r, ep, ("connect_refused",))
            on_port = view.tcp_on_port(port)
            evidence.append(f"{ep_text(ep)} resolves to {', '.join(addr_text(a, port) for _f, a in addrs)}; listening: "
                            + ("; ".join(f"{addr_text(t.get('address'), port)} ({proc_text(t.get('processes'))})" for t in on_port)
                               or f"nothing on port {port}"))
            bad_fams = {f for f, _a in bad}
            other_family = [t for t in on_port if t.get("family") not in bad_fams]
            if on_port and not other_family:
                # same family, another address (e.g. the app on 127.0.0.1 only, nginx dialling the host's own IP)
                listen_txt = ", ".join(addr_text(t.get("address"), port) for t in on_port)
                good = on_port[0].get("address")
                out.append(finding(
                    "TARGET_MISMATCH_PORT", "critical" if not ok else "warning", "proxy", view.name, r.get("id"),
                    f"route '{r.get('id')}' proxies to {', '.join(addr_text(a, port) for _f, a in bad)}, but the app listens on "
                    f"{listen_txt} only: {_users(view, r) if not ok else WHAT_USERS_SEE['intermittent']}",
                    evidence,
                    f"make both sides agree: proxy_pass to {addr_text(good, port)} (then nginx -t && reload) or bind the app on "
                    f"{addr_text(bad[0][1], port)}",
                    ROLE_NGINX_PROXY, _proxy_fix_vars(r, target=f"http://{addr_text(good, port)}"), subj))
                continue
            if on_port:
                listen_txt = ", ".join(addr_text(t.get("address"), port) for t in other_family)
                bad_txt = ", ".join(addr_text(a, port) for _f, a in bad)
                if ok:
                    sev = "warning"
                    summary = (f"route '{r.get('id')}': nginx connects to {bad_txt} (from '{ep.get('host')}') but the app listens on "
                               f"{listen_txt} only: those attempts are refused and retried on the other address "
                               f"(errors in the log, added latency; {WHAT_USERS_SEE['intermittent']} when the retry also fails)")
                else:
                    sev = "critical"
                    summary = (f"route '{r.get('id')}': nginx connects to {bad_txt} but the app listens on {listen_txt} only "
                               f"(IPv4 vs IPv6): {_users(view, r)}")
                good = other_family[0].get("address")
                out.append(finding(
                    "IP_FAMILY_MISMATCH", sev, "proxy", view.name, r.get("id"), summary, evidence,
                    f"use the literal address in nginx (proxy_pass http://{addr_text(good, port)}) instead of '{ep.get('host')}', or "
                    "bind the app on both families",
                    ROLE_NGINX_PROXY, _proxy_fix_vars(r, target=f"http://{addr_text(good, port)}"), subj))
                continue
            # nothing at all on that port
            if view.apps_binding(ep):
                continue   # the app that should listen there exists: its own rule (stopped, boot failure...) reports it
            cands = [c for c in unclaimed if c[2] != port]
            if cands:
                cand_txt = "; ".join(f"{t} ({s})" for t, s, _p in cands[:3])
                out.append(finding(
                    "TARGET_MISMATCH_PORT", "critical", "proxy", view.name, r.get("id"),
                    f"route '{r.get('id')}' proxies to {ep_text(ep)} where nothing listens; the app server listens on {cands[0][0]}: "
                    f"{_users(view, r)}",
                    evidence + [f"app server listeners no route uses: {cand_txt}"],
                    f"make both sides agree: proxy_pass to port {cands[0][2]} (then nginx -t && reload) or bind the app on port {port}",
                    ROLE_NGINX_PROXY, _proxy_fix_vars(r, target=f"http://{ep.get('host')}:{cands[0][2]}"), subj))
            else:
                out.append(finding(
                    "APP_STOPPED", "critical", "app", view.name, r.get("id"),
                    f"route '{r.get('id')}' proxies to {ep_text(ep)} where nothing listens and no app server for it was found: "
                    f"{_users(view, r)}",
                    evidence,
                    f"start the app server that should listen on {ep_text(ep)} (is it installed and enabled?)",
                    ROLE_APP_SERVICE, None, subj))
    return out


# ---------------------------------------------------------------------------
# sockets: permissions, RuntimeDirectory, PrivateTmp, PHP-FPM owner
# ---------------------------------------------------------------------------

def _components_text(sp):
    out = []
    for c in as_list(sp.get("components")):
        c = as_dict(c)
        acl = f" acl {','.join(c.get('acl'))}" if c.get("acl") else ""
        out.append(f"{c.get('type')} {c.get('mode')} {c.get('owner')}:{c.get('group')}{acl} {c.get('path')}")
    return out


def rule_socket_permission(view):
    out = []
    nginx_user = view.sockets.get("user") or view.nginx.get("user") or "www-data"
    for r, ep, path, sp in view.unix_endpoints():
        if not sp or not sp.get("exists") or sp.get("reachable") is not False:
            continue
        blocker = as_dict(sp.get("blocker"))
        bpath = blocker.get("path") or ep.get("path")
        comps = {as_dict(c).get("path"): as_dict(c) for c in as_list(sp.get("components"))}
        btype = as_dict(comps.get(bpath)).get("type")
        if btype == "missing":
            continue
        is_file = bpath == ep.get("path") or btype in ("socket", "file")
        code = "SOCKET_FILE_PERMISSION" if is_file else "SOCKET_DIR_PERMISSION"
        reason = blocker.get("reason") or f"{nginx_user} cannot {'write' if is_file else 'search'} {bpath}"
        evidence = _route_evidence(view, r, ep, ("permission_denied",))
        evidence.append(f"nginx worker user {nginx_user} (groups {', '.join(as_list(view.sockets.get('groups'))) or '?'}); "
                        f"user directive {as_dict(view.nginx.get('user_directive')).get('file')}:"
                        f"{as_dict(view.nginx.get('user_directive')).get('line')}")
        evidence += _components_text(sp)
        apps = view.apps_binding(ep)
        grp = (view.sockets.get("groups") or [nginx_user])[0]
        if is_file:
            fix = (f"let {nginx_user} write the socket: run the app with a umask/--umask that leaves group write (e.g. 007) and the "
                   f"socket group {grp}, or use a systemd .socket unit with SocketGroup={grp} SocketMode=0660")
        else:
            fix = (f"let {nginx_user} search {bpath}: e.g. RuntimeDirectoryMode=0750 with group {grp}, or chmod o+x / an ACL "
                   f"u:{nginx_user}:x on {bpath}")
        verdict = view.probe_verdict(r)
        tree = " (the direct probe as root works, through nginx it fails: proxy side)" if verdict == "proxy" else ""
        subj = view.route_subjects(r, ep)
        for a in apps:
            subj |= view.app_subjects(a)
        out.append(finding(
            code, "critical", "socket", view.name, r.get("id"),
            f"nginx ({nginx_user}) gets 13: Permission denied on unix:{ep.get('path')}: {reason}; {_users(view, r)}{tree}",
            evidence, fix, ROLE_SOCKET_PERMISSIONS,
            {"badgateway_socket_permissions_path": ep.get("path"), "badgateway_socket_permissions_blocker": bpath,
             "badgateway_socket_permissions_user": nginx_user,
             "badgateway_socket_permissions_unit": apps[0].get("unit") if apps else None},
            subj))
    return out


def _runtime_dir_covered(view, app, parent):
    us = as_dict(app.get("unit_settings"))
    for name in as_list(us.get("runtime_directory")):
        root = "/run/" + str(name).strip("/")
        if parent == root or parent.startswith(root + "/"):
            return True
    return bool(app.get("socket_unit"))


def rule_runtime_directory(view):
    out = []
    for r, ep, path, sp in view.unix_endpoints():
        path = str(path or "")
        in_run = sp.get("in_run") if sp else path.startswith(("/run/", "/var/run/"))
        parent = posixpath.dirname(path)
        if not in_run or parent in ("/run", "/var/run"):
            continue
        if as_list(sp.get("runtime_directory_units")):
            continue
        apps = [a for a in view.apps_binding(ep) if a.get("unit")]
        if not apps or any(_runtime_dir_covered(view, a, parent.replace("/var/run/", "/run/", 1)) for a in apps):
            continue
        if not view.system.get("systemd", True):
            continue
        app = apps[0]
        comps = {as_dict(c).get("path"): as_dict(c) for c in as_list(sp.get("components"))}
        pcomp = as_dict(comps.get(parent))
        missing = sp.get("exists") is False and pcomp.get("type") in ("missing", None)
        perm_evs = [e for e in view.app_events(app, ("python_exception", "bind_failed", "worker_boot_failed"))
                    if "PermissionError" in str(as_dict(e.get("detail")).get("exception") or "") or "ermission denied" in " ".join(
                        str(s) for s in as_list(e.get("samples")))]
        root_owned = pcomp.get("owner") == "root" and as_dict(app.get("unit_settings")).get("user") not in (None, "root")
        down = not view.app_running(app)
        if missing or (down and (perm_evs or root_owned)):
            sev = "critical"
            state = (f"{parent} does not exist" if missing else f"{parent} is owned by {pcomp.get('owner')}:{pcomp.get('group')} "
                     f"mode {pcomp.get('mode')}, the app cannot create its socket")
            summary = (f"{app.get('unit')} puts its socket in {parent} but has no RuntimeDirectory=: {state} (e.g. after a reboot), "
                       f"{WHAT_USERS_SEE['502']}")
        else:
            sev = "warning"
            summary = (f"{app.get('unit')} puts its socket in {parent} without RuntimeDirectory=: /run is emptied at reboot and the "
                       f"directory will be missing then ({WHAT_USERS_SEE['latent']}, 502 after the next reboot)")
        us = as_dict(app.get("unit_settings"))
        evidence = [f"nginx route '{r.get('id')}': {view.route_where(r)}",
                    f"{app.get('unit')} ({us.get('fragment_path')}): RuntimeDirectory={us.get('runtime_directory') or '(unset)'}, "
                    f"User={us.get('user')}, no .socket unit"] + _components_text(sp) + [event_text(e) for e in perm_evs]
        name = parent.replace("/var/run/", "/run/", 1)[len("/run/"):]
        subj = view.route_subjects(r, ep) | view.app_subjects(app)
        out.append(finding(
            "RUNTIME_DIRECTORY_MISSING", sev, "socket", view.name, r.get("id"), summary, evidence,
            f"add RuntimeDirectory={name} (RuntimeDirectoryMode=0755 or 0750 with the nginx group) to {app.get('unit')} so systemd "
            f"creates {parent} owned by the service user at every start",
            ROLE_APP_UNIT, {"badgateway_app_unit_name": app.get("unit"), "badgateway_app_unit_runtime_directory": name},
            subj))
    return out


def rule_private_tmp(view):
    out = []
    for r, ep, path, sp in view.unix_endpoints():
        path = str(path or "")
        in_tmp = sp.get("in_tmp") if sp else path.startswith(("/tmp/", "/var/tmp/"))
        if not in_tmp:
            continue
        units = list(as_list(sp.get("private_tmp_units")))
        apps = view.apps_binding(ep)
        for a in apps:
            if as_dict(a.get("unit_settings")).get("private_tmp") and a.get("unit") not in units:
                units.append(a.get("unit"))
        if not units:
            continue
        subj = view.route_subjects(r, ep)
        for a in apps:
            subj |= view.app_subjects(a)
        evidence = [f"nginx route '{r.get('id')}': {view.route_where(r)}", f"units with PrivateTmp=yes that use {path}: {', '.join(units)}",
                    f"{path} as seen by nginx: {'exists' if sp.get('exists') else 'does not exist'}; listener in /proc/net/unix: "
                    f"{bool(view.unix_listeners(path))}"]
        evidence += [event_text(e) for e in view.events_of(("no_such_file", "connect_refused"), ep)] + view.probe_evidence(r)
        unit = apps[0].get("unit") if apps else units[0]
        out.append(finding(
            "PRIVATE_TMP_SOCKET", "critical", "socket", view.name, r.get("id"),
            f"the socket {path} is in /tmp while {', '.join(units)} has PrivateTmp=yes: the app and nginx each see their own /tmp, "
            f"so nginx never finds it and {_users(view, r)}",
            evidence,
            "move the socket out of /tmp: bind the app to /run/<app>/app.sock with RuntimeDirectory=<app> and point nginx there "
            "(keep PrivateTmp=yes)",
            ROLE_APP_UNIT, {"badgateway_app_unit_name": unit, "badgateway_app_unit_runtime_directory": None}, subj))
    return out


def _can_write(user, groups, owner, group, mode):
    try:
        m = int(str(mode), 8)
    except (TypeError, ValueError):
        return None
    if user == "root":
        return True
    if owner == user:
        return bool(m & 0o200)
    if group in groups:
        return bool(m & 0o020)
    return bool(m & 0o002)


def rule_php_fpm_socket_owner(view):
    out = []
    nginx_user = view.nginx.get("user") or view.sockets.get("user") or "www-data"
    groups = as_list(view.sockets.get("groups")) if view.sockets.get("user") in (None, nginx_user) else []
    for app in view.apps:
        pool = as_dict(app.get("php_fpm_pool"))
        listen = str(pool.get("listen") or "")
        if app.get("kind") != "php-fpm" or not listen.startswith("/"):
            continue
        routes = [r for r in view.routes for ep in view.route_endpoints(r) if ep.get("kind") == "unix" and ep.get("path") == listen]
        if not routes:
            continue
        owner = pool.get("owner") or as_dict(app.get("unit_settings")).get("user") or "www-data"
        group = pool.get("group") or owner
        mode = pool.get("mode") or "0660"
        sp = view.sock_paths.get(listen) or {}
        ok = _can_write(nginx_user, groups or [nginx_user], owner, group, mode)
        if sp.get("reachable") is True or ok is not False:
            continue
        r = routes[0]
        out.append(finding(
            "PHP_FPM_SOCKET_OWNER", "critical", "socket", view.name, r.get("id"),
            f"PHP-FPM pool '{pool.get('name')}' creates {listen} as {owner}:{group} mode {mode}; nginx runs as {nginx_user} and cannot "
            f"write it (13: Permission denied): {_users(view, r)}",
            [f"{pool.get('file')}: listen = {listen}, listen.owner = {pool.get('owner')}, listen.group = {pool.get('group')}, "
             f"listen.mode = {pool.get('mode')}", f"nginx user {nginx_user}, groups {', '.join(groups) or '?'}"]
            + _components_text(sp) + _route_evidence(view, r, {"kind": "unix", "path": listen}, ("permission_denied",)),
            f"set listen.owner = {nginx_user} and listen.group = {nginx_user} (listen.mode = 0660) in {pool.get('file')}, then reload php-fpm",
            ROLE_SOCKET_PERMISSIONS, {"badgateway_socket_permissions_path": listen, "badgateway_socket_permissions_user": nginx_user,
                                      "badgateway_socket_permissions_php_fpm_pool": pool.get("file")},
            view.route_subjects(r) | view.app_subjects(app) | {("endpoint", f"unix:{listen}")}))
    return out


# ---------------------------------------------------------------------------
# nginx-side configuration
# ---------------------------------------------------------------------------

def _uwsgi_protocol(app):
    cmd = [str(c) for c in as_list(app.get("cmdline"))]
    if any(c.startswith(("--http", "--http-socket")) for c in cmd):
        return "http"
    if any(c.startswith(("--fastcgi-socket",)) for c in cmd):
        return "fastcgi"
    return "uwsgi"


def rule_protocol_mismatch(view):
    out = []
    for r in view.routes:
        directive = r.get("directive") or "proxy_pass"
        for ep in view.route_endpoints(r):
            for app in view.apps_binding(ep):
                kind = app.get("kind")
                speaks = "http" if kind in HTTP_APP_KINDS else ("fastcgi" if kind == "php-fpm" else (
                    _uwsgi_protocol(app) if kind == "uwsgi" else None))
                wants = {"proxy_pass": "http", "uwsgi_pass": "uwsgi", "fastcgi_pass": "fastcgi", "scgi_pass": "scgi",
                         "grpc_pass": "grpc"}.get(directive)
                grpc_ok = wants == "grpc" and speaks == "http" and kind == "hypercorn"
                if speaks is None or wants is None or speaks == wants or grpc_ok:
                    continue
                right = {"http": "proxy_pass http://", "uwsgi": "uwsgi_pass (with include uwsgi_params)",
                         "fastcgi": "fastcgi_pass"}.get(speaks, speaks)
                evs = view.events_of(("premature_close", "reset_by_peer"), ep)
                out.append(finding(
                    "PROTOCOL_MISMATCH", "critical", "proxy", view.name, r.get("id"),
                    f"route '{r.get('id')}' talks {wants} ({directive}) to {app.get('unit') or app.get('name')}, which speaks {speaks}: "
                    f"the reply is not understood and {_users(view, r)}",
                    [f"nginx route '{r.get('id')}': {view.route_where(r)}",
                     f"{app.get('unit') or app.get('name')} ({kind}) binds {ep_text(ep)}: {' '.join(as_list(app.get('cmdline'))[:8])}"]
                    + [event_text(e) for e in evs] + view.probe_evidence(r),
                    f"use {right} for this location (or make the app server speak {wants})",
                    ROLE_NGINX_PROXY, _proxy_fix_vars(r, directive=right.split(" ")[0]),
                    view.route_subjects(r, ep) | view.app_subjects(app)))
    return out


def rule_header_too_big(view):
    out = []
    for r in view.routes:
        for ep in view.route_endpoints(r):
            evs = view.events_of(("too_big_header",), ep)
            if not evs:
                continue
            via = view.route_probes(r, "nginx")
            sev = "critical" if any(p.get("status") == 502 for p in via) else "warning"
            bs = as_dict(r.get("buffers")).get("buffer_size")
            prefix = (r.get("directive") or "proxy_pass").split("_")[0]
            out.append(finding(
                "HEADER_TOO_BIG", sev, "proxy", view.name, r.get("id"),
                f"the app's response headers on route '{r.get('id')}' exceed {prefix}_buffer_size {bs} bytes (\"upstream sent too big "
                f"header\"): {WHAT_USERS_SEE['502'] if sev == 'critical' else 'users get 502 on the responses with large headers (cookies, redirects)'}",
                [event_text(e) for e in evs] + [
                    f"{prefix}_buffer_size {bs}, {prefix}_buffers {as_dict(as_dict(r.get('buffers')).get('buffers'))}, "
                    f"busy {as_dict(r.get('buffers')).get('busy_buffers_size')} ({r.get('file')}:{r.get('line')})"]
                + view.probe_evidence(r),
                f"raise {prefix}_buffer_size to 16k (and {prefix}_buffers 8 16k, {prefix}_busy_buffers_size 32k) in this location, or "
                "shrink the headers (cookies) the app sends",
                ROLE_NGINX_PROXY, _proxy_fix_vars(r, buffer_size="16k"),
                view.route_subjects(r, ep)))
    return out


def rule_keepalive_race(view):
    out = []
    for r in view.routes:
        if not r.get("keepalive_in_use"):
            continue
        up = as_dict(view.upstreams.get(r.get("upstream")))
        nginx_idle = up.get("keepalive_timeout")
        nginx_idle = 60.0 if nginx_idle is None else float(nginx_idle)
        for ep in view.route_endpoints(r):
            for app in view.apps_binding(ep):
                ka = app.get("keepalive")
                wc = str(app.get("worker_class") or ("sync" if app.get("kind") == "gunicorn" else ""))
                if ka is None or app.get("kind") == "gunicorn" and wc in ("sync", ""):
                    continue   # gunicorn's sync worker closes every connection after the response: no reuse, no race
                if float(ka) >= nginx_idle:
                    continue
                evs = view.events_of(("premature_close", "reset_by_peer"), ep)
                out.append(finding(
                    "KEEPALIVE_RACE", "warning", "proxy", view.name, r.get("id"),
                    f"upstream '{r.get('upstream')}' keeps idle connections {nginx_idle:g} s but {app.get('unit') or app.get('name')} "
                    f"closes them after {float(ka):g} s: nginx reuses a connection the app is closing and "
                    f"{WHAT_USERS_SEE['intermittent']} (reset / prematurely closed)",
                    [f"upstream {r.get('upstream')} ({up.get('file')}:{up.get('line')}): keepalive {up.get('keepalive')}, "
                     f"keepalive_timeout {nginx_idle:g} s; route '{r.get('id')}' proxy_http_version {r.get('http_version')}, "
                     f"Connection \"\" {r.get('connection_header_cleared')}",
                     f"{app.get('unit') or app.get('name')}: keep-alive {float(ka):g} s "
                     f"({as_dict(app.get('settings_source')).get('keepalive', 'default')}), worker class {wc or app.get('kind')}"]
                    + [event_text(e) for e in evs],
                    f"make nginx drop idle connections first: keepalive_timeout {max(1, int(float(ka)) - 1)}s in upstream "
                    f"'{r.get('upstream')}', or raise the app's keep-alive above {nginx_idle:g} s",
                    ROLE_NGINX_PROXY, _proxy_fix_vars(r, upstream=r.get("upstream"), keepalive_timeout=max(1, int(float(ka)) - 1)),
                    view.route_subjects(r, ep) | view.app_subjects(app)))
    return out


def rule_no_live_upstreams(view):
    out = []
    for r in view.routes:
        name = r.get("upstream")
        if not name:
            continue
        ws = view.nginx.get("workers_started")
        evs = [e for e in view._current(view.events, ws if isinstance(ws, (int, float)) else None, 1.2)
               if e.get("class") == "no_live_upstreams" and any(
            f"//{name}/" in str(t) or str(t).rstrip("/").endswith(f"//{name}") or str(t) == name for t in as_list(e.get("targets")))]
        if not evs:
            continue
        up = as_dict(view.upstreams.get(name))
        sev = "critical" if view.probe_verdict(r) in ("app", "proxy", "unknown") else "warning"
        servers = [f"{as_dict(s).get('address')} {as_dict(s).get('params') or ''}".strip() for s in as_list(up.get("servers"))]
        out.append(finding(
            "NO_LIVE_UPSTREAMS", sev, "proxy", view.name, r.get("id"),
            f"every server of upstream '{name}' was marked failed (\"no live upstreams\"): "
            f"{_users(view, r) if sev == 'critical' else WHAT_USERS_SEE['intermittent']} until fail_timeout passes",
            [event_text(e) for e in evs] + [f"upstream {name} ({up.get('file')}:{up.get('line')}): {'; '.join(servers)}"] + view.probe_evidence(r),
            "fix the servers' failures (see the other findings); with a single server consider max_fails=0 / fail_timeout=0 so one "
            "error does not take it out of rotation",
            None, None, view.route_subjects(r)))
    return out


def rule_nginx_config_invalid(view):
    test = as_dict(view.nginx.get("test"))
    if not view.nginx.get("present") or test.get("ok") is not False:
        return []
    lines = [ln for ln in str(test.get("output") or "").splitlines() if ln.strip()]
    evs = [e for e in view.events if e.get("class") == "nginx_emerg"]
    running = bool(view.nginx.get("master_pid"))
    first = next((ln for ln in lines if "[emerg]" in ln or "[crit]" in ln), lines[0] if lines else "nginx -t failed")
    tail = ("nginx keeps running the old configuration, but the next reload or restart fails" if running
            else "nginx is not running: clients cannot connect at all")
    return [finding(
        "NGINX_CONFIG_INVALID", "critical", "proxy", view.name, None,
        f"nginx -t fails: {first.replace('nginx: ', '')}; {tail}",
        [f"nginx -t (rc {test.get('rc')}): {ln}" for ln in lines[:6]] + [event_text(e) for e in evs],
        "fix the reported file:line, check with nginx -t, then reload (systemctl reload nginx)",
        ROLE_NGINX_RELOAD, {"badgateway_nginx_reload_test_only": True},
        {("nginx", view.name), ("stale", view.name), ("facts", view.name + ":nginx-only")})]


def rule_nginx_config_stale(view):
    if not view.nginx.get("stale"):
        return []
    conf_path = view.nginx.get("conf_path")
    stale = view.stale_files
    subj = {("stale", view.name)} | {("file", p) for p in stale}
    if conf_path in stale:
        subj |= {("file", r.get("file")) for r in view.routes if r.get("file")}
    affected = [r for r in view.routes if ("file", r.get("file")) in subj]
    proxy_side = [r for r in affected if view.probe_verdict(r) == "proxy"]
    sev = "critical" if proxy_side else "warning"
    started = view.nginx.get("workers_started")
    evidence = [f"{as_dict(s).get('path')} modified {iso(as_dict(s).get('mtime'))}" for s in as_list(view.nginx.get("stale_files"))]
    evidence.append(f"nginx workers (pids {', '.join(str(p) for p in as_list(view.nginx.get('worker_pids'))[:5])}) started {iso(started)}")
    for r in proxy_side:
        evidence += view.probe_evidence(r)
    if proxy_side:
        summary = (f"nginx runs an older configuration than the files on disk ({', '.join(stale[:3])} changed after the workers started); "
                   f"the upstream answers directly but through nginx it fails: {_users(view, proxy_side[0])}")
    else:
        summary = (f"the nginx configuration was edited but not reloaded ({', '.join(stale[:3])} changed after the workers started): "
                   "what runs is not what the files say, and the next reload changes behaviour")
    return [finding(
        "NGINX_CONFIG_STALE", sev, "proxy", view.name, proxy_side[0].get("id") if proxy_side else None, summary, evidence,
        "check and apply the files: nginx -t && systemctl reload nginx (findings on these routes describe the files, which run after the reload)",
        ROLE_NGINX_RELOAD, {"badgateway_nginx_reload_test_only": False}, subj)]


RULES = (rule_nginx_config_invalid, rule_nginx_config_stale, rule_unix_endpoint, rule_tcp_endpoint, rule_socket_permission,
         rule_runtime_directory, rule_private_tmp, rule_php_fpm_socket_owner, rule_protocol_mismatch, rule_header_too_big,
         rule_keepalive_race, rule_no_live_upstreams)
