"""Losing one etcd member of three (the witness's): the other two keep a
majority and keep writing, and so does the database cluster; the member,
started again, catches up on what it missed."""

import os
import uuid

import testinfra

testinfra_hosts = ["ansible://pyweb-dbc-db1"]


def etcdctl(host, *args):
    return host.run("etcdctl --endpoints http://127.0.0.1:2379 " + " ".join(args))


def test_the_store_keeps_writing_without_one_member_which_catches_up(host):
    victim = testinfra.get_host(f"ansible://pyweb-dbc-witness?ansible_inventory={os.environ['MOLECULE_INVENTORY_FILE']}")
    value = uuid.uuid4().hex
    assert victim.run("systemctl stop etcd").rc == 0
    try:
        put = etcdctl(host, "put drill/key", value)
        assert put.rc == 0 and "OK" in put.stdout, put.stderr
        assert etcdctl(host, "get --print-value-only drill/key").stdout.strip() == value
        # The cluster says what it lost.
        assert etcdctl(host, "endpoint health --cluster").rc != 0
    finally:
        assert victim.run("systemctl start etcd").rc == 0
    got = etcdctl(victim, "get --print-value-only --consistency=l drill/key")
    assert got.rc == 0 and got.stdout.strip() == value
    assert etcdctl(host, "endpoint health --cluster").rc == 0
