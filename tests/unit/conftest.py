# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures shared by the unit tests."""
from __future__ import annotations

import contextlib
import grp
import json
import pwd
import sys
import types
from unittest import mock

import pytest


def _install_patch_module_args_backport() -> None:
    """ansible-core < 2.19 has no ``ansible.module_utils.testing``: provide its one helper.

    The module tests use ``patch_module_args`` (the only way on 2.19+); on older cores the same
    effect is patching ``basic._ANSIBLE_ARGS`` (the compatibility matrix runs them on 2.17+)."""
    try:
        from ansible.module_utils import basic
    except ImportError:      # target-side tests run without ansible-core
        return
    try:
        import ansible.module_utils.testing  # noqa: F401  pylint: disable=unused-import
        return
    except ImportError:
        pass

    @contextlib.contextmanager
    def patch_module_args(args=None):
        payload = json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}).encode()
        with mock.patch.object(basic, "_ANSIBLE_ARGS", payload):
            yield

    backport = types.ModuleType("ansible.module_utils.testing")
    backport.patch_module_args = patch_module_args
    sys.modules["ansible.module_utils.testing"] = backport


_install_patch_module_args_backport()


@pytest.fixture
def supplementary_member():
    """``(user, group)``: a user of this host that is a member of a group other than its primary one.

    Skips the test when there is none (switching to such a user proves ``initgroups``)."""
    for gr in grp.getgrall():
        for member in gr.gr_mem:
            try:
                if pwd.getpwnam(member).pw_gid != gr.gr_gid:
                    return member, gr.gr_name
            except KeyError:
                continue
    pytest.skip("no user with a supplementary group on this host")
    return None
