# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the evaluation's input comes from: this play, Ansible's fact cache, or saved facts files.

Every source gives the same thing, :func:`rules.evaluate`'s input: ``{inventory_hostname: {"facts":
ansible_facts.badgateway or None, "unreachable": bool, "address": [str], "msg": str}}``.

* ``play`` - the hosts of the running play: their gather results and ``ansible_facts`` (the diagnose
  playbook gathers and evaluates in one run).
* ``cache`` - every host Ansible's configured fact cache holds ``badgateway`` facts (or a failed
  gather's record) for: ``jsonfile``, ``community.general.redis``, AWX's job fact cache... The gather
  step stored them there in an earlier run, for example in one slice of a sliced job. No host is
  contacted.
* ``files`` - ``<dir>/*.json`` written by the diagnose playbook's ``badgateway_save_facts``
  (``{host: entry}`` per file).

What the rules need from the inventory (``ansible_host``, ``badgateway_host_addresses``) travels with
the facts (``badgateway.inventory``, recorded by the fact modules' action plugins); when the host is
in the evaluating job's inventory too, its current variables are added.
"""

from __future__ import annotations

import json
import os

from ansible.module_utils.common.text.converters import to_text

FAILED_GATHER_FACT = "diagnose_gather_failed"   # set_fact (cacheable) by the diagnose role when a gather fails


def plain(value):
    """Convert Ansible's lazy / tagged containers into plain Python data."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {to_text(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if isinstance(value, str):
        return str(value)
    return to_text(value)


def inventory_addresses(name, hvars):
    """The addresses the inventory gives ``name``: ``ansible_host``, the name, ``badgateway_host_addresses``."""
    hvars = hvars or {}
    address = []
    for key in ("ansible_host", "inventory_hostname"):
        if hvars.get(key):
            address.append(to_text(hvars.get(key)))
    extra = plain(hvars.get("badgateway_host_addresses") or [])
    for item in extra if isinstance(extra, list) else [extra]:
        address.append(to_text(item))
    if name and not hvars.get("inventory_hostname"):
        address.append(to_text(name))
    return list(dict.fromkeys(a for a in address if a))


def host_entry(name, hvars, gather_var):
    """The evaluate() input for one host of this play, from its hostvars."""
    hvars = hvars or {}
    gather = plain(hvars.get(gather_var)) if gather_var in hvars else None
    facts = plain((hvars.get("ansible_facts") or {}).get("badgateway"))
    address = []
    for key in ("ansible_host", "inventory_hostname"):
        if hvars.get(key):
            address.append(to_text(hvars.get(key)))
    for extra in plain(hvars.get("badgateway_host_addresses") or []):
        address.append(to_text(extra))
    unreachable = False
    msg = ""
    if isinstance(gather, dict):
        unreachable = bool(gather.get("unreachable"))
        msg = to_text(gather.get("msg") or "")
        if gather.get("failed") and not unreachable and not isinstance(facts, dict):
            facts = None
        if isinstance(gather.get("ansible_facts"), dict) and isinstance(gather["ansible_facts"].get("badgateway"), dict):
            facts = gather["ansible_facts"]["badgateway"]
    elif not isinstance(facts, dict):
        unreachable = True
        msg = "no gather result: the host left the play before the diagnosis (unreachable or failed earlier)"
    if unreachable:
        facts = None
    return {"facts": facts if isinstance(facts, dict) else None, "unreachable": unreachable,
            "address": list(dict.fromkeys(address)), "msg": msg}


def from_play(names, hostvars, gather_var):
    """``{name: entry}`` for the play's hosts ``names``."""
    hosts = {}
    for name in names:
        name = to_text(name)
        try:
            hv = hostvars[name]
        except KeyError:
            hv = {}
        hosts[name] = host_entry(name, hv, gather_var)
    return hosts


def cached_entry(name, cached, hvars=None):
    """The evaluate() input for one host from what the fact cache holds for it (``cached``: its facts
    dict, or None when the cache has nothing for it)."""
    cached = cached if isinstance(cached, dict) else {}
    facts = cached.get("badgateway")
    facts = plain(facts) if isinstance(facts, dict) else None
    record = cached.get(FAILED_GATHER_FACT)
    record = plain(record) if isinstance(record, dict) else None
    inv = facts.get("inventory") if facts and isinstance(facts.get("inventory"), dict) else {}
    address = [to_text(a) for a in inv.get("addresses") or [] if isinstance(a, (str, int))]
    address = list(dict.fromkeys(address + [to_text(name)] + inventory_addresses(name, hvars)))
    entry = {"facts": facts, "unreachable": False, "address": address, "msg": ""}
    gathered_at = inv.get("gathered_at") if isinstance(inv.get("gathered_at"), (int, float)) else None
    failed_at = record.get("at") if record and isinstance(record.get("at"), (int, float)) else None
    if record and (facts is None or gathered_at is None or (failed_at is not None and failed_at >= gathered_at)):
        # the newest gather of this host failed: its older facts (if any) no longer describe it
        entry.update(facts=None, unreachable=bool(record.get("unreachable")),
                     msg=to_text(record.get("msg") or "the last gather of this host failed"))
    elif facts is None:
        entry["msg"] = ("no badgateway facts of this host in the fact cache (not gathered, or expired after "
                        "fact_caching_timeout)")
    return entry


def open_cache():
    """The configured fact cache plugin, a new instance of it: ``(plugin, name)``.

    Raises ``ValueError`` with a sentence when it cannot be loaded (a missing Python library such as
    ``redis``, an unreachable server, a directory without permissions)."""
    # pylint: disable=import-outside-toplevel
    from ansible import constants as C
    from ansible.plugins.loader import cache_loader
    name = to_text(C.CACHE_PLUGIN or "memory")
    try:
        plugin = cache_loader.get(name)
    except Exception as exc:  # pylint: disable=broad-except  # whatever the plugin raises, say which and why
        raise ValueError(f"cannot open the fact cache (plugin {name}): {exc}") from exc
    if plugin is None:
        raise ValueError(f"cannot open the fact cache: no cache plugin named {name}")
    try:
        # ansible-core's file caches list their keys with len(prefix): an unset prefix (the default) is ''
        if plugin.get_option("_prefix") is None:
            plugin.set_option("_prefix", "")
    except (KeyError, AttributeError):
        pass    # a plugin without a prefix option
    return plugin, name


def is_memory_cache(name):
    return name in ("memory", "ansible.builtin.memory", "ansible.legacy.memory")


def cache_keys(plugin):
    """``{host: reader}`` for every host the cache plugin holds facts for; ``reader()`` returns them.

    ansible-core 2.19 wraps every cache plugin in a proxy that stores each host under a schema prefix
    (``s1_web1``, the facts inside a ``__payload__`` document) and restores the names in ``keys()`` - with
    ``str.startswith``, which fails on the bytes that the ``redis`` plugin's ``keys()`` returns. So the
    names are read from the plugin itself, decoded, and restored here the way the proxy does it. Entries
    in the format before 2.19 (plain names: an older core, or a tool such as AWX writing the cache files
    itself) are read directly; when a host has both, the proxy's (newer format) wins."""
    inner = getattr(plugin, "__wrapped__", plugin)
    restore = getattr(plugin, "_restore_key", None) if inner is not plugin else None
    found = {}
    legacy = {}
    for raw in inner.keys():
        raw = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else to_text(raw)
        name = restore(raw) if restore is not None else raw
        if name:
            found[name] = (lambda n=name: plugin.get(n))
        elif raw:
            legacy[raw] = (lambda r=raw: inner.get(r))
    for name, reader in legacy.items():
        found.setdefault(name, reader)
    return dict(sorted(found.items()))


def from_cache(plugin, names=None, hostvars=None):
    """``({name: entry}, notes)``: every host the cache holds badgateway facts (or a failed gather's record)
    for, or exactly ``names`` when given (a name the cache has nothing for gets an entry without facts)."""
    notes = []
    hostvars = hostvars if hostvars is not None else {}
    try:
        readers = cache_keys(plugin)
    except Exception as exc:  # pylint: disable=broad-except
        raise ValueError(f"cannot list the hosts in the fact cache: {exc}") from exc
    wanted = [to_text(n) for n in names] if names else list(readers)
    hosts = {}
    for name in wanted:
        cached = None
        if name in readers:
            try:
                cached = readers[name]()
            except KeyError:
                cached = None
            except Exception as exc:  # pylint: disable=broad-except  # one bad entry must not hide the others
                notes.append(f"{name}: cannot read its facts from the cache: {exc}")
                hosts[name] = {"facts": None, "unreachable": False, "address": [name],
                               "msg": f"cannot read this host's facts from the fact cache: {exc}"}
                continue
        if not names and not (isinstance(cached, dict) and (
                isinstance(cached.get("badgateway"), dict) or isinstance(cached.get(FAILED_GATHER_FACT), dict))):
            continue    # another playbook's facts: not ours to judge
        hv = _hostvars_of(hostvars, name)
        hosts[name] = cached_entry(name, cached, hv)
    return hosts, notes


def _hostvars_of(hostvars, name):
    try:
        return hostvars[name] if name in hostvars else None
    except Exception:  # pylint: disable=broad-except  # a host's variables that cannot be templated: go without them
        return None


def from_files(directory, names=None, hostvars=None):
    """``({name: entry}, notes)`` from ``directory/*.json`` (the diagnose playbook's saved facts).

    A file that cannot be read or does not hold ``{host: entry}`` becomes an entry (named after the
    file) whose message says so; ``names`` limits the result to those hosts."""
    hostvars = hostvars if hostvars is not None else {}
    try:
        files = sorted(f for f in os.listdir(directory) if f.endswith(".json") and not f.startswith("."))
    except OSError as exc:
        raise ValueError(f"cannot list the facts directory {directory}: {exc.strerror or exc}") from exc
    hosts, notes = {}, []
    for fname in files:
        path = os.path.join(directory, fname)
        stem = fname[:-len(".json")]
        try:
            with open(path, "rb") as fh:
                data = json.loads(fh.read().decode("utf-8", errors="replace"))
        except (OSError, ValueError, RecursionError) as exc:
            notes.append(f"{path}: {exc}")
            hosts[stem] = {"facts": None, "unreachable": False, "address": [stem],
                           "msg": f"cannot read the saved facts {path}: {exc}"}
            continue
        if not isinstance(data, dict) or not data or not all(isinstance(v, dict) for v in data.values()):
            notes.append(f"{path}: not a saved facts file")
            hosts[stem] = {"facts": None, "unreachable": False, "address": [stem],
                           "msg": f"{path} does not hold saved badgateway facts ({{host: {{facts, address, ...}}}})"}
            continue
        for name, entry in data.items():
            name = to_text(name)
            facts = entry.get("facts")
            address = [to_text(a) for a in entry.get("address") or [] if isinstance(a, (str, int))]
            hv = _hostvars_of(hostvars, name)
            hosts[name] = {"facts": facts if isinstance(facts, dict) else None,
                           "unreachable": bool(entry.get("unreachable")),
                           "address": list(dict.fromkeys(address + [name] + inventory_addresses(name, hv))),
                           "msg": to_text(entry.get("msg") or "")}
    if names:
        wanted = [to_text(n) for n in names]
        hosts = {n: hosts.get(n) or {"facts": None, "unreachable": False, "address": [n],
                                     "msg": f"no saved facts of this host in {directory}"} for n in wanted}
    return hosts, notes
