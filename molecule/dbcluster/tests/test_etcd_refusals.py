"""What the etcd role refuses, before any change: data it did not bootstrap,
a change of a running cluster's members, an even number of members."""

import json
import os
import sys
from pathlib import Path

import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from playbook_runner import ansible_playbook, said  # noqa: E402

testinfra_hosts = ["ansible://pyweb-dbc-db1"]
INVENTORY = os.environ.get("MOLECULE_INVENTORY_FILE", "")
CONVERGE = Path(__file__).resolve().parents[1] / "converge.yml"


def members():
    hosts = {n: testinfra.get_host(f"ansible://pyweb-dbc-{n}?ansible_inventory={INVENTORY}") for n in ("db1", "db2", "witness")}
    return [{"name": n, "address": h.check_output("hostname -I").split()[0]} for n, h in hosts.items()]


def converge(*extra):
    return ansible_playbook(CONVERGE, *extra, inventory=INVENTORY, timeout=600)


def settings(host):
    return host.check_output("sha256sum /etc/default/etcd")


def test_data_of_another_cluster_is_refused_and_kept(host):
    before = settings(host)
    run = converge("-e", "etcd_cluster_token=another-cluster")
    assert run.returncode != 0
    assert "holds the data of an etcd member that this role did not bootstrap with the token 'another-cluster'" in said(run)
    assert settings(host) == before and host.service("etcd").is_running


def test_a_change_of_a_running_clusters_members_is_refused(host):
    before = settings(host)
    grown = members() + [{"name": "extra-1", "address": "192.0.2.4"}, {"name": "extra-2", "address": "192.0.2.5"}]
    run = converge("-e", json.dumps({"etcd_members": grown}))
    assert run.returncode != 0
    assert ("The running cluster's members are db1, db2, witness; etcd_members names "
            "db1, db2, extra-1, extra-2, witness") in said(run)
    assert settings(host) == before


def test_an_even_number_of_members_is_refused(host):
    run = converge("-e", json.dumps({"etcd_members": members()[:2]}))
    assert run.returncode != 0
    assert "etcd_members must be an odd number of members (got 2" in said(run)
