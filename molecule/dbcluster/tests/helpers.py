import json
import time

PATRONICTL = "patronictl -c /etc/patroni/config.yml"


def members(host):
    """patronictl's view: {name: (role, state)}."""
    out = host.run(f"sudo -u postgres {PATRONICTL} list --format json")
    if out.rc != 0:
        return {}
    return {m["Member"]: (m["Role"], m["State"]) for m in json.loads(out.stdout)}


def leader_and_standby(view):
    """(the leader's name, the other member's name) of members()'s view of two members."""
    leader = next(n for n, (role, _) in view.items() if role == "Leader")
    return leader, next(n for n in view if n != leader)


def client_url(addresses):
    hosts = ",".join(addresses.values())
    return f"host={hosts} port=5432 dbname=demo user=demo target_session_attrs=read-write connect_timeout=2"


def sql_as_app(client, secrets, addresses, query):
    return client.run(f"PGPASSWORD='{secrets['vault_db_password']}' psql '{client_url(addresses)}' -qAtc \"{query}\"")


# A client's writes through the cluster, one row every 0.1 s, each id noted
# in /tmp/acked when the commit was acknowledged, else in /tmp/failed.
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
    """predicate()'s first true value within timeout seconds, else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


def start_writer(client, secrets, addresses, seconds):
    """An empty table `drill`, then WRITER in the background on `client` for `seconds`."""
    env = f"PGPASSWORD='{secrets['vault_db_password']}'"
    url = client_url(addresses)
    assert client.run(f"{env} psql '{url}' -qAtc 'CREATE TABLE IF NOT EXISTS drill (id int PRIMARY KEY)'").rc == 0
    assert client.run(f"{env} psql '{url}' -qAtc 'TRUNCATE drill'").rc == 0
    client.run("rm -f /tmp/writer-done")
    client.run(f"{env} nohup sh -c '{WRITER.format(seconds=seconds, url=url)}' >/dev/null 2>&1 &")


def writer_results(client, primary, timeout):
    """Once the writer is done: its acknowledged (id, time) pairs, the times
    of its failed writes, and the acknowledged ids `primary` does not hold."""
    assert wait(lambda: client.file("/tmp/writer-done").exists, timeout), "the writer did not finish"

    def lines(path):
        return [line.split() for line in client.file(path).content_string.split("\n") if line]
    acked = [(int(i), float(t)) for i, t in lines("/tmp/acked")]
    failed = [float(t) for _, t in lines("/tmp/failed")]
    stored = primary.check_output("sudo -u postgres psql -d demo -qAtc 'SELECT id FROM drill'")
    lost = {i for i, _ in acked} - {int(x) for x in stored.split()}
    return acked, failed, lost
