# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Judge every remediated host on the controller: better than before, or to be restored (and why)."""

from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.plugin_utils import remediation_compare
from ansible_collections.badgateway.doctor.plugins.plugin_utils.remediation_action import RemediationAction, host_facts, plain
from ansible_collections.badgateway.doctor.plugins.plugin_utils.remediation_report import EVIDENCE_VARS, host_changed, host_evidence


def evidence_of(task_vars, host):
    """``host_evidence`` of one host from its registered variables."""
    try:
        hv = task_vars.get("hostvars", {})[host]
    except KeyError:
        hv = {}
    values = {key: plain(hv.get(name)) for key, name in EVIDENCE_VARS.items() if name in hv}
    return host_evidence(values, active=host in (task_vars.get("ansible_play_hosts") or []))


class ActionModule(RemediationAction):
    _VALID_ARGS = frozenset(("plan", "before", "after", "signatures_before"))

    def work(self, args, task_vars):
        the_plan = plain(args.get("plan")) or {}
        hosts = list(the_plan.get("hosts") or {})
        evidence = {h: evidence_of(task_vars, h) for h in hosts}
        signatures_after = {h: remediation_compare.signature_counts(host_facts(task_vars, h)) for h in hosts}
        replays = {}
        for ev in evidence.values():
            replays.update(ev["replays_by_finding"])
        verdicts = remediation_compare.verdicts(
            the_plan, plain(args.get("before")) or {}, plain(args.get("after")) or {},
            changed={h: host_changed(ev) for h, ev in evidence.items()},
            apply_errors={h: ev["error"] for h, ev in evidence.items() if ev["error"] and not ev.get("locked")},
            probes_before={h: ev["probes_before"] for h, ev in evidence.items()},
            probes_after={h: ev["probes_after"] for h, ev in evidence.items()},
            replays=replays, signatures_before=plain(args.get("signatures_before")) or {},
            signatures_after=signatures_after)
        return {"verdicts": verdicts, "signatures_after": signatures_after,
                "restore": [h for h, v in verdicts.items() if v.get("restore")],
                "summary": [f"{h}: " + ("better" if v["better"] else "NOT better: " + "; ".join(v["reasons"]))
                            for h, v in verdicts.items() if (the_plan["hosts"].get(h) or {}).get("steps")]}
