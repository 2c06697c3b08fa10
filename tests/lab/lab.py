# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The badgateway.doctor lab: real Debian hosts (systemd as PID 1) on this machine.

Each host is a throwaway overlayfs copy of a cached debootstrap base rootfs,
booted with systemd-nspawn inside a network namespace the lab made itself,
attached to a lab-owned bridge in 10.213.X.0/24 (X distinct per lab name).

    from lab import Lab
    lab = Lab("bgd-lab")
    lab.up(topology="single", hosts=2)
    lab.http("web1", "/")            # -> (200, "wsgi ok\\n")
    lab.run("web1", "systemctl is-active gunicorn")
    lab.down()
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import image  # noqa: E402  pylint: disable=wrong-import-position
import containers  # noqa: E402  pylint: disable=wrong-import-position

try:
    import tomllib
except ImportError:  # pragma: no cover - Python < 3.11
    tomllib = None

CACHE_DIR = Path(os.environ.get("BGD_LAB_CACHE", "/var/cache/badgateway-lab"))
STATE_ROOT = Path(os.environ.get("BGD_LAB_STATE", "/var/tmp/badgateway-lab"))
FAULTS_FILE = Path(__file__).resolve().parent / "faults.toml"
DEFAULT_NAME = "bgd"
LINK_PREFIX = "bgdl"          # every bridge / veth / netns the lab makes starts with this
SUBNET_BASE = "10.213"        # lab subnets: 10.213.X.0/24
ROUTES = ["/", "/health", "/asgi/", "/asgi/health"]
REQUIRED_TOOLS = ["systemd-nspawn", "debootstrap", "ip", "nsenter", "mount", "umount", "ssh", "ssh-keygen"]
PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# files whose presence makes a base rootfs usable
BASE_MUST_HAVE = [
    "lib/systemd/systemd", "usr/sbin/nginx", "usr/sbin/sshd", "srv/app/venv/bin/gunicorn",
    "srv/app/venv/bin/uvicorn", "srv/app/wsgi.py", "srv/app/asgi.py", "etc/nginx/sites-enabled/lab",
    "lib/systemd/system/gunicorn.service",
]


class LabError(Exception):
    """A failure the lab explains in one sentence (the CLI prints it and exits 1)."""


def log(msg: str) -> None:
    if os.environ.get("BGD_LAB_QUIET") != "1":
        print(f"[lab] {msg}", file=sys.stderr, flush=True)


def sh(cmd, check=True, capture=True, env=None, timeout=None, input_=None) -> subprocess.CompletedProcess:
    """Run a host command (list or string); raise LabError with its stderr when check fails."""
    res = subprocess.run(
        cmd, shell=isinstance(cmd, str), text=True, env=env, timeout=timeout, input=input_, check=False,
        stdout=subprocess.PIPE if capture else None, stderr=subprocess.PIPE if capture else None,
    )
    if check and res.returncode != 0:
        shown = cmd if isinstance(cmd, str) else " ".join(str(c) for c in cmd)
        err = (res.stderr or res.stdout or "").strip().splitlines()
        raise LabError(f"command failed ({res.returncode}): {shown}: {err[-1] if err else 'no output'}")
    return res


# --------------------------------------------------------------------------- checks

def check_prerequisites(need_debootstrap: bool = True) -> None:
    """Raise LabError (one sentence) when the lab cannot run on this machine."""
    if os.geteuid() != 0:
        raise LabError("the lab must run as root (it makes network namespaces, overlay mounts and systemd-nspawn containers)")
    missing = [t for t in REQUIRED_TOOLS if shutil.which(t, path=PATH_ENV + ":" + os.environ.get("PATH", "")) is None]
    if not need_debootstrap and "debootstrap" in missing:
        missing.remove("debootstrap")
    if missing:
        raise LabError(f"missing on this machine: {', '.join(missing)} (run tests/lab/install-deps.sh as root to install them)")
    if tomllib is None:
        raise LabError("the lab needs Python 3.11+ (tomllib)")


# --------------------------------------------------------------------------- base image

def wheelhouse_pip() -> list:
    """A pip on the controller to download the app wheels with (they are pure Python: any Python 3 pip does).

    It runs with the controller's pip configuration (index, mirror, CA), which is why the
    wheels are fetched here and installed in the rootfs with --no-index.
    """
    repo_venv = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "python"
    for cand in (sys.executable, str(repo_venv), shutil.which("python3.11") or "", shutil.which("python3") or ""):
        if cand and os.access(cand, os.X_OK):
            res = subprocess.run([cand, "-m", "pip", "--version"], capture_output=True, text=True, check=False)
            if res.returncode == 0:
                return [cand, "-m", "pip"]
    return []


def recipe_hash() -> str:
    h = hashlib.sha256()
    for part in (image.SUITE, image.MIRROR, " ".join(image.PACKAGES), " ".join(image.PIP_PACKAGES), image.BUILD_VERSION,
                 image.ENV_FILE, image.WSGI_APP, image.ASGI_APP, image.GUNICORN_UNIT, image.UVICORN_UNIT,
                 image.NGINX_SITE, image.HOSTS_FILE, " ".join(image.MASK_UNITS),
                 "".join(k + "\0" + v for k, v in sorted(image.DJANGO_FILES.items()))):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def base_dir() -> Path:
    return CACHE_DIR / f"base-{recipe_hash()}"


def check_base(path: Path) -> None:
    missing = [p for p in BASE_MUST_HAVE if not (path / p).exists() and not (path / p).is_symlink()]
    marker = path / ".bgd-lab-complete"
    if not marker.exists():
        missing.insert(0, ".bgd-lab-complete")
    if missing:
        raise LabError(f"the lab cache {path} is broken (missing {', '.join(missing[:3])}); "
                       f"remove it with `labctl.py cache --clean` and run `up` again to rebuild it")


