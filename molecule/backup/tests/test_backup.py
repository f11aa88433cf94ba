"""Backups of a database host to a backup host over SFTP, and the restore drill:
write rows and files, back up, destroy them, restore, compare byte for byte."""

import os
import subprocess
import time
from pathlib import Path

import pytest
import testinfra

testinfra_hosts = ["ansible://pyweb-bk-db"]
INV = os.environ.get("MOLECULE_INVENTORY_FILE", "")
SCENARIO = Path(__file__).resolve().parents[1]
MEDIA = "/srv/demo/shared/media"
MARKER = "drill-marker-7f3a9c"


def psql(host, sql):
    return host.check_output(f"runuser -u postgres -- psql -d demo -tAc \"{sql}\"")


def rows_digest(host):
    return psql(host, "SELECT count(*) || ':' || md5(string_agg(id || ':' || payload, ',' ORDER BY id)) FROM drill")


def files_digest(host):
    return host.check_output(f"cd {MEDIA} && find . -type f -print0 | sort -z | xargs -0 sha256sum")


def backup(host):
    return host.run("systemctl start pyweb-backup.service")


def project_playbook(name, *args):
    """One of the project's playbooks, with the stack's groups added to Molecule's inventory."""
    cmd = ["ansible-playbook", "-i", INV, "-i", str(SCENARIO / "inventory" / "stack.yml"), str(SCENARIO.parents[1] / name)]
    cmd += ["-e", f"@{SCENARIO / 'vars' / 'vault.yml'}", "--limit", "pyweb-bk-db", *args]
    # No application in this scenario: only the secrets it has are checked.
    cmd += ["-e", '{"stack_required_secrets": ["stack_backup_password", "stack_db_password"]}']
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, ANSIBLE_ROLES_PATH=str(SCENARIO.parents[1] / "roles")),
    )


def restore(force=False):
    return project_playbook("playbooks/restore.yml", *(["-e", "backup_restore_force=true"] if force else []))


@pytest.fixture(scope="module")
def server():
    return testinfra.get_host(f"ansible://pyweb-bk-server?ansible_inventory={INV}")


@pytest.fixture(scope="module")
def drill(host):
    """Rows and files, backed up, then destroyed; returns their digests."""
    psql(host, "DROP TABLE IF EXISTS drill")
    psql(host, "CREATE TABLE drill (id int PRIMARY KEY, payload text)")
    psql(host, f"INSERT INTO drill SELECT g, '{MARKER}-' || md5(random()::text) FROM generate_series(1, 500) g")
    host.run(f"rm -rf {MEDIA}/* && mkdir -p {MEDIA}/uploads")
    for i in range(3):
        host.run(f"head -c {50000 + i} /dev/urandom > {MEDIA}/uploads/file{i}.bin")
    digests = (rows_digest(host), files_digest(host))
    assert backup(host).rc == 0
    psql(host, "DROP TABLE drill")
    host.run(f"rm -rf {MEDIA}/*")
    assert host.run(f"find {MEDIA} -type f | grep -q .").rc != 0
    return digests


def test_timers_are_active(host):
    assert host.service("pyweb-backup.timer").is_running
    assert host.service("pyweb-backup-check.timer").is_running


def test_restore_returns_identical_rows_and_files(host, drill):
    run = restore()
    assert run.returncode == 0, run.stdout[-3000:]
    assert rows_digest(host) == drill[0]
    assert files_digest(host) == drill[1]


def test_restore_refuses_to_overwrite_live_data(host, drill):
    run = restore()
    assert run.returncode != 0
    assert "has live data" in run.stdout + run.stderr
    assert "-e backup_restore_force=true" in run.stdout + run.stderr
    assert rows_digest(host) == drill[0]  # untouched
    forced = restore(force=True)
    assert forced.returncode == 0, forced.stdout[-3000:]
    assert rows_digest(host) == drill[0]


def test_last_success_is_recorded_for_monitoring(host, drill):
    assert int(host.file("/var/lib/pyweb-backup/last-success").content_string) > 0
    prom = host.file("/var/lib/prometheus/node-exporter/pyweb_backup.prom").content_string
    assert "pyweb_backup_last_run_success 1" in prom
    assert "pyweb_backup_last_success_timestamp_seconds" in prom


def test_repository_cannot_be_read_without_the_password(host, server, drill):
    r = host.run(
        "bash -c 'set -a; . /etc/pyweb-backup/env; set +a; echo not-the-password > /tmp/wrong; "
        "restic -o sftp.command=\"$RESTIC_SFTP_COMMAND\" --password-file /tmp/wrong snapshots'"
    )
    assert r.rc != 0
    assert "wrong password" in r.stderr
    # The data on the backup host is encrypted: the rows' marker appears nowhere.
    assert server.run(f"grep -rl {MARKER} /srv/backups").rc == 1
    assert server.run("find /srv/backups -path '*repo/data/*' -type f | grep -q .").rc == 0


def test_client_key_opens_sftp_only(host, server):
    user = host.check_output("grep -o 'bk-[a-z0-9]*' /etc/pyweb-backup/env | head -n1")
    addr = server.interface("eth0").addresses[0]
    r = host.run(f"ssh -i /root/.ssh/pyweb-backup -o BatchMode=yes {user}@{addr} id")
    assert "uid=" not in r.stdout


def test_prune_keeps_one_snapshot_per_day(host, drill):
    for _ in range(2):
        assert backup(host).rc == 0
    snapshots = host.check_output("pyweb-restic snapshots --json --host $(hostname) | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'")
    assert snapshots == "1"  # keep-daily keeps the newest of today's


def test_a_failed_backup_is_logged_loudly_and_keeps_the_last_success(host, drill):
    before = host.file("/var/lib/pyweb-backup/last-success").content_string
    host.run("cp /etc/pyweb-backup/password /tmp/pw.keep && echo broken > /etc/pyweb-backup/password")
    try:
        assert backup(host).rc != 0
    finally:
        host.run("cp /tmp/pw.keep /etc/pyweb-backup/password && chmod 0600 /etc/pyweb-backup/password")
    assert "BACKUP FAILED" in host.check_output("journalctl -t pyweb-backup -p err --no-pager")
    assert host.file("/var/lib/pyweb-backup/last-success").content_string == before
    assert "pyweb_backup_last_run_success 0" in host.file("/var/lib/prometheus/node-exporter/pyweb_backup.prom").content_string
    assert backup(host).rc == 0


def test_repository_check_passes(host, drill):
    assert host.run("systemctl start pyweb-backup-check.service").rc == 0


# Last: it backs up the restored data (a backup of the destroyed state, earlier,
# would be the only snapshot left of today after the prune).
def test_backup_playbook_backs_up_now(host, drill):
    before = int(host.file("/var/lib/pyweb-backup/last-success").content_string)
    time.sleep(1)
    run = project_playbook("playbooks/backup.yml")
    assert run.returncode == 0, run.stdout[-3000:]
    assert int(host.file("/var/lib/pyweb-backup/last-success").content_string) > before
