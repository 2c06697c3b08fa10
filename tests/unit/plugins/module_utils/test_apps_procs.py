# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_apps_procs: the process table through the one process scan (_proc.scan) and the grouping of
masters with their workers, on a fake /proc."""
from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.module_utils import _apps_procs as procs


def _proc_tree(root, processes):
    """``processes``: [(pid, ppid, argv, unit)]; a pid namespace shared by all but those with unit "@other"."""
    (root / "self" / "ns").mkdir(parents=True)
    for pid, ppid, argv, unit in processes:
        d = root / str(pid)
        (d / "ns").mkdir(parents=True)
        (d / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + (b"\0" if argv else b""))
        (d / "comm").write_text((argv[0].rsplit("/", 1)[-1] if argv else "kthreadd")[:15] + "\n")
        (d / "stat").write_text("%d (%s) S %d %s\n" % (pid, "x y) z", ppid, " ".join(["0"] * 40)))
        (d / "status").write_text("Name:\tx\nUid:\t0\t0\t0\t0\n")
        (d / "cgroup").write_text("0::/system.slice/%s\n" % (unit.lstrip("@") if unit else "init.scope"))
    for pid, _ppid, _argv, unit in processes:
        (root / str(pid) / "ns" / "pid").symlink_to("pid:[4026532%s]" % ("999" if unit == "@other" else "001"))
    (root / "self" / "ns" / "pid").symlink_to("pid:[4026532001]")


def test_masters_workers_and_spawned_children_are_grouped(tmp_path):
    proc = tmp_path / "proc"
    _proc_tree(proc, [
        (2, 0, [], None),                                                     # a kernel thread: no command line
        (100, 1, ["/srv/venv/bin/python", "/srv/venv/bin/gunicorn", "-w", "2", "app:wsgi"], "gunicorn.service"),
        (101, 100, ["/srv/venv/bin/python", "/srv/venv/bin/gunicorn", "-w", "2", "app:wsgi"], "gunicorn.service"),
        (102, 100, ["/srv/venv/bin/python", "/srv/venv/bin/gunicorn", "-w", "2", "app:wsgi"], "gunicorn.service"),
        (200, 1, ["/srv/venv/bin/uvicorn", "--workers", "2", "main:app"], "uvicorn.service"),
        (201, 200, ["/srv/venv/bin/python", "-c", "from multiprocessing.spawn import spawn_main; spawn_main()"],
         "uvicorn.service"),
        (300, 1, ["php-fpm: master process (/etc/php/8.2/fpm/php-fpm.conf)"], "php8.2-fpm.service"),
        (301, 300, ["php-fpm: pool www"], "php8.2-fpm.service"),
        (400, 1, ["/usr/bin/gunicorn", "other:app"], "@other"),             # in a container's pid namespace
        (500, 1, ["/usr/bin/python3", "-m", "http.server"], "web.service"),
    ])
    errors = []
    table = procs.process_table(errors, proc=str(proc))
    assert errors == []
    assert sorted(table) == [100, 101, 102, 200, 201, 300, 301, 400, 500]
    assert table[101]["ppid"] == 100 and table[100]["unit"] == "gunicorn.service"
    assert table[400]["unit"] is None          # that unit belongs to the container's systemd
    groups = procs.find_processes(table)
    assert {m: (g["kind"], sorted(g["pids"])) for m, g in groups.items()} == {
        100: ("gunicorn", [100, 101, 102]),
        200: ("uvicorn", [200, 201]),
        300: ("php-fpm", [300, 301]),
        400: ("gunicorn", [400]),
    }
    assert procs.title(table[301]) == "php-fpm: pool www"
    assert procs.title(None) is None


def test_an_empty_proc_is_an_error(tmp_path):
    errors = []
    assert procs.process_table(errors, proc=str(tmp_path)) == {}
    assert [e["message"] for e in errors] == ["Cannot read the process table: %s lists no processes." % tmp_path]
