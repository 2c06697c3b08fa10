# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Evaluate every host's badgateway facts on the controller (from this play, the fact cache or saved files) and
write the reports."""

from __future__ import annotations

import json
import os

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.badgateway.doctor.plugins.plugin_utils import fact_sources, reports, rules
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_common import masked
from ansible_collections.badgateway.doctor.plugins.plugin_utils.fact_sources import host_entry  # noqa: F401  pylint: disable=unused-import

_plain = fact_sources.plain   # the deploy gate and gate_plan import it from here

FAIL_ON = ("critical", "warning", "info", "none")
FAIL_RANK = {"critical": 0, "warning": 1, "info": 2}


def gate(result, fail_on):
    """(failed, msg) for ``fail_on``."""
    if fail_on == "none":
        return False, "fail_on is none: the diagnosis never fails the play"
    worst = rules.worst_severity(result)
    hosts = result.get("hosts", {})
    hit = sorted(h for h, v in hosts.items() if any(
        FAIL_RANK.get(f.get("severity"), 9) <= FAIL_RANK[fail_on] for f in v.get("findings", [])))
    if hit:
        return True, (f"badgateway.doctor: {len(hit)} host(s) have findings at or above '{fail_on}' "
                      f"(worst: {worst}): {', '.join(hit)}")
    return False, f"badgateway.doctor: no finding at or above '{fail_on}' on {len(hosts)} host(s)"


FACTS_FROM = ("play", "cache", "files")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    _VALID_ARGS = frozenset(("report_dir", "formats", "fail_on", "gather_var", "hosts", "save_facts", "facts_from",
                             "facts_dir", "evaluate"))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        result["changed"] = False
        try:
            opts = self._options()
        except ValueError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        try:
            hosts, notes = self._hosts(opts, task_vars)
        except ValueError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        if notes:
            result["source_notes"] = notes
        result["facts_from"] = opts["facts_from"]
        written = {}
        if opts["save_facts"]:
            try:
                written.update(self._save_facts(hosts, opts["report_dir"]))
            except OSError as exc:
                result.update(failed=True, msg=f"cannot write the facts into {opts['report_dir']}/facts: {exc}")
                return result
        if not opts["evaluate"]:
            result.update(reports=written, report_dir=opts["report_dir"], hosts=sorted(hosts), gate_failed=False,
                          msg=f"badgateway.doctor: facts of {len(hosts)} host(s) gathered; not evaluated (evaluate=false)")
            return result
        try:
            diagnosis = rules.evaluate(hosts)
        except Exception as exc:  # a rule bug must not hide the other hosts' results: say so clearly
            raise AnsibleError(f"badgateway.doctor rules failed: {exc}") from exc
        if opts["formats"]:
            try:
                written.update(reports.write_reports(diagnosis, opts["report_dir"], opts["formats"]))
            except OSError as exc:
                result.update(failed=True, msg=f"cannot write the reports into {opts['report_dir']}: {exc}", diagnosis=diagnosis)
                return result
        failed, msg = gate(diagnosis, opts["fail_on"])
        if not hosts:
            msg += (" (no host to evaluate: the fact cache holds no badgateway facts)" if opts["facts_from"] == "cache"
                    else " (no host to evaluate)")
        result.update(
            diagnosis=diagnosis,
            summary=rules.summary_lines(diagnosis),
            reports=written,
            report_dir=opts["report_dir"],
            worst=rules.worst_severity(diagnosis),
            statuses={h: v["status"] for h, v in diagnosis["hosts"].items()},
            gate_failed=failed,
            failed=failed,
            msg=msg,
        )
        return result

    def _options(self):
        """The validated options, or ValueError with the sentence to fail with."""
        args = self._task.args
        unknown = sorted(set(args) - self._VALID_ARGS)
        if unknown:
            raise ValueError(f"unsupported option(s): {', '.join(unknown)}")
        fail_on = to_text(args.get("fail_on") or "critical").lower()
        if fail_on not in FAIL_ON:
            raise ValueError(f"fail_on must be one of {', '.join(FAIL_ON)}, not {fail_on!r}")
        formats = args.get("formats", list(reports.FORMATS))
        if isinstance(formats, str):
            formats = [f.strip() for f in formats.split(",") if f.strip()]
        formats = [to_text(f) for f in formats or []]
        bad = [f for f in formats if f not in reports.FORMATS]
        if bad:
            raise ValueError(f"unknown report format(s) {', '.join(bad)}; choose from {', '.join(reports.FORMATS)}")
        report_dir = to_text(args.get("report_dir") or "badgateway-report")
        if not os.path.isabs(report_dir):
            report_dir = os.path.join(os.getcwd(), report_dir)
        facts_from = to_text(args.get("facts_from") or "play").lower()
        if facts_from not in FACTS_FROM:
            raise ValueError(f"facts_from must be one of {', '.join(FACTS_FROM)}, not {facts_from!r}")
        facts_dir = to_text(args.get("facts_dir") or os.path.join(report_dir, "facts"))
        if not os.path.isabs(facts_dir):
            facts_dir = os.path.join(os.getcwd(), facts_dir)
        names = args.get("hosts") or []
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",") if n.strip()]
        return {"fail_on": fail_on, "formats": formats, "report_dir": report_dir, "facts_from": facts_from,
                "facts_dir": facts_dir, "hosts": [to_text(n) for n in names],
                "gather_var": to_text(args.get("gather_var") or "badgateway_gather_result"),
                "save_facts": boolean(args.get("save_facts", False), strict=False),
                "evaluate": boolean(args.get("evaluate", True), strict=False)}

    def _hosts(self, opts, task_vars):
        """``({name: entry}, notes)`` from the chosen source."""
        hostvars = task_vars.get("hostvars", {})
        if opts["facts_from"] == "files":
            return fact_sources.from_files(opts["facts_dir"], opts["hosts"], hostvars)
        if opts["facts_from"] == "cache":
            plugin, name = fact_sources.open_cache()
            if not fact_sources.is_memory_cache(name):
                return fact_sources.from_cache(plugin, opts["hosts"], hostvars)
            # the in-memory cache lives only as long as this run: what it holds are the inventory hosts' facts
            names = opts["hosts"] or [to_text(h) for h in task_vars.get("groups", {}).get("all", [])]
            cached = {}
            for host in names:
                try:
                    facts = (hostvars[host] or {}).get("ansible_facts")
                except KeyError:
                    facts = None
                cached[host] = fact_sources.cached_entry(host, fact_sources.plain(facts) if facts else None,
                                                         hostvars[host] if host in hostvars else None)
            if not opts["hosts"]:
                cached = {h: e for h, e in cached.items() if e["facts"] is not None}
            return cached, ["the fact cache is the in-memory one (fact_caching=memory): it holds only what this run "
                            "gathered; configure jsonfile or redis fact caching to evaluate facts of earlier runs"]
        names = opts["hosts"] or task_vars.get("ansible_play_hosts_all") or task_vars.get("ansible_play_hosts") or []
        return fact_sources.from_play(names, hostvars, opts["gather_var"]), []

    @staticmethod
    def _save_facts(hosts, report_dir):
        written = {}
        for name, entry in hosts.items():
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
            written[f"facts:{name}"] = reports.write_atomic(
                os.path.join(report_dir, "facts", f"{safe}.json"),
                json.dumps(masked({name: entry}), indent=1, sort_keys=True) + "\n")
        return written
