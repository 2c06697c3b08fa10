# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The common part of the remediate role's action plugins (plan, verdict and report on the controller; changes on the target)."""

from __future__ import annotations

import os

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.badgateway.doctor.plugins.action.diagnose_evaluate import _plain
from ansible_collections.badgateway.doctor.plugins.plugin_utils import reports


class ActionFailed(Exception):
    """The task fails with this message (and ``extra`` in its result)."""

    def __init__(self, msg, **extra):
        super().__init__(msg)
        self.extra = extra


def plain(value):
    """Ansible's lazy / tagged containers as plain Python data."""
    return _plain(value)


def host_facts(task_vars, host):
    """The ``badgateway`` facts of one host (plain data), None when it has none."""
    try:
        hv = task_vars.get("hostvars", {})[host]
    except KeyError:
        return None
    return plain((hv.get("ansible_facts") or {}).get("badgateway"))


def formats_option(value):
    """The ``formats`` option as a list of known report formats (ActionFailed otherwise)."""
    if value is None:
        return list(reports.FORMATS)
    if isinstance(value, str):
        value = [f.strip() for f in value.split(",") if f.strip()]
    formats = [to_text(f) for f in value]
    bad = [f for f in formats if f not in reports.FORMATS]
    if bad:
        raise ActionFailed(f"unknown report format(s) {', '.join(bad)}; choose from {', '.join(reports.FORMATS)}")
    return formats


def absolute_path(value, default):
    """A path option on the controller; a relative one is taken from ansible-playbook's working directory."""
    path = to_text(value or default)
    return path if os.path.isabs(path) else os.path.join(os.getcwd(), path)


class RemediationAction(ActionBase):
    """Checks the options, then :meth:`work` fills the result. Runs on the controller unless a subclass needs the connection."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset()

    def work(self, args, task_vars):
        """Return the result's keys; raise ActionFailed to fail the task."""
        raise NotImplementedError

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        result["changed"] = False
        unknown = sorted(set(self._task.args) - self._VALID_ARGS)
        if unknown:
            result.update(failed=True, msg=f"unsupported option(s): {', '.join(unknown)}")
            return result
        try:
            result.update(self.work(self._task.args, task_vars))
        except ActionFailed as exc:
            result.update(exc.extra, failed=True, msg=str(exc))
        return result
