# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils.timeparse import parse_since


@pytest.mark.parametrize("text, seconds", [
    ("90", 90.0), (90, 90.0), ("1.5", 1.5), ("90s", 90.0), ("30m", 1800.0), ("1h", 3600.0),
    ("2d", 172800.0), ("1h30m", 5400.0), ("500ms", 0.5), (" 1H ", 3600.0), ("1w", 604800.0),
])
def test_parse(text, seconds):
    assert parse_since(text) == seconds


@pytest.mark.parametrize("bad", ["", "h", "1x", "1h 30x", "-5", "m30", True, -1])
def test_rejects(bad):
    with pytest.raises(ValueError):
        parse_since(bad)
