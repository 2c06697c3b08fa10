# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""socket_permissions' planner over collected facts (pure): which change for which blocker, refusals."""
from __future__ import annotations

import grp
import pwd

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import _remediation_socket as rs

# real names on this host so that the planner's group look-ups work: the root group stands for a privileged one
ROOT = pwd.getpwuid(0).pw_name
NOGROUP = "nogroup" if "nogroup" in [g.gr_name for g in grp.getgrall()] else grp.getgrgid(65534).gr_name if \
    65534 in [g.gr_gid for g in grp.getgrall()] else None
needs_nogroup = pytest.mark.skipif(NOGROUP is None, reason="needs an unprivileged group with gid 65534")


def facts(blockers, service="gunicorn.service", kind="gunicorn", props=None, socket_unit=None, socket_props=None,
          reachable=False, live=True, gids=(33,), exists=True, pool=None):
    return {
        "path": "/run/gunicorn/gunicorn.sock", "user": "www-data", "uid": 33, "user_gid": 33, "user_group": "www-data",
        "gids": list(gids), "user_groups": ["www-data"], "exists": exists, "is_socket": exists, "reachable": reachable,
        "live_reachable": live, "blockers": blockers, "service": service, "socket_unit": socket_unit, "kind": kind,
        "service_props": props if props is not None else {"User": ROOT, "Group": ROOT, "RuntimeDirectory": "gunicorn",
                                                          "RuntimeDirectoryMode": "0755"},
        "socket_props": socket_props or {}, "php_pool": pool,
    }


def dir_blocker(mode="0700", owner=ROOT, group=ROOT, path="/run/gunicorn"):
    return {"path": path, "type": "dir", "mode": mode, "owner": owner, "group": group}


def sock_blocker(mode="0700", owner=ROOT, group=ROOT):
    return {"path": "/run/gunicorn/gunicorn.sock", "type": "socket", "mode": mode, "owner": owner, "group": group}


def test_reachable_is_empty_plan():
    p = rs.plan(facts([], reachable=True))
    assert p.empty() and p.as_dict("zz.conf")["changes"] is False


def test_reachable_but_workers_lack_the_group_reloads_nginx():
    p = rs.plan(facts([], reachable=True, live=False)).as_dict("zz.conf")
    assert p["nginx_reload"] and p["changes"] and not p["restart"]


def test_runtime_dir_changed_by_hand_only_restarts():
    p = rs.plan(facts([dir_blocker()])).as_dict("zz.conf")
    assert p["restart"] == ["gunicorn.service"] and not p["dropins"] and not p["groups_add"]
    assert "recreates it" in p["explain"][0]


def test_runtime_dir_privileged_group_sets_unit_group_and_mode():
    props = {"User": ROOT, "Group": ROOT, "RuntimeDirectory": "gunicorn", "RuntimeDirectoryMode": "0700"}
    p = rs.plan(facts([dir_blocker()], props=props)).as_dict("zz.conf")
    assert p["dropins"] == [{"unit": "gunicorn.service", "settings": {"Group": "www-data", "RuntimeDirectoryMode": "0710"},
                             "exec_options": {}}]
    assert p["restart"] == ["gunicorn.service"] and p["groups_add"] == []
    assert p["save_paths"] == ["/etc/systemd/system/gunicorn.service.d", "/etc/systemd/system/gunicorn.service.d/zz.conf"]


@needs_nogroup
def test_runtime_dir_shared_group_joins_and_reloads_nginx():
    props = {"User": ROOT, "Group": NOGROUP, "RuntimeDirectory": "gunicorn", "RuntimeDirectoryMode": "0750"}
    p = rs.plan(facts([dir_blocker("0750", group=NOGROUP)], props=props)).as_dict("zz.conf")
    assert p["groups_add"] == [{"user": "www-data", "group": NOGROUP}] and p["nginx_reload"]
    assert not p["dropins"] and not p["restart"]  # the directory is as the unit makes it: no restart


def test_gunicorn_umask():
    props = {"User": ROOT, "Group": "www-data", "RuntimeDirectory": "gunicorn", "RuntimeDirectoryMode": "0755"}
    p = rs.plan(facts([sock_blocker("0700", group="www-data")], props=props)).as_dict("zz.conf")
    assert p["dropins"][0]["exec_options"] == {"umask": "007"} and p["restart"] == ["gunicorn.service"]
    with pytest.raises(rs.PlanError, match="use method umask or auto"):
        rs.plan(facts([sock_blocker("0700", group="www-data")], props=props), method="socket_unit")


def test_gunicorn_socket_privileged_group_uses_unit_group():
    p = rs.plan(facts([sock_blocker("0770")])).as_dict("zz.conf")
    assert p["dropins"][0]["settings"] == {"Group": "www-data"} and p["restart"] == ["gunicorn.service"]
    with pytest.raises(rs.PlanError, match="method umask cannot change that"):
        rs.plan(facts([sock_blocker("0770")]), method="umask")


