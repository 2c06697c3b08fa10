#!/usr/bin/env python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The compatibility matrix: the collection's tests on every supported ansible-core and Python.

    .venv/bin/python tests/compat/compat.py            # make compat: everything below
    .venv/bin/python tests/compat/compat.py --quick    # the part `make test` runs

What runs (each in its own venv, cached under tests/output/compat/venvs, so a rerun only runs tests):

- target-unit: the target-side unit tests (tests/unit/plugins/module_utils; they import no
  ansible-core) under every Python from 3.8 (the collection's floor for targets) to the newest
  one pyenv has — the interpreters themselves, not a compile check.
- core-unit: every ansible-core minor version from 2.17 to the newest on the package index (its
  newest patch release), on the oldest and on the newest Python it supports (the classifiers of
  its wheel's metadata, within its Requires-Python) that this machine has: the rest of the unit
  tests (module wrappers, rules, reports, the evaluate action and its real ansible-playbook runs).
- target-smoke: with each of those cores, tests/compat/target.yml against localhost with the
  oldest (ansible-core's own `_PY_MIN`, at least 3.8) and the newest target Python it supports as
  `ansible_python_interpreter`: the modules shipped by AnsiballZ and run by that interpreter.
- lab: with each core (on its newest Python), the diagnose playbook against a lab host (Debian
  bookworm, its Python 3.11 runs the modules): healthy → no finding and the gate passes; each of
  LAB_FAULTS injected for real → its code is the first finding and the gate fails.

--quick: target-unit on 3.8 and the newest Python; core-unit and target-smoke (Python 3.8 target)
with the oldest supported ansible-core on its oldest Python. The main venv (.venv) runs the
pinned core of requirements-dev.txt in every other stage of `make test`.

Results: a table on stdout, tests/output/compat/results.json and results.md. Exit 1 on a failure.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
OUT = Path(os.environ.get("BGD_COMPAT_DIR", REPO / "tests" / "output" / "compat"))
VENVS = OUT / "venvs"
WHEELS = OUT / "wheels"
PYENV = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
REQUIRES_ANSIBLE = SpecifierSet(yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())["requires_ansible"])
FIRST_CORE = min(Version(s.version).release[:2] for s in REQUIRES_ANSIBLE if s.operator == ">=")  # 2.17
TARGET_FLOOR = (3, 8)          # the collection's floor for targets (README, module docs)
TEST_DEPS = ["pytest", "hypothesis", "tomli; python_version < '3.11'"]   # tomli: tests/lab/faults.toml on 3.10
TARGET_TESTS = "tests/unit/plugins/module_utils"
LAB_FAULTS = ("app_stopped", "socket_dir_permission")
PIP_ENV = {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}


def log(msg: str) -> None:
    print(f"compat: {msg}", flush=True)


def run(argv, timeout=1800, env=None, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], cwd=str(cwd), env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


# ------------------------------------------------------------------------------------ interpreters
def pythons() -> dict:
    """{(3, X): path} of the interpreters this machine has (pyenv's, else python3.X on PATH)."""
    found = {}
    if PYENV.is_dir():
        for d in sorted(PYENV.iterdir(), key=lambda p: [int(x) for x in re.findall(r"\d+", p.name)]):
            m = re.fullmatch(r"3\.(\d+)\.\d+", d.name)
            if m and (d / "bin" / "python").exists():
                found[(3, int(m.group(1)))] = d / "bin" / "python"        # highest patch wins
    for minor in range(8, 20):
        exe = shutil.which(f"python3.{minor}")
        if (3, minor) not in found and exe:
            found[(3, minor)] = Path(exe)
    return dict(sorted(found.items()))


def vtext(v: tuple) -> str:
    return ".".join(str(x) for x in v)


# ------------------------------------------------------------------------------------ ansible-core
def core_releases(py: Path) -> list:
    """The newest patch release of every ansible-core minor >= FIRST_CORE on the package index."""
    res = run([py, "-m", "pip", "index", "versions", "ansible-core"], timeout=300, env=dict(os.environ, **PIP_ENV))
    m = re.search(r"^Available versions: (.+)$", res.stdout, re.M)
    if not m:
        raise SystemExit(f"compat: `pip index versions ansible-core` gave no versions:\n{res.stdout}{res.stderr}")
    newest = {}
    for text in m.group(1).split(","):
        v = Version(text.strip())
        if v.is_prerelease or v.release[:2] < FIRST_CORE:
            continue
        key = v.release[:2]
        if key not in newest or v > newest[key]:
            newest[key] = v
    return [str(newest[k]) for k in sorted(newest)]


def core_wheel(version: str, py: Path) -> Path:
    WHEELS.mkdir(parents=True, exist_ok=True)
    name = f"ansible_core-{version}-py3-none-any.whl"
    if not (WHEELS / name).exists():
        res = run([py, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:", "--ignore-requires-python",
                   "-d", WHEELS, f"ansible-core=={version}"], timeout=600, env=dict(os.environ, **PIP_ENV))
        if not (WHEELS / name).exists():
            raise SystemExit(f"compat: could not download ansible-core {version}: {res.stderr[-2000:]}")
    return WHEELS / name


def core_support(wheel: Path | None = None, venv: Path | None = None) -> dict:
    """From the wheel (or a venv it is installed in): controller Pythons (classifiers within
    Requires-Python) and the target floor (ansible-core's own ``_PY_MIN``, at least TARGET_FLOOR)."""
    if wheel is not None:
        with zipfile.ZipFile(wheel) as zf:
            meta = zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))).decode()
            basic = zf.read("ansible/module_utils/basic.py").decode()
    else:
        site = next((venv / "lib").glob("python3.*/site-packages"))
        meta = next(site.glob("ansible_core-*.dist-info/METADATA")).read_text()
        basic = (site / "ansible" / "module_utils" / "basic.py").read_text()
    requires = SpecifierSet((re.search(r"^Requires-Python: (.+)$", meta, re.M) or [None, ""])[1].strip())
    classified = sorted({(3, int(x)) for x in re.findall(r"^Classifier: Programming Language :: Python :: 3\.(\d+)$", meta, re.M)})
    controller = [v for v in classified if vtext(v) + ".0" in requires]
    m = re.search(r"^_PY_MIN = \((\d+), (\d+)\)", basic, re.M)
    target_min = max((int(m.group(1)), int(m.group(2))), TARGET_FLOOR) if m else TARGET_FLOOR
    return {"requires_python": str(requires), "controller": controller, "target_min": target_min,
            "target_max": controller[-1] if controller else None}