def _chroot(root: Path, cmd: str, timeout: int = 600) -> None:
    env = {"PATH": PATH_ENV, "LANG": "C.UTF-8", "HOME": "/root", "DEBIAN_FRONTEND": "noninteractive"}
    sh(["chroot", str(root), "/bin/sh", "-ec", cmd], env=env, timeout=timeout)


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def build_base(force: bool = False) -> Path:
    """Return the cached base rootfs, building it (atomically, under a lock) if needed."""
    final = base_dir()
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    if final.exists() and not force:
        check_base(final)
        return final
    with open(CACHE_DIR / ".lock", "w") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)
        if final.exists() and not force:
            check_base(final)
            return final
        # remove leftovers of interrupted builds (their builder is gone: we hold the lock)
        for old in CACHE_DIR.glob("*.tmp-*"):
            log(f"removing an interrupted build: {old}")
            _rm_tree(old)
        pip = wheelhouse_pip()
        if not pip:
            raise LabError("no Python with pip found on the controller to fetch the gunicorn/uvicorn wheels for the base image")
        tmp = CACHE_DIR / f"{final.name}.tmp-{os.getpid()}"
        t0 = time.time()
        log(f"building base rootfs {final} (debootstrap {image.SUITE}, about a minute or two)")
        wheels = Path(tempfile.mkdtemp(prefix="bgd-wheels-"))
        # fetch wheels in parallel with debootstrap
        pip_res = {}

        def fetch():
            pip_res["r"] = subprocess.run(pip + ["download", "-q", "--only-binary=:all:", "--no-deps", "-d", str(wheels)]
                                          + image.PIP_PACKAGES, capture_output=True, text=True, check=False)
        th = threading.Thread(target=fetch)
        th.start()
        try:
            debs = CACHE_DIR / "debs"   # downloaded .debs, kept so a rebuild after a recipe change downloads nothing
            debs.mkdir(exist_ok=True)
            sh(["debootstrap", "--variant=minbase", f"--cache-dir={debs}", "--include=" + ",".join(image.PACKAGES),
                image.SUITE, str(tmp), image.MIRROR], timeout=1200)
            th.join()
            if pip_res["r"].returncode != 0:
                raise LabError("pip download of the app wheels failed: " + pip_res["r"].stderr.strip().splitlines()[-1])
            log(f"debootstrap done after {time.time() - t0:.0f} s; provisioning")
            _provision(tmp, wheels)
            (tmp / ".bgd-lab-complete").write_text(f"recipe {recipe_hash()} built {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
            check_base(tmp)
            if final.exists():
                _rm_tree(final)
            os.rename(tmp, final)
        except BaseException:
            th.join()
            _rm_tree(tmp)
            raise
        finally:
            shutil.rmtree(wheels, ignore_errors=True)
        log(f"base rootfs ready after {time.time() - t0:.0f} s")
        # old bases of other recipes are garbage unless a lab still uses them
        for other in CACHE_DIR.glob("base-*"):
            if other != final and ".tmp-" not in other.name and not _base_in_use(other):
                _rm_tree(other)
        return final


def _base_in_use(path: Path) -> bool:
    try:
        return str(path) in Path("/proc/mounts").read_text()
    except OSError:
        return True


def _rm_tree(path: Path) -> None:
    if path.exists() or path.is_symlink():
        subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=False)


def _provision(root: Path, wheels: Path) -> None:
    wh = root / "tmp" / "wheelhouse"
    shutil.copytree(wheels, wh)
    app = root / "srv" / "app"
    app.mkdir(parents=True, exist_ok=True)
    _write(app / "wsgi.py", image.WSGI_APP)
    _write(app / "asgi.py", image.ASGI_APP)
    for rel, text in image.DJANGO_FILES.items():
        _write(app / rel, text)
    _write(root / "etc/default/app-env", image.ENV_FILE, 0o640)
    _write(root / "lib/systemd/system/gunicorn.service", image.GUNICORN_UNIT)
    _write(root / "lib/systemd/system/uvicorn.service", image.UVICORN_UNIT)
    _write(root / "etc/nginx/sites-available/lab", image.NGINX_SITE)
    _write(root / "etc/hosts", image.HOSTS_FILE)
    pins = " ".join(f"'{p}'" for p in image.PIP_PACKAGES)
    masks = " ".join(image.MASK_UNITS)
    _chroot(root, f"""
        groupadd --system app
        useradd --system --gid app --home-dir /srv/app --no-create-home --shell /usr/sbin/nologin app
        useradd --create-home --shell /bin/bash --user-group auditor
        python3 -m venv /srv/app/venv
        /srv/app/venv/bin/pip install -q --no-index --find-links /tmp/wheelhouse {pins}
        rm -rf /tmp/wheelhouse /root/.cache
        chown root:app /etc/default/app-env
        chown -R root:root /srv/app
        rm -f /etc/nginx/sites-enabled/default
        ln -sfn /etc/nginx/sites-available/lab /etc/nginx/sites-enabled/lab
        systemctl enable gunicorn.service uvicorn.service nginx.service ssh.service >/dev/null 2>&1
        for u in {masks}; do ln -sfn /dev/null /etc/systemd/system/$u; done
        install -d -m 0700 /root/.ssh
        install -d -m 0700 -o auditor -g auditor /home/auditor/.ssh
        : > /etc/machine-id
        mkdir -p /usr/local/share/bgd-lab/pristine
        apt-get clean
        rm -rf /var/lib/apt/lists/*
    """)


# --------------------------------------------------------------------------- lab state

@dataclass
class Host:
    name: str
    addr: str
    index: int
    role: str = "web"
    pid: int = 0            # systemd-nspawn process
    pid1: int = 0           # the container's systemd (PID 1 inside)

    @property
    def machine(self) -> str:
        return self.name


@dataclass
class Fault:
    name: str
    description: str
    inject: list
    heal: list
    expect: dict
    expect_code: str
    topology: str = "single"
    traffic: dict = field(default_factory=dict)
    host_role: str = ""
    lab_actions: dict = field(default_factory=dict)

    @property
    def path(self) -> str:
        return self.expect.get("path", "/")


