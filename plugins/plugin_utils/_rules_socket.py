# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules about the socket between nginx and the app (layer ``socket``): permissions, RuntimeDirectory,
PrivateTmp, PHP-FPM pool owner, the listen queue."""

from __future__ import annotations

import posixpath

from ansible_collections.badgateway.doctor.plugins.plugin_utils._addresses import ep_text, norm_path
from ansible_collections.badgateway.doctor.plugins.plugin_utils._fix_steps import (
    EXEC_OPTION_KINDS,
    app_unit,
    bind_option,
    listen_text,
    nginx_proxy,
    runtime_directory_name,
    sequence,
    socket_permissions,
    target_edits,
)
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_common import (
    WHAT_USERS_SEE,
    app_label,
    as_dict,
    as_list,
    components_text,
    event_text,
    finding,
    num,
    route_evidence,
    users_text,
)


def nginx_worker_user(view):
    """The user nginx's workers run as, as the socket path walk saw it."""
    return view.sockets.get("user") or view.nginx.get("user") or "www-data"


def rule_socket_permission(view):
    out = []
    nginx_user = nginx_worker_user(view)
    for r, ep, _path, sp in view.unix_endpoints():
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
        evidence = route_evidence(view, r, ep, ("permission_denied",))
        evidence.append(f"nginx worker user {nginx_user} (groups {', '.join(as_list(view.sockets.get('groups'))) or '?'}); "
                        f"user directive {as_dict(view.nginx.get('user_directive')).get('file')}:"
                        f"{as_dict(view.nginx.get('user_directive')).get('line')}")
        evidence += components_text(sp)
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
            code=code, severity="critical", host=view.name, route=r.get("id"),
            summary=f"nginx ({nginx_user}) gets 13: Permission denied on unix:{ep.get('path')}: {reason}; "
                    f"{users_text(view, r)}{tree}",
            evidence=evidence, fix=fix,
            steps=sequence(socket_permissions(view.name, ep.get("path"), user=nginx_user,
                                              unit=next((a.get("unit") for a in apps if a.get("unit")), None))),
            subjects=subj))
    return out


def _runtime_dir_covered(app, parent):
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
        if not apps or any(_runtime_dir_covered(a, parent.replace("/var/run/", "/run/", 1)) for a in apps):
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
                    f"User={us.get('user')}, no .socket unit"] + components_text(sp) + [event_text(e) for e in perm_evs]
        name = parent.replace("/var/run/", "/run/", 1)[len("/run/"):]
        out.append(finding(
            code="RUNTIME_DIRECTORY_MISSING", severity=sev, host=view.name, route=r.get("id"), summary=summary, evidence=evidence,
            fix=f"add RuntimeDirectory={name} (RuntimeDirectoryMode=0755 or 0750 with the nginx group) to {app.get('unit')} so "
                f"systemd creates {parent} owned by the service user at every start",
            # 0755 is systemd's default: nginx may search the directory, the socket's own mode still decides who connects
            steps=sequence(app_unit(view.name, app, settings={"RuntimeDirectory": name, "RuntimeDirectoryMode": "0755"})),
            subjects=view.route_subjects(r, ep) | view.app_subjects(app)))
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
        out.append(finding(
            code="PRIVATE_TMP_SOCKET", severity="critical", host=view.name, route=r.get("id"),
            steps=_move_out_of_tmp(view, r, ep, path, apps),
            summary=f"the socket {path} is in /tmp while {', '.join(units)} has PrivateTmp=yes: the app and nginx each see their own "
                    f"/tmp, so nginx never finds it and {users_text(view, r)}",
            evidence=evidence,
            fix="move the socket out of /tmp: bind the app to /run/<app>/app.sock with RuntimeDirectory=<app> and point nginx there "
                "(keep PrivateTmp=yes)",
            subjects=subj))
    return out


