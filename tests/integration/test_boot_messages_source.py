# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The app servers' fatal-at-boot messages, extracted again from the installed packages.

gunicorn and uvicorn from the lab image's venv (what the lab hosts run); hypercorn, daphne and
uWSGI from their packages on the package index (``pip download``, the pinned versions, cached under
``/var/cache/badgateway-lab/app-server-src``).  Every message found must be in
``tests/unit/plugins/module_utils/fixtures/app_servers/boot_messages.json`` - whose every entry the
unit test checks is classified by ``_log_patterns`` - so a server version that adds a message
nobody classified fails here.  (PHP-FPM's were taken by hand: see ``extract_boot_messages.py``.)
"""
from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "unit" / "plugins" / "module_utils" / "fixtures" / "app_servers"
sys.path.insert(0, str(FIXTURES))
sys.path.insert(0, str(REPO / "tests" / "lab"))

import extract_boot_messages as X  # noqa: E402  pylint: disable=wrong-import-position
import lab as labmod  # noqa: E402  pylint: disable=wrong-import-position

CACHE = Path("/var/cache/badgateway-lab/app-server-src")
KNOWN = json.loads((FIXTURES / "boot_messages.json").read_text())
PIP = REPO / ".venv" / "bin" / "pip"


def _site_packages():
    base = labmod.base_dir()
    found = sorted(base.glob("srv/app/venv/lib/python3*/site-packages"))
    if not found:
        pytest.skip("the lab's base image is not built (%s)" % base)
    return found[0]


def _downloaded(server):
    """The unpacked package of ``server`` (pip download into the cache once)."""
    version = X.VERSIONS[server]
    root = CACHE / ("%s-%s" % (server, version))
    if (root / ".complete").exists():
        return root / ("uwsgi-%s" % version) if server == "uwsgi" else root
    root.mkdir(parents=True, exist_ok=True)
    argv = [str(PIP) if PIP.exists() else "pip", "download", "-q", "--no-deps", "-d", str(root), "%s==%s" % (server, version)]
    if server == "uwsgi":
        argv[3:3] = ["--no-binary", ":all:"]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    if res.returncode != 0:
        pytest.skip("pip download %s==%s failed: %s" % (server, version, (res.stderr or res.stdout).strip()[-300:]))
    for archive in root.iterdir():
        if archive.suffix == ".whl":
            zipfile.ZipFile(archive).extractall(root)
        elif archive.name.endswith(".tar.gz"):
            with tarfile.open(archive) as tar:
                tar.extractall(root)    # noqa: S202  (a pinned sdist from the package index)
    (root / ".complete").write_text("")
    return root / ("uwsgi-%s" % version) if server == "uwsgi" else root


def _source(server):
    if server in ("gunicorn", "uvicorn"):
        site = _site_packages()
        if not (site / server).exists():
            pytest.skip("the lab image has no %s" % server)
        return site
    return _downloaded(server)


@pytest.mark.parametrize("server", ["gunicorn", "uvicorn", "hypercorn", "daphne", "uwsgi"])
def test_no_message_is_new(server):
    fresh = X.extract(server, _source(server))
    assert fresh, "nothing extracted from %s: the file layout changed (FILES in extract_boot_messages.py)" % server
    known = {m["template"] for m in KNOWN[server]["messages"]}
    new = sorted({m["template"] for m in fresh} - known)
    assert not new, ("%s has messages boot_messages.json lacks (run extract_boot_messages.py --write, then classify them "
                     "in _log_patterns.py): %s" % (server, new))
