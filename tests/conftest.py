# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make the checkout importable as ``ansible_collections.badgateway.doctor``.

Ansible imports collection code by its full name. The tests run from a plain checkout, so
this places a symlink ``tests/output/collections/ansible_collections/badgateway/doctor`` to
the checkout (tests/output is git-ignored) and puts that tree first on ``sys.path``. The same
tree serves as ``ANSIBLE_COLLECTIONS_PATH`` for playbook runs in the integration tests.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COLLECTIONS_ROOT = REPO / "tests" / "output" / "collections"
SHARED = (REPO / ".." / "shared").resolve()


def _ensure_collection_link() -> None:
    link = COLLECTIONS_ROOT / "ansible_collections" / "badgateway" / "doctor"
    if link.is_symlink() and link.resolve() == REPO:
        return
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(f".doctor.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(REPO, target_is_directory=True)
    os.replace(tmp, link)


_ensure_collection_link()
if str(COLLECTIONS_ROOT) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS_ROOT))
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS_ROOT))
