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


@pytest.mark.parametrize("bad, message", [
    ("", "the duration is empty"), ("h", "use a number"), ("1x", "use a number"), ("1h 30x", "use a number"),
    ("-5", "cannot be negative"), ("m30", "use a number"), (True, "boolean"), (-1, "cannot be negative"),
    # not finite or absurd: these used to reach journalctl --since / time arithmetic
    ("inf", "use a number"), ("nan", "use a number"), ("1e308", "use a number"), (float("inf"), "finite"),
    (float("nan"), "finite"), (1e308, "at most 100 years"), (10 ** 30, "finite"), ("36526d", "at most 100 years"),
    ("99999999999999999999d", "use a number"), ("1" * 5000, "use a number"),
])
def test_rejects(bad, message):
    with pytest.raises(ValueError, match=message):
        parse_since(bad)


def test_maximum():
    assert parse_since("366d") == 366 * 86400.0
    assert parse_since(10 ** 9) == 1e9  # "everything" for a library caller
    assert parse_since(10, maximum=10) == 10.0
    with pytest.raises(ValueError, match="at most 10 seconds"):
        parse_since(11, maximum=10)
