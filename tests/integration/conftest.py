# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures owning the lab of real test hosts (tests/lab): it is always brought down.

Environment:
    BGD_LAB_NAME   lab name (default ``bgd``); the split-topology lab is ``<name>-s``
    BGD_LAB_HOSTS  hosts of the single-topology lab (default 2)
    BGD_LAB_KEEP=1 leave the labs up after the session (for debugging; `labctl.py down` later)
"""
from __future__ import annotations

import atexit
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

LAB_DIR = Path(__file__).resolve().parents[1] / "lab"
sys.path.insert(0, str(LAB_DIR))

import lab as labmod  # noqa: E402  pylint: disable=wrong-import-position


def _skip_reason() -> str:
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces, overlay mounts, systemd-nspawn)"
    for tool in ("systemd-nspawn", "nsenter", "ip"):
        if shutil.which(tool, path=labmod.PATH_ENV) is None:
            return f"the lab needs {tool} (run tests/lab/install-deps.sh)"
    if not labmod.base_dir().exists() and shutil.which("debootstrap", path=labmod.PATH_ENV) is None:
        return "the lab needs debootstrap to build its base image (run tests/lab/install-deps.sh)"
    return ""


def _owned_lab(request, name: str, topology: str, hosts: int):
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    the_lab = labmod.Lab(name)
    keep = os.environ.get("BGD_LAB_KEEP") == "1"
    done = []

    def teardown():
        if done or keep:
            return
        done.append(True)
        the_lab.down()

    # brought down by the finalizer (normal end, failures, Ctrl-C), at interpreter exit,
    # and on SIGTERM (turned into KeyboardInterrupt so the finalizers run)
    request.addfinalizer(teardown)
    atexit.register(teardown)
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        def _term(signum, frame):
            raise KeyboardInterrupt(f"signal {signum}")
        signal.signal(signal.SIGTERM, _term)
    try:
        the_lab.up(topology=topology, hosts=hosts)
    except BaseException:
        teardown()
        raise
    return the_lab


@pytest.fixture(scope="session")
def lab(request):
    """The single-topology lab (hosts web1..webN), up for the whole session, always down after."""
    name = os.environ.get("BGD_LAB_NAME", labmod.DEFAULT_NAME)
    return _owned_lab(request, name, "single", int(os.environ.get("BGD_LAB_HOSTS", "2")))


@pytest.fixture(scope="session")
def split_lab(request):
    """The split-topology lab (proxy1 -> app1 over the lab link), always down after."""
    name = os.environ.get("BGD_LAB_NAME", labmod.DEFAULT_NAME) + "-s"
    return _owned_lab(request, name, "split", 2)


@pytest.fixture(scope="session")
def split4_lab(request):
    """The split topology with two pairs (proxy1 -> app1, proxy2 -> app2), name ``<name>-s4``, always down after."""
    name = os.environ.get("BGD_LAB_NAME", labmod.DEFAULT_NAME) + "-s4"
    return _owned_lab(request, name, "split", 4)