def _move_out_of_tmp(view, r, ep, path, apps):
    """The app binds /run/<unit>/<name> (RuntimeDirectory=<unit>) instead of /tmp/<name>, then nginx points there."""
    app = next((a for a in apps if a.get("unit") and a.get("kind") in EXEC_OPTION_KINDS), None)
    name = runtime_directory_name(app.get("unit")) if app else None
    if not name:
        return []
    new_path = f"/run/{name}/{posixpath.basename(path)}"
    binds = [f"unix:{new_path}" if b.get("kind") == "unix" and norm_path(b.get("path")) == norm_path(path) else listen_text(b)
             for b in (as_dict(x) for x in as_list(app.get("binds")))]
    binds = [b for b in binds if b]
    covered = _runtime_dir_covered(app, f"/run/{name}")
    settings = None if covered else {"RuntimeDirectory": name, "RuntimeDirectoryMode": "0755"}
    return sequence(app_unit(view.name, app, settings=settings, exec_options={"bind": bind_option(binds)}, listen=binds),
                    nginx_proxy(view.name, target_edits(view, r, ep, f"unix:{new_path}")))


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
        routes = [r for r in view.routes for ep in view.route_endpoints(r)
                  if ep.get("kind") == "unix" and norm_path(ep.get("path")) == norm_path(listen)]
        if not routes:
            continue
        owner = pool.get("owner") or as_dict(app.get("unit_settings")).get("user") or "www-data"
        group = pool.get("group") or owner
        mode = pool.get("mode") or "0660"
        sp = view.socket_path(listen)
        ok = _can_write(nginx_user, groups or [nginx_user], owner, group, mode)
        if sp.get("reachable") is True or ok is not False:
            continue
        r = routes[0]
        out.append(finding(
            code="PHP_FPM_SOCKET_OWNER", severity="critical", host=view.name, route=r.get("id"),
            summary=f"PHP-FPM pool '{pool.get('name')}' creates {listen} as {owner}:{group} mode {mode}; nginx runs as {nginx_user} "
                    f"and cannot write it (13: Permission denied): {users_text(view, r)}",
            evidence=[f"{pool.get('file')}: listen = {listen}, listen.owner = {pool.get('owner')}, listen.group = "
                      f"{pool.get('group')}, listen.mode = {pool.get('mode')}", f"nginx user {nginx_user}, groups {', '.join(groups) or '?'}"]
            + components_text(sp) + route_evidence(view, r, {"kind": "unix", "path": listen}, ("permission_denied",)),
            fix=f"set listen.owner = {nginx_user} and listen.group = {nginx_user} (listen.mode = 0660) in {pool.get('file')}, then "
                "reload php-fpm",
            steps=sequence(socket_permissions(view.name, listen, user=nginx_user, unit=app.get("unit"), method="php_fpm",
                                              php_fpm_pool=pool.get("file"))),
            subjects=view.route_subjects(r) | view.app_subjects(app) | {("endpoint", f"unix:{listen}")}))
    return out


def rule_backlog_full(view):
    out = []
    for r in view.routes:
        for ep in view.route_endpoints(r):
            evs = view.events_of(("resource_unavailable",), ep)
            if ep.get("kind") == "unix":
                ls = view.unix_listeners(ep.get("path"))
            else:
                ls = [t for t in view.tcp_on_port(ep.get("port")) if view.endpoint_is_local(ep)]
            full = [x for x in ls if num(as_dict(x.get("backlog")).get("max"), 0) > 0 and
                    num(as_dict(x.get("backlog")).get("current"), 0) >= num(as_dict(x.get("backlog")).get("max"), 0)]
            if not evs and not full:
                continue
            sev = "critical" if view.probe_verdict(r) in ("app", "proxy") else "warning"
            users = WHAT_USERS_SEE["502"] if sev == "critical" else WHAT_USERS_SEE["intermittent"]
            apps = view.apps_binding(ep)
            evidence = [event_text(e) for e in evs]
            evidence += [f"listen queue of {ep_text(ep)}: {as_dict(x.get('backlog')).get('current')}/"
                         f"{as_dict(x.get('backlog')).get('max')} ({x.get('path') or x.get('address')})" for x in full]
            evidence += [f"{app_label(a)}: workers {a.get('workers')}, backlog {a.get('backlog')}, worker class {a.get('worker_class')}"
                         for a in apps]
            evidence += view.probe_evidence(r)
            out.append(finding(
                code="BACKLOG_FULL", severity=sev, host=view.name, route=r.get("id"),
                summary=f"the listen queue of {ep_text(ep)} is full (EAGAIN, 11: Resource temporarily unavailable): the app cannot "
                        f"accept fast enough and {users}",
                evidence=evidence,
                fix="add workers (or an async worker class) so requests are accepted faster; raise --backlog and net.core.somaxconn "
                    "only together with that",
                steps=sequence(_more_workers(view, apps)),
                subjects=view.route_subjects(r, ep) | view.endpoint_app_subjects(ep)))
    return out


def _more_workers(view, apps):
    """Twice the workers (at least 2); a backlog below 128 back to the app servers' default 2048 (opt-in)."""
    app = next((a for a in apps if a.get("unit") and a.get("kind") in EXEC_OPTION_KINDS), None)
    if app is None:
        return None
    workers = app.get("workers") if isinstance(app.get("workers"), int) and app.get("workers") > 0 else 1
    options = {"workers": max(2, 2 * workers)}
    if isinstance(app.get("backlog"), int) and app.get("backlog") < 128:
        options["backlog"] = 2048
    return app_unit(view.name, app, exec_options=options)