def load_faults(path: Path = FAULTS_FILE) -> dict:
    with open(path, "rb") as f:
        data = tomllib.load(f)
    out = {}
    for item in data.get("fault", []):
        fault = Fault(name=item["name"], description=item["description"].strip(), inject=item["inject"],
                      heal=item["heal"], expect=item["expect"], expect_code=item["expect_code"],
                      topology=item.get("topology", "single"), traffic=item.get("traffic", {}),
                      host_role=item.get("host_role", ""), lab_actions=item.get("lab", {}))
        if fault.name in out:
            raise LabError(f"fault {fault.name} is defined twice in {path}")
        out[fault.name] = fault
    return out


def list_labs() -> list:
    if not STATE_ROOT.is_dir():
        return []
    return sorted(p.name for p in STATE_ROOT.iterdir() if p.is_dir() and not p.name.startswith("."))


class Lab:
    """One named lab: its hosts, network, state dir and inventory."""

    def __init__(self, name: str = DEFAULT_NAME):
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,30}", name):
            raise LabError(f"lab name {name!r} must be lowercase letters, digits and dashes (at most 31 characters)")
        self.name = name
        self.state_dir = STATE_ROOT / name
        self.state_file = self.state_dir / "lab.json"
        self._state = None

    # ---------------------------------------------------------------- state helpers
    @property
    def state(self) -> dict:
        if self._state is None:
            try:
                self._state = json.loads(self.state_file.read_text())
            except (OSError, ValueError):
                self._state = {}
        return self._state

    def _save(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=2))
        os.replace(tmp, self.state_file)

    @contextlib.contextmanager
    def _lock(self):
        STATE_ROOT.mkdir(parents=True, exist_ok=True)
        with open(STATE_ROOT / f".{self.name}.lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            self._state = None
            yield

    @property
    def hosts(self) -> list:
        return [h["name"] for h in self.state.get("hosts", [])]

    def host(self, name: str) -> Host:
        for h in self.state.get("hosts", []):
            if h["name"] == name:
                return Host(**h)
        raise LabError(f"lab {self.name} has no host {name!r} (hosts: {', '.join(self.hosts) or 'none, is it up?'})")

    def hosts_by_role(self, role: str) -> list:
        return [h["name"] for h in self.state.get("hosts", []) if h["role"] == role]

    @property
    def inventory_path(self) -> Path:
        return self.state_dir / "inventory.ini"

    @property
    def key_path(self) -> Path:
        return self.state_dir / "id_ed25519"

    @property
    def topology(self) -> str:
        return self.state.get("topology", "")

    @property
    def net(self) -> int:
        return int(self.state.get("net", 0))

    @property
    def bridge(self) -> str:
        return f"{LINK_PREFIX}{self.net}"

    def _veth(self, index: int) -> str:
        return f"{LINK_PREFIX}{self.net}h{index}"

    def _netns(self, index: int) -> str:
        return f"{LINK_PREFIX}-{self.name}-{index}"

    def _alloc_net(self) -> int:
        """Pick a free 10.213.X.0/24 for this lab (called under the global allocation lock)."""
        used = set()
        for other in list_labs():
            if other == self.name:
                continue
            try:
                used.add(int(json.loads((STATE_ROOT / other / "lab.json").read_text()).get("net", 0)))
            except (OSError, ValueError):
                pass
        addrs = sh(["ip", "-4", "-o", "addr", "show"], check=False).stdout
        for x in range(1 + (int(hashlib.sha256(self.name.encode()).hexdigest(), 16) % 200), 256):
            if x not in used and f"{SUBNET_BASE}.{x}." not in addrs and not Path(f"/sys/class/net/{LINK_PREFIX}{x}").exists():
                return x
        for x in range(1, 255):
            if x not in used and f"{SUBNET_BASE}.{x}." not in addrs and not Path(f"/sys/class/net/{LINK_PREFIX}{x}").exists():
                return x
        raise LabError("no free lab subnet left in 10.213.0.0/16 (run `labctl.py down --all`)")

    # ---------------------------------------------------------------- up
    def up(self, topology: str = "single", hosts: int = 1, timeout: float = 90.0) -> None:
        """Boot the lab (idempotent: a healthy lab of the same shape is left as it is)."""
        check_prerequisites(need_debootstrap=not base_dir().exists())
        if topology not in ("single", "split", "containers"):
            raise LabError(f"unknown topology {topology!r} (single, split or containers)")
        if topology == "split":
            # proxy/app pairs: proxy<N> -> app<N>:8000 (1 or 3 hosts round up to whole pairs)
            hosts = max(2, hosts + hosts % 2)
        if topology == "containers":
            hosts = 1
        if hosts < 1 or hosts > 20:
            raise LabError("--hosts must be between 1 and 20")
        t0 = time.time()
        base = build_base()
        if topology == "containers":
            containers.build_layer(sys.modules[__name__], base)
        with self._lock():
            if self.state.get("hosts") and self.state.get("topology") == topology and len(self.hosts) == hosts \
                    and self.state.get("base") == str(base) and self._all_running():
                try:
                    self._wait_healthy(timeout=15)
                    log(f"lab {self.name} is already up ({', '.join(self.hosts)})")
                    return
                except LabError as exc:
                    log(f"lab {self.name} is up but unhealthy ({exc}); recreating it")
            if self.state_dir.exists():
                self._teardown()
            try:
                self._create(base, topology, hosts)
                self._wait_healthy(timeout=timeout)
            except BaseException:
                log(f"up of lab {self.name} failed; cleaning up (console logs kept in {self.state_dir}/*.console until then)")
                self._dump_failure()
                self._teardown()
                raise
        log(f"lab {self.name} up in {time.time() - t0:.1f} s: "
            + ", ".join(f"{h['name']}={h['addr']}" for h in self.state["hosts"]) + f"; inventory {self.inventory_path}")

    def _dump_failure(self) -> None:
        for f in sorted(self.state_dir.glob("*.console")):
            tail = f.read_text(errors="replace").splitlines()[-15:]
            if tail:
                print(f"--- last lines of {f.name}:\n" + "\n".join(tail), file=sys.stderr)

    def _create(self, base: Path, topology: str, count: int) -> None:
        with open(STATE_ROOT / ".alloc.lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            self._state = {"name": self.name, "topology": topology, "base": str(base), "hosts": []}
            self.state["net"] = self._alloc_net()
            self._save()
        net = self.net
        if topology == "single":
            layout = [(f"web{i}", "web") for i in range(1, count + 1)]
        elif topology == "containers":
            layout = [(containers.HOST, "containers")]
        else:
            layout = [item for pair in range(1, count // 2 + 1) for item in ((f"proxy{pair}", "proxy"), (f"app{pair}", "app"))]
        for i, (hname, role) in enumerate(layout, start=1):
            self.state["hosts"].append(asdict_host(Host(name=hname, addr=f"{SUBNET_BASE}.{net}.{10 + i}", index=i, role=role)))
        self._save()
        # ssh key
        sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"badgateway-lab-{self.name}", "-f", str(self.key_path)])
        pub = (self.key_path.with_suffix(".pub")).read_text()
        # bridge
        br = self.bridge
        sh(["ip", "link", "add", br, "type", "bridge"])
        sh(["ip", "addr", "add", f"{SUBNET_BASE}.{net}.1/24", "dev", br])
        sh(["ip", "link", "set", br, "up"])
        hosts_lines = "".join(f"{h['addr']}\t{h['name']}\n" for h in self.state["hosts"])
        auditor_uid, auditor_gid = _passwd_ids(base, "auditor")
        for h in self.state["hosts"]:
            host = Host(**h)
            hdir = self.state_dir / host.name
            for sub in ("upper", "work", "root"):
                (hdir / sub).mkdir(parents=True, exist_ok=True)
            lower = f"{containers.layer_dir(base) / 'upper'}:{base}" if host.role == "containers" else str(base)
            sh(["mount", "-t", "overlay", "overlay", "-o",
                f"lowerdir={lower},upperdir={hdir / 'upper'},workdir={hdir / 'work'}", str(hdir / "root")])
            root = hdir / "root"
            self._customize(root, host, pub, hosts_lines, auditor_uid, auditor_gid)
            # network namespace + veth on the lab bridge
            ns, veth, peer = self._netns(host.index), self._veth(host.index), f"{LINK_PREFIX}{net}p{host.index}"
            sh(["ip", "netns", "add", ns])
            sh(["ip", "link", "add", veth, "type", "veth", "peer", "name", peer])
            sh(["ip", "link", "set", peer, "netns", ns])
            sh(["ip", "-n", ns, "link", "set", peer, "name", "eth0"])
            sh(["ip", "-n", ns, "addr", "add", f"{host.addr}/24", "dev", "eth0"])
            sh(["ip", "-n", ns, "link", "set", "eth0", "up"])
            sh(["ip", "-n", ns, "link", "set", "lo", "up"])
            sh(["ip", "link", "set", veth, "master", br, "up"])
        self._write_inventory()
        # boot all hosts at once
        for h in self.state["hosts"]:
            host = Host(**h)
            hdir = self.state_dir / host.name
            console = open(self.state_dir / f"{host.name}.console", "w")
            proc = subprocess.Popen(
                ["systemd-nspawn", "-q", "--register=no", "--keep-unit", "--console=read-only",
                 "-D", str(hdir / "root"), "-M", f"{self.name}-{host.name}"[:64], f"--hostname={host.name}",
                 f"--network-namespace-path=/run/netns/{self._netns(host.index)}", "-b"]
                + (containers.nspawn_args(hdir) if host.role == "containers" else []),
                stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT, start_new_session=True,
                env={"PATH": PATH_ENV, "LANG": "C.UTF-8", "SYSTEMD_LOG_LEVEL": "warning",
                     **(containers.NSPAWN_ENV if host.role == "containers" else {})},
            )
            console.close()
            h["pid"] = proc.pid
            (hdir / "nspawn.pid").write_text(str(proc.pid))
        self._save()
        deadline = time.time() + 30
        for h in self.state["hosts"]:
            while True:
                pid1 = _container_pid1(h["pid"])
                if pid1:
                    h["pid1"] = pid1
                    break
                if not _alive(h["pid"]):
                    raise LabError(f"systemd-nspawn for {h['name']} exited at once (see {self.state_dir}/{h['name']}.console)")
                if time.time() > deadline:
                    raise LabError(f"the container {h['name']} did not start within 30 s")
                time.sleep(0.05)
        self._save()

    def _customize(self, root: Path, host: Host, pub: str, hosts_lines: str, auditor_uid: int, auditor_gid: int) -> None:
        """Per-host files written into the overlay before boot (topology, key, /etc/hosts)."""
        _write(root / "root/.ssh/authorized_keys", pub, 0o600)
        ak = root / "home/auditor/.ssh/authorized_keys"
        _write(ak, pub, 0o600)
        os.chown(ak, auditor_uid, auditor_gid)
        hosts_text = image.HOSTS_FILE + hosts_lines
        _write(root / "etc/hosts", hosts_text)
        _write(root / "etc/hostname", host.name + "\n")
        site = image.NGINX_SITE
        units = {}
        if self.topology == "split":
            app = next(h for h in self.state["hosts"] if h["name"] == "app" + pair_of(host.name))
            site = site.replace("server unix:/run/gunicorn/gunicorn.sock fail_timeout=0;",
                                f"server {app['addr']}:8000 fail_timeout=0;")
            if host.role == "app":
                units["gunicorn.service"] = image.GUNICORN_UNIT.replace(
                    "--bind unix:/run/gunicorn/gunicorn.sock", f"--bind {host.addr}:8000")
            elif host.role == "proxy":
                # the proxy host runs no WSGI app of its own
                (root / "etc/systemd/system/gunicorn.service").unlink(missing_ok=True)
                (root / "etc/systemd/system/gunicorn.service").symlink_to("/dev/null")
        if host.role == "containers":
            site = containers.customize(sys.modules[__name__], root, site)
        _write(root / "etc/nginx/sites-available/lab", site)
        for unit, text in units.items():
            _write(root / "lib/systemd/system" / unit, text)
        _write(root / "usr/local/sbin/lab-heal", image.LAB_HEAL, 0o755)
        _write(root / "usr/local/sbin/lab-nginx-reload", image.LAB_NGINX_RELOAD, 0o755)
        pristine = root / "usr/local/share/bgd-lab/pristine"
        _write(pristine / "lab.site", site)
        _write(pristine / "hosts", hosts_text)
        _write(pristine / "app-env", image.ENV_FILE)
        _write(pristine / "wsgi.py", image.WSGI_APP)
        _write(pristine / "asgi.py", image.ASGI_APP)
        _write(pristine / "gunicorn.service", units.get("gunicorn.service", image.GUNICORN_UNIT))
        _write(pristine / "uvicorn.service", image.UVICORN_UNIT)
        _write(root / "usr/local/share/bgd-lab/host.json", json.dumps({"lab": self.name, "host": host.name, "role": host.role,
                                                                      "addr": host.addr, "topology": self.topology}))

    def _write_inventory(self) -> None:
        lines = ["# written by tests/lab/labctl.py up; removed by down", "[lab]"]
        common = ("ansible_user=root ansible_ssh_private_key_file={key} "
                  "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR' "
                  "ansible_python_interpreter=/usr/bin/python3").format(key=self.key_path)
        for h in self.state["hosts"]:
            lines.append(f"{h['name']} ansible_host={h['addr']} {common}")
        if self.topology == "split":
            for role in ("proxy", "app"):
                lines += ["", f"[{role}]"] + [h["name"] for h in self.state["hosts"] if h["role"] == role]
        lines += ["", "[lab:vars]", f"bgd_lab_name={self.name}", f"bgd_lab_topology={self.topology}", ""]
        self.inventory_path.write_text("\n".join(lines))
        kh = self.state_dir / "known_hosts"
        base = Path(self.state["base"])
        keys = [p.read_text().split()[:2] for p in sorted((base / "etc/ssh").glob("ssh_host_*_key.pub"))]
        kh.write_text("".join(f"{h['addr']} {k[0]} {k[1]}\n" for h in self.state["hosts"] for k in keys))

    def _all_running(self) -> bool:
        return all(_alive(h.get("pid", 0)) and h.get("pid1") and _alive(h["pid1"]) and _container_pid1(h["pid"]) == h["pid1"]
                   for h in self.state.get("hosts", []))

    def _wait_healthy(self, timeout: float) -> None:
        """Every route through nginx answers 200 on every host, and sshd accepts connections."""
        deadline = time.time() + timeout
        pending = {h: self.routes(h) for h in self.hosts}
        ssh_pending = set(self.hosts)
        last = {}
        while pending or ssh_pending:
            for hname in list(ssh_pending):
                try:
                    with socket.create_connection((self.host(hname).addr, 22), timeout=1) as s:
                        s.settimeout(2)
                        if s.recv(4).startswith(b"SSH"):
                            ssh_pending.discard(hname)
                except OSError as exc:
                    last[(hname, "ssh")] = str(exc)
            for hname, routes in list(pending.items()):
                ctr_up = None
                for route in list(routes):
                    if route in containers.ROUTES and ctr_up is None:
                        ctr_up = self._containers_up(hname)
                    if route in containers.ROUTES and not ctr_up:
                        # no request through nginx before the Compose project is up: its 502s would be in nginx's
                        # access log of a healthy lab (a FACTS_INCOMPLETE warning for the diagnosis)
                        last[(hname, route)] = "bgd-lab-containers.service is not active yet"
                        continue
                    try:
                        status, body = self.http(hname, route, timeout=3)
                    except OSError as exc:
                        status, body = 0, str(exc)
                    if status == 200:
                        routes.remove(route)
                    else:
                        last[(hname, route)] = f"{status} {body[:80]!r}"
                if not routes:
                    del pending[hname]
            if not pending and not ssh_pending:
                return
            for h in self.state["hosts"]:
                if not _alive(h["pid"]):
                    raise LabError(f"host {h['name']} powered off during boot (see {self.state_dir}/{h['name']}.console)")
            if time.time() > deadline:
                bad = [f"{h} {r}: {last.get((h, r), '?')}" for h, rs in pending.items() for r in rs]
                bad += [f"{h} ssh: {last.get((h, 'ssh'), '?')}" for h in ssh_pending]
                raise LabError(f"lab {self.name} not healthy after {timeout:.0f} s: " + "; ".join(bad[:6]))
            time.sleep(0.3)

    def _containers_up(self, host: str) -> bool:
        """Has the containers host's unit brought the Compose project up (its app answered on its published port)?"""
        try:
            return self.run(host, "systemctl is-active -q bgd-lab-containers.service", check=False, timeout=10).returncode == 0
        except (subprocess.SubprocessError, OSError, LabError):
            return False

    # ---------------------------------------------------------------- down
    def down(self) -> None:
        """Remove everything this lab made; safe to call on a half-made or already removed lab."""
        if os.geteuid() != 0:
            raise LabError("the lab must run as root (it makes network namespaces, overlay mounts and systemd-nspawn containers)")
        with self._lock():
            self._teardown()

    def _teardown(self) -> None:
        st = self.state
        hosts = st.get("hosts", [])
        # containers: orderly poweroff first, all at once, then kill what is left
        for h in hosts:
            pid = h.get("pid") or _read_int(self.state_dir / h["name"] / "nspawn.pid")
            h["pid"] = pid
            pid1 = _container_pid1(pid) if pid and _is_nspawn(pid) else 0
            h["_pid1"] = pid1
            if pid1:
                subprocess.run(["nsenter", "-t", str(pid1), "-m", "-u", "-i", "-n", "-p", "systemctl", "poweroff", "--no-block"],
                               capture_output=True, timeout=20, check=False)
        deadline = time.time() + 15
        for h in hosts:
            pid = h.get("pid")
            if not pid or not _is_nspawn(pid):
                continue
            while _alive(pid) and time.time() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                log(f"{h['name']} did not power off in time; killing it")
                pid1 = _container_pid1(pid) or h.get("_pid1")
                if pid1:
                    _kill(pid1, signal.SIGKILL)
                t1 = time.time() + 5
                while _alive(pid) and time.time() < t1:
                    time.sleep(0.1)
                if _alive(pid):
                    _kill(pid, signal.SIGKILL)
                    time.sleep(0.2)
        # processes left in our state dir roots (e.g. nspawn lost its pid file)
        for pid in _nspawn_pids_under(self.state_dir):
            pid1 = _container_pid1(pid)
            if pid1:
                _kill(pid1, signal.SIGKILL)
            _kill(pid, signal.SIGKILL)
        _rmdir_memcgs(f"{LINK_PREFIX}-{self.name}-")
        # mounts under the state dir (deepest first)
        _umount_under(self.state_dir)
        # network
        net = st.get("net")
        if net:
            for h in hosts:
                subprocess.run(["ip", "link", "del", f"{LINK_PREFIX}{net}h{h['index']}"], capture_output=True, check=False)
            subprocess.run(["ip", "link", "del", f"{LINK_PREFIX}{net}"], capture_output=True, check=False)
        for ns in _list_netns():
            if ns.startswith(f"{LINK_PREFIX}-{self.name}-") and re.fullmatch(r"\d+", ns[len(f"{LINK_PREFIX}-{self.name}-"):]):
                subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        if self.state_dir.exists():
            _umount_under(self.state_dir)
            _rm_tree(self.state_dir)
        self._state = {}

    # ---------------------------------------------------------------- using hosts
    def _pid1(self, host: str) -> int:
        h = self.host(host)
        pid1 = h.pid1
        if not pid1 or not _alive(pid1) or _container_pid1(h.pid) != pid1:
            raise LabError(f"host {host} of lab {self.name} is not running (run `labctl.py up --name {self.name}`)")
        return pid1

    def run(self, host: str, cmd: str, check: bool = True, timeout: float = 60, input_: str | None = None) -> subprocess.CompletedProcess:
        """Run a shell command as root on a lab host (through nsenter into its namespaces)."""
        pid1 = self._pid1(host)
        res = subprocess.run(
            ["nsenter", "-t", str(pid1), "-m", "-u", "-i", "-n", "-p", "-r", "-w",
             "/usr/bin/env", "-i", f"PATH={PATH_ENV}", "LANG=C.UTF-8", "HOME=/root", "SYSTEMD_PAGER=", "/bin/sh", "-c", cmd],
            capture_output=True, text=True, timeout=timeout, input=input_, check=False,
        )
        if check and res.returncode != 0:
            raise LabError(f"on {host}: `{cmd}` failed ({res.returncode}): {(res.stderr or res.stdout).strip()[-500:]}")
        return res

    def ssh_argv(self, host: str, user: str = "root") -> list:
        h = self.host(host)
        return ["ssh", "-i", str(self.key_path), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", f"{user}@{h.addr}"]

    def ssh(self, host: str, cmd: str, user: str = "root", check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run a command over SSH (the way Ansible reaches the host)."""
        res = subprocess.run(self.ssh_argv(host, user) + ["--", cmd], capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL, check=False)
        if check and res.returncode != 0:
            raise LabError(f"ssh {user}@{host} `{cmd}` failed ({res.returncode}): {(res.stderr or res.stdout).strip()[-300:]}")
        return res

    def http(self, host: str, path: str = "/", port: int = 80, timeout: float = 10) -> tuple:
        """One HTTP GET from the controller to a lab host; returns (status, body text)."""
        conn = http.client.HTTPConnection(self.host(host).addr, port, timeout=timeout)
        try:
            conn.request("GET", path, headers={"Host": host, "Connection": "close"})
            resp = conn.getresponse()
            return resp.status, resp.read().decode("utf-8", "replace")
        finally:
            conn.close()

    def routes(self, host: str) -> list:
        """The routes every healthy host of this lab answers with 200."""
        return list(ROUTES) + (containers.ROUTES if self.host(host).role == "containers" else [])

    def routes_ok(self, host: str) -> dict:
        """{route: status} for every lab route on a host (0 when the request itself failed)."""
        out = {}
        for r in self.routes(host):
            try:
                out[r] = self.http(host, r, timeout=5)[0]
            except OSError:
                out[r] = 0
        return out

    def wait_routes(self, host: str, timeout: float = 15) -> dict:
        deadline = time.time() + timeout
        while True:
            res = self.routes_ok(host)
            if all(v == 200 for v in res.values()) or time.time() > deadline:
                return res
            time.sleep(0.3)

    # ---------------------------------------------------------------- controller-side actions
    def _memcg_dir(self, host: str) -> Path | None:
        """A lab-owned memory cgroup (v1) beside the container's own, or None on a cgroup v2 host."""
        pid1 = self._pid1(host)
        for line in Path(f"/proc/{pid1}/cgroup").read_text().splitlines():
            ctrl, path = line.split(":", 2)[1:]
            if "memory" in ctrl.split(","):
                return Path("/sys/fs/cgroup/memory" + path.rstrip("/")) / f"{LINK_PREFIX}-{self.name}-{host}-mem"
        return None

    def memory_limit(self, host: str, unit: str, mb: int) -> None:
        """Enforce a memory limit on a unit's processes from the controller.

        On a cgroup v1 (hybrid) controller the container sees its memory controller read-only, so
        the unit's MemoryMax= cannot take effect inside; the lab moves the unit's processes into a
        memory cgroup of its own with that limit, so the kernel's OOM killer acts as it would on a
        real host. On a cgroup v2 controller the unit's own MemoryMax= is enforced and this is a no-op.
        """
        memcg = self._memcg_dir(host)
        if memcg is None:
            return
        memcg.mkdir(exist_ok=True)
        (memcg / "memory.limit_in_bytes").write_text(str(mb * 1024 * 1024))
        ns = os.readlink(f"/proc/{self._pid1(host)}/ns/pid")
        moved = 0
        for p in Path("/proc").iterdir():
            if not p.name.isdigit():
                continue
            try:
                if os.readlink(p / "ns/pid") != ns:
                    continue
                cg = (p / "cgroup").read_text()
            except OSError:
                continue
            if re.search(rf"^\d+:name=systemd:.*/system\.slice/{re.escape(unit)}$", cg, re.M):
                with contextlib.suppress(OSError):
                    (memcg / "cgroup.procs").write_text(p.name)
                    moved += 1
        if not moved:
            raise LabError(f"no process of {unit} found on {host} to put under a {mb} MB memory limit")

    def memory_limit_remove(self, host: str) -> None:
        try:
            memcg = self._memcg_dir(host)
        except LabError:
            return
        if memcg is None or not memcg.exists():
            return
        parent = memcg.parent / "cgroup.procs"
        for pid in (memcg / "cgroup.procs").read_text().split():
            with contextlib.suppress(OSError):
                parent.write_text(pid)
        with contextlib.suppress(OSError):
            memcg.rmdir()

    # ---------------------------------------------------------------- faults
    def _fault(self, fault) -> Fault:
        if isinstance(fault, Fault):
            return fault
        faults = load_faults()
        if fault not in faults:
            raise LabError(f"no fault named {fault!r} in {FAULTS_FILE} (see `labctl.py fault list`)")
        return faults[fault]

    def _fault_host(self, fault: Fault, host: str | None) -> str:
        if fault.topology != self.topology:
            raise LabError(f"fault {fault.name} needs a {fault.topology} lab; lab {self.name} is {self.topology or 'not up'}")
        if host:
            self.host(host)
            return host
        if fault.host_role:
            return self.hosts_by_role(fault.host_role)[0]
        return self.hosts[0]

    def _steps(self, host: str, steps: list, what: str) -> None:
        for step in steps:
            res = self.run(host, "set -e\n" + step, check=False, timeout=120)
            if res.returncode != 0:
                raise LabError(f"{what} step failed on {host} ({res.returncode}): {step.strip().splitlines()[0]}: "
                               f"{(res.stderr or res.stdout).strip()[-400:]}")

    def error_log_size(self, host: str) -> int:
        out = self.run(host, "stat -c %s /var/log/nginx/error.log 2>/dev/null || echo 0").stdout.strip()
        return int(out or 0)

    def error_log_since(self, host: str, offset: int) -> str:
        return self.run(host, f"tail -c +{offset + 1} /var/log/nginx/error.log 2>/dev/null || true").stdout

    def inject(self, fault, host: str | None = None) -> dict:
        """Run a fault's inject steps; returns a mark for verify() (the error.log offset, the time)."""
        f = self._fault(fault)
        host = self._fault_host(f, host)
        observe = host
        if f.expect.get("observe_role"):
            # the host of that role in the same pair (split topology: app2's fault is seen on proxy2)
            seen_by = self.hosts_by_role(f.expect["observe_role"])
            observe = ([h for h in seen_by if pair_of(h) == pair_of(host)] or seen_by)[0]
        mark = {"fault": f.name, "host": host, "observe": observe, "log_offset": self.error_log_size(observe),
                "since": self.run(host, "date '+%Y-%m-%d %H:%M:%S'").stdout.strip()}
        self._steps(host, f.inject, f"inject {f.name}")
        mem = f.lab_actions.get("memory_limit")
        if mem:
            self.memory_limit(host, mem["unit"], int(mem["mb"]))
        return mark

    def traffic(self, fault, host: str) -> tuple:
        """Send the fault's traffic; returns (status, body) of the request its `expect` is about."""
        f = self._fault(fault)
        t = f.traffic
        time.sleep(float(t.get("wait", 0)))
        path = f.path
        timeout = float(t.get("timeout", 30))
        conc = int(t.get("concurrent", 1))
        results = []

        def one(p):
            try:
                results.append(self.http(host, p, timeout=timeout))
            except OSError as exc:
                results.append((0, str(exc)))
        threads = [threading.Thread(target=one, args=(t.get("background_path", path),)) for _i in range(conc - 1)]
        for th in threads:
            th.start()
        if threads:
            time.sleep(float(t.get("stagger", 0.5)))
        deadline = time.time() + float(t.get("retry_for", 0))
        req_timeout = float(t.get("request_timeout", timeout))
        while True:
            try:
                res = self.http(host, path, timeout=req_timeout)
            except OSError as exc:
                res = (0, str(exc))
            if res[0] == f.expect.get("status") or time.time() >= deadline:
                break
            time.sleep(0.5)
        for th in threads:
            th.join(timeout + 5)
        return res

    def verify(self, fault, mark: dict) -> dict:
        """Send traffic and compare with `expect`; returns a dict with ok, status, errors, log."""
        f = self._fault(fault)
        host, observe = mark["host"], mark.get("observe", mark["host"])
        status, _body = self.traffic(f, observe)
        exp = f.expect
        errors = []
        if status != exp["status"]:
            errors.append(f"HTTP {f.path} answered {status}, expected {exp['status']}")
        time.sleep(0.2)
        elog = self.error_log_since(observe, mark["log_offset"])
        if exp.get("error_log") and not re.search(exp["error_log"], elog):
            errors.append(f"nginx error.log has no line matching {exp['error_log']!r}; new lines: {elog.strip()[-600:]!r}")
        if exp.get("error_log_absent") is True and elog.strip():
            errors.append(f"nginx error.log should have no new lines, got {elog.strip()[-300:]!r}")
        jtext = ""
        if exp.get("journal"):
            unit = exp.get("journal_unit", "gunicorn.service")
            # a crash loop under load (a busy CI machine) needs more than a few seconds per restart
            deadline = time.time() + 30
            while True:
                jtext = self.run(host, f"journalctl -u {unit} -k --no-pager -o cat --since '{mark['since']}' 2>/dev/null || true"
                                 if exp.get("journal_kernel") else
                                 f"journalctl -u {unit} --no-pager -o cat --since '{mark['since']}' 2>/dev/null || true").stdout
                if re.search(exp["journal"], jtext) or time.time() > deadline:
                    break
                time.sleep(0.5)
            if not re.search(exp["journal"], jtext):
                errors.append(f"journal of {unit} has no line matching {exp['journal']!r}; got {jtext.strip()[-600:]!r}")
        if exp.get("check"):
            deadline = time.time() + 30
            while True:   # a check about a state that settles (restart counters, units) may need a moment
                res = self.run(host, exp["check"], check=False)
                if res.returncode == 0 or time.time() > deadline:
                    break
                time.sleep(0.5)
            if res.returncode != 0:
                errors.append(f"check `{exp['check']}` failed: {(res.stdout + res.stderr).strip()[-300:]}")
        return {"ok": not errors, "fault": f.name, "host": host, "status": status, "errors": errors, "error_log": elog,
                "journal": jtext, "expect_code": f.expect_code}

    def heal(self, fault, host: str | None = None, timeout: float = 20) -> None:
        """Run a fault's heal steps and wait until every route answers 200 again."""
        f = self._fault(fault)
        host = self._fault_host(f, host)
        try:
            self._steps(host, f.heal, f"heal {f.name}")
        finally:
            self.memory_limit_remove(host)
        for h in self.hosts:
            res = self.wait_routes(h, timeout=timeout)
            if not all(v == 200 for v in res.values()):
                raise LabError(f"after healing {f.name}, {h} still answers {res}")


# --------------------------------------------------------------------------- process / mount helpers

def pair_of(name: str) -> str:
    """The pair number of a split-topology host: ``proxy2`` and ``app2`` -> ``2``."""
    return name.lstrip("abcdefghijklmnopqrstuvwxyz")


def asdict_host(h: Host) -> dict:
    return {"name": h.name, "addr": h.addr, "index": h.index, "role": h.role, "pid": h.pid, "pid1": h.pid1}


def _passwd_ids(root: Path, user: str) -> tuple:
    for line in (root / "etc/passwd").read_text().splitlines():
        parts = line.split(":")
        if parts[0] == user:
            return int(parts[2]), int(parts[3])
    raise LabError(f"the lab cache {root} is broken (no user {user}); remove it with `labctl.py cache --clean`")


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return 0


def _alive(pid: int) -> bool:
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _kill(pid: int, sig) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, sig)


def _is_nspawn(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "systemd-nspawn"
    except OSError:
        return False


def _children(pid: int) -> list:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out += [int(x) for x in (task / "children").read_text().split()]
    return out


def _container_pid1(nspawn_pid: int) -> int:
    """The container's PID 1 (its systemd) as seen from the host, or 0."""
    if not nspawn_pid or not _alive(nspawn_pid):
        return 0
    for child in _children(nspawn_pid):
        try:
            status = Path(f"/proc/{child}/status").read_text()
        except OSError:
            continue
        m = re.search(r"^NSpid:\s+(.*)$", status, re.M)
        if m and m.group(1).split()[-1] == "1" and len(m.group(1).split()) > 1:
            return child
    return 0


def _nspawn_pids_under(directory: Path) -> list:
    out = []
    prefix = str(directory) + "/"
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            if (p / "comm").read_text().strip() != "systemd-nspawn":
                continue
            args = (p / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(a.decode(errors="replace").startswith(prefix) for a in args):
            out.append(int(p.name))
    return out


def _umount_under(directory: Path) -> None:
    prefix = str(directory) + "/"
    for _attempt in range(3):
        mounts = []
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mp = line.split()[4].replace("\\040", " ")
                if mp.startswith(prefix) or mp == str(directory):
                    mounts.append(mp)
        if not mounts:
            return
        for mp in sorted(mounts, key=len, reverse=True):
            if subprocess.run(["umount", mp], capture_output=True, check=False).returncode != 0:
                subprocess.run(["umount", "-l", mp], capture_output=True, check=False)


def _rmdir_memcgs(prefix: str) -> None:
    """Remove the lab's own memory cgroups (left by an oom fault) wherever they are."""
    root = Path("/sys/fs/cgroup/memory")
    if not root.is_dir():
        return
    with contextlib.suppress(OSError):
        for dirpath, dirnames, _files in os.walk(root):
            for d in dirnames:
                if d.startswith(prefix) and d.endswith("-mem"):
                    with contextlib.suppress(OSError):
                        os.rmdir(os.path.join(dirpath, d))


def _list_netns() -> list:
    try:
        return sorted(os.listdir("/run/netns"))
    except OSError:
        return []


def down_all() -> list:
    """Remove every lab (also ones whose state was half written) and every lab link/netns left over."""
    names = list_labs()
    for name in names:
        try:
            Lab(name).down()
        except LabError as exc:
            log(f"down {name}: {exc}")
    # anything still carrying the lab prefix
    for pid in _nspawn_pids_under(STATE_ROOT):
        pid1 = _container_pid1(pid)
        if pid1:
            _kill(pid1, signal.SIGKILL)
        _kill(pid, signal.SIGKILL)
    _umount_under(STATE_ROOT)
    _rmdir_memcgs(f"{LINK_PREFIX}-")
    links = sh(["ip", "-o", "link", "show"], check=False).stdout
    for m in re.finditer(rf"^\d+:\s+({LINK_PREFIX}\d+(?:h\d+)?)[@:]", links, re.M):
        subprocess.run(["ip", "link", "del", m.group(1)], capture_output=True, check=False)
    for ns in _list_netns():
        if ns.startswith(f"{LINK_PREFIX}-"):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
    return names