# ------------------------------------------------------------------------------------ venvs
def ensure_venv(name: str, py: Path, reqs: list) -> Path:
    """A venv under VENVS with ``reqs`` installed, reused while the interpreter and the requirements are the same."""
    venv = VENVS / name
    stamp = venv / "bgd-compat.json"
    want = {"python": str(py), "requirements": reqs}
    try:
        if json.loads(stamp.read_text()) == want and (venv / "bin" / "python").exists():
            return venv
    except (OSError, ValueError):
        pass
    shutil.rmtree(venv, ignore_errors=True)
    t0 = time.time()
    res = run([py, "-m", "venv", venv], timeout=300)
    if res.returncode == 0:
        res = run([venv / "bin" / "python", "-m", "pip", "install", "-q"] + reqs, timeout=1200,
                  env=dict(os.environ, **PIP_ENV))
    if res.returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)
        raise RuntimeError(f"could not make the venv {name}: {(res.stdout + res.stderr)[-3000:]}")
    stamp.write_text(json.dumps(want))
    log(f"venv {name} made in {time.time() - t0:.0f} s")
    return venv


def installed_core(venv: Path) -> str:
    res = run([venv / "bin" / "python", "-c", "import ansible.release as r; print(r.__version__)"])
    return res.stdout.strip()


