# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan how nginx's worker user gets to a unix socket without widening access (target side, stdlib only).

The walk (``socket_paths.walk_path``) names every directory the worker user cannot search and
whether it can write the socket, with the groups ``initgroups`` gives it. Then, per blocker, the
change that keeps access within a group - never ``o+w``, never ``0666``/``0777``:

- the socket unit's ``SocketGroup``/``SocketMode`` (socket activation: the ``.socket`` decides);
- the unit's ``RuntimeDirectoryMode`` (+ group search) for its runtime directory, or just a
  restart when the unit's settings already allow it (the directory on disk was changed by hand);
- gunicorn's ``--umask`` so that the group may write the socket it creates (uvicorn makes its
  socket 0666 itself and has no umask);
- PHP-FPM's pool ``listen.group``/``listen.mode`` (``listen.acl_users`` when ACLs are in use: they
  override the owner and group);
- the worker user joining the group that owns the directory or socket (nginx is reloaded: its
  workers call ``initgroups`` when they start), or, when that group is a privileged one (root,
  sudo ...), the app's ``Group=`` set to the worker user's group;
- ``g+x`` on a persistent directory, or an ACL entry for the worker user (only with ``method=acl``).

``plan`` is pure over the collected facts; ``collect`` reads them. The plan is checked by replaying
the permission decision with the changes applied.
"""

from __future__ import annotations

import glob
import os
import re

from ansible_collections.badgateway.doctor.plugins.module_utils import _access, _proc, _runner, _safe_io, socket_paths
from ansible_collections.badgateway.doctor.plugins.module_utils._remediation_dropin import UNIT_DIR, read_exec_start, show_props
from ansible_collections.badgateway.doctor.plugins.module_utils._apps_cmdline import detect_kind
from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_running import scan_processes, select_master, workers_of
from ansible_collections.badgateway.doctor.plugins.module_utils.listeners import collect_listeners

METHODS = ("auto", "group", "socket_unit", "umask", "php_fpm", "acl")
PRIVILEGED_GROUPS = ("root", "wheel", "sudo", "admin", "adm", "shadow", "disk", "kmem", "tty", "docker", "lxd",
                     "libvirt", "systemd-journal", "staff", "sys", "utmp", "mail")


class PlanError(ValueError):
    """No safe change: the message says why and what to do instead."""


def _gid(name):
    try:
        return _access.group_id(name)
    except ValueError:
        return None


def _uid(name):
    try:
        return _access.user_entry(name).pw_uid
    except ValueError:
        return int(name) if str(name).isdigit() else None  # a uid without a passwd entry is still that uid


def privileged(group_name, gid):
    return gid == 0 or group_name in PRIVILEGED_GROUPS


def _mode(text, default):
    try:
        return int(text, 8)
    except (TypeError, ValueError):
        return default


class Plan:
    """What to change; ``as_dict`` is what the module returns."""

    def __init__(self, facts):
        self.facts = facts
        self.groups_add = []
        self.dropins = {}
        self.chmod = []
        self.acl = []
        self.php_fpm = None
        self.restart = []
        self.socket_restart = None
        self.nginx_reload = False
        self.explain = []

    def dropin(self, unit, settings=None, exec_options=None):
        entry = self.dropins.setdefault(unit, {"unit": unit, "settings": {}, "exec_options": {}})
        entry["settings"].update(settings or {})
        entry["exec_options"].update(exec_options or {})

    def add_group(self, user, group):
        item = {"user": user, "group": group}
        if item not in self.groups_add:
            self.groups_add.append(item)
            self.nginx_reload = True

    def restart_unit(self, unit):
        if unit and unit not in self.restart:
            self.restart.append(unit)

    def empty(self):
        return not (self.groups_add or self.dropins or self.chmod or self.acl or self.php_fpm or self.restart
                    or self.socket_restart or self.nginx_reload)

    def save_paths(self, dropin_name):
        paths = []
        for unit in self.dropins:
            directory = os.path.join(UNIT_DIR, unit + ".d")
            paths += [directory, os.path.join(directory, dropin_name)]
        if self.php_fpm:
            paths.append(self.php_fpm["pool"])
        paths += [c["path"] for c in self.chmod] + [a["path"] for a in self.acl]
        return paths

    def as_dict(self, dropin_name):
        f = self.facts
        return {
            "path": f["path"], "user": f["user"], "user_group": f["user_group"], "user_groups": f["user_groups"],
            "reachable": f["reachable"], "blockers": f["blockers"], "service": f.get("service"),
            "socket_unit": f.get("socket_unit"), "kind": f.get("kind"), "method": f.get("method"),
            "changes": not self.empty(), "groups_add": self.groups_add, "dropins": list(self.dropins.values()),
            "chmod": self.chmod, "acl": self.acl, "php_fpm": self.php_fpm, "restart": self.restart,
            "socket_restart": self.socket_restart, "nginx_reload": self.nginx_reload,
            "save_paths": self.save_paths(dropin_name), "explain": self.explain,
        }


def _may(mode, uid, gid, user_uid, gids, want):
    return _access.may_access(mode, uid, gid, user_uid, gids, want)


def _need_group(plan, facts, group_name, gid, method, what):
    """Make the worker user a member of ``group_name`` (or say why that is refused). Returns the gids after."""
    gids = facts["gids_after"]
    if gid in gids:
        return gids
    if method not in ("auto", "group"):
        raise PlanError("%s needs %s in group %s, which method %s does not do; use method group or auto."
                        % (what, facts["user"], group_name, method))
    if privileged(group_name, gid):
        return None
    plan.add_group(facts["user"], group_name)
    plan.explain.append("%s joins group %s (%s); nginx is reloaded so that its workers (initgroups) get it. It can then "
                        "read what group %s may read." % (facts["user"], group_name, what, group_name))
    gids.append(gid)
    return gids


def _runtime_dir(facts, path):
    for rd in (facts.get("service_props") or {}).get("RuntimeDirectory", "").split():
        if path in ("/run/" + rd.strip("/"), "/var/run/" + rd.strip("/")):
            return True
    return False


def _service_group(facts):
    props = facts.get("service_props") or {}
    if props.get("Group"):
        return props["Group"]
    try:
        return _proc.group_name(_access.user_entry(props.get("User") or "root").pw_gid)
    except ValueError:
        return "root"


def _fix_runtime_dir(plan, facts, comp, method):
    props = facts["service_props"]
    service = facts["service"]
    rdm = _mode(props.get("RuntimeDirectoryMode"), 0o755)
    owner = _uid(props.get("User") or "root")
    group = _service_group(facts)
    gid = _gid(group)
    as_configured = "%s creates it %04o %s:%s" % (service, rdm, props.get("User") or "root", group)
    if _may(rdm, owner, gid, facts["uid"], facts["gids_after"], "x"):
        plan.restart_unit(service)
        plan.explain.append("%s is %s %s:%s on disk, but %s, which %s can search: restarting %s recreates it."
                            % (comp["path"], comp["mode"], comp["owner"], comp["group"], as_configured, facts["user"],
                               service))
        return
    if method == "acl":
        raise PlanError("%s is %s's RuntimeDirectory, recreated at every start: an ACL would be lost. Use method group."
                        % (comp["path"], service))
    if method not in ("auto", "group"):
        raise PlanError("%s blocks %s and method %s does not change directories; use method group or auto."
                        % (comp["path"], facts["user"], method))
    gids = _need_group(plan, facts, group, gid, method, "to search %s" % comp["path"])
    if gids is None:
        plan.dropin(service, {"Group": facts["user_group"]})
        plan.explain.append("%s runs with group %s, which %s must not join: it now runs with group %s instead."
                            % (service, group, facts["user"], facts["user_group"]))
        gid = facts["user_gid"]
    elif _may(rdm, owner, gid, facts["uid"], gids, "x"):
        # the group is enough; restart only when the directory on disk is not as the unit makes it
        if (comp["mode"], comp["owner"], comp["group"]) != ("%04o" % rdm, props.get("User") or "root", group):
            plan.restart_unit(service)
        return
    new_mode = (rdm | 0o010) & ~0o002
    plan.dropin(service, {"RuntimeDirectoryMode": "%04o" % new_mode})
    plan.restart_unit(service)
    plan.explain.append("RuntimeDirectoryMode %04o -> %04o: the group may search %s." % (rdm, new_mode, comp["path"]))


def _fix_persistent_dir(plan, facts, comp, method):
    mode = _mode(comp["mode"], 0)
    if method == "acl":
        plan.acl.append({"path": comp["path"], "entry": "u:%s:x" % facts["user"]})
        plan.explain.append("ACL u:%s:x on %s (asked for)." % (facts["user"], comp["path"]))
        return
    if method not in ("auto", "group"):
        raise PlanError("%s blocks %s and method %s does not change directories; use method group or auto."
                        % (comp["path"], facts["user"], method))
    gid = _gid(comp["group"])
    gids = _need_group(plan, facts, comp["group"], gid, method, "to search %s" % comp["path"])
    if gids is None:
        raise PlanError("%s is %s %s:%s; %s would have to join the privileged group %s. Put the socket in a directory of "
                        "its own (RuntimeDirectory=) instead."
                        % (comp["path"], comp["mode"], comp["owner"], comp["group"], facts["user"], comp["group"]))
    if not mode & 0o010:
        plan.chmod.append({"path": comp["path"], "mode": "%04o" % (mode | 0o010)})
        plan.explain.append("%s: %s -> %04o (group search)." % (comp["path"], comp["mode"], mode | 0o010))


def _fix_socket_unit(plan, facts, method):
    if method not in ("auto", "socket_unit", "group"):
        raise PlanError("%s is created by %s (socket activation); use method socket_unit."
                        % (facts["path"], facts["socket_unit"]))
    props = facts["socket_props"]
    mode = _mode(props.get("SocketMode"), 0o666)
    new_mode = (mode & 0o700) | 0o060
    plan.dropin(facts["socket_unit"], {"SocketGroup": facts["user_group"], "SocketMode": "%04o" % new_mode})
    plan.socket_restart = {"socket": facts["socket_unit"], "service": facts.get("service")}
    plan.explain.append("%s: SocketGroup=%s, SocketMode=%04o; socket units cannot be reloaded: %s is stopped, the socket "
                        "restarted, the service started." % (facts["socket_unit"], facts["user_group"], new_mode,
                                                             facts.get("service") or "its service"))
    facts["gids_after"] = facts["gids_after"] + [facts["user_gid"]]


def _fix_gunicorn_socket(plan, facts, comp, method):
    service = facts["service"]
    mode = _mode(comp["mode"], 0)
    group = _service_group(facts)
    gid = _gid(group)
    gids = facts["gids_after"] if gid in facts["gids_after"] else None
    if gids is None and method in ("auto", "group"):
        gids = _need_group(plan, facts, group, gid, method, "to write %s" % facts["path"])
        if gids is None:
            plan.dropin(service, {"Group": facts["user_group"]})
            plan.explain.append("%s runs with group %s, which %s must not join: it now runs with group %s, so its socket "
                                "gets that group." % (service, group, facts["user"], facts["user_group"]))
    elif gids is None:
        raise PlanError("%s belongs to group %s, which %s is not in; method %s cannot change that. Use method group or "
                        "auto." % (facts["path"], group, facts["user"], method))
    if not mode & 0o020:
        if method not in ("auto", "group", "umask"):
            raise PlanError("gunicorn creates %s without group write (mode %s); use method umask or auto."
                            % (facts["path"], comp["mode"]))
        plan.dropin(service, exec_options={"umask": "007"})
        plan.explain.append("gunicorn --umask 0007: its socket becomes srwxrwx--- (now %s)." % comp["mode"])
    if service in plan.dropins:
        plan.restart_unit(service)


def _fix_php_fpm(plan, facts, method):
    if method not in ("auto", "php_fpm"):
        raise PlanError("%s is a PHP-FPM pool socket; use method php_fpm." % facts["path"])
    pool = facts.get("php_pool")
    if not pool:
        raise PlanError("No PHP-FPM pool file says listen = %s; give socket_permissions_php_fpm_pool." % facts["path"])
    settings = pool["settings"]
    if settings.get("listen.acl_users") or settings.get("listen.acl_groups"):
        users = [u.strip() for u in (settings.get("listen.acl_users") or "").split(",") if u.strip()]
        new = {"listen.acl_users": ",".join(users + [facts["user"]])}
        plan.explain.append("%s uses listen.acl_users/acl_groups, which override listen.owner/group: %s is added to "
                            "listen.acl_users." % (pool["path"], facts["user"]))
    else:
        new = {"listen.group": facts["user_group"], "listen.mode": "0660"}
        plan.explain.append("%s: listen.group = %s, listen.mode = 0660." % (pool["path"], facts["user_group"]))
    plan.php_fpm = {"pool": pool["path"], "settings": new}
    plan.restart_unit(facts["service"])  # PHP-FPM re-owns its sockets only on a restart, not a reload
    facts["gids_after"] = facts["gids_after"] + [facts["user_gid"]]


def plan(facts, method="auto"):
    """The Plan for the collected ``facts`` (see ``collect``). Raises PlanError when no safe change exists."""
    if method not in METHODS:
        raise PlanError("method %r is not one of %s." % (method, ", ".join(METHODS)))
    facts["method"] = method
    facts["gids_after"] = list(facts["gids"])
    result = Plan(facts)
    if not facts["exists"]:
        raise PlanError("%s does not exist: nothing listens there. Start the app first (badgateway.doctor.app_service), "
                        "or check the path." % facts["path"])
    if not facts["is_socket"]:
        raise PlanError("%s is not a socket." % facts["path"])
    if facts["reachable"]:
        if not facts["live_reachable"]:
            result.nginx_reload = True
            result.explain.append("%s can reach %s with its groups, but nginx's running workers lack a group they "
                                  "would get now (initgroups at start): nginx is reloaded." % (facts["user"], facts["path"]))
        return result
    for comp in facts["blockers"]:
        if comp["type"] == "dir":
            if facts.get("service") and _runtime_dir(facts, comp["path"]):
                _fix_runtime_dir(result, facts, comp, method)
            else:
                _fix_persistent_dir(result, facts, comp, method)
        elif facts.get("socket_unit"):
            _fix_socket_unit(result, facts, method)
        elif facts.get("kind") == "gunicorn":
            _fix_gunicorn_socket(result, facts, comp, method)
        elif facts.get("kind") == "php-fpm":
            _fix_php_fpm(result, facts, method)
        elif facts.get("kind") == "uvicorn":
            raise PlanError("uvicorn makes its socket 0666 itself, but %s is %s %s:%s (left from an earlier run?): restart "
                            "it (badgateway.doctor.app_service with app_service_action=restart)."
                            % (facts["path"], comp["mode"], comp["owner"], comp["group"]))
        else:
            raise PlanError("%s blocks %s and it is not known how %s creates its socket (%s); change it by hand."
                            % (facts["path"], facts["user"], facts.get("service") or "the app", facts.get("kind")))
    return result


# ---------------------------------------------------------------- collecting the facts

def nginx_workers(proc=_proc.PROC):
    """``(user, group, live_gids)`` of the running nginx workers (None values when none runs); old workers
    still finishing their requests after a reload keep their old groups and are left out (``scan_processes``)."""
    processes, _precise, _errors = scan_processes(proc)
    for worker in workers_of(processes, select_master(processes)):
        try:
            gid, gids = _proc.parse_status_gids(_proc.read_text(os.path.join(proc, str(worker["pid"]), "status")))
        except OSError:
            continue  # gone meanwhile
        return worker["user"], (_proc.group_name(gid) if gid is not None else None), gids
    return None, None, None


def parse_list_sockets(text):
    """``systemctl list-sockets --all --no-legend --full`` -> ``{path: (socket unit, [services])}``."""
    out = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith("/"):
            out[parts[0]] = (parts[1], parts[2:])
    return out


_POOL_LINE = re.compile(r"^\s*([A-Za-z_.]+)\s*=\s*(.*?)\s*$")


def parse_pool(text):
    """The ``listen*`` settings of a PHP-FPM pool file (``;`` comments ignored)."""
    settings = {}
    for line in (text or "").splitlines():
        if line.lstrip().startswith((";", "#", "[")):
            continue
        m = _POOL_LINE.match(line)
        if m and m.group(1).startswith("listen"):
            settings[m.group(1)] = m.group(2).strip('"')
    return settings


POOL_GLOBS = ("/etc/php/*/fpm/pool.d/*.conf", "/etc/php-fpm.d/*.conf", "/usr/local/etc/php-fpm.d/*.conf",
              "/etc/opt/remi/*/php-fpm.d/*.conf")
SERVICE_PROPS = ["LoadState", "User", "Group", "RuntimeDirectory", "RuntimeDirectoryMode", "TriggeredBy"]
SOCKET_PROPS = ["LoadState", "SocketUser", "SocketGroup", "SocketMode", "DirectoryMode", "Triggers"]


def find_pool(path, pool=None):
    """``{path, settings}`` of the PHP-FPM pool file that listens on ``path`` (or of ``pool``), or None."""
    candidates = [pool] if pool else sorted(f for pattern in POOL_GLOBS for f in glob.glob(pattern))
    for candidate in candidates:
        try:
            settings = parse_pool(_safe_io.read_text(candidate, 1024 * 1024))
        except OSError:
            if pool:
                raise PlanError("The PHP-FPM pool file %s cannot be read." % pool) from None
            continue
        if pool or settings.get("listen") == path:
            return {"path": candidate, "settings": settings}
    return None


def _units_of(path, unit, run):
    """``(service, socket unit)`` serving ``path``: given, from the socket units, or from the listening process."""
    if unit:
        if unit.endswith(".socket"):
            props = show_props(unit, ["Triggers"], run)
            services = [u for u in (props.get("Triggers") or "").split() if u.endswith(".service")]
            return (services[0] if services else None), unit
        return unit, None
    rc, out, _err = (run or _runner.call)(["systemctl", "list-sockets", "--all", "--no-legend", "--full"])
    sockets = parse_list_sockets(out if rc == 0 else "")
    if path in sockets:
        sock, services = sockets[path]
        return (services[0] if services else None), sock
    for entry in collect_listeners().get("unix", []):
        if entry.get("path") != path:
            continue
        for proc in entry.get("processes") or []:
            if proc.get("unit") and proc["unit"].endswith(".service"):
                return proc["unit"], None
    return None, None


def collect(path, user=None, group=None, unit=None, php_pool=None, run=None):
    """The facts ``plan`` needs, read on this host."""
    path = path[5:] if path.startswith("unix:") else path
    if not path.startswith("/"):
        raise PlanError("socket path %r must be absolute (unix:/run/app/app.sock or /run/app/app.sock)." % path)
    path = os.path.normpath(path)
    w_user, w_group, live_gids = nginx_workers()
    user = user or w_user or socket_paths.default_user() or "nobody"
    try:
        ident = _access.identity(user, group or (w_group if user == w_user else None))
    except ValueError as exc:
        raise PlanError("%s." % exc) from None
    walked, _errors = socket_paths.walk_path(path, ident.uid, ident.gids, user)
    comps = walked["components"]
    blockers = [c for c in comps[:-1] if c["type"] == "dir" and c["searchable"] is False]
    if comps and comps[-1]["type"] == "socket" and comps[-1]["writable"] is False:
        blockers.append(comps[-1])
    live_reachable = walked["reachable"]
    if walked["reachable"] and live_gids is not None and user == w_user and set(live_gids) != set(ident.gids):
        live_reachable = socket_paths.walk_path(path, ident.uid, live_gids, user)[0]["reachable"]
    facts = {"path": path, "user": ident.name, "uid": ident.uid, "user_gid": ident.gid,
             "user_group": ident.groups[0] if ident.groups else str(ident.gid), "gids": list(ident.gids),
             "user_groups": list(ident.groups), "exists": walked["exists"], "is_socket": walked["is_socket"],
             "reachable": walked["reachable"], "live_reachable": live_reachable,
             "blockers": [{k: c.get(k) for k in ("path", "type", "mode", "owner", "group")} for c in blockers]}
    service, sock = _units_of(path, unit, run)
    facts["service"], facts["socket_unit"] = service, sock
    if service:
        facts["service_props"] = show_props(service, SERVICE_PROPS, run)
        if facts["service_props"].get("LoadState") == "not-found":
            raise PlanError("Unit %s not found." % service)
        try:
            entries = read_exec_start(service, run)
            facts["kind"] = detect_kind(entries[0]["argv"])[0] if entries else None
        except ValueError:
            facts["kind"] = None
    if sock:
        facts["socket_props"] = show_props(sock, SOCKET_PROPS, run)
    if facts.get("kind") == "php-fpm" or php_pool:
        facts["php_pool"] = find_pool(path, php_pool)
    return facts
