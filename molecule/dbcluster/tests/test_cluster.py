"""The cluster as the converge left it: one primary, one synchronous
standby, the app's writes on both, etcd's three members healthy."""

import json
import os
import sys
import uuid
from pathlib import Path

from conftest import node
from helpers import members, sql_as_app

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from playbook_runner import ansible_playbook, said  # noqa: E402

CONVERGE = Path(__file__).resolve().parents[1] / "converge.yml"

testinfra_hosts = ["ansible://pyweb-dbc-db1"]


def test_one_primary_and_one_synchronous_standby(host):
    seen = members(host)
    assert sorted(seen) == ["db1", "db2"], seen
    roles = sorted(role for role, _ in seen.values())
    assert roles == ["Leader", "Sync Standby"], seen
    assert all(state in ("running", "streaming") for _, state in seen.values()), seen


def test_an_app_write_through_the_cluster_is_on_both_members(host, secrets, addresses):
    client = node("witness")
    token = uuid.uuid4().hex
    made = sql_as_app(client, secrets, addresses, "CREATE TABLE IF NOT EXISTS notes (body text)")
    assert made.rc == 0, made.stderr
    assert sql_as_app(client, secrets, addresses, f"INSERT INTO notes VALUES ('{token}')").rc == 0
    for name in ("db1", "db2"):
        got = node(name).run(f"sudo -u postgres psql -d demo -qAtc \"SELECT count(*) FROM notes WHERE body = '{token}'\"")
        assert got.stdout.strip() == "1", (name, got.stderr)


def test_the_standby_refuses_writes_and_the_client_finds_the_primary(host, secrets, addresses):
    standby = next(name for name, (role, _) in members(host).items() if role != "Leader")
    refused = node(standby).run("sudo -u postgres psql -d demo -qAtc 'CREATE TABLE nope (x int)'")
    assert refused.rc != 0 and "read-only transaction" in refused.stderr


def test_the_stores_three_members_are_healthy(host):
    assert host.run("etcdctl --endpoints http://127.0.0.1:2379 endpoint health --cluster").rc == 0


def test_patroni_answers_health_checks_on_the_private_address_only(host, addresses):
    assert host.socket(f"tcp://{addresses['db1']}:8008").is_listening
    assert not host.socket("tcp://0.0.0.0:8008").is_listening


def test_a_setting_that_needs_a_restart_is_applied_on_each_member(host):
    """shared_buffers (as archive_mode when the archive is turned on) waits
    for PostgreSQL's restart: the role restarts each member, one at a time,
    and the cluster is whole again after."""
    run = ansible_playbook(CONVERGE, "-e", "postgresql_memory_mb=640", inventory=os.environ["MOLECULE_INVENTORY_FILE"],
                           timeout=600)
    assert run.returncode == 0, said(run)[-3000:]
    for name in ("db1", "db2"):
        assert node(name).check_output("sudo -u postgres psql -XtAc 'SHOW shared_buffers'") == "160MB", name
    view = members(host)
    assert sorted(role for role, _ in view.values()) == ["Leader", "Sync Standby"], view
    listed = json.loads(host.check_output("sudo -u postgres patronictl -c /etc/patroni/config.yml list --format json"))
    assert not [m for m in listed if m.get("Pending restart")], listed
