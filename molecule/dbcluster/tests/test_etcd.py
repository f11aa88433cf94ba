"""etcd (the cluster's configuration store): three members, the two database
hosts and the witness, bootstrapped together."""

import json

testinfra_hosts = ["ansible://pyweb-dbc-db1", "ansible://pyweb-dbc-db2", "ansible://pyweb-dbc-witness"]
MEMBERS = ["db1", "db2", "witness"]


def etcdctl(host, *args):
    return host.run("etcdctl --endpoints http://127.0.0.1:2379 " + " ".join(args))


def test_each_member_sees_the_same_three_members(host):
    out = etcdctl(host, "member list --write-out json")
    assert out.rc == 0, out.stderr
    assert sorted(m["name"] for m in json.loads(out.stdout)["members"]) == MEMBERS


def test_every_member_is_healthy_and_listens_on_its_private_address(host):
    assert etcdctl(host, "endpoint health --cluster").rc == 0
    address = host.check_output("hostname -I").split()[0]
    assert host.socket(f"tcp://{address}:2379").is_listening
    assert host.socket(f"tcp://{address}:2380").is_listening
    assert not host.socket("tcp://0.0.0.0:2379").is_listening


def test_the_data_is_the_etcd_users_alone(host):
    data = host.file("/var/lib/etcd/default")
    assert data.user == "etcd" and data.mode & 0o077 == 0
    assert host.file("/var/lib/etcd/.pyweb-cluster").content_string.strip() == "pyweb-etcd"
