# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Durations as users write them in options: ``90``, ``90s``, ``30m``, ``1h``, ``2d``, ``1h30m``."""
from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_since(value):
    """Return the duration ``value`` in seconds (float).

    A bare number is seconds. Raises ``ValueError`` naming the problem for anything else.
    """
    if isinstance(value, bool):
        raise ValueError("a duration cannot be a boolean")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    text = str(value).strip().lower().replace(" ", "")
    if not text:
        raise ValueError("the duration is empty")
    try:
        seconds = float(text)
    except ValueError:
        pos = 0
        seconds = 0.0
        for match in _PART.finditer(text):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if pos != len(text) or pos == 0:
            raise ValueError("use a number of seconds or units such as 30m, 1h, 2d")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds
