"""The converged stack as Ansible sees it, before any other suite touches it
(pytest takes the files in name order): site.yml with --tags and --limit
runs one role on the hosts named only, and a second run, real on some hosts
and dry (--check --diff) on the others, changes nothing. After the drills
(tests/test_operations.py), which stop, kill and restart hosts, a dry run
would also see what those left behind."""

from concurrent.futures import ThreadPoolExecutor

from stackinfo import INVENTORY_DIR

# stackinfo put molecule/shared on the path.
from playbook_runner import ansible_playbook  # noqa: E402


def json_run(*args):
    """site.yml again with the JSON callback: what ran, where, what changed."""
    proc = ansible_playbook("site.yml", *args, inventory=INVENTORY_DIR, timeout=900, json_output=True)
    assert proc.returncode == 0 and proc.data, proc.stdout[-3000:] + proc.stderr[-2000:]
    tasks = [(t["task"]["name"], t["hosts"]) for p in proc.data["plays"] for t in p["tasks"]]
    return proc.data["stats"], tasks


# Input checks run whatever the tags (bad input fails before any change),
# with what they compute first (the firewall's openings, from every host's
# variables: a fact, nothing on the host).
CHECKS = ("Check", "Validating", "Refuse", "Look for", "Compute")


def test_tags_and_limit_run_one_role_on_those_hosts_only():
    """--tags nginx runs only the nginx role (and the input checks), --limit
    only on the hosts named: one load balancer of the two."""
    stats, tasks = json_run("--tags", "nginx", "--limit", "pyweb-stack-lb2")
    worked = {(name.split(" : ")[0], host) for name, hosts in tasks if " : " in name
              and not name.split(" : ")[1].startswith(CHECKS) for host in hosts}
    assert {role for role, _ in worked} == {"nginx"}
    assert {host for _, host in worked} == {"pyweb-stack-lb2"}
    assert set(stats) == {"pyweb-stack-lb2"}
    assert all(s["changed"] == 0 and s["failures"] == 0 for s in stats.values()), stats


# Every host runs site.yml a second time, once: for real (idempotence: zero
# changed) or as a dry run (--check --diff: zero changes reported). Each kind
# of host gets both on one Debian or the other: the load balancers and the
# app hosts one of each (lb2 and app1 for real, lb1 and app2 dry); the
# backup and monitoring host for real (its monitoring and logs roles have no
# scenario of their own), the database cluster's members one of each. The
# two runs go side by side (no host is in both); a second run of every host
# each way cost the stack lane about six minutes more.
RERUN = {"real": ("pyweb-stack-lb2", "pyweb-stack-app1", "pyweb-stack-backup1", "pyweb-stack-db2"),
         "dry": ("pyweb-stack-lb1", "pyweb-stack-app2", "pyweb-stack-db1")}


def changed_tasks(data):
    """(host, task) of every result that reports a change."""
    return sorted({(host, t["task"]["name"]) for p in data["plays"] for t in p["tasks"]
                   for host, r in t["hosts"].items() if r.get("changed")})


def test_every_host_runs_again_for_real_or_dry_and_nothing_changes():
    assert not set(RERUN["real"]) & set(RERUN["dry"])
    with ThreadPoolExecutor(2) as pool:
        real, dry = pool.map(lambda args: ansible_playbook("site.yml", *args, inventory=INVENTORY_DIR, timeout=900,
                                                           json_output=True),
                             [("--limit", ",".join(RERUN["real"])),
                              ("--check", "--diff", "--limit", ",".join(RERUN["dry"]))])
    for kind, proc in (("real", real), ("dry", dry)):
        assert proc.returncode == 0 and proc.data, (kind, proc.stdout[-3000:] + proc.stderr[-2000:])
        assert set(proc.data["stats"]) == set(RERUN[kind]), (kind, proc.data["stats"])
        assert changed_tasks(proc.data) == [], (kind, changed_tasks(proc.data))
        assert all(s["changed"] == 0 and s["failures"] == 0 for s in proc.data["stats"].values()), (kind, proc.data["stats"])
