# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's container host: rootful Podman (Debian's 4.3) with its Docker-compatible API service.

Topology ``containers``: one host ``ctr1`` booted like every lab host, plus

* a cached layer over the base rootfs (``base-<hash>-ctr<hash>/upper``, an overlay lower layer) with
  Debian's podman, crun, netavark/aardvark-dns, iptables and docker-compose (1.29, the Python one,
  talking to Podman's Docker-compatible socket), the engine configuration below, and the app image's
  root filesystem as a tarball (taken from the base rootfs: python3 + /srv/app with gunicorn), imported
  at boot with ``podman import`` — no registry is reachable;
* what the engine needs from systemd-nspawn on this machine (found by trying, see README.md):
  ``CAP_NET_ADMIN`` (netavark's bridge and iptables rules), ``/proc/sys/net`` writable
  (``SYSTEMD_NSPAWN_API_VFS_WRITABLE=network``: netavark sets ip_forward / route_localnet), and
  ``/var/lib/containers`` bound from an ext4 directory of the controller (overlay cannot use an
  overlayfs as its upper layer and ``/dev/fuse`` is not in the container, so neither native overlay
  nor fuse-overlayfs works on the host's own root);
* ``cgroups = "disabled"`` for containers: the cgroup v1 controllers are read-only inside the nspawn
  container (crun: "creating cgroup directory `/sys/fs/cgroup/pids/...`: No such file or
  directory"), and ``keyring = false`` (nspawn's seccomp filter refuses ``keyctl``: "create keyring
  ...: Operation not permitted"). Without cgroups there are no memory limits: an OOM-killed container
  cannot be reproduced here.

At boot ``bgd-lab-containers.service`` imports the image and brings the Compose project ``shop`` up
(``/srv/compose/shop/compose.yaml``): service ``web`` (gunicorn on 0.0.0.0:8000, published on
127.0.0.1:8080, health check on /health, restart unless-stopped). nginx's ``/ctr/`` location proxies to
127.0.0.1:8080, and ``/ctr-sock/`` to the same app's unix socket ``/run/app/app.sock`` inside the container,
bound from the host's ``/srv/compose/shop/run``. Service ``edge`` is nginx in a container of the same project
(the app image holds Debian's nginx), published on 127.0.0.1:8090 and proxying to ``http://web:8000/`` (the
service name, resolved by aardvark-dns on the project's network); nginx's ``/edge/`` location proxies to it.
``lab-containers heal`` puts the project back (used by the faults' heal steps).
"""
from __future__ import annotations

# the lab module's helpers (sh, _write, _chroot, _rm_tree) are shared on purpose
# pylint: disable=protected-access

import fcntl
import hashlib
import os
import time
from pathlib import Path

# The engine's packages (Debian bookworm), without recommends.
PACKAGES = [
    "podman", "crun", "conmon", "netavark", "aardvark-dns", "iptables", "catatonit",
    "golang-github-containers-common", "docker-compose",
]
BUILD_VERSION = "1"
FAULTS_FILE = Path(__file__).resolve().parent / "faults_containers.toml"
HOST = "ctr1"
ROUTES = ["/ctr/", "/ctr/health", "/ctr-sock/", "/edge/"]
PUBLISHED = "127.0.0.1:8080"
# what the app image's root filesystem keeps of the base rootfs (tar members, relative)
IMAGE_DIRS = ["usr", "etc", "srv/app", "bin", "sbin", "lib", "lib64", "var/lib/nginx", "var/log/nginx"]
IMAGE_EXCLUDES = [
    "usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/info", "usr/share/i18n", "usr/share/perl*",
    "usr/lib/systemd", "usr/lib/udev", "usr/lib/apt", "usr/lib/x86_64-linux-gnu/perl*", "usr/lib/x86_64-linux-gnu/gconv",
    "etc/ssh/ssh_host_*", "etc/nginx/sites-enabled/*",
]

STORAGE_CONF = """# badgateway.doctor lab: overlay on the ext4 directory bound at /var/lib/containers
[storage]
driver = "overlay"
graphroot = "/var/lib/containers/storage"
runroot = "/run/containers/storage"

[storage.options.overlay]
mount_program = ""
"""

CONTAINERS_CONF = """# badgateway.doctor lab: what Podman needs inside a systemd-nspawn host on a cgroup v1 machine
[containers]
# the cgroup v1 controllers are read-only inside the nspawn container
cgroups = "disabled"
# nspawn's seccomp filter refuses keyctl
keyring = false

[network]
network_backend = "netavark"
"""

COMPOSE_FILE = """# The containerised app of the badgateway.doctor lab (nginx on the host proxies /ctr/ to 127.0.0.1:8080)
version: "3.7"
services:
  web:
    image: localhost/bgd-app:lab
    command: ["/srv/app/venv/bin/gunicorn", "--workers", "2", "--timeout", "5", "--bind", "0.0.0.0:8000",
              "--bind", "unix:/run/app/app.sock", "wsgi:application"]
    working_dir: /srv/app
    init: true
    environment:
      SECRET_KEY: ctr-secret-DO-NOT-LEAK-91c2
      DATABASE_URL: postgres://shop:ctr-pw-DO-NOT-LEAK@db/shop
    ports:
      - "127.0.0.1:8080:8000"
    restart: unless-stopped
    healthcheck:
      # no spaces inside an argument: Podman 4.3's compat API splits the CMD array's items on spaces
      test: ["CMD", "curl", "-fsS", "-o", "/dev/null", "--max-time", "2", "http://127.0.0.1:8000/health"]
      interval: 3s
      timeout: 3s
      retries: 2
    volumes:
      - /srv/compose/shop/run:/run/app
  edge:
    # nginx in a container of the same project, in front of the app: it reaches the app by its service name
    image: localhost/bgd-app:lab
    command: ["/usr/sbin/nginx"]
    init: true
    ports:
      - "127.0.0.1:8090:80"
    depends_on:
      - web
    restart: unless-stopped
    volumes:
      - /srv/compose/shop/edge/nginx.conf:/etc/nginx/nginx.conf:ro
"""

EDGE_NGINX_CONF = """# nginx of the Compose service 'edge' (bind-mounted over the image's /etc/nginx/nginx.conf)
user www-data;
worker_processes 1;
daemon off;
pid /var/lib/nginx/nginx.pid;
error_log stderr;
events {
    worker_connections 64;
}
http {
    access_log off;
    server {
        listen 80;
        location / {
            proxy_set_header Host $host;
            proxy_read_timeout 5s;
            proxy_pass http://web:8000/;
        }
    }
}
"""

# Written per host at `up` (not part of the layer hash): bring the project up / back to pristine.
LAB_CONTAINERS = r"""#!/bin/sh
# lab-containers up|heal|wait: the containerised app of the badgateway.doctor lab
set -e
export DOCKER_HOST=unix:///run/podman/podman.sock
P=/usr/local/share/bgd-lab/pristine
D=/srv/compose/shop
wait_ok() {
  i=0
  until curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:8080/health 2>/dev/null; do
    i=$((i+1)); sleep 0.2
    if [ $i -ge 100 ]; then echo "lab-containers: the app did not answer on 127.0.0.1:8080 within 20 s" >&2; return 1; fi
  done
  # answering is not healthy yet: the engine's own health check (every 3 s) must have passed, or a test reading
  # the health status right after up/heal sees "starting" (it did, under load)
  i=0
  until [ "$(podman inspect -f '{{.State.Health.Status}}' shop_web_1 2>/dev/null)" = healthy ]; do
    i=$((i+1)); sleep 0.2
    if [ $i -ge 300 ]; then
      echo "lab-containers: shop_web_1 answers but its health check did not pass within 60 s" >&2; return 1
    fi
  done
}
case "$1" in
  up)
    i=0; until [ -S /run/podman/podman.sock ] || [ $i -ge 100 ]; do i=$((i+1)); sleep 0.1; done
    podman image exists localhost/bgd-app:lab || \
      podman import --change 'WORKDIR /srv/app' --change 'CMD ["/bin/sh"]' /usr/local/share/bgd-lab/ctr/app-rootfs.tar localhost/bgd-app:lab >/dev/null
    mkdir -p $D/run
    cd $D && docker-compose -p shop up -d --no-color >/dev/null 2>&1 || docker-compose -p shop up -d --no-color
    wait_ok ;;
  heal)
    podman rm -f -a -t 0 >/dev/null 2>&1 || true
    podman pod rm -f -a >/dev/null 2>&1 || true
    mkdir -p $D/run
    cp $P/compose.yaml $D/compose.yaml
    mkdir -p $D/edge && cp $P/edge-nginx.conf $D/edge/nginx.conf
    cd $D && docker-compose -p shop up -d --force-recreate --no-color >/dev/null 2>&1 || docker-compose -p shop up -d --force-recreate --no-color
    wait_ok ;;
  wait) wait_ok ;;
  *) echo "usage: lab-containers up|heal|wait" >&2; exit 2 ;;
esac
"""

CONTAINERS_UNIT = """[Unit]
Description=badgateway.doctor lab: the containerised app (Compose project shop)
Requires=podman.socket
After=podman.socket network.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/lab-containers up
TimeoutStartSec=120

[Install]
WantedBy=multi-user.target
"""

SITE_LOCATIONS = """
    location /ctr/ {
        proxy_set_header Host $host;
        proxy_read_timeout 5s;
        proxy_pass http://127.0.0.1:8080/;
    }

    location /edge/ {
        proxy_set_header Host $host;
        proxy_read_timeout 5s;
        proxy_pass http://127.0.0.1:8090/;
    }

    location /ctr-sock/ {
        proxy_set_header Host $host;
        proxy_read_timeout 5s;
        proxy_pass http://unix:/srv/compose/shop/run/app.sock:/;
    }
"""


def layer_hash(base: Path) -> str:
    h = hashlib.sha256()
    for part in (base.name, " ".join(PACKAGES), BUILD_VERSION, STORAGE_CONF, CONTAINERS_CONF, CONTAINERS_UNIT,
                 " ".join(IMAGE_DIRS), " ".join(IMAGE_EXCLUDES)):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:12]


def layer_dir(base: Path) -> Path:
    return base.parent / f"{base.name}-ctr{layer_hash(base)}"


def build_layer(labmod, base: Path) -> Path:
    """Return the engine layer's upper dir for this base, building it (atomically, under a lock) if needed."""
    final = layer_dir(base)
    if (final / ".bgd-lab-complete").exists():
        return final / "upper"
    with open(base.parent / ".ctr.lock", "w") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)
        if (final / ".bgd-lab-complete").exists():
            return final / "upper"
        for old in base.parent.glob(f"{base.name}-ctr*.tmp-*"):
            labmod._rm_tree(old)
        tmp = base.parent / f"{final.name}.tmp-{os.getpid()}"
        t0 = time.time()
        labmod.log(f"building the container engine layer {final} (apt-get install podman in a chroot, about a minute)")
        upper, work, merged = tmp / "upper", tmp / "work", tmp / "merged"
        for d in (upper, work, merged):
            d.mkdir(parents=True)
        mounted = []
        try:
            labmod.sh(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={base},upperdir={upper},workdir={work}", str(merged)])
            mounted.append(merged)
            labmod.sh(["mount", "-t", "proc", "proc", str(merged / "proc")])
            mounted.append(merged / "proc")
            resolv = merged / "etc/resolv.conf"
            resolv_old = resolv.read_bytes() if resolv.exists() else None
            resolv.unlink(missing_ok=True)
            resolv.write_bytes(Path("/etc/resolv.conf").read_bytes())
            labmod._write(merged / "usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n", 0o755)
            labmod._chroot(merged, f"""
                apt-get update -q >/dev/null
                apt-get install -y -q --no-install-recommends {' '.join(PACKAGES)} >/dev/null
                apt-get clean
                rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
            """, timeout=900)
            (merged / "usr/sbin/policy-rc.d").unlink()
            resolv.unlink()
            if resolv_old is not None:
                resolv.write_bytes(resolv_old)
            labmod._write(merged / "etc/containers/storage.conf", STORAGE_CONF)
            labmod._write(merged / "etc/containers/containers.conf", CONTAINERS_CONF)
            labmod._write(merged / "lib/systemd/system/bgd-lab-containers.service", CONTAINERS_UNIT)
            labmod._chroot(merged, "systemctl enable podman.socket bgd-lab-containers.service >/dev/null 2>&1; "
                                   "systemctl disable docker.service docker.socket >/dev/null 2>&1 || true")
            img = merged / "usr/local/share/bgd-lab/ctr"
            img.mkdir(parents=True, exist_ok=True)
            labmod.sh(["tar", "-C", str(base), "-cf", str(img / "app-rootfs.tar"), "--numeric-owner"]
                      + [f"--exclude=./{e}" for e in IMAGE_EXCLUDES] + [f"./{d}" for d in IMAGE_DIRS], timeout=300)
        finally:
            for m in reversed(mounted):
                labmod.sh(["umount", str(m)], check=False)
        labmod._rm_tree(work)
        merged.rmdir()
        (tmp / ".bgd-lab-complete").write_text(f"layer {final.name} built {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
        if final.exists():
            labmod._rm_tree(final)
        os.rename(tmp, final)
        labmod.log(f"container engine layer ready after {time.time() - t0:.0f} s")
        return final / "upper"


def nspawn_args(hdir: Path) -> list:
    """What systemd-nspawn needs to give a container engine host (see the module docstring)."""
    storage = hdir / "containers"
    storage.mkdir(parents=True, exist_ok=True)
    return ["--capability=CAP_NET_ADMIN", f"--bind={storage}:/var/lib/containers"]


NSPAWN_ENV = {"SYSTEMD_NSPAWN_API_VFS_WRITABLE": "network"}


# Per host (not in the layer): stop the containers quickly at poweroff, so `down` does not wait for the engine.
STOP_DROPIN = """[Service]
ExecStop=/usr/bin/podman stop --all --time 1
TimeoutStopSec=20
"""


def customize(labmod, root: Path, site: str) -> str:
    """Per-host files of the container host; returns the nginx site with the /ctr/ location."""
    labmod._write(root / "etc/systemd/system/bgd-lab-containers.service.d/stop.conf", STOP_DROPIN)
    labmod._write(root / "usr/local/sbin/lab-containers", LAB_CONTAINERS, 0o755)
    labmod._write(root / "srv/compose/shop/compose.yaml", COMPOSE_FILE)
    labmod._write(root / "usr/local/share/bgd-lab/pristine/compose.yaml", COMPOSE_FILE)
    labmod._write(root / "srv/compose/shop/edge/nginx.conf", EDGE_NGINX_CONF)
    labmod._write(root / "usr/local/share/bgd-lab/pristine/edge-nginx.conf", EDGE_NGINX_CONF)
    marker = "    location /asgi/ {"
    return site.replace(marker, SITE_LOCATIONS.lstrip("\n") + "\n" + marker, 1)
