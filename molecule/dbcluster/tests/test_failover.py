"""The primary's host dies (docker kill) while a client writes through the
cluster, two ways side by side (libpq's multi-host string, and the db_proxy
role's HAProxy): the standby takes over within seconds, every write the
client was told had committed is there, and the old primary, started again,
rejoins as a standby by itself. (docker kill ends the host's processes, and
their kernel closes their connections: a host that hangs or loses its
network does not: test_proxy.py drops the packets to one.) Runs before the
proxy and switchover tests (each moves the primary)."""

import subprocess
import time

from conftest import node
from helpers import check_writers, leader_and_standby, members, record, start_writers, wait

testinfra_hosts = ["ansible://pyweb-dbc-witness"]


def test_primary_loss_under_writes_loses_nothing_and_the_old_primary_rejoins(host, secrets, addresses):
    db1 = node("db1")
    before = members(db1)
    primary, survivor = leader_and_standby(before)
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
    # Writes went through before the kill, failed for at most 15 s, and went
    # through again after it; none of the acknowledged lost.
    figures = check_writers(host, node(survivor), timeout=10, event_at=killed_at, event_seconds=0, max_window=15.0)
    record("failover", figures)
    # The old primary comes back as a standby of the new one, by itself.
    back = wait(lambda: members(node(survivor)).get(primary, ("", ""))[1] in ("streaming", "running")
                and members(node(survivor))[primary][0] != "Leader", 120, step=3.0)
    assert back, members(node(survivor))
    assert members(node(survivor))[survivor][0] == "Leader"
