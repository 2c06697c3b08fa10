# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Makes ansible_collections.badgateway.doctor importable before the tests import it (see facts_fixtures)."""
from __future__ import annotations

from facts_fixtures import ensure_collection_path

ensure_collection_path()
