# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nginx as a service: installed? enabled? running? and when it should run but does not, why.

The ``service`` key of the ``nginx`` facts (docs/FACTS.md).  Four situations matter to the
diagnosis, and they are told apart here from systemd's own view and the processes:

- nginx is not installed (no binary, no unit);
- installed but not enabled and not running (an app-only host built from the same image: the
  configuration files on disk are not served);
- enabled (or asked to start) but down, failed or restarting: clients get connection refused or
  time-outs rather than 502; the cause is taken from the unit's journal, from the lines of its
  last start attempt (``bind() ... (98: Address already in use)``, a configuration error, a log or
  pid path it cannot open);
- running (whether it runs what the files say is the ``stale`` key of the nginx facts).

Facts, not judgement: the classification of the journal lines is data (``_log_patterns``).
Target side: Python standard library only.  Nothing here raises for bad host state.
"""
from __future__ import annotations

import os

from ansible_collections.badgateway.doctor.plugins.module_utils import _log_patterns as lp
from ansible_collections.badgateway.doctor.plugins.module_utils import _proc, systemd
from ansible_collections.badgateway.doctor.plugins.module_utils._mask import mask_text

UNIT_CANDIDATES = ("nginx.service", "openresty.service")
SHOW_PROPS = ("Id", "LoadState", "UnitFileState", "ActiveState", "SubState", "Result", "NRestarts",
              "ExecMainStatus", "ExecMainCode", "ActiveEnterTimestampMonotonic",
              "InactiveEnterTimestampMonotonic", "MainPID", "FragmentPath")
ENABLED_STATES = ("enabled", "enabled-runtime", "linked", "linked-runtime", "alias", "indirect", "generated")
JOURNAL_LINES = 200
JOURNAL_MAX_BYTES = 512 * 1024
MAX_EVIDENCE = 8
LINE_LEN = 300


def unit_of_master(master):
    """The systemd service the running master belongs to (its cgroup, read by the process scan), or None."""
    unit = (master or {}).get("unit")
    return unit if unit and unit.endswith(".service") else None


def _systemd_running():
    return os.path.isdir("/run/systemd/system")


def _state(props):
    """systemd's state of the nginx unit (``systemd.state_from_show``) and its unit file's."""
    state = systemd.state_from_show(props)
    state.update(unit_file_state=props.get("UnitFileState") or None,
                 inactive_enter=systemd.monotonic_to_epoch(props.get("InactiveEnterTimestampMonotonic")),
                 fragment_path=props.get("FragmentPath") or None)
    return state


def last_start_attempt(entries):
    """The journal entries ``[(ts, text, pid)]`` (oldest first) of the unit's last start attempt:
    from systemd's last ``Starting ...`` line on (all of them when there is none)."""
    start = 0
    for i, entry in enumerate(entries):
        text = entry[1]
        pid = str(entry[2]) if len(entry) > 2 and entry[2] is not None else None
        if text.startswith("Starting ") and (pid in (None, "1")):
            start = i
    return entries[start:]


def start_failure(entries):
    """Why the last start attempt failed, from its journal lines: ``{cause, message, target, at,
    lines}`` with the first classified nginx line as the cause (``lp.classify_nginx_start``), or
    None when no line of that attempt says why."""
    attempt = last_start_attempt(entries)
    cause = None
    lines = []
    failed_at = None
    for entry in attempt:
        ts, text = entry[0], entry[1]
        res = lp.classify_nginx_start(text)
        if res is not None:
            if cause is None:
                cause = dict(res, at=ts)
            if len(lines) < MAX_EVIDENCE:
                lines.append(mask_text(text)[:LINE_LEN])
        elif "Failed to start" in text or "Failed with result" in text or "Control process exited" in text:
            failed_at = failed_at or ts
            if len(lines) < MAX_EVIDENCE:
                lines.append(mask_text(text)[:LINE_LEN])
    if cause is None and failed_at is None:
        return None
    if cause is None:
        cause = {"cause": "unknown", "message": None, "target": None, "at": failed_at}
    cause["message"] = mask_text(cause["message"])[:LINE_LEN] if cause.get("message") else None
    cause["target"] = mask_text(cause["target"])[:LINE_LEN] if cause.get("target") else None
    cause["lines"] = lines
    return cause


def _read_unit_journal(unit, errors):
    from ansible_collections.badgateway.doctor.plugins.module_utils.logs import read_journal
    try:
        entries, _nbytes, _capped, problem = read_journal(["-u", unit, "-n", str(JOURNAL_LINES)], 0, JOURNAL_MAX_BYTES)
    except (OSError, ValueError) as exc:
        entries, problem = None, str(exc)
    if entries is None:
        errors.append(_proc.error("journalctl", None, "cannot read the journal of %s: %s" % (unit, problem)))
        return []
    return entries


def collect_service(binary, master, errors, unit=None):
    """The ``service`` facts of nginx (see docs/FACTS.md).

    ``binary``: the nginx binary found (or None); ``master``: the running master process
    (``_nginx_running.select_master``) or None; ``unit``: the unit to ask about (default: the
    master's unit, else the first of ``UNIT_CANDIDATES`` systemd knows).
    """
    out = {"installed": bool(binary), "running": bool(master), "managed_by": None, "unit": None,
           "enabled": None, "state": None, "start_failure": None}
    if not _systemd_running():
        out["managed_by"] = "none" if not master else "other"
        return out
    candidates = [unit] if unit else []
    if not unit:
        mine = unit_of_master(master)
        candidates = [mine] if mine else list(UNIT_CANDIDATES)
    props = {}
    for name in candidates:
        props = systemd.show([name], SHOW_PROPS, errors, timeout=15).get(name, {})
        if props.get("LoadState") not in (None, "", "not-found"):
            out["unit"] = name
            break
    if not out["unit"]:
        out["managed_by"] = "other" if master else None
        return out
    state = _state(props)
    out["managed_by"] = "systemd"
    out["installed"] = out["installed"] or state["load_state"] in ("loaded", "masked")
    out["state"] = state
    ufs = state["unit_file_state"] or ""
    out["enabled"] = True if ufs in ENABLED_STATES else (False if ufs else None)
    if state["load_state"] == "masked":
        out["enabled"] = False
    down = not master and (out["enabled"] or state["active_state"] in ("failed", "activating", "deactivating")
                           or state["sub_state"] == "auto-restart")
    if down:
        out["start_failure"] = start_failure(_read_unit_journal(out["unit"], errors))
    return out
