# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures shared by the unit tests."""
from __future__ import annotations

import grp
import pwd

import pytest


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
