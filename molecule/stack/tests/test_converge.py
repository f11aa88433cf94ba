"""The converged stack as Ansible sees it, before any other suite touches it
(pytest takes the files in name order): site.yml with --tags and --limit
runs one role on the hosts named only, and a dry run (--check --diff)
reports no change. After the drills (tests/test_operations.py), which stop,
kill and restart hosts, a dry run would also see what those left behind."""

from stackinfo import INVENTORY_DIR

# stackinfo put molecule/shared on the path.
from playbook_runner import ansible_playbook  # noqa: E402


def json_run(*args):
    """site.yml again with the JSON callback: what ran, where, what changed."""
    proc = ansible_playbook("site.yml", *args, inventory=INVENTORY_DIR, timeout=900, json_output=True)
    assert proc.returncode == 0 and proc.data, proc.stdout[-3000:] + proc.stderr[-2000:]
    tasks = [(t["task"]["name"], t["hosts"]) for p in proc.data["plays"] for t in p["tasks"]]
    return proc.data["stats"], tasks


# Input checks run whatever the tags (bad input fails before any change).
CHECKS = ("Check", "Validating", "Refuse", "Look for")


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


def test_a_dry_run_of_the_converged_stack_changes_nothing():
    """--check --diff on one host of each kind (every role runs; the other
    load balancer and app host run the same roles on the other Debian)."""
    hosts = {"pyweb-stack-lb1", "pyweb-stack-app2", "pyweb-stack-db1", "pyweb-stack-backup1"}
    stats, _ = json_run("--check", "--diff", "--limit", ",".join(sorted(hosts)))
    assert set(stats) == hosts
    assert all(s["changed"] == 0 and s["failures"] == 0 for s in stats.values()), stats
