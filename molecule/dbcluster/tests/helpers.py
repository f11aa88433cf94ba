import json
import time
from pathlib import Path

# The failover and switchover tests' figures, kept as the drills keep theirs.
FIGURES = Path(__file__).resolve().parents[3] / "tests" / "drills" / "results" / "dbcluster.json"

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
    """libpq's own way to the primary: every member, the first that takes writes."""
    hosts = ",".join(addresses.values())
    return f"host={hosts} port=5432 dbname=demo user=demo target_session_attrs=read-write connect_timeout=2"


# The db_proxy role's way: HAProxy on the client host (the witness here, an
# app host in the stack) passes each connection to the current primary.
PROXY_URL = "host=127.0.0.1 port=6432 dbname=demo user=demo connect_timeout=2"


def sql_as_app(client, secrets, addresses, query):
    return client.run(f"PGPASSWORD='{secrets['vault_db_password']}' psql '{client_url(addresses)}' -qAtc \"{query}\"")


# A client's writes through the cluster, one row every 0.1 s (a connection
# each), each id noted in /tmp/acked<tag> when the commit was acknowledged,
# else in /tmp/failed<tag>. Writers with different tags run side by side,
# each in a table of its own (drill<tag>).
WRITER = """
i=0; end=$(( $(date +%s) + {seconds} ))
: > /tmp/acked{tag}; : > /tmp/failed{tag}
while [ $(date +%s) -lt $end ]; do
  i=$((i+1))
  if psql "{url}" -qAtc "INSERT INTO drill{tag} (id) VALUES ($i)" >/dev/null 2>&1
  then echo "$i $(date +%s.%N)" >> /tmp/acked{tag}
  else echo "$i $(date +%s.%N)" >> /tmp/failed{tag}
  fi
  sleep 0.1
done
echo done > /tmp/writer-done{tag}
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


def start_writer(client, secrets, addresses, seconds, url=None, tag=""):
    """An empty table drill<tag>, then WRITER in the background on `client`
    for `seconds`, through `url` (default: libpq's multi-host string)."""
    env = f"PGPASSWORD='{secrets['vault_db_password']}'"
    url = url or client_url(addresses)
    assert client.run(f"{env} psql '{url}' -qAtc 'CREATE TABLE IF NOT EXISTS drill{tag} (id int PRIMARY KEY)'").rc == 0
    assert client.run(f"{env} psql '{url}' -qAtc 'TRUNCATE drill{tag}'").rc == 0
    client.run(f"rm -f /tmp/writer-done{tag}")
    client.run(f"{env} nohup sh -c '{WRITER.format(seconds=seconds, url=url, tag=tag)}' >/dev/null 2>&1 &")


def writer_results(client, primary, timeout, tag=""):
    """Once the writer is done: its acknowledged (id, time) pairs, the times
    of its failed writes, and the acknowledged ids `primary` does not hold."""
    assert wait(lambda: client.file(f"/tmp/writer-done{tag}").exists, timeout), "the writer did not finish"

    def lines(path):
        return [line.split() for line in client.file(path).content_string.split("\n") if line]
    acked = [(int(i), float(t)) for i, t in lines(f"/tmp/acked{tag}")]
    failed = [float(t) for _, t in lines(f"/tmp/failed{tag}")]
    stored = primary.check_output(f"sudo -u postgres psql -d demo -qAtc 'SELECT id FROM drill{tag}'")
    lost = {i for i, _ in acked} - {int(x) for x in stored.split()}
    return acked, failed, lost


# The two ways to the primary that the failover and switchover tests write
# through side by side: libpq's host list, and the db_proxy role's HAProxy.
WRITERS = {"_libpq": "", "_proxy": "_proxy"}


def start_writers(client, secrets, addresses, seconds):
    for tag in WRITERS.values():
        start_writer(client, secrets, addresses, seconds, url=PROXY_URL if tag else None, tag=tag)


def check_writers(client, primary, timeout, event_at, event_seconds, max_window):
    """Each writer's results once done: none of its acknowledged writes
    missing from `primary`, writes acknowledged before `event_at` and again
    after the event (`event_seconds` long) and the failed writes, failed
    writes over at most `max_window` seconds. Their figures, by writer."""
    figures = {}
    for name, tag in WRITERS.items():
        acked, failed, lost = writer_results(client, primary, timeout, tag)
        window = max(failed) - min(failed) if failed else 0.0
        figures[name] = {"acknowledged": len(acked), "failed": len(failed), "failed_window_s": round(window, 2),
                         "lost": len(lost)}
        assert not lost, (name, sorted(lost))
        after = event_at + max(window, event_seconds)
        assert any(t < event_at for _, t in acked) and any(t > after for _, t in acked), (name, event_at, figures)
        assert window <= max_window, (name, figures)
    return figures


# A session that waits in a query on the primary (as an app's pooled
# connection waits on a slow one); /tmp/session<tag> gets psql's exit status
# and the time it ended: 0 when the query ran its `seconds`, 124 when it
# still waited `seconds` + 10 later (timeout ended it), another status when
# the connection was closed under it.
SESSION = """
timeout {limit} psql "{url}" -qAtc "SELECT pg_sleep({seconds})" >/dev/null 2>&1; rc=$?
echo "$rc $(date +%s.%N)" > /tmp/session{tag}
"""


def start_session(client, secrets, url, seconds, tag):
    client.run(f"rm -f /tmp/session{tag}")
    script = SESSION.format(url=url, seconds=seconds, limit=seconds + 10, tag=tag)
    client.run(f"PGPASSWORD='{secrets['vault_db_password']}' nohup sh -c '{script}' >/dev/null 2>&1 &")


def session_end(client, tag):
    """(psql's exit status, when it ended) once the session has ended, else None."""
    f = client.file(f"/tmp/session{tag}")
    if not f.exists:
        return None
    rc, at = f.content_string.split()
    return int(rc), float(at)


def record(name, figures):
    """Print `figures` and keep them under `name` in FIGURES (the figures of
    the scenario's other tests stay)."""
    print(json.dumps({name: figures}))
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    kept = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    kept[name] = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **figures}
    FIGURES.write_text(json.dumps(kept, indent=2) + "\n")
