"""The primary's host dies (docker kill) while a client writes through the
cluster: the standby takes over within seconds, every write the client was
told had committed is there, and the old primary, started again, rejoins as
a standby by itself. Runs last (it moves the primary)."""

import subprocess
import time

from conftest import node
from helpers import client_url, members

testinfra_hosts = ["ansible://pyweb-dbc-witness"]
WRITER = """
i=0; end=$(( $(date +%s) + {seconds} ))
: > /tmp/acked; : > /tmp/failed
while [ $(date +%s) -lt $end ]; do
  i=$((i+1))
  if psql "{url}" -qAtc "INSERT INTO drill (id) VALUES ($i)" >/dev/null 2>&1
  then echo "$i $(date +%s.%N)" >> /tmp/acked
  else echo "$i $(date +%s.%N)" >> /tmp/failed
  fi
  sleep 0.1
done
echo done > /tmp/writer-done
"""


def wait(predicate, timeout, step=1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


def test_primary_loss_under_writes_loses_nothing_and_the_old_primary_rejoins(host, secrets, addresses):
    db1 = node("db1")
    before = members(db1)
    primary = next(n for n, (role, _) in before.items() if role == "Leader")
    survivor = next(n for n in before if n != primary)
    password = secrets["vault_db_password"]
    env = f"PGPASSWORD='{password}'"
    assert host.run(f"{env} psql '{client_url(addresses)}' -qAtc 'CREATE TABLE IF NOT EXISTS drill (id int PRIMARY KEY)'").rc == 0
    assert host.run(f"{env} psql '{client_url(addresses)}' -qAtc 'TRUNCATE drill'").rc == 0
    script = WRITER.format(seconds=45, url=client_url(addresses))
    host.run("rm -f /tmp/writer-done")
    host.run(f"{env} nohup sh -c '{script}' >/dev/null 2>&1 &".replace("'{", "'{"))
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
    acked = [(int(i), float(t)) for i, t in (line.split() for line in host.file("/tmp/acked").content_string.split("\n") if line)]
    failed = [float(t) for _, t in (line.split() for line in host.file("/tmp/failed").content_string.split("\n") if line)]
    stored = node(survivor).check_output("sudo -u postgres psql -d demo -qAtc 'SELECT id FROM drill'")
    lost = {i for i, _ in acked} - {int(x) for x in stored.split()}
    window = max(failed) - min(failed) if failed else 0.0
    print(f"acknowledged {len(acked)}, failed {len(failed)} over {window:.1f} s, lost {len(lost)}")
    assert not lost, sorted(lost)
    # Writes went through before the kill, failed for at most 15 s, and went
    # through again after it.
    assert any(t < killed_at for _, t in acked) and any(t > killed_at + window for _, t in acked), (acked, killed_at)
    assert window <= 15.0, window
    # The old primary comes back as a standby of the new one, by itself.
    back = wait(lambda: members(node(survivor)).get(primary, ("", ""))[1] in ("streaming", "running")
                and members(node(survivor))[primary][0] != "Leader", 120, step=3.0)
    assert back, members(node(survivor))
    assert members(node(survivor))[survivor][0] == "Leader"
