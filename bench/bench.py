#!/usr/bin/env python3
"""Benchmarks, side by side in one run on one machine; ratios against targets.

P1 converge: a fresh site.yml on the local layout (its own containers, named
   pyweb-bench-*, on their own network) against the floor: the same Debian
   packages with one apt-get per host and the app's pip install, on identical
   fresh containers, all hosts at once. Then an unchanged re-run. Then the
   shape floor of each run: Ansible's own cost of its plays and task steps on
   the same hosts, each step a stat of / as root (or a skip where the run
   skipped it). And the fresh converge's package steps (apt, pip, the
   lists' refresh) against the floor, which does the same all at once.
P2 serving (on the local stack from `make up`): wrk on the load balancer
   against the demo app's dynamic page through Nginx over HTTPS with
   keep-alive, and against the app hosts directly (their own Nginx in front of
   Gunicorn's socket, plain HTTP: what the load balancer adds is TLS and one
   hop), same connection count and workers; the same with Gunicorn's other kind
   of worker (gthread when sync is configured, which keeps the app host's Nginx
   connections open; both app hosts switched for the measurement, then back);
   a static file through Nginx; Gunicorn against uWSGI on the same page (app2
   switched to uWSGI for the measurement, then back).
P3 scale: fresh converge with 1 app host and with 4.
deploy (on the local stack from `make up`): a code-only release of the demo
   on both app hosts with deploy.yml, then rollback.yml, under the deploy
   drill's load (the drill itself), against the floor of the same work done
   with plain SSH commands under the same load (the code sent once per host
   and unpacked, the live virtualenv reused, the switch, restart and health
   check host by host; then the switch back), alternated round by round
   (BENCH_ROUNDS, 3). Then the shape floor of the last round's deploy and
   rollback, under the same load.
tuning: unchanged re-runs of the local stack with pipelining on and off,
   forks 20 and 5.

Figures are printed and written to bench/results/bench.json.

    make bench                 # all (about 45 minutes over SSH)
    make bench BENCH="p2 deploy"   # some
"""

import argparse
import functools
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "molecule" / "shared"))
from playbook_runner import ansible_playbook  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
WORK = ROOT / ".cache" / "bench"
LOCAL = ROOT / "inventory" / "local"
LB, APPS = "pyweb-lb1", ["pyweb-app1", "pyweb-app2"]
DURATION = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = 16


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd, check=True, timeout=3600, env=None):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env=dict(os.environ, **(env or {})))
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-3000:]}")
    return proc


def dexec(container, script, check=True):
    return run(["docker", "exec", container, "sh", "-c", script], check=check).stdout


