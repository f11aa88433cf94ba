#!/usr/bin/env python3
"""Where the machine's CPU goes while a command runs (make test, a scenario).

Runs the command given after `--` and samples, every few seconds, the CPU
time of: each docker container (its cgroup's cpuacct.usage: the hosts' apt,
dpkg, pip, systemd, Nginx...), the qemu processes (the audit scenario's
emulated VMs), dockerd and containerd, and the whole machine (/proc/stat).
What is left is the controller: Ansible, Molecule, pytest, Testinfra, ssh.
Containers are grouped by name without their last part (pyweb-stack-app1 ->
pyweb-stack), so each scenario gets one line.

Figures are printed when the command ends and written as JSON (--out).

    python bench/cpu_share.py --out bench/results/cpu-make-test.json -- make test
"""

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
CGROUP_ROOTS = ["/sys/fs/cgroup/cpuacct/docker", "/sys/fs/cgroup/cpu,cpuacct/docker"]


def machine_busy_seconds():
    """Busy CPU seconds of the whole machine since boot (all but idle and iowait)."""
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / TICK


def container_seconds(names):
    """CPU seconds of each running container, by container group."""
    out = {}
    for root in CGROUP_ROOTS:
        if not os.path.isdir(root):
            continue
        for cid in os.listdir(root):
            path = os.path.join(root, cid, "cpuacct.usage")
            if not os.path.isfile(path):
                continue
            try:
                with open(path, encoding="ascii") as f:
                    out[cid] = int(f.read()) / 1e9
            except OSError:
                continue
        break
    if out and any(cid not in names for cid in out):
        try:
            ps = subprocess.run(
                ["docker", "ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}}"],
                capture_output=True, text=True, timeout=20, check=False,
            ).stdout
            for line in ps.splitlines():
                cid, name = line.split(maxsplit=1)
                names[cid] = name
        except (OSError, subprocess.SubprocessError, ValueError):
            pass
    return out


def process_seconds(pattern):
    """CPU seconds (self and reaped children) of the live processes whose command matches."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            if not re.search(pattern, cmd):
                continue
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read().rsplit(")", 1)[1].split()
            out[pid] = sum(int(x) for x in stat[11:15]) / TICK
        except OSError:
            continue
    return out


def group_of(name):
    """pyweb-stack-app1 -> pyweb-stack; a name without dashes stays as it is."""
    return name.rsplit("-", 1)[0] if "-" in name else name


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="bench/results/cpu-share.json", help="where to write the figures")
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between samples")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ...")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to measure after --")

    names = {}
    last_container, last_qemu, last_docker = {}, {}, {}
    container_total, qemu_total, docker_total = {}, 0.0, 0.0
    start_busy = machine_busy_seconds()
    start = time.monotonic()
    done = threading.Event()

    def sample():
        nonlocal qemu_total, docker_total
        for cid, seconds in container_seconds(names).items():
            delta = seconds - last_container.get(cid, 0.0)
            last_container[cid] = seconds
            group = group_of(names.get(cid, cid[:12]))
            container_total[group] = container_total.get(group, 0.0) + max(delta, 0.0)
        for store, pattern, kind in ((last_qemu, r"^\S*qemu-system", "qemu"), (last_docker, r"^\S*(dockerd|containerd)\b", "docker")):
            for pid, seconds in process_seconds(pattern).items():
                delta = max(seconds - store.get(pid, 0.0), 0.0)
                store[pid] = seconds
                if kind == "qemu":
                    qemu_total += delta
                else:
                    docker_total += delta

    def sampler():
        while not done.wait(args.interval):
            sample()

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    rc = subprocess.call(command)
    done.set()
    thread.join()
    sample()

    wall = time.monotonic() - start
    busy = machine_busy_seconds() - start_busy
    containers = sum(container_total.values())
    controller = max(busy - containers - qemu_total - docker_total, 0.0)
    cores = os.cpu_count() or 1
    result = {
        "command": " ".join(command),
        "exit_code": rc,
        "wall_s": round(wall),
        "cores": cores,
        "machine_busy_cpu_s": round(busy),
        "machine_busy_share": round(busy / (wall * cores), 3) if wall else 0,
        "controller_cpu_s": round(controller),
        "containers_cpu_s": round(containers),
        "qemu_cpu_s": round(qemu_total),
        "dockerd_cpu_s": round(docker_total),
        "containers_by_group_cpu_s": {k: round(v) for k, v in sorted(container_total.items(), key=lambda kv: -kv[1])},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"cpu-share: {wall:.0f} s wall, {busy:.0f} CPU s busy of {wall * cores:.0f} ({cores} cores)")
    for key in ("controller_cpu_s", "containers_cpu_s", "qemu_cpu_s", "dockerd_cpu_s"):
        share = result[key] / busy if busy else 0
        print(f"  {key[:-6]:<11} {result[key]:>7} CPU s  {share:6.1%}")
    for group, seconds in result["containers_by_group_cpu_s"].items():
        print(f"    {group:<28} {seconds:>7} CPU s")
    print(f"cpu-share: written to {args.out}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
