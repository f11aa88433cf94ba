"""Preflight's check that the cluster's hosts reach each other on its ports
(playbooks/tasks/cluster_reach.yml, which playbooks/preflight.yml runs before
any change): it passes where the ports answer, whether a service or the
check's own listener answers, leaves no listener behind, and stops the run
naming the pair and the port when a firewall between two hosts drops one."""

import json
import os
import sys
from pathlib import Path

from conftest import node

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from playbook_runner import ansible_playbook, said  # noqa: E402

REACH = Path(__file__).resolve().parents[1] / "reach.yml"
DB = ["pyweb-dbc-db1", "pyweb-dbc-db2"]
ETCD = DB + ["pyweb-dbc-witness"]
# A port no service of the scenario uses: only the check's listener answers there.
FREE_PORT = 15433


def reach(sets):
    return ansible_playbook(REACH, "-e", json.dumps({"dbc_reach_sets": sets}),
                            inventory=os.environ["MOLECULE_INVENTORY_FILE"], timeout=300)


def test_the_cluster_hosts_reach_each_other_and_no_listener_is_left():
    sets = [{"what": "PostgreSQL and Patroni", "hosts": DB, "ports": [5432, 8008, FREE_PORT]},
            {"what": "etcd", "hosts": ETCD, "ports": [2379, 2380]}]
    run = reach(sets)
    assert run.returncode == 0, said(run)[-3000:]
    # Nothing else listens on the free port: the check's own listeners answered there, and ended.
    for name in ("db1", "db2", "witness"):
        assert not node(name).socket(f"tcp://0.0.0.0:{FREE_PORT}").is_listening, name
        assert node(name).run(f"ss -Htln 'sport = :{FREE_PORT}'").stdout.strip() == "", name


def test_a_port_that_a_firewall_drops_between_two_hosts_stops_the_run():
    db1_address = node("db1").check_output("hostname -I").split()[0]
    db2 = node("db2")
    assert db2.run("command -v nft || DEBIAN_FRONTEND=noninteractive apt-get install -y -q nftables").rc == 0
    rule = (f"add table inet dbc_reach_test; add chain inet dbc_reach_test input {{ type filter hook input priority -10; }};"
            f" add rule inet dbc_reach_test input ip saddr {db1_address} tcp dport {FREE_PORT} drop")
    assert db2.run(f"nft '{rule}'").rc == 0
    try:
        run = reach([{"what": "the test's port", "hosts": DB, "ports": [FREE_PORT]}])
    finally:
        db2.run("nft delete table inet dbc_reach_test")
    assert run.returncode != 0
    assert (f"pyweb-dbc-db1 cannot reach pyweb-dbc-db2 ({node('db2').check_output('hostname -I').split()[0]})"
            f" on port {FREE_PORT} (the test's port)") in said(run), said(run)[-3000:]
    assert "Nothing was changed" in said(run)
    # The other way was open: db2 reached db1.
    assert "pyweb-dbc-db2 cannot reach" not in said(run)
    for name in ("db1", "db2"):
        assert node(name).run(f"ss -Htln 'sport = :{FREE_PORT}'").stdout.strip() == "", name