def test_socket_unit():
    f = facts([sock_blocker("0600")], socket_unit="app.socket", socket_props={"SocketMode": "0600"})
    p = rs.plan(f).as_dict("zz.conf")
    assert p["dropins"] == [{"unit": "app.socket", "settings": {"SocketGroup": "www-data", "SocketMode": "0660"},
                             "exec_options": {}}]
    assert p["socket_restart"] == {"socket": "app.socket", "service": "gunicorn.service"} and not p["restart"]


def test_php_fpm_owner_group_and_acl_users():
    pool = {"path": "/etc/php/8.2/fpm/pool.d/www.conf", "settings": {"listen": "/run/php/php8.2-fpm.sock"}}
    f = facts([sock_blocker("0660", owner="www-data", group="www-data")], service="php8.2-fpm.service", kind="php-fpm",
              pool=pool)
    p = rs.plan(f).as_dict("zz.conf")
    assert p["php_fpm"] == {"pool": pool["path"], "settings": {"listen.group": "www-data", "listen.mode": "0660"}}
    assert p["restart"] == ["php8.2-fpm.service"] and p["save_paths"] == [pool["path"]]
    pool = {"path": "/p.conf", "settings": {"listen": "/x", "listen.acl_users": "apache,nginx"}}
    p = rs.plan(facts([sock_blocker()], kind="php-fpm", pool=pool)).as_dict("zz.conf")
    assert p["php_fpm"]["settings"] == {"listen.acl_users": "apache,nginx,www-data"}
    with pytest.raises(rs.PlanError, match="No PHP-FPM pool"):
        rs.plan(facts([sock_blocker()], kind="php-fpm"))


def test_persistent_dir_privileged_refused_and_acl():
    blocker = dir_blocker("0700", path="/srv/app/run")
    with pytest.raises(rs.PlanError, match="privileged group"):
        rs.plan(facts([blocker]))
    p = rs.plan(facts([blocker]), method="acl").as_dict("zz.conf")
    assert p["acl"] == [{"path": "/srv/app/run", "entry": "u:www-data:x"}] and p["save_paths"] == ["/srv/app/run"]


@needs_nogroup
def test_persistent_dir_group_search_added():
    blocker = dir_blocker("0700", group=NOGROUP, path="/srv/app/run")
    p = rs.plan(facts([blocker])).as_dict("zz.conf")
    assert p["groups_add"] == [{"user": "www-data", "group": NOGROUP}]
    assert p["chmod"] == [{"path": "/srv/app/run", "mode": "0710"}]


def test_refusals():
    with pytest.raises(rs.PlanError, match="does not exist"):
        rs.plan(facts([], exists=False))
    with pytest.raises(rs.PlanError, match="uvicorn makes its socket 0666"):
        rs.plan(facts([sock_blocker()], kind="uvicorn"))
    with pytest.raises(rs.PlanError, match="not known how"):
        rs.plan(facts([sock_blocker()], kind=None, service=None))
    with pytest.raises(rs.PlanError, match="an ACL would be lost"):
        rs.plan(facts([dir_blocker()], props={"User": ROOT, "Group": ROOT, "RuntimeDirectory": "gunicorn",
                                              "RuntimeDirectoryMode": "0700"}), method="acl")
    with pytest.raises(rs.PlanError, match="not one of"):
        rs.plan(facts([]), method="chmod777")


def test_parsers():
    text = "/run/a.sock  app.socket  app.service\n/run/b.sock  b.socket\naudit 1  x.socket  y.service\n"
    assert rs.parse_list_sockets(text) == {"/run/a.sock": ("app.socket", ["app.service"]), "/run/b.sock": ("b.socket", [])}
    pool = "[www]\nlisten = /run/php/php8.2-fpm.sock\n;listen.owner = nobody\nlisten.owner = www-data\nlisten.mode=0660\n"
    assert rs.parse_pool(pool) == {"listen": "/run/php/php8.2-fpm.sock", "listen.owner": "www-data", "listen.mode": "0660"}


def test_nginx_workers_from_the_process_scan(tmp_path):
    """The live groups of nginx's current workers (the one process scan, ``_nginx_running``): an old worker
    finishing its requests after a reload keeps its old groups and does not count; a worker of another
    program whose argv merely contains nginx's title does not either."""
    import os
    from nginx_helpers import make_proc
    from ansible_collections.badgateway.doctor.plugins.module_utils import _proc
    proc = tmp_path / "proc"
    make_proc(proc, 1000.0, [
        (100, 1, "nginx: master process /usr/sbin/nginx", 0, 10.0),
        (101, 100, "nginx: worker process is shutting down", 33, 20.0),
        (102, 100, "nginx: worker process", 33, 30.0),
        (200, 1, "python3 -c nginx: worker process", 0, 1.0),
    ], os.sysconf("SC_CLK_TCK"))
    for pid, gid, groups in ((101, 33, "33 1001"), (102, 33, "5000 33"), (200, 0, "0")):
        with open(str(proc / str(pid) / "status"), "a") as fh:
            fh.write("Gid:\t%d\t%d\t%d\t%d\nGroups:\t%s\n" % (gid, gid, gid, gid, groups))
    assert rs.nginx_workers(str(proc)) == (_proc.user_name(33), _proc.group_name(33), [33, 5000])
    assert rs.nginx_workers(str(tmp_path / "no-proc")) == (None, None, None)
