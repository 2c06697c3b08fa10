# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The facts the modules return (schema 2: shared values listed once) written out for the lab tests' checks, by the
collection's one expander (module_utils/_facts_compact.py)."""
from __future__ import annotations

import sys
from pathlib import Path

COLLECTIONS = Path(__file__).resolve().parents[1] / "output" / "collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible_collections.badgateway.doctor.plugins.module_utils._facts_compact import (  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import
    expand_facts,
    expand_listeners,
    expand_nginx,
    expand_sockets,
)


def expanded_results(data):
    """``data`` with every ``ansible_facts.badgateway`` in it (a dump of facts and registered results) written out."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if key == "badgateway" and isinstance(value, dict):
                out[key] = expand_facts(value)
            else:
                out[key] = expanded_results(value)
        return out
    if isinstance(data, list):
        return [expanded_results(v) for v in data]
    return data