def playbook(inventory, name, *args, logname):
    proc = ansible_playbook(name, *args, inventory=inventory, timeout=3600, log=RESULTS / "logs" / f"{logname}.log",
                            env={"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
                                 "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "8"})
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed, see bench/results/logs/{logname}.log:\n{proc.stdout[-3000:]}")
    recap = re.findall(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=\d+\s+skipped=(\d+)",
                       proc.stdout, re.M)
    # profile_tasks' summary: the slowest tasks, "name ---- 12.34s".
    slowest = re.findall(r"^(.+?) -{3,} (\d+\.\d+)s$", proc.stdout.split("PLAY RECAP")[-1], re.M)
    return {
        "seconds": proc.seconds,
        "changed": sum(int(c) for _, _, c, _ in recap),
        "task_results": sum(int(o) + int(s) for _, o, _, s in recap),
        "slowest_tasks": {name.strip(): float(secs) for name, secs in slowest},
    }


def ratio(a, b):
    return round(a / b, 3) if b else None


# -- Ansible's floor of a run's shape -------------------------------------------


def shape_of(output):
    """The task steps of a run's output, play by play: per step (a task or a
    handler), the hosts that ran it (ok, changed, included) and those that
    skipped it."""
    plays, step = [], None
    for line in output.split("PLAY RECAP")[0].splitlines():
        if line.startswith("PLAY ["):
            plays.append([])
            step = None
        elif line.startswith(("TASK [", "RUNNING HANDLER [")) and plays:
            step = {"ran": set(), "skipped": set()}
            plays[-1].append(step)
        elif step is not None:
            m = re.match(r"^(ok|changed|skipping): \[([^\]]+)\]", line)
            included = re.match(r"^included: .* for (.+)$", line)
            hosts = ([m.group(2).split(" -> ")[0]] if m else
                     [h.strip() for h in included.group(1).split(" => ")[0].split(",")] if included else [])
            step["skipped" if m and m.group(1) == "skipping" else "ran"].update(hosts)
    return plays


def shape_floor(inventory, output, tag):
    """Ansible's own cost of a run's shape: the same task steps, in order, on
    the same hosts, each step the cheapest task that reaches a host (a stat
    of / as root) where the run ran it, and a false condition where the run
    skipped it. A host that had no result at a step (outside an include it
    did not take, ended, or not picked by run_once) gets no task there: each
    run of consecutive steps on the same hosts is a play of its own (a play
    costs about 16 ms more than a task on these machines). What is left above
    this is the work the tasks do."""
    plays = shape_floor_plays(output)
    path = WORK / f"shape-{tag}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(plays, sort_keys=False, width=10000))
    out = playbook(inventory, path, logname=f"{tag}-shape-floor")
    return {"seconds": out["seconds"], "steps": sum(len(p["tasks"]) for p in plays),
            "task_results": out["task_results"]}


def shape_floor_plays(output):
    """The plays of shape_floor's playbook."""
    plays = []
    for n, steps in enumerate(shape_of(output)):
        for i, step in enumerate(steps):
            present = ",".join(sorted(step["ran"] | step["skipped"]))
            if not present:
                continue
            if not plays or plays[-1]["hosts"] != present:
                plays.append({"name": f"Steps from {n}.{i}", "hosts": present,
                              "gather_facts": False, "become": True, "tasks": []})
            plays[-1]["tasks"].append({"name": f"Step {n}.{i}", "ansible.builtin.stat": {"path": "/"},
                                       "when": f"inventory_hostname in {sorted(step['ran'])}"})
    return plays


# -- Where a converge's time goes ------------------------------------------------


def step_seconds(output):
    """Each step's wall time in a run with profile_tasks (a step is a task, a
    handler, or a play's own start): the line after each banner gives the
    time since the banner before, which is the previous step's."""
    steps, previous, current = [], None, None
    for line in output.split("PLAY RECAP")[0].splitlines():
        banner = re.match(r"^(?:TASK|RUNNING HANDLER) \[(.*)\] \*", line)
        play = re.match(r"^PLAY \[(.*)\] \*", line)
        if banner or play:
            current = banner.group(1) if banner else f"play: {play.group(1)}"
            continue
        delta = re.search(r"\((\d+):(\d+):(\d+\.\d+)\)\s+\d+:\d+:\d+\.\d+", line)
        if delta:
            if previous is not None:
                h, m, sec = delta.groups()
                steps.append((previous, int(h) * 3600 + int(m) * 60 + float(sec)))
            previous = current
    return steps


@functools.cache
def package_task_names():
    """The names of the project's package tasks: every task whose module is
    apt or pip, and the shell tasks that refresh the package lists."""
    names = set()

    def walk(tasks):
        for task in tasks or []:
            if not isinstance(task, dict):
                continue
            for key in ("block", "rescue", "always"):
                walk(task.get(key))
            script = str(task.get("ansible.builtin.shell", ""))
            if task.get("name") and (any(k in task for k in ("ansible.builtin.apt", "ansible.builtin.pip"))
                                     or "apt-get update" in script):
                names.add(task["name"])
    files = list(ROOT.glob("roles/*/tasks/*.yml")) + list(ROOT.glob("playbooks/tasks/*.yml"))
    for path in files:
        walk(yaml.safe_load(path.read_text()))
    for path in ROOT.glob("playbooks/*.yml"):
        for play in yaml.safe_load(path.read_text()) or []:
            if isinstance(play, dict):
                for key in ("pre_tasks", "tasks", "post_tasks", "handlers"):
                    walk(play.get(key))
    return frozenset(names)


def package_steps(output):
    """The seconds a run spent in its package steps (apt, pip, the package
    lists' refresh), which its floor does all at once, one apt transaction
    per host."""
    names = package_task_names()
    spent = [(name, secs) for name, secs in step_seconds(output) if name.split(" : ")[-1] in names]
    return {"seconds": round(sum(s for _, s in spent), 1), "steps": len(spent)}


# -- P1 and P3: converge -------------------------------------------------------


def bench_inventory(apps):
    """The local layout with `apps` app hosts, as containers of its own."""
    d = WORK / f"apps-{apps}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    data = yaml.safe_load((LOCAL / "hosts.yml").read_text())
    # A network of its own, beside the local stack's (which P2 uses): its own
    # subnet and floating address. Ansible reaches each container over SSH at
    # its fixed address there (.1x load balancers, .2x app hosts, .3x the
    # database, .4x the backup host, as in the local layout).
    data["all"]["vars"].update(local_network="pyweb-bench", local_subnet="10.60.0.0/24",
                               stack_floating_address="10.60.0.100")
    # Its own key and known_hosts, which local_up.yml makes in the
    # inventory's directory (hosts.yml names the local environment's).
    ssh = d / ".secrets" / "ssh"
    data["all"]["vars"].update(
        ansible_ssh_private_key_file=str(ssh / "id_ed25519"),
        ansible_ssh_common_args=f"-o UserKnownHostsFile={ssh / 'known_hosts'} -o StrictHostKeyChecking=accept-new")
    children = data["all"]["children"]
    first_address = {"loadbalancers": 11, "app": 21, "db": 31, "backup": 41}
    renamed = {}
    for group, body in children.items():
        hosts = list(body["hosts"])
        if group == "app":
            hosts = [f"pyweb-app{i}" for i in range(1, apps + 1)]
        start = first_address.get(group)
        body["hosts"] = {h.replace("pyweb-", "pyweb-bench-"): ({"ansible_host": f"10.60.0.{start + i}"} if start else None)
                         for i, h in enumerate(hosts)}
        renamed.update({h: h.replace("pyweb-", "pyweb-bench-") for h in hosts})
    (d / "hosts.yml").write_text(yaml.safe_dump(data))
    os.symlink(LOCAL / "group_vars", d / "group_vars")
    return d, list(renamed.values()), data


def fresh_containers(inventory, tag):
    playbook(inventory, "playbooks/local_down.yml", logname=f"{tag}-down")
    playbook(inventory, "playbooks/local_up.yml", logname=f"{tag}-up")


def converge(apps, rerun=False):
    """A fresh site.yml on `apps` app hosts (then an unchanged re-run with
    `rerun`), what it installed on each host, and the floor of that: the
    same packages and pip installs without Ansible, on fresh containers."""
    inventory, hosts, _ = bench_inventory(apps)
    log(f"converge: {apps} app host(s), fresh containers")
    fresh_containers(inventory, f"apps{apps}")
    fresh = playbook(inventory, "site.yml", logname=f"apps{apps}-site-fresh")
    fresh["package_steps"] = package_steps((RESULTS / "logs" / f"apps{apps}-site-fresh.log").read_text())
    log(f"converge: {apps} app host(s): fresh site.yml {fresh['seconds']} s")
    out = {"hosts": len(hosts), "fresh": fresh}
    if rerun:
        again = playbook(inventory, "site.yml", logname=f"apps{apps}-site-again")
        log(f"converge: unchanged re-run {again['seconds']} s, {again['changed']} changed")
        out["rerun"] = again
        # Ansible's own cost of each run's plays and steps, on the same hosts.
        for key, run_name in (("fresh", "fresh"), ("rerun", "again")):
            text = (RESULTS / "logs" / f"apps{apps}-site-{run_name}.log").read_text()
            out[f"{key}_shape_floor"] = shape_floor(inventory, text, f"apps{apps}-{run_name}")
        log(f"converge: shape floors: fresh {out['fresh_shape_floor']['seconds']} s, "
            f"re-run {out['rerun_shape_floor']['seconds']} s")
    out["packages"] = installed_packages(hosts)
    playbook(inventory, "playbooks/local_down.yml", logname=f"apps{apps}-down")
    log(f"floor: {apps} app host(s), plain apt-get and pip on fresh containers")
    out["floor"] = floor(inventory, hosts, out["packages"])
    log(f"floor: {apps} app host(s): {out['floor']['seconds']} s")
    return out


def installed_packages(hosts):
    """What the converge installed on each host: its manually installed
    packages minus the base image's."""
    base = set(run(["docker", "run", "--rm", "--entrypoint", "apt-mark", "local/debian12-systemd:latest",
                    "showmanual"]).stdout.split())
    return {h: sorted(set(dexec(h, "apt-mark showmanual").split()) - base) for h in hosts}


def floor(inventory, hosts, packages):
    """The same packages with plain apt-get (one transaction per host) and
    each app's pip install (the local environment's apps, one virtualenv
    each), on fresh containers, every host at once."""
    fresh_containers(inventory, "floor")
    names = [a["name"] for a in yaml.safe_load((LOCAL / "group_vars" / "all" / "main.yml").read_text())["stack_apps"]]
    reqs = {n: (ROOT / "apps" / n / "requirements.txt").read_text() for n in names}
    gunicorn = re.search(r"gunicorn==[\d.]+", (ROOT / "group_vars" / "all" / "bindings" / "app.yml").read_text()).group(0)

    def one(host):
        started = time.monotonic()
        dexec(host, "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                    "--no-install-recommends " + " ".join(packages[host]) + " >/dev/null")
        for name, text in (reqs.items() if "-app" in host else []):
            dexec(host, f"cat > /tmp/req-{name}.txt <<'EOF'\n{text}\nEOF\n"
                        f"python3 -m venv /tmp/venv-{name} && /tmp/venv-{name}/bin/pip install -q -r /tmp/req-{name}.txt {gunicorn}")
        return time.monotonic() - started

    started = time.monotonic()
    with ThreadPoolExecutor(len(hosts)) as pool:
        per_host = dict(zip(hosts, pool.map(one, hosts)))
    total = round(time.monotonic() - started, 1)
    playbook(inventory, "playbooks/local_down.yml", logname="floor-down")
    return {"seconds": total, "per_host": {h: round(s, 1) for h, s in per_host.items()}}


def bench_p1():
    result = converge(2, rerun=True)
    fresh, again, flo = result["fresh"]["seconds"], result["rerun"]["seconds"], result["floor"]["seconds"]
    result["fresh_over_floor"] = ratio(fresh, flo)
    result["rerun_over_fresh"] = ratio(again, fresh)
    # The re-run's shape floor against the fresh converge: when it is above
    # the target's 0.15, Ansible's cost of the re-run's task steps alone
    # misses the target, whatever the tasks do.
    result["rerun_over_its_shape_floor"] = ratio(again, result["rerun_shape_floor"]["seconds"])
    result["rerun_shape_floor_over_fresh"] = ratio(result["rerun_shape_floor"]["seconds"], fresh)
    result["fresh_shape_floor_over_floor"] = ratio(result["fresh_shape_floor"]["seconds"], flo)
    # The fresh converge in three parts: its package steps (which the floor
    # does all at once), Ansible's cost of its steps (the shape floor), and
    # the rest: the other tasks' own work (services started and waited for,
    # the database bootstrapped, repositories, certificates, the build).
    # The package steps' own Ansible cost is in the shape floor too, so
    # the rest comes out low by that much (about 0.14 s a step). The two
    # floors together, against the floor: above the target's 1.5, the
    # converge misses it even with its installs at the floor and no other
    # work.
    packages = result["fresh"]["package_steps"]["seconds"]
    result["fresh_package_steps_over_floor"] = ratio(packages, flo)
    result["fresh_other_work_seconds"] = round(fresh - packages - result["fresh_shape_floor"]["seconds"], 1)
    result["floor_plus_shape_floor_over_floor"] = ratio(flo + result["fresh_shape_floor"]["seconds"], flo)
    result["targets"] = {"fresh_over_floor": "<= 1.5", "rerun_over_fresh": "<= 0.15", "rerun_changed": "0"}
    result["met"] = {"fresh_over_floor": result["fresh_over_floor"] <= 1.5,
                     "rerun_over_fresh": result["rerun_over_fresh"] <= 0.15,
                     "rerun_changed": result["rerun"]["changed"] == 0}
    return result


def bench_p3():
    """Four app hosts against one, and the same for the floor (the packages
    each converge installed, with plain apt-get and pip, every host at
    once): how much of the growth the hosts' own installs on these cores
    account for."""
    sizes = {apps: converge(apps) for apps in (1, 4)}
    r = ratio(sizes[4]["fresh"]["seconds"], sizes[1]["fresh"]["seconds"])
    return {"one_app_host": sizes[1], "four_app_hosts": sizes[4], "four_over_one": r,
            "floor_four_over_one": ratio(sizes[4]["floor"]["seconds"], sizes[1]["floor"]["seconds"]),
            "targets": {"four_over_one": "<= 1.5"}, "met": {"four_over_one": r <= 1.5}}


# -- P2: serving ----------------------------------------------------------------


def wrk(url, connections, host_header=None):
    """wrk on the load balancer, one thread (the client shares the cores)."""
    header = f"-H 'Host: {host_header}'" if host_header else ""
    out = dexec(LB, f"wrk -t1 -c{connections} -d{DURATION}s --latency {header} '{url}'")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    connect, read, write, timeout = map(int, sock.groups()) if sock else (0, 0, 0, 0)
    bad = (int(errors.group(1)) if errors else 0) + connect + write + timeout
    # uWSGI's HTTP socket closes the connection after each answer without
    # saying so: wrk counts a read error per request although each got its
    # 200. Those are reported apart, not as failures.
    return {"rps": rps, "p99_ms": round(float(p99.group(1)) * scale, 2), "errors": bad, "read_errors": read}


def together(jobs):
    """Several wrk runs at once (one per app host); summed rate, worst p99."""
    with ThreadPoolExecutor(len(jobs)) as pool:
        parts = list(pool.map(lambda args: wrk(*args), jobs))
    return {"rps": round(sum(p["rps"] for p in parts), 1), "p99_ms": max(p["p99_ms"] for p in parts),
            "errors": sum(p["errors"] for p in parts), "parts": parts}


def median_of(runs):
    return {"rps": statistics.median(r["rps"] for r in runs), "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "errors": sum(r["errors"] for r in runs), "runs": runs}


def address(container):
    return dexec(container, "hostname -I").split()[0]


def through_and_direct(nginx_url, direct, rounds):
    """Median rate and p99 through the load balancer, and of the app hosts
    hit directly, alternated round by round so drift hits both alike."""
    wrk(nginx_url, CONNECTIONS)  # warm-up (connections, caches)
    via, straight = [], []
    for i in range(rounds):
        log(f"serving: round {i + 1} of {rounds}: through the load balancer, then the app hosts directly")
        via.append(wrk(nginx_url, CONNECTIONS))
        straight.append(together(direct))
    return median_of(via), median_of(straight)


def gunicorn_threads():
    conf = dexec(APPS[0], "cat /etc/pyweb/demo/gunicorn.conf")
    return int(re.search(r"^threads = (\d+)", conf, re.M).group(1)), re.search(r"^workers = (\d+)", conf, re.M).group(1)


# gthread's threads per worker when the measured setting is sync workers.
GTHREAD_THREADS = 4


def bench_p2(rounds=3):
    for c in [LB, *APPS]:
        if run(["docker", "inspect", "-f", "{{.State.Running}}", c], check=False).stdout.strip() != "true":
            sys.exit("P2 measures the local stack: run `make up` first.")
    dexec(LB, "command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)")
    apps = {a: address(a) for a in APPS}
    port = 8000
    page = "/hello"
    nginx_url = f"https://127.0.0.1{page}"
    direct = [(f"http://{ip}:{port}{page}", CONNECTIONS // len(apps)) for ip in apps.values()]
    threads, workers = gunicorn_threads()
    via, straight = through_and_direct(nginx_url, direct, rounds)
    static = median_of([wrk("https://127.0.0.1/static/app.css", CONNECTIONS) for _ in range(rounds)])
    result = {
        "page": page, "connections": CONNECTIONS, "seconds_per_run": DURATION, "rounds": rounds,
        "app_hosts": len(apps), "gunicorn_workers": int(workers), "gunicorn_threads": threads,
        "nginx_https_keepalive": via, "gunicorn_direct": straight, "static_via_nginx": static,
        "nginx_over_direct": ratio(via["rps"], straight["rps"]),
        "static_over_dynamic": ratio(static["rps"], via["rps"]),
    }
    log(f"serving: Nginx/direct {result['nginx_over_direct']}, static/dynamic {result['static_over_dynamic']}")

    # The other kind of Gunicorn worker on both app hosts, same workers:
    # gthread keeps the app host's Nginx connections to Gunicorn open (its
    # upstream keep-alive), sync closes each after one answer.
    other = 1 if threads > 1 else GTHREAD_THREADS
    log(f"serving: Gunicorn with {other} thread(s) per worker on both app hosts ({threads} as configured)")
    playbook(LOCAL, "playbooks/app.yml", "--limit", "app", "--tags", "app_server",
             "-e", f"app_server_threads={other}", logname="p2-threads-other")
    try:
        assert gunicorn_threads()[0] == other
        ovia, ostraight = through_and_direct(nginx_url, direct, rounds)
    finally:
        playbook(LOCAL, "playbooks/app.yml", "--limit", "app", "--tags", "app_server", logname="p2-threads-back")
    result["other_threads"] = {"gunicorn_threads": other, "nginx_https_keepalive": ovia, "gunicorn_direct": ostraight,
                               "nginx_over_direct": ratio(ovia["rps"], ostraight["rps"]),
                               "through_nginx_other_over_configured": ratio(ovia["rps"], via["rps"])}
    log(f"serving: with {other} thread(s): Nginx/direct {result['other_threads']['nginx_over_direct']}, "
        f"through Nginx {result['other_threads']['through_nginx_other_over_configured']}x the configured")

    log("serving: Gunicorn (app1) against uWSGI (app2 switched for the measurement)")
    app2 = "pyweb-app2"
    playbook(LOCAL, "playbooks/app.yml", "--limit", app2, "-e", "stack_app_server=uwsgi", logname="p2-uwsgi-on")
    try:
        g, u = [], []
        for _ in range(rounds):
            g.append(wrk(f"http://{apps['pyweb-app1']}:{port}{page}", CONNECTIONS // 2))
            u.append(wrk(f"http://{apps[app2]}:{port}{page}", CONNECTIONS // 2))
    finally:
        playbook(LOCAL, "playbooks/app.yml", "--limit", app2, logname="p2-uwsgi-off")
    g, u = median_of(g), median_of(u)
    result.update({"gunicorn_one_host": g, "uwsgi_one_host": u, "uwsgi_over_gunicorn": ratio(u["rps"], g["rps"])})
    result["targets"] = {"nginx_over_direct": ">= 0.95", "static_over_dynamic": ">= 10"}
    result["met"] = {"nginx_over_direct": result["nginx_over_direct"] >= 0.95,
                     "static_over_dynamic": result["static_over_dynamic"] >= 10,
                     "no_errors": via["errors"] + straight["errors"] + static["errors"]
                     + ovia["errors"] + ostraight["errors"] == 0}
    return result


@functools.cache
def app_addresses():
    """The local stack's app hosts and the addresses Ansible reaches them on."""
    hosts = yaml.safe_load((LOCAL / "hosts.yml").read_text())["all"]["children"]["app"]["hosts"]
    return {host: body["ansible_host"] for host, body in hosts.items()}


def ssh_to(host, script, stdin=None):
    """One command on a local stack's app host over SSH as the admin, through
    a master connection kept open for the whole benchmark (what a deploy
    script of one's own would use)."""
    secrets = LOCAL / ".secrets" / "ssh"
    WORK.mkdir(parents=True, exist_ok=True)
    cmd = ["ssh", "-i", str(secrets / "id_ed25519"), "-o", f"UserKnownHostsFile={secrets / 'known_hosts'}",
           "-o", "StrictHostKeyChecking=accept-new", "-o", "BatchMode=yes", "-o", "ControlMaster=auto",
           "-o", f"ControlPath={WORK / 'bench-%C'}", "-o", "ControlPersist=120", f"admin@{app_addresses()[host]}", script]
    proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=300, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"ssh {host}: {script[:200]} failed: {proc.stderr.decode()[-2000:]}")
    return proc.stdout.decode().strip()


def bench_tuning():
    """What Ansible's settings are worth on an unchanged re-run of the local
    stack: pipelining (on in ansible.cfg) against off, forks 20 against 5."""
    runs = {}
    for label, env in (("as configured", {}), ("pipelining off", {"ANSIBLE_PIPELINING": "False"}),
                       ("forks 5", {"ANSIBLE_FORKS": "5"})):
        proc = ansible_playbook("site.yml", inventory=LOCAL, env=env, timeout=3600)
        runs[label] = {"seconds": proc.seconds, "rc": proc.returncode,
                       "changed": sum(map(int, re.findall(r"changed=(\d+)", proc.stdout)))}
        log(f"tuning: re-run, {label}: {runs[label]['seconds']} s")
    # The cost of one task: a no-op module on every host, and a bare command
    # over SSH to one host (the transport alone, on a master connection of its own).
    pings = []
    for _ in range(3):
        started = time.monotonic()
        run(["ansible", "all", "-i", str(LOCAL), "-m", "ansible.builtin.ping"])
        pings.append(time.monotonic() - started)
    ssh_to(APPS[0], "true")  # opens the master
    started = time.monotonic()
    for _ in range(10):
        ssh_to(APPS[0], "true")
    commands = (time.monotonic() - started) / 10
    base = runs["as configured"]["seconds"]
    return {"one_noop_task_on_every_host_s": round(statistics.median(pings), 2),
            "one_ssh_command_s": round(commands, 3), "reruns": runs, "pipelining_off_over_on": ratio(runs["pipelining off"]["seconds"], base),
            "forks5_over_forks20": ratio(runs["forks 5"]["seconds"], base), "targets": {}, "met": {}}


# -- deploy and rollback -------------------------------------------------------


# The switch, restart and health check on one app host, as the deploy and
# the rollback do them (roles/app/tasks/switch.yml): an atomic rename of a
# new link over current, a restart, then /healthz on the app server's socket
# until it answers with the release.
FLOOR_SWITCH = """set -eu
cd /srv/demo
sudo ln -sfn "/srv/demo/releases/$1" current.new && sudo mv -T current.new current
sudo systemctl restart demo.service
for i in $(seq 1 60); do
  if sudo curl -fsS --unix-socket /run/demo/app.sock http://localhost/healthz | grep -Eq "\\"release\\": *\\"$1\\""; then exit 0; fi
  sleep 0.5
done
echo "release $1 not healthy" >&2
exit 1
"""

# A code-only release built on one host: the code unpacked from the archive
# sent once, the live release's virtualenv reused (requirements unchanged),
# the release's own settings written, given to root and the app's group, marked complete.
FLOOR_BUILD = """set -eu
r=/srv/demo/releases/$1
sudo mkdir -p "$r"
sudo tar -xzf - -C "$r"
live=$(readlink -f /srv/demo/current)
sudo ln -s "$(readlink "$live/venv")" "$r/venv"
printf 'RELEASE_ID=%s\\nSTATIC_ROOT=%s/static\\n' "$1" "$r" | sudo tee "$r/release.env" >/dev/null
sudo chown -R -h root:demo "$r"
sudo chmod -R u=rwX,g=rX,o= "$r"
sudo chmod o+x "$r"
sudo touch "$r/.pyweb-release-complete"
"""


def deploy_floor(apps, src):
    """The work of a code-only deploy with nothing but SSH commands (under
    the same load as the playbooks): the
    release sent to every app host at once and built there, then switched,
    restarted and health-checked host by host; then the switch back (the
    rollback's work) host by host. The floor's release is removed at the end."""
    release = "floor-" + time.strftime("%Y%m%d%H%M%S")
    archive = subprocess.run(["tar", "-czf", "-", "-C", str(src), "."], capture_output=True, check=True).stdout
    live = {a: ssh_to(a, "basename $(readlink /srv/demo/current)") for a in apps}
    switched = []
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(len(apps)) as pool:
            list(pool.map(lambda a: ssh_to(a, f"bash -c {shlex.quote(FLOOR_BUILD)} _ {release}", stdin=archive), apps))
        for a in apps:
            switched.append(a)
            ssh_to(a, f"bash -c {shlex.quote(FLOOR_SWITCH)} _ {release}")
        deploy = round(time.monotonic() - started, 2)
        started = time.monotonic()
        while switched:
            ssh_to(switched[0], f"bash -c {shlex.quote(FLOOR_SWITCH)} _ {live[switched[0]]}")
            switched.pop(0)
        rollback = round(time.monotonic() - started, 2)
    finally:
        # A floor that failed half-way leaves each host on its live release.
        for a in apps:
            if a in switched:
                ssh_to(a, f"bash -c {shlex.quote(FLOOR_SWITCH)} _ {live[a]}")
            ssh_to(a, f"sudo rm -rf /srv/demo/releases/{release}")
    return {"deploy_seconds": deploy, "rollback_seconds": rollback}


def bench_deploy(rounds=int(os.environ.get("BENCH_ROUNDS", "3"))):
    """A code-only release of the demo on the local stack's two app hosts
    with playbooks/deploy.yml under the deploy drill's load, then
    rollback.yml (the drill itself, tests/drills/drills.py), against the
    floor of the same work done with plain SSH commands, alternated round
    by round."""
    sys.path.insert(0, str(ROOT / "tests" / "drills"))
    import drills  # noqa: PLC0415 (reads the local inventory when imported)

    drills.check_stack()
    ansible, floors = [], []
    for i in range(rounds):
        log(f"deploy: round {i + 1} of {rounds}: deploy.yml and rollback.yml under load, then the floor")
        drill = drills.drill_deploy()
        ansible.append({"deploy_seconds": drill["deploy"]["deploy_seconds"],
                        "rollback_seconds": drill["rollback"]["rollback_seconds"],
                        "failed_requests": drill["deploy"]["failed"] + drill["rollback"]["failed"],
                        "passed": drill["passed"]})
        src = drills.new_release_source("floor")
        lo, floor, _ = drills.under_load(lambda lo: deploy_floor(APPS, src))
        floors.append({**floor, "failed_requests": drills.Load.summary(lo.samples)["failed"]})
        log(f"deploy: {ansible[-1]}; floor {floors[-1]}")
    med = {k: statistics.median(r[k] for r in ansible) for k in ("deploy_seconds", "rollback_seconds")}
    flo = {k: statistics.median(r[k] for r in floors) for k in ("deploy_seconds", "rollback_seconds")}
    # Ansible's own cost of the last round's plays and steps, under the same load.
    shape = {}
    for name in ("deploy", "rollback"):
        text = (drills.RESULTS / "logs" / f"{name}.log").read_text()
        lo, shape[name], _ = drills.under_load(lambda lo, text=text, name=name: shape_floor(LOCAL, text, name))
        shape[name]["failed_requests"] = drills.Load.summary(lo.samples)["failed"]
        log(f"deploy: the shape floor of {name}.yml {shape[name]}")
    return {"ansible": ansible, "floor": floors, "median": med, "floor_median": flo, "shape_floor": shape,
            "rollback_over_floors_sum": ratio(med["rollback_seconds"],
                                              shape["rollback"]["seconds"] + flo["rollback_seconds"]),
            "deploy_over_floor": ratio(med["deploy_seconds"], flo["deploy_seconds"]),
            "rollback_over_floor": ratio(med["rollback_seconds"], flo["rollback_seconds"]),
            "targets": {"deploy_seconds": "<= 15", "rollback_seconds": "<= 5", "failed_requests": "0"},
            "met": {"deploy_seconds": med["deploy_seconds"] <= 15, "rollback_seconds": med["rollback_seconds"] <= 5,
                    "failed_requests": all(r["failed_requests"] == 0 and r["passed"] for r in ansible)}}


BENCHES = {"p2": bench_p2, "deploy": bench_deploy, "p1": bench_p1, "p3": bench_p3, "tuning": bench_tuning}


def machine():
    mem = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?")
    return f"{platform.node()}: {os.cpu_count()} cores ({cpu}), {mem} GiB, {platform.platform()}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benches", nargs="*", choices=[*BENCHES, []])
    parser.add_argument("--output", default=str(RESULTS / "bench.json"))
    opts = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = Path(opts.output)
    report = json.loads(out.read_text()) if out.exists() else {}
    report.update({"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine()})
    for name in opts.benches or list(BENCHES):
        started = time.monotonic()
        report[name] = BENCHES[name]()
        report[name]["bench_seconds"] = round(time.monotonic() - started, 1)
        out.write_text(json.dumps(report, indent=1))
        log(f"{name}: targets {report[name]['targets']}, met {report[name]['met']}")
        for key, value in report[name].items():
            if key not in ("packages",):
                print(f"    {key}: {json.dumps(value)}", flush=True)
    log(f"figures written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
