# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Judge every remediated host on the controller: better than before, or to be restored (and why)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.badgateway.doctor.plugins.action.diagnose_evaluate import _plain
from ansible_collections.badgateway.doctor.plugins.plugin_utils import remediation_compare
from ansible_collections.badgateway.doctor.plugins.plugin_utils.remediation_report import (
    EVIDENCE_VARS,
    host_changed,
    host_evidence,
)


def evidence_of(task_vars, host):
    """``host_evidence`` of one host from its registered variables."""
    try:
        hv = task_vars.get("hostvars", {})[host]
    except KeyError:
        hv = {}
    values = {key: _plain(hv.get(name)) for key, name in EVIDENCE_VARS.items() if name in hv}
    return host_evidence(values, active=host in (task_vars.get("ansible_play_hosts") or []))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("plan", "before", "after", "signatures_before"))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        result["changed"] = False
        args = self._task.args
        unknown = sorted(set(args) - self._VALID_ARGS)
        if unknown:
            result.update(failed=True, msg=f"unsupported option(s): {', '.join(unknown)}")
            return result
        the_plan = _plain(args.get("plan")) or {}
        hosts = list((the_plan.get("hosts") or {}))
        evidence = {h: evidence_of(task_vars, h) for h in hosts}
        hostvars = task_vars.get("hostvars", {})
        signatures_after = {}
        for host in hosts:
            try:
                facts = _plain((hostvars[host].get("ansible_facts") or {}).get("badgateway"))
            except KeyError:
                facts = None
            signatures_after[host] = remediation_compare.signature_counts(facts)
        replays = {}
        for ev in evidence.values():
            replays.update(ev["replays_by_finding"])
        verdicts = remediation_compare.verdicts(
            the_plan, _plain(args.get("before")) or {}, _plain(args.get("after")) or {},
            changed={h: host_changed(ev) for h, ev in evidence.items()},
            apply_errors={h: ev["error"] for h, ev in evidence.items() if ev["error"] and not ev.get("locked")},
            probes_before={h: ev["probes_before"] for h, ev in evidence.items()},
            probes_after={h: ev["probes_after"] for h, ev in evidence.items()},
            replays=replays, signatures_before=_plain(args.get("signatures_before")) or {},
            signatures_after=signatures_after)
        result.update(verdicts=verdicts, signatures_after=signatures_after,
                      restore=[h for h, v in verdicts.items() if v.get("restore")],
                      summary=[f"{h}: " + ("better" if v["better"] else "NOT better: " + "; ".join(v["reasons"]))
                               for h, v in verdicts.items() if (the_plan["hosts"].get(h) or {}).get("steps")])
        return result
