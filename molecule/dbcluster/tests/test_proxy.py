"""The db_proxy role on the client (the witness, standing in for an app
host): HAProxy on 127.0.0.1 passes each connection to the member that
Patroni names the primary, never to the standby, and serves no other
address; when the primary stops answering this host (its packets dropped:
the connections stay open and nothing answers), the proxy closes the
sessions on it within seconds, where a session straight to it waits. The
failover and switchover tests write through it under load."""

import json
import sys
import time

import pytest
from conftest import INVENTORY, ROOT, node
from helpers import PROXY_URL, client_url, leader_and_standby, members, record, session_end, start_session, wait

sys.path.insert(0, str(ROOT / "molecule" / "shared"))
from playbook_runner import ansible_playbook, said  # noqa: E402

testinfra_hosts = ["ansible://pyweb-dbc-witness"]


def through_proxy(host, secrets, query):
    return host.run(f"PGPASSWORD='{secrets['vault_db_password']}' psql '{PROXY_URL}' -qAtc \"{query}\"")


def test_every_connection_reaches_the_primary(host, secrets, addresses):
    leader, _ = leader_and_standby(members(node("db1")))
    for _ in range(5):
        got = through_proxy(host, secrets, "SELECT pg_is_in_recovery(), host(inet_server_addr())")
        assert got.rc == 0, got.stderr
        assert got.stdout.strip() == f"f|{addresses[leader]}", got.stdout


def test_the_proxy_listens_on_loopback_only(host):
    assert host.socket("tcp://127.0.0.1:6432").is_listening
    assert not host.socket("tcp://0.0.0.0:6432").is_listening


def test_haproxy_marks_the_standby_down_and_the_primary_up(host, addresses):
    leader, standby = leader_and_standby(members(node("db1")))
    out = host.check_output(
        "python3 -c \"import socket; s = socket.socket(socket.AF_UNIX); s.connect('/run/haproxy/admin.sock');"
        " s.sendall(b'show servers state postgresql\\n'); print(s.makefile().read())\"")
    # Columns: be_id be_name srv_id srv_name srv_addr srv_op_state (2 up, 0 down) ...
    states = {f[3]: f[5] for f in (line.split() for line in out.splitlines()) if len(f) > 5 and f[1] == "postgresql"}
    assert states == {leader: "2", standby: "0"}, out


def test_the_checks_leave_no_errors_in_patronis_log(host):
    """HAProxy asks with OPTIONS (no body): a GET's body that HAProxy did not
    read made Patroni log a traceback for each check."""
    witness = host.check_output("hostname -I").split()[0]
    for name in ("db1", "db2"):
        log = node(name).check_output("journalctl -u patroni --no-pager --since '-30s'")
        assert f"processing of request from {witness}" not in log, (name, log[-2000:])


@pytest.mark.parametrize("bad, expected", [
    ({"db_proxy_members": [{"name": "db1", "address": "10.0.0.1"}]}, "at least two"),
    ({"db_proxy_idle_timeout": "an hour"}, "db_proxy_idle_timeout a number with ms, s, m, h or d (got 'an hour')"),
    ({"db_proxy_port": "a port"}, "db_proxy_port"),
], ids=["one-member", "idle-timeout-words", "port-words"])
def test_bad_input_is_refused_before_any_change(host, addresses, tmp_path, bad, expected):
    book = tmp_path / "proxy.yml"
    book.write_text(json.dumps([{"name": "The proxy alone", "hosts": "pyweb-dbc-witness", "gather_facts": False,
                                 "roles": [{"role": "db_proxy"}]}]))
    members = [{"name": n, "address": a} for n, a in addresses.items()]
    before = host.file("/etc/haproxy/haproxy.cfg").sha256sum
    proc = ansible_playbook(book, "-e", json.dumps({"db_proxy_members": members, **bad}), inventory=INVENTORY,
                            timeout=300)
    assert proc.returncode != 0
    assert expected in said(proc), said(proc)[-2000:]
    assert host.file("/etc/haproxy/haproxy.cfg").sha256sum == before


def test_sessions_on_a_primary_that_stops_answering_are_closed(host, secrets, addresses):
    """Everything this host sends to the primary is dropped (as when the
    primary's host hangs, or the network between them fails: nothing
    answers and nothing closes the connections): the proxy closes its
    session on it within seconds, so that the app gets an error and
    reconnects, where a session straight to it waits. The cluster itself
    does not see it (its members still reach each other)."""
    leader, _ = leader_and_standby(members(node("db1")))
    for tag, url in (("_proxy", PROXY_URL), ("_direct", client_url(addresses))):
        start_session(host, secrets, url, seconds=40, tag=tag)
    time.sleep(3)
    cut_at = time.time()
    host.check_output(f"nft add table inet drill && nft add chain inet drill out '{{ type filter hook output priority 0 ; }}'"
                      f" && nft add rule inet drill out ip daddr {addresses[leader]} drop")
    try:
        proxy_end = wait(lambda: session_end(host, "_proxy"), 20, step=0.5)
        direct_then = session_end(host, "_direct")
    finally:
        host.run("nft delete table inet drill")
    record("primary_stops_answering", {
        "proxy_session": {"rc": proxy_end[0], "closed_s_after_cut": round(proxy_end[1] - cut_at, 1)} if proxy_end else None,
        # When the proxy had closed its session: still waiting (None), or how it ended.
        "direct_session_then": {"rc": direct_then[0], "ended_s_after_cut": round(direct_then[1] - cut_at, 1)}
        if direct_then else None})
    assert proxy_end and proxy_end[0] != 0 and proxy_end[1] - cut_at <= 10.0, proxy_end
    # Once the primary answers again, new connections reach it.
    assert wait(lambda: through_proxy(host, secrets, "SELECT pg_is_in_recovery()").stdout.strip() == "f", 30), \
        "the proxy did not take the primary back"
