# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nginx inside a container: the master found below the container's init, its configuration read through
``/proc/<pid>/root`` as the container sees it (absolute links inside the container's root, includes outside
the configuration directory), and hostile trees. A fake ``/proc`` whose ``<pid>/root`` links to a directory
stands in for the kernel's; the lab test reads a real container's."""
from __future__ import annotations

import os

from ansible_collections.badgateway.doctor.plugins.module_utils import _container_nginx as N

MAIN = """user www-data;
events {}
http {
    include /etc/nginx/conf.d/*.conf;
    include /etc/nginx/sites-enabled/*;
    include /opt/extra/*.conf;
}
"""


def fake_proc(tmp_path, procs):
    """``procs``: {pid: (ppid, comm, cmdline)}; every pid's root is ``tmp_path/rootfs``."""
    proc = tmp_path / "proc"
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir(exist_ok=True)
    for pid, (ppid, comm, cmd) in procs.items():
        d = proc / str(pid)
        d.mkdir(parents=True)
        (d / "stat").write_text(f"{pid} ({comm}) S {ppid} {pid} {pid} 0 -1\n")
        (d / "cmdline").write_bytes(cmd.encode().replace(b" ", b"\0") if not cmd.startswith("nginx:") else cmd.encode() + b"\0")
        os.symlink(str(rootfs), str(d / "root"))
    return str(proc), rootfs


def write(root, path, text):
    p = root / path.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def test_master_below_the_containers_init(tmp_path):
    proc, _root = fake_proc(tmp_path, {
        100: (1, "catatonit", "/run/podman-init -- /usr/sbin/nginx"),
        101: (100, "nginx", "nginx: master process /usr/sbin/nginx"),
        102: (101, "nginx", "nginx: worker process"),
        200: (1, "nginx", "nginx: master process /usr/sbin/nginx -g daemon off;"),   # the host's own nginx
    })
    tree = N.process_tree(proc)
    assert tree[1] == [101, 200]
    assert N.masters_below(100, tree) == [101]
    assert N.masters_below(101, tree) == [101]          # nginx as the container's pid 1
    assert N.masters_below(300, tree) == []


def test_process_tree_reads_through_the_safe_reader(tmp_path):
    """``/proc`` is read with ``_proc``'s reader: a FIFO in place of a process file is passed over, not waited on."""
    proc, _root = fake_proc(tmp_path, {
        100: (1, "catatonit", "/run/podman-init -- /usr/sbin/nginx"),
        101: (100, "nginx", "nginx: master process /usr/sbin/nginx -c/etc/nginx/alt.conf"),
        102: (100, "nginx", "nginx: master process /usr/sbin/nginx"),
    })
    os.unlink(os.path.join(proc, "102", "cmdline"))
    os.mkfifo(os.path.join(proc, "102", "cmdline"))
    os.mkdir(os.path.join(proc, "103"))
    os.mkfifo(os.path.join(proc, "103", "stat"))
    assert N.process_tree(proc) == ({100: 1, 101: 100, 102: 100}, [101])
    assert N._conf_path(101, proc) == "/etc/nginx/alt.conf"  # pylint: disable=protected-access
    assert N._conf_path(102, proc) == "/etc/nginx/nginx.conf"  # pylint: disable=protected-access


def test_configuration_read_as_the_container_sees_it(tmp_path):
    proc, root = fake_proc(tmp_path, {7: (1, "nginx", "nginx: master process /usr/sbin/nginx -c /etc/nginx/nginx.conf")})
    write(root, "/etc/nginx/nginx.conf", MAIN)
    write(root, "/etc/nginx/conf.d/app.conf", "server { listen 80; location / { proxy_pass http://127.0.0.1:8000/; } }\n")
    write(root, "/etc/nginx/sites-available/api", "server { listen 81; location /api/ { proxy_pass http://api:9000; } }\n")
    # an absolute link is the container's path: on the host /etc/nginx/sites-available/api is another file (or none)
    (root / "etc/nginx/sites-enabled").mkdir()
    os.symlink("/etc/nginx/sites-available/api", str(root / "etc/nginx/sites-enabled/api"))
    write(root, "/opt/extra/x.conf", "server { listen 82; location / { proxy_pass http://user:s3cr3t@backend:1/; } }\n")
    out = N.container_nginx(7, proc)
    assert out["errors"] == [] and out["conf_path"] == "/etc/nginx/nginx.conf"
    routes = {r["id"]: r for r in out["routes"]}
    assert sorted(routes) == ["_:80 /", "_:81 /api/", "_:82 /"]
    assert routes["_:80 /"]["endpoints"][0]["host"] == "127.0.0.1" and routes["_:80 /"]["file"] == "/etc/nginx/conf.d/app.conf"
    assert routes["_:81 /api/"]["file"] == "/etc/nginx/sites-enabled/api"
    assert routes["_:81 /api/"]["endpoints"][0]["addresses"] == []       # not resolved with the host's resolver
    assert "s3cr3t" not in str(out)


def test_default_conf_path_and_missing_conf(tmp_path):
    proc, _root = fake_proc(tmp_path, {8: (1, "nginx", "nginx: master process /usr/sbin/nginx")})
    out = N.container_nginx(8, proc)
    assert out["routes"] == [] and out["conf_path"] == "/etc/nginx/nginx.conf"
    assert out["errors"] and "cannot read /etc/nginx/nginx.conf in the container" in out["errors"][0]


def test_hostile_trees_are_bounded(tmp_path, monkeypatch):
    proc, root = fake_proc(tmp_path, {9: (1, "nginx", "nginx: master process nginx")})
    write(root, "/etc/nginx/nginx.conf", "events {}\nhttp { include /etc/nginx/loop/*; include /etc/nginx/fifo; "
                                         "server { listen 80; location / { proxy_pass http://[::1]:8000; }\n")
    (root / "etc/nginx/loop").mkdir()
    os.symlink("/etc/nginx/loop/b", str(root / "etc/nginx/loop/a"))
    os.symlink("/etc/nginx/loop/a", str(root / "etc/nginx/loop/b"))
    os.mkfifo(str(root / "etc/nginx/fifo"))
    for i in range(20):
        write(root, f"/etc/nginx/many/{i}.conf", "# nothing\n")
    monkeypatch.setattr(N, "MAX_FILES", 10)
    out = N.container_nginx(9, proc)          # returns: no hang on the FIFO, no endless link loop, a capped walk
    assert any("fifo" in e for e in out["errors"]), out["errors"]
    assert any("more than 10 files" in e for e in out["errors"]), out["errors"]
    assert out["files"] <= 10


def test_resolve_in_root(tmp_path):
    root = tmp_path / "r"
    write(root, "/a/b/file", "x")
    os.symlink("/a/b", str(root / "link"))
    os.symlink("../a/b/file", str(root / "a/rel"))
    r = str(root)
    assert N.resolve_in_root(r, "/link/file") == r + "/a/b/file"
    assert N.resolve_in_root(r, "/a/rel") == r + "/a/b/file"
    assert N.resolve_in_root(r, "/../../../etc/passwd") is None      # never above the container's root
    assert N.resolve_in_root(r, "/missing/x") is None


def test_a_directory_swapped_for_a_link_to_the_host_is_never_followed(tmp_path):
    """A container (its root user) flips /etc/nginx between a directory and a link to a host directory while root
    reads: the link must be refused at the moment it is met, not after it was checked."""
    import threading
    import time
    root = tmp_path / "r"
    write(root, "/etc/nginx/nginx.conf", "container\n")
    host = tmp_path / "host-secret"
    host.mkdir()
    (host / "nginx.conf").write_text("HOST SECRET\n")
    stop = threading.Event()

    def flip():
        d, saved = root / "etc" / "nginx", root / "etc" / "saved"
        while not stop.is_set():
            os.rename(d, saved)
            os.symlink(str(host), str(d))      # absolute: the host's path when the kernel follows it from outside
            os.unlink(d)
            os.rename(saved, d)
    t = threading.Thread(target=flip, daemon=True)
    t.start()
    seen = set()
    try:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            reader = N._Reader(str(root))      # pylint: disable=protected-access  # the reader container_nginx uses
            reader.read("/etc/nginx/nginx.conf")
            seen.add(reader.files.get("/etc/nginx/nginx.conf"))
    finally:
        stop.set()
        t.join()
    assert b"HOST SECRET\n" not in seen
    assert b"container\n" in seen


def test_the_walk_is_bounded_when_reads_fail_or_the_total_cap_is_reached(tmp_path, monkeypatch):
    proc, root = fake_proc(tmp_path, {9: (1, "nginx", "nginx: master process nginx")})
    write(root, "/etc/nginx/nginx.conf", "events {}\nhttp { include /etc/nginx/conf.d/*; include /*; }\n")
    (root / "etc/nginx/conf.d").mkdir()
    for i in range(30):
        os.mkfifo(str(root / f"etc/nginx/conf.d/f{i:02}"))   # every read fails: the files count never grows
    monkeypatch.setattr(N, "MAX_ENTRIES", 10)
    out = N.container_nginx(9, proc)
    assert any("more than 10 entries" in e for e in out["errors"]), out["errors"]
    assert sum("f2" in e for e in out["errors"]) == 0          # stopped before the 20s
    assert any("not reading every file of the container's /" in e for e in out["errors"]), out["errors"]
    monkeypatch.setattr(N, "MAX_ENTRIES", 5000)
    for i in range(30):
        os.unlink(str(root / f"etc/nginx/conf.d/f{i:02}"))
        write(root, f"/etc/nginx/conf.d/g{i:02}", "#" * 100 + "\n")
    monkeypatch.setattr(N, "MAX_TOTAL_BYTES", 1000)
    out = N.container_nginx(9, proc)
    assert any("of configuration under /etc/nginx" in e for e in out["errors"]), out["errors"]
    assert out["files"] <= 12
