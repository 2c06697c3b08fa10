# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Durations as users write them in options: ``90``, ``90s``, ``30m``, ``1h``, ``2d``, ``1h30m``."""
from __future__ import annotations

import math
import re

YEAR = 365.25 * 86400.0
MAX_SECONDS = 100 * YEAR  # beyond any log; keeps "now - since" and journalctl --since @N in range
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d{1,12}(?:\.\d{1,9})?)(ms|s|m|h|d|w)")
_NUMBER = re.compile(r"\d{1,12}(?:\.\d{1,9})?")


def span_text(seconds):
    """``100 years``, ``2 days``, ``90 seconds``: a limit as a person reads it."""
    for unit, size in (("years", YEAR), ("days", 86400.0)):
        if seconds >= size:
            return "%g %s" % (round(seconds / size, 2), unit)
    return "%g seconds" % seconds


def parse_since(value, maximum=MAX_SECONDS):
    """Return the duration ``value`` in seconds (float), between 0 and ``maximum``.

    A bare number is seconds. Raises ``ValueError`` naming the problem for anything else
    (negative, not finite - ``inf``, ``nan`` -, longer than ``maximum``, unknown units).
    """
    if isinstance(value, bool):
        raise ValueError("a duration cannot be a boolean")
    if isinstance(value, (int, float)):
        seconds = float(value) if not isinstance(value, int) or abs(value) < 2 ** 63 else math.inf
    else:
        text = str(value).strip().lower().replace(" ", "")
        if not text:
            raise ValueError("the duration is empty")
        if text.startswith("-"):
            raise ValueError("a duration cannot be negative")
        if _NUMBER.fullmatch(text):
            seconds = float(text)
        else:
            pos = 0
            seconds = 0.0
            for match in _PART.finditer(text):
                if match.start() != pos:
                    break
                seconds += float(match.group(1)) * _UNITS[match.group(2)]
                pos = match.end()
            if pos != len(text) or pos == 0:
                raise ValueError("use a number of seconds or units such as 30m, 1h, 2d")
    if math.isnan(seconds) or math.isinf(seconds):
        raise ValueError("a duration must be a finite number of seconds")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if seconds > maximum:
        raise ValueError("a duration can be at most %s" % span_text(maximum))
    return seconds