# ------------------------------------------------------------------------------------ jobs
class Matrix:
    def __init__(self):
        self.rows = []

    def job(self, kind: str, core: str, python: str, target: str, fn) -> bool:
        label = f"{kind} core={core or '-'} python={python} target={target or '-'}"
        log(f"{label} ...")
        t0 = time.time()
        try:
            ok, detail = fn()
        except Exception as exc:  # pylint: disable=broad-except  # a job's failure is a row, not the end of the run
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        took = time.time() - t0
        self.rows.append({"kind": kind, "core": core, "python": python, "target": target, "ok": ok,
                          "seconds": round(took, 1), "detail": detail})
        log(f"{label}: {'ok' if ok else 'FAILED'} in {took:.1f} s — {detail.splitlines()[-1] if detail else ''}")
        if not ok:
            print(detail[-6000:], flush=True)
        return ok


def pytest_summary(res: subprocess.CompletedProcess) -> tuple:
    lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
    tail = lines[-1] if lines else ""
    detail = tail if res.returncode == 0 else (res.stdout[-8000:] + res.stderr[-2000:])
    return res.returncode == 0 and " passed" in tail, detail


def run_pytest(venv: Path, args: list) -> tuple:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PY_COLORS="0")
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)      # tests/conftest.py sets the checkout's own
    res = run([venv / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider"] + args, env=env)
    return pytest_summary(res)


def ansible_env(report_dir: Path | None = None) -> dict:
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "tests" / "output" / "collections"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_RETRY_FILES_ENABLED="False",
               ANSIBLE_LOCAL_TEMP=str(OUT / "ansible-tmp"), ANSIBLE_DEPRECATION_WARNINGS="False")
    if report_dir:
        env["BGD_COMPAT_REPORT"] = str(report_dir)
    return env


def ensure_collection_link() -> None:
    link = REPO / "tests" / "output" / "collections" / "ansible_collections" / "badgateway" / "doctor"
    if not (link.is_symlink() and link.resolve() == REPO):
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(REPO, target_is_directory=True)


def target_smoke(venv: Path, target_py: Path) -> tuple:
    with tempfile.TemporaryDirectory(prefix="bgd-compat-") as tmp:
        res = run([venv / "bin" / "ansible-playbook", "-i", "localhost,", "-c", "local",
                   REPO / "tests" / "compat" / "target.yml",
                   "-e", f"ansible_python_interpreter={target_py}", "-e", f"compat_tmp={tmp}"],
                  timeout=600, env=ansible_env())
    recap = re.search(r"^localhost\s+:.*$", res.stdout, re.M)
    ok = res.returncode == 0 and recap is not None and "failed=0" in recap.group(0)
    return ok, (recap.group(0) if ok else res.stdout[-6000:] + res.stderr[-2000:])


def diagnose(venv: Path, the_lab, fail_on: str, since: str = "10m", check: bool = False) -> tuple:
    with tempfile.TemporaryDirectory(prefix="bgd-compat-report-") as tmp:
        cmd = [venv / "bin" / "ansible-playbook", "-i", the_lab.inventory_path, "badgateway.doctor.diagnose",
               "-e", f"badgateway_report_dir={tmp}", "-e", f"badgateway_fail_on={fail_on}", "-e", f"badgateway_since={since}"]
        if check:
            cmd.append("--check")
        res = run(cmd, timeout=900, env=ansible_env(), cwd=tmp)
        path = Path(tmp) / "findings.json"
        data = json.loads(path.read_text()) if path.exists() else None
    return res, data


def lab_jobs(matrix: Matrix, cores: list, lab_name: str) -> None:
    sys.path.insert(0, str(REPO / "tests" / "lab"))
    import lab as labmod  # pylint: disable=import-outside-toplevel,import-error

    the_lab = labmod.Lab(lab_name)
    try:
        t0 = time.time()
        the_lab.up(topology="single", hosts=1)
        log(f"lab {lab_name} up in {time.time() - t0:.0f} s")
        host = the_lab.hosts[0]

        def healthy(venv):
            def fn():
                res, data = diagnose(venv, the_lab, fail_on="critical", since="2m", check=True)
                if data is None:
                    return False, f"no findings.json (rc={res.returncode})\n{res.stdout[-4000:]}\n{res.stderr[-2000:]}"
                result = data["hosts"][host]
                loud = [f"{f['severity']} {f['code']}" for f in result["findings"] if f["severity"] in ("critical", "warning")]
                ok = not loud and result["status"] == "ok" and res.returncode == 0
                return ok, (f"healthy {host}: status ok, gate passed" if ok else
                            f"healthy {host}: status {result['status']}, rc {res.returncode}, findings {loud}\n{res.stdout[-3000:]}")
            return fn

        def faulty(venv, fault, seen, started):
            def fn():
                if not seen["ok"]:
                    return False, f"the lab did not reproduce {fault.name}: {seen}"
                since = f"{int(time.time() - started) + 60}s"
                res, data = diagnose(venv, the_lab, fail_on="critical", since=since)
                if data is None:
                    return False, f"no findings.json (rc={res.returncode})\n{res.stdout[-4000:]}\n{res.stderr[-2000:]}"
                findings = data["hosts"][host]["findings"]
                first = findings[0]["code"] if findings else None
                ok = first == fault.expect_code and res.returncode != 0
                return ok, (f"{fault.name}: first finding {first}, gate failed as it must" if ok else
                            f"{fault.name}: first finding {first} (expected {fault.expect_code}), rc {res.returncode}\n"
                            f"{res.stdout[-3000:]}")
            return fn

        target = "lab " + the_lab.run(host, "python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'").stdout.strip()
        for core, py, venv in cores:
            matrix.job("lab-healthy", core, vtext(py), target, healthy(venv))
        faults = labmod.load_faults()
        for name in LAB_FAULTS:
            started = time.time()
            mark = the_lab.inject(name, host)
            try:
                seen = the_lab.verify(name, mark)
                for core, py, venv in cores:
                    matrix.job(f"lab-{name}", core, vtext(py), target, faulty(venv, faults[name], seen, started))
            finally:
                the_lab.heal(name, host)
    finally:
        if os.environ.get("BGD_LAB_KEEP") != "1":
            the_lab.down()


# ------------------------------------------------------------------------------------ main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--quick", action="store_true", help="the part make test runs")
    ap.add_argument("--cores", help="comma-separated ansible-core versions (default: the newest patch of every minor >= 2.17)")
    ap.add_argument("--no-lab", action="store_true", help="skip the playbook runs on the lab")
    ap.add_argument("--lab-name", default=os.environ.get("BGD_LAB_NAME", "bgd-compat"))
    args = ap.parse_args()

    ensure_collection_link()
    pys = pythons()
    targets = [v for v in pys if v >= TARGET_FLOOR]
    if not targets:
        raise SystemExit("compat: no Python >= 3.8 found (pyenv versions or python3.X on PATH)")
    newest_py = pys[targets[-1]]
    if targets[0] != TARGET_FLOOR:
        raise SystemExit(f"compat: no Python {vtext(TARGET_FLOOR)} here (the targets' floor must be tested on itself); "
                         f"found {', '.join(vtext(v) for v in targets)}")
    log("interpreters: " + ", ".join(f"{vtext(v)}={p}" for v, p in pys.items() if v >= TARGET_FLOOR))
    matrix = Matrix()

    # target-side unit tests on the interpreters themselves
    for v in ([targets[0], targets[-1]] if args.quick else targets):
        def fn(v=v):
            venv = ensure_venv(f"target-py{vtext(v)}", pys[v], TEST_DEPS)
            return run_pytest(venv, [TARGET_TESTS])
        matrix.job("target-unit", "", vtext(v), "", fn)

    # the cores
    if args.cores:
        releases = [c.strip() for c in args.cores.split(",") if c.strip()]
    elif args.quick:
        releases = [None]       # the newest 2.17.x, whatever pip resolves (no index lookup)
    else:
        releases = core_releases(newest_py)
        log("ansible-core releases: " + ", ".join(releases))
        # requires_ansible states exactly what is tested: a newer minor on the index fails the matrix
        # until it has been tested here and the upper bound raised
        for release in releases:
            if release not in REQUIRES_ANSIBLE:
                matrix.rows.append({"kind": "requires_ansible", "core": release, "python": "-", "target": "-", "ok": False,
                                    "seconds": 0, "detail": f"ansible-core {release} is on the package index but "
                                    f"meta/runtime.yml requires_ansible {REQUIRES_ANSIBLE} excludes it: when its row "
                                    f"below passes, raise the bound (and the README's table)"})
    lab_cores = []
    for release in releases:
        if release is None:
            spec, support = "ansible-core~=%d.%d.0" % FIRST_CORE, None
            plan = [v for v in pys if v >= (3, 10)][:1]       # 2.17's oldest controller Python (its Requires-Python)
        else:
            spec = f"ansible-core=={release}"
            support = core_support(core_wheel(release, newest_py))
            have = [v for v in support["controller"] if v in pys]
            if not have:
                matrix.rows.append({"kind": "core-unit", "core": release, "python": "-", "target": "-", "ok": False,
                                    "seconds": 0, "detail": f"no supported Python here (needs one of "
                                    f"{', '.join(vtext(v) for v in support['controller'])})"})
                continue
            plan = sorted({have[0], have[-1]})               # the oldest and the newest it supports
        for i, pv in enumerate(plan):
            try:
                venv = ensure_venv(f"core-{release or '%d.%d.x' % FIRST_CORE}-py{vtext(pv)}", pys[pv], [spec] + TEST_DEPS)
            except RuntimeError as exc:
                matrix.rows.append({"kind": "venv", "core": release or spec, "python": vtext(pv), "target": "-",
                                    "ok": False, "seconds": 0, "detail": str(exc)})
                print(str(exc), flush=True)
                continue
            core = installed_core(venv)
            sup = support or core_support(venv=venv)
            matrix.job("core-unit", core, vtext(pv), "",
                       lambda venv=venv: run_pytest(venv, ["tests/unit", "--ignore", TARGET_TESTS]))
            # the modules on the oldest and newest target Python this core supports (once per core)
            if i == 0:
                tgts = [v for v in targets if sup["target_min"] <= v <= (sup["target_max"] or v)]
                for tv in ([tgts[0]] if args.quick else sorted({tgts[0], tgts[-1]})) if tgts else []:
                    matrix.job("target-smoke", core, vtext(pv), vtext(tv),
                               lambda venv=venv, tv=tv: target_smoke(venv, pys[tv]))
        if release is not None:
            lab_cores.append((release, plan[-1], VENVS / f"core-{release}-py{vtext(plan[-1])}"))

    if not args.quick and not args.no_lab:
        lab_cores = [c for c in lab_cores if (c[2] / "bin" / "ansible-playbook").exists()]
        try:
            lab_jobs(matrix, lab_cores, args.lab_name)
        except Exception as exc:  # pylint: disable=broad-except
            matrix.rows.append({"kind": "lab", "core": "-", "python": "-", "target": "-", "ok": False, "seconds": 0,
                                "detail": f"{type(exc).__name__}: {exc}"})
            print(f"compat: the lab failed: {exc}", flush=True)

    return report(matrix)


def report(matrix: Matrix) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(matrix.rows, indent=1))
    md = ["| check | ansible-core | Python (controller) | Python (target) | result | seconds |",
          "| --- | --- | --- | --- | --- | --- |"]
    for r in matrix.rows:
        md.append(f"| {r['kind']} | {r['core'] or '-'} | {r['python']} | {r['target'] or '-'} | "
                  f"{'ok' if r['ok'] else 'FAILED'} | {r['seconds']:.0f} |")
    (OUT / "results.md").write_text("\n".join(md) + "\n")
    print("\n==================== compatibility matrix ====================")
    for r in matrix.rows:
        last = (r["detail"] or "").strip().splitlines()
        print(f"{r['kind']:28} core={r['core'] or '-':9} py={r['python']:5} target={r['target'] or '-':8} "
              f"{'ok' if r['ok'] else 'FAILED':7} {r['seconds']:6.0f}s  {last[-1][:90] if last else ''}")
    failed = sum(1 for r in matrix.rows if not r["ok"])
    print(f"compat: {len(matrix.rows) - failed} passed, {failed} failed")
    return 1 if failed or not matrix.rows else 0


if __name__ == "__main__":
    sys.exit(main())
