"""playbooks/db_switchover.yml, the project's own playbook, on this
scenario's cluster while a client writes through it: the primary hands over
to the standby with at most 5 s of failed writes and none of the
acknowledged ones lost, the old primary streams from the new one when the
run ends, and a second run hands it back (one run per host to maintain). A
member that cannot take over is refused before any change. Runs after the
failover test (both move the primary; either order works)."""

import sys
import time

import yaml
from conftest import INVENTORY, ROOT, SCENARIO, node
from helpers import check_writers, leader_and_standby, members, record, start_writers, wait

sys.path.insert(0, str(ROOT / "molecule" / "shared"))
from playbook_runner import ansible_playbook, said  # noqa: E402

testinfra_hosts = ["ansible://pyweb-dbc-witness"]


def switchover(tmp_path, addresses, *args):
    """db_switchover.yml with the cluster's members (the stack's wiring of a
    cluster is not on main yet: the scenario names them) and the vault."""
    cluster = tmp_path / "cluster.yml"
    cluster.write_text(yaml.safe_dump({
        "postgresql_cluster_members": [{"name": n, "address": a} for n, a in addresses.items()],
        "postgresql_patroni_api_password": "{{ vault_patroni_api_password }}"}))
    return ansible_playbook("playbooks/db_switchover.yml", "-e", f"@{SCENARIO / 'vars' / 'vault.yml'}",
                           "-e", f"@{cluster}", *args, timeout=300,
                           inventory=[INVENTORY, SCENARIO / "inventory" / "stack.yml"])


def settled(addresses, timeout=120):
    """{name: (role, state)} once there is a leader and the other member streams."""
    def view():
        now = members(node("db1"))
        roles = sorted(role for role, _ in now.values())
        return now if roles == ["Leader", "Sync Standby"] and all(s in ("running", "streaming") for _, s in now.values()) else None
    now = wait(view, timeout, step=2.0)
    assert now, f"the cluster did not settle: {members(node('db1'))}"
    return now


def test_a_member_that_cannot_take_over_is_refused_before_any_change(tmp_path, addresses):
    before = settled(addresses)
    leader, _ = leader_and_standby(before)
    proc = switchover(tmp_path, addresses, "-e", f"db_switchover_to={leader}")
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert f"{leader} is not a healthy standby that can take over" in said(proc), proc.stdout[-3000:]
    assert "Nothing was changed" in said(proc)
    assert members(node("db1")) == before


def test_a_switchover_under_writes_loses_nothing_and_a_second_hands_it_back(host, secrets, addresses, tmp_path):
    before = settled(addresses)
    leader, standby = leader_and_standby(before)
    start_writers(host, secrets, addresses, seconds=40)
    time.sleep(5)
    started = time.time()
    proc = switchover(tmp_path, addresses)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert f"Handed the primary over from {leader} to {standby}" in said(proc), proc.stdout[-2000:]
    # When the run ends the old primary already streams from the new one.
    after = members(node("db1"))
    assert after[standby][0] == "Leader" and after[leader][0] in ("Sync Standby", "Replica"), after
    assert after[leader][1] in ("running", "streaming"), after
    # Both ways to the primary: at most 5 s of failed writes, none lost.
    figures = {"switchover_seconds": proc.seconds,
               **check_writers(host, node(standby), timeout=90, event_at=started, event_seconds=proc.seconds,
                               max_window=5.0)}
    record("switchover", figures)
    # The second run (the next host's maintenance) hands it back.
    back = switchover(tmp_path, addresses)
    assert back.returncode == 0, back.stdout[-3000:]
    assert members(node("db1"))[leader][0] == "Leader"
