"""The primary's host dies (docker kill) while a client writes through the
cluster, two ways side by side (libpq's multi-host string, and the db_proxy
role's HAProxy): the standby takes over within seconds, every write the
client was told had committed is there, and the old primary, started again,
rejoins as a standby by itself. (docker kill ends the host's processes, and
their kernel closes their connections: a host that hangs or loses its
network does not: test_proxy.py drops the packets to one.) Runs before the
proxy and switchover tests (each moves the primary)."""

import json
import subprocess
import time

from conftest import node
from helpers import check_writers, leader_and_standby, members, record, start_writers, wait

testinfra_hosts = ["ansible://pyweb-dbc-witness"]

# The bound on failed writes when the primary's host dies.
MAX_WINDOW = 15.0
# When that host also led etcd, the lock's lease outlives it longer: the
# other members wait one to two election timeouts (etcd_election_timeout,
# 1 s) before electing a leader, which gives every lease its whole TTL again
# plus one election timeout. Up to 3 s more than when a follower dies.
ETCD_LEADER_LOSS = 3.0


def leads_etcd(host):
    """Whether `host`'s etcd member is the etcd cluster's leader."""
    out = host.check_output("etcdctl --endpoints http://127.0.0.1:2379 endpoint status -w json")
    status = json.loads(out)[0]["Status"]
    return status["header"]["member_id"] == status["leader"]


def test_primary_loss_under_writes_loses_nothing_and_the_old_primary_rejoins(host, secrets, addresses):
    db1 = node("db1")
    before = members(db1)
    primary, survivor = leader_and_standby(before)
    led_etcd = leads_etcd(node(primary))
    start_writers(host, secrets, addresses, seconds=45)
    time.sleep(5)
    killed_at = time.time()
    subprocess.run(["docker", "kill", f"pyweb-dbc-{primary}"], check=True, capture_output=True)
    try:
        # The survivor becomes the primary.
        promoted = wait(lambda: members(node(survivor)).get(survivor, ("", ""))[0] == "Leader", 45)
        assert promoted, members(node(survivor))
        assert wait(lambda: host.file("/tmp/writer-done").exists, 90)
    finally:
        subprocess.run(["docker", "start", f"pyweb-dbc-{primary}"], check=True, capture_output=True)
    # The old primary comes back as a standby of the new one, by itself
    # (waited for first: the tests after this one need both members).
    back = wait(lambda: members(node(survivor)).get(primary, ("", ""))[1] in ("streaming", "running")
                and members(node(survivor))[primary][0] != "Leader", 120, step=3.0)
    assert back, members(node(survivor))
    assert members(node(survivor))[survivor][0] == "Leader"
    # Writes went through before the kill, failed for at most 15 s (18 s when
    # the killed host also led etcd), and went through again after it; none
    # of the acknowledged lost.
    max_window = MAX_WINDOW + (ETCD_LEADER_LOSS if led_etcd else 0.0)
    figures = check_writers(host, node(survivor), timeout=10, event_at=killed_at, event_seconds=0,
                            max_window=max_window)
    record("failover", {"killed_host_led_etcd": led_etcd, "max_window_s": max_window, **figures})
