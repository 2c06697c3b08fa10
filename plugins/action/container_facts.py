# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the module of the same name and merges its sections into the host's ``badgateway`` fact."""
from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.plugin_utils.facts_action import FactsActionBase


class ActionModule(FactsActionBase):
    """See :mod:`ansible_collections.badgateway.doctor.plugins.plugin_utils.facts_action`."""
