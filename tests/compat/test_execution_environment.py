# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""meta/execution-environment.yml: `ansible-builder create` renders the build context offline.

ansible-builder (pinned in tests/compat/requirements-ee.txt) runs from its own venv
(tests/compat/toolvenv.sh). Everything it runs here runs inside a network namespace without
network (`unshare -n`, when this user may make one): the context is rendered from the files alone.
No container engine is needed or used: the build stages that matter for the collection are
replayed with the context's own files — the galaxy stage's requirements.yml installs the tarball
the context holds, and the builder stage's introspect.py finds no Python or system requirement.

Run: .venv/bin/python -m pytest tests/compat/test_execution_environment.py
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
EE_FILE = REPO / "meta" / "execution-environment.yml"
BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((REPO / "galaxy.yml").read_text())
TARBALL = f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"


def _offline(argv: list) -> list:
    """``argv`` inside a new network namespace with only a loopback that is down, when possible."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True, check=False).returncode == 0:
        return [unshare, "-n"] + argv
    return argv


def _run(argv, **kw) -> subprocess.CompletedProcess:
    res = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=600, check=False, **kw)
    assert res.returncode == 0, f"{argv} failed (rc={res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


@pytest.fixture(scope="module")
def builder_venv() -> Path:
    out = _run(["bash", REPO / "tests" / "compat" / "toolvenv.sh", "ansible-builder",
                REPO / "tests" / "compat" / "requirements-ee.txt"])
    return Path(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def context(builder_venv, tmp_path_factory) -> Path:
    """The EE definition next to a freshly built tarball, as `make build` leaves them, rendered."""
    top = tmp_path_factory.mktemp("ee")
    (top / "meta").mkdir()
    shutil.copy(EE_FILE, top / "meta")
    _run([BIN / "ansible-galaxy", "collection", "build", "--force", "--output-path", top / "dist", REPO])
    assert (top / "dist" / TARBALL).exists()
    _run(_offline([builder_venv / "bin" / "ansible-builder", "create", "-f", top / "meta" / "execution-environment.yml",
                   "-c", top / "context", "--output-filename", "Containerfile"]), cwd=str(top))
    return top / "context"


def test_definition_is_v3_with_only_what_the_collection_needs():
    ee = yaml.safe_load(EE_FILE.read_text())
    assert ee["version"] == 3
    deps = ee["dependencies"]
    # ansible-core (which requires Jinja2) and nothing else on the controller; no system packages
    assert set(deps) == {"python_interpreter", "ansible_core", "ansible_runner", "galaxy"}
    runtime = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())
    assert deps["ansible_core"]["package_pip"] == "ansible-core" + runtime["requires_ansible"], (deps, runtime)
    # the tarball it installs is the one `make build` makes of this version
    assert [c["name"] for c in deps["galaxy"]["collections"]] == [f"/build/badgateway/{TARBALL}"]
    assert [f["src"] for f in ee["additional_build_files"]] == [f"../dist/{TARBALL}"]


def test_create_renders_the_context_offline(context):
    containerfile = (context / "Containerfile").read_text()
    ee = yaml.safe_load(EE_FILE.read_text())
    assert f'ARG EE_BASE_IMAGE="{ee["images"]["base_image"]["name"]}"' in containerfile
    pkg = ee["dependencies"]["ansible_core"]["package_pip"]
    assert f'ARG ANSIBLE_INSTALL_REFS="{pkg} ansible-runner"' in containerfile
    assert "ansible-galaxy collection install" in containerfile
    assert (context / "_build" / "badgateway" / TARBALL).is_file()
    # no requirements.txt / bindep.txt of the user's: nothing beyond ansible-core
    assert not (context / "_build" / "requirements.txt").exists()
    assert not (context / "_build" / "bindep.txt").exists()


def test_galaxy_stage_installs_the_tarball_and_introspection_finds_no_requirement(context, builder_venv, tmp_path):
    # the galaxy stage: COPY _build /build; ansible-galaxy collection install -r requirements.yml
    reqs = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    for coll in reqs["collections"]:
        coll["name"] = coll["name"].replace("/build/", str(context / "_build") + "/", 1)
    local = tmp_path / "requirements.yml"
    local.write_text(yaml.safe_dump(reqs))
    _run(_offline([BIN / "ansible-galaxy", "collection", "install", "--force", "-r", local, "-p", tmp_path / "collections"]))
    installed = tmp_path / "collections" / "ansible_collections" / "badgateway" / "doctor"
    assert (installed / "meta" / "execution-environment.yml").exists()
    # the builder stage: the context's own introspect.py over the installed collections
    res = _run(_offline([builder_venv / "bin" / "python", context / "_build" / "scripts" / "introspect.py",
                         "introspect", "--sanitize", tmp_path / "collections"]))
    data = yaml.safe_load(res.stdout.split("---", 1)[1])
    assert data == {"python": [], "system": []}, res.stdout
