#!/usr/bin/env python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""labctl: command line of the badgateway.doctor lab (see tests/lab/README.md)."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lab as labmod  # noqa: E402  pylint: disable=wrong-import-position
from lab import DEFAULT_NAME, Lab, LabError  # noqa: E402  pylint: disable=wrong-import-position


def _name(args) -> str:
    return args.name or os.environ.get("BGD_LAB_NAME") or DEFAULT_NAME


def cmd_up(args) -> int:
    t0 = time.time()
    lab = Lab(_name(args))
    lab.up(topology=args.topology, hosts=args.hosts)
    print(f"lab {lab.name} up in {time.time() - t0:.1f} s")
    for h in lab.state["hosts"]:
        print(f"  {h['name']:8} {h['addr']:15} role={h['role']}")
    print(f"inventory: {lab.inventory_path}")
    return 0


def cmd_down(args) -> int:
    if os.geteuid() != 0:
        raise LabError("the lab must run as root (it makes network namespaces, overlay mounts and systemd-nspawn containers)")
    if args.all:
        names = labmod.down_all()
        print(f"removed labs: {', '.join(names) if names else 'none'}")
        return 0
    lab = Lab(_name(args))
    lab.down()
    print(f"lab {lab.name} is down")
    return 0


def cmd_status(args) -> int:
    names = [args.name] if args.name else labmod.list_labs()
    if not names:
        print("no lab is up")
        return 0
    for name in names:
        lab = Lab(name)
        if not lab.state.get("hosts"):
            print(f"{name}: not up")
            continue
        print(f"{name}: topology={lab.topology} net={labmod.SUBNET_BASE}.{lab.net}.0/24 inventory={lab.inventory_path}")
        for h in lab.state["hosts"]:
            running = labmod._alive(h.get("pid1", 0)) and labmod._container_pid1(h.get("pid", 0)) == h.get("pid1")  # pylint: disable=protected-access
            routes = ""
            if running:
                routes = " ".join(f"{r}={s}" for r, s in lab.routes_ok(h["name"]).items())
            print(f"  {h['name']:8} {h['addr']:15} {'running' if running else 'STOPPED'} {routes}")
    return 0


def cmd_inventory(args) -> int:
    lab = Lab(_name(args))
    if not lab.inventory_path.exists():
        raise LabError(f"lab {lab.name} is not up (no {lab.inventory_path}); run `labctl.py up --name {lab.name}`")
    print(lab.inventory_path)
    return 0


def cmd_ssh(args) -> int:
    lab = Lab(_name(args))
    argv = lab.ssh_argv(args.host, user=args.user)
    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if cmd:
        argv += ["--"] + cmd
    else:
        argv.insert(1, "-t")
    os.execvp(argv[0], argv)
    return 0  # not reached


def cmd_fault(args) -> int:
    faults = labmod.load_faults()
    if args.action == "list":
        for f in faults.values():
            print(f"{f.name:28} {f.topology:6} {f.expect['status']} {f.expect.get('path', '/'):18} {f.expect_code:26} "
                  f"{f.description.splitlines()[0]}")
        return 0
    if not args.fault:
        raise LabError(f"`fault {args.action}` needs a fault name (see `labctl.py fault list`)")
    lab = Lab(_name(args))
    if args.action == "inject":
        mark = lab.inject(args.fault, args.host)
        if args.no_traffic:
            print(f"{args.fault} injected on {mark['host']} (no traffic sent)")
            return 0
        res = lab.verify(args.fault, mark)
        print(json.dumps({k: v for k, v in res.items() if k not in ("journal",)}, indent=2))
        return 0 if res["ok"] else 1
    lab.heal(args.fault, args.host)
    print(f"{args.fault} healed; every route answers 200")
    return 0


def cmd_cache(args) -> int:
    labmod.check_prerequisites(need_debootstrap=not args.clean)
    if args.clean:
        kept = []
        for p in labmod.CACHE_DIR.glob("base-*"):
            if ".tmp-" in p.name and labmod._alive(int(p.name.rsplit("-", 1)[1] or 0)):  # pylint: disable=protected-access
                kept.append(p.name)  # a build in progress
                continue
            if labmod._base_in_use(p):  # pylint: disable=protected-access
                kept.append(p.name)
                continue
            labmod._rm_tree(p)  # pylint: disable=protected-access
        if kept:
            raise LabError(f"removed the unused bases under {labmod.CACHE_DIR} but kept {', '.join(kept)}: running labs use them "
                           f"(`labctl.py down --all` first)")
        print(f"removed the lab cache under {labmod.CACHE_DIR}")
        return 0
    if args.rebuild:
        if labmod._base_in_use(labmod.base_dir()):  # pylint: disable=protected-access
            raise LabError(f"{labmod.base_dir()} is in use by a running lab; `labctl.py down --all` first")
        print(labmod.build_base(force=True))
        return 0
    base = labmod.base_dir()
    if base.exists():
        labmod.check_base(base)
        print(f"{base} (ready)")
    else:
        print(f"{base} (not built yet; `up` builds it)")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="labctl.py", description="badgateway.doctor lab: real Debian hosts under systemd-nspawn")
    sub = p.add_subparsers(dest="command", required=True)

    def named(sp):
        sp.add_argument("--name", help=f"lab name (default: $BGD_LAB_NAME or {DEFAULT_NAME})")
        return sp

    up = named(sub.add_parser("up", help="boot the lab (idempotent)"))
    up.add_argument("--topology", choices=["single", "split", "containers"], default="single")
    up.add_argument("--hosts", type=int, default=1, help="number of hosts (single topology); split: proxy/app pairs, 2 (default) or 4, 6, ...")
    up.set_defaults(func=cmd_up)
    down = named(sub.add_parser("down", help="remove everything the lab made (idempotent)"))
    down.add_argument("--all", action="store_true", help="remove every lab")
    down.set_defaults(func=cmd_down)
    st = sub.add_parser("status", help="show labs and route status")
    st.add_argument("--name")
    st.set_defaults(func=cmd_status)
    named(sub.add_parser("inventory", help="print the Ansible inventory path")).set_defaults(func=cmd_inventory)
    ssh = named(sub.add_parser("ssh", help="ssh to a lab host: ssh [--name N] HOST [-- CMD...]"))
    ssh.add_argument("--user", default="root")
    ssh.add_argument("host")
    ssh.add_argument("cmd", nargs=argparse.REMAINDER)
    ssh.set_defaults(func=cmd_ssh)
    fl = named(sub.add_parser("fault", help="fault list | inject NAME | heal NAME"))
    fl.add_argument("action", choices=["list", "inject", "heal"])
    fl.add_argument("fault", nargs="?")
    fl.add_argument("--host")
    fl.add_argument("--no-traffic", action="store_true", help="inject only: send no request, check nothing")
    fl.set_defaults(func=cmd_fault)
    ca = sub.add_parser("cache", help="show, --rebuild or --clean the cached base rootfs")
    ca.add_argument("--clean", action="store_true")
    ca.add_argument("--rebuild", action="store_true")
    ca.set_defaults(func=cmd_cache)

    args = p.parse_args(argv)
    try:
        if args.command not in ("status",) and not (args.command == "fault" and args.action == "list"):
            if args.command in ("up", "cache") or os.geteuid() != 0:
                labmod.check_prerequisites(need_debootstrap=args.command == "cache" and args.rebuild)
        return args.func(args)
    except LabError as exc:
        print(f"labctl: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("labctl: interrupted; run `labctl.py down` to clean up", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
