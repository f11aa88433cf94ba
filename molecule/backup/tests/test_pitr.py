"""The database's archive (pgBackRest): WAL from the database host to the
repository on the backup host, over TLS, encrypted there, with a full backup
taken at the converge; and point-in-time recovery through the project's
playbooks/restore.yml: rows A, the time noted, rows B, the table dropped;
a restore to the noted time brings A back and not B; rows C written after
it, a restore to the latest brings A and C. Runs after test_backup.py, whose
restic snapshots restore.yml restores the files from."""

import json
import time

import pytest
import testinfra

from test_backup import INV, project_playbook, psql

testinfra_hosts = ["ansible://pyweb-bk-db"]
TEXTFILES = "/var/lib/prometheus/node-exporter"


@pytest.fixture(scope="module")
def server():
    return testinfra.get_host(f"ansible://pyweb-bk-server?ansible_inventory={INV}")


def archived(host):
    """Everything written so far is in the repository: pgbackrest check
    switches to a new WAL segment and waits until it is archived."""
    host.check_output("runuser -u postgres -- pgbackrest --stanza=pyweb check")


def batches(host):
    return psql(host, "SELECT coalesce(string_agg(batch || ':' || n, ',' ORDER BY batch), 'none') "
                      "FROM (SELECT batch, count(*) n FROM pitr GROUP BY batch) b")


def restore_to(target, force=True):
    extra = {"restore_target_time": target, **({"backup_restore_force": True} if force else {})}
    return project_playbook("playbooks/restore.yml", "-e", json.dumps(extra))


def said(run):
    """What a run printed, its lines unwrapped."""
    return " ".join((run.stdout + run.stderr).split())


def test_the_primary_archives_and_the_repository_checks_out(host, server):
    archived(host)
    info = json.loads(server.check_output("runuser -u pgbackrest -- pgbackrest --stanza=pyweb --output=json info"))[0]
    assert info["status"]["code"] == 0, info["status"]
    assert [b["type"] for b in info["backup"]][:1] == ["full"]
    assert info["archive"][0]["max"] >= info["backup"][-1]["archive"]["stop"]
    # The figures the alerts read: archived just now, never failed, at most
    # the segment being handed over waiting.
    host.check_output("/usr/local/sbin/pyweb-pgbackrest-metrics archive")
    prom = host.file(f"{TEXTFILES}/pyweb_pgbackrest_archive.prom").content_string
    figures = dict(line.split() for line in prom.splitlines() if not line.startswith("#"))
    assert time.time() - int(figures["pyweb_postgresql_archive_last_success_timestamp_seconds"]) < 120
    assert figures["pyweb_postgresql_archive_last_failure_timestamp_seconds"] == "0"
    assert int(figures["pyweb_postgresql_archive_ready_segments"]) <= 1
    backups = server.file(f"{TEXTFILES}/pyweb_pgbackrest_backups.prom").content_string
    assert 'pyweb_pgbackrest_last_backup_timestamp_seconds{stanza="pyweb",type="full"}' in backups


def test_the_repository_is_encrypted_and_its_users_alone(server):
    for info in ("archive/pyweb/archive.info", "backup/pyweb/backup.info"):
        assert server.check_output(f"head -c 8 /var/lib/pgbackrest/{info}") == "Salted__"
    repo = server.file("/var/lib/pgbackrest")
    assert (repo.user, repo.mode) == ("pgbackrest", 0o750)
    assert server.service("pyweb-pgbackrest-full.timer").is_enabled
    assert server.service("pyweb-pgbackrest-diff.timer").is_running


def test_a_restore_to_a_time_brings_that_time_back_and_latest_everything_since(host):
    psql(host, "DROP TABLE IF EXISTS pitr")
    psql(host, "CREATE TABLE pitr (id int PRIMARY KEY, batch text)")
    psql(host, "INSERT INTO pitr SELECT g, 'A' FROM generate_series(1, 100) g")
    time.sleep(1.5)
    noted = psql(host, "SELECT now()")
    time.sleep(1.5)
    psql(host, "INSERT INTO pitr SELECT g, 'B' FROM generate_series(101, 200) g")
    psql(host, "DROP TABLE pitr")
    archived(host)

    # Refused before any change: without force, and a time no backup reaches.
    refused = restore_to(noted, force=False)
    assert refused.returncode != 0 and "run again with -e backup_restore_force=true" in said(refused), said(refused)[-3000:]
    too_early = restore_to("2000-01-01 00:00:00+00")
    assert too_early.returncode != 0 and "cannot be reached" in said(too_early), said(too_early)[-3000:]
    assert psql(host, "SELECT to_regclass('pitr') IS NULL") == "t"

    run = restore_to(noted)
    assert run.returncode == 0, run.stdout[-4000:]
    assert batches(host) == "A:100"
    # The recovery's target is gone from the settings (a standby made from
    # this data must not stop there); the database archives on.
    auto = host.file(psql(host, "SHOW data_directory") + "/postgresql.auto.conf").content_string
    assert "recovery_target" not in auto and "restore_command" not in auto, auto
    psql(host, "INSERT INTO pitr SELECT g, 'C' FROM generate_series(201, 250) g")
    archived(host)

    latest = restore_to("latest")
    assert latest.returncode == 0, latest.stdout[-4000:]
    assert batches(host) == "A:100,C:50"
    assert psql(host, "SELECT pg_is_in_recovery()") == "f"
