"""PostgreSQL admits the app hosts with their password, and nobody else; one
machine's archive (pgBackRest beside it) restores a point in time."""

import os
import subprocess
import time
from pathlib import Path

import pytest
import testinfra

INV = os.environ.get("MOLECULE_INVENTORY_FILE", "")
SCENARIO = Path(__file__).resolve().parents[1]
testinfra_hosts = ["ansible://pyweb-pg-db"]


@pytest.fixture(scope="module")
def password():
    """The app role's password, read the way Ansible reads it: from the vault file."""
    path = os.path.join(os.path.dirname(__file__), "..", "vars", "vault.yml")
    out = subprocess.run(
        ["ansible", "localhost", "-m", "ansible.builtin.debug", "-a", "var=vault_db_password", "-e", f"@{path}"],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, ANSIBLE_CALLBACK_RESULT_FORMAT="json", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal"),
    )
    return out.stdout.split('"vault_db_password": "', 1)[1].split('"', 1)[0]


def client(name):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INV}")


def db_ip(host):
    return host.interface("eth0").addresses[0]


def psql(from_host, ip, password, sql="SELECT current_user", user="demo", db="demo"):
    return from_host.run(
        f"PGPASSWORD='{password}' PGCONNECT_TIMEOUT=5 psql -h {ip} -U {user} -d {db} -tAc \"{sql}\""
    )


def test_app_host_connects_with_its_password(host, password):
    r = psql(client("pyweb-pg-app"), db_ip(host), password)
    assert r.rc == 0, r.stderr
    assert r.stdout.strip() == "demo"


def test_each_app_reaches_its_own_database_only(host, password):
    app = client("pyweb-pg-app")
    own = psql(app, db_ip(host), password + "-shop", user="shop", db="shop")
    assert own.rc == 0, own.stderr
    assert own.stdout.strip() == "shop"
    other = psql(app, db_ip(host), password + "-shop", user="shop", db="demo")
    assert other.rc != 0
    assert "no pg_hba.conf entry" in other.stderr


def test_app_host_with_a_wrong_password_is_refused(host):
    r = psql(client("pyweb-pg-app"), db_ip(host), "wrong-password")
    assert r.rc != 0
    assert "password authentication failed" in r.stderr


def test_other_host_is_refused_even_with_the_password(host, password):
    r = psql(client("pyweb-pg-other"), db_ip(host), password)
    assert r.rc != 0
    assert "no pg_hba.conf entry" in r.stderr


def test_password_is_stored_as_scram(host):
    out = host.check_output("runuser -u postgres -- psql -tAc \"SELECT rolpassword FROM pg_authid WHERE rolname='demo'\"")
    assert out.startswith("SCRAM-SHA-256$")


def test_local_administration_is_peer_only(host):
    assert host.run("runuser -u postgres -- psql -tAc 'SELECT 1'").stdout.strip() == "1"
    # root cannot pose as postgres over the local socket.
    assert host.run("psql -U postgres -tAc 'SELECT 1'").rc != 0


def test_listens_on_the_private_address(host):
    assert host.socket(f"tcp://{db_ip(host)}:5432").is_listening
    assert host.socket("tcp://127.0.0.1:5432").is_listening


def test_starts_at_boot_only_once_the_network_is_online(host):
    """The private address must exist before PostgreSQL binds to it."""
    unit = host.check_output("systemctl list-units --plain --no-legend 'postgresql@*' | awk '{print $1}'").split()[0]
    for prop in ("After", "Wants"):
        assert "network-online.target" in host.check_output(f"systemctl show -p {prop} --value {unit}").split()


def test_memory_settings_derive_from_the_given_memory(host):
    def show(name):
        return host.check_output(f"runuser -u postgres -- psql -tAc 'SHOW {name}'")

    assert show("shared_buffers") == "256MB"
    assert show("effective_cache_size") == "768MB"
    assert show("maintenance_work_mem") == "51MB"
    assert show("password_encryption") == "scram-sha-256"


def test_the_database_belongs_to_the_app_role(host):
    owner = host.check_output(
        "runuser -u postgres -- psql -tAc \"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname='demo'\""
    )
    assert owner == "demo"


def test_the_archive_beside_the_database_brings_back_a_noted_time(host):
    """One machine: pgBackRest's repository on the database host itself (no
    TLS server), the WAL archived there, and a restore to a noted time brings
    back what was there then and not what came after."""
    assert not host.service("pyweb-pgbackrest-server").is_running
    assert host.file("/var/lib/pgbackrest/archive/pyweb/archive.info").user == "postgres"

    def sql(query):
        return host.check_output(f"runuser -u postgres -- psql -d demo -XtAc \"{query}\"")

    sql("DROP TABLE IF EXISTS pitr; CREATE TABLE pitr (v text); INSERT INTO pitr VALUES ('A')")
    time.sleep(1.5)
    noted = sql("SELECT now()")
    time.sleep(1.5)
    sql("INSERT INTO pitr VALUES ('B')")
    host.check_output("runuser -u postgres -- pgbackrest --stanza=pyweb check")
    run = subprocess.run(
        ["ansible-playbook", "-i", INV, str(SCENARIO / "restore.yml"), "-e", f"pgbackrest_restore_target='{noted}'"],
        capture_output=True, text=True, timeout=600,
        env=dict(os.environ, ANSIBLE_ROLES_PATH=str(SCENARIO.parents[1] / "roles"),
                 ANSIBLE_VAULT_PASSWORD_FILE=str(SCENARIO.parent / "shared" / "vault-password.txt")))
    assert run.returncode == 0, run.stdout[-3000:]
    assert sql("SELECT string_agg(v, ',' ORDER BY v) FROM pitr") == "A"
    assert sql("SELECT pg_is_in_recovery()") == "f"
