"""Bad inputs to the monitoring role stop the play before any change, naming the problem."""

import pytest

from conftest import check_failure, validate_role, validate_roles

JOBS = [
    {"name": "node", "exporter": "node", "groups": ["all"]},
    {"name": "app_pool", "exporter": "blackbox", "groups": ["all"], "probe_groups": ["all"], "probe_port": 8000},
]


VALID = {
    "monitoring_jobs": JOBS,
    "monitoring_error_ratio": "0.02",
    "monitoring_alert_for": {"HostDown": "90s", "ExporterDown": "5m", "AppHostMissing": "1m", "HighErrorRatio": "5m",
                             "CertificateExpiring": "1h", "BackupTooOld": "0s", "BackupFailed": "1m",
                             "DiskAlmostFull": "1d", "SecurityUpdatesPending": "26h", "RebootRequired": "2h",
                             "PackageFilesModified": "0s", "LogsNotReceived": "2m", "DatabaseNoStandby": "30s",
                             "DatabaseReplicationLag": "2m", "DatabaseArchivingFailing": "5m",
                             "DatabaseBackupTooOld": "10m"},
}
MAIL = {"monitoring_alert_email_to": "ops@example.com", "monitoring_smtp_smarthost": "smtp.example.com:587",
        "monitoring_smtp_from": "alerts@example.com"}


@pytest.fixture(scope="module", autouse=True)
def batched():
    """Every case of this module in one ansible-playbook run (conftest.validate_roles)."""
    validate_roles([("monitoring", e) for e in (VALID, MAIL, *(extra for extra, _ in BAD))])


def test_valid_monitoring_inputs_pass():
    run = validate_role("monitoring", **VALID)
    assert run.rc == 0, run.failures()
    mail = validate_role("monitoring", **MAIL)
    assert mail.rc == 0, mail.failures()


BAD = [
    ({"monitoring_error_ratio": "five percent"}, "monitoring_error_ratio"),
    ({"monitoring_backup_max_age_hours": "a day"}, "monitoring_backup_max_age_hours"),
    ({"monitoring_error_ratio": 5}, "lie between 0 and 1 (got 5 and 0.1)"),
    ({"monitoring_alert_for": {"HostDown": "2 minutes"}}, "monitoring_alert_for gives a duration like 90s"),
    ({"monitoring_jobs": [{"name": "web", "exporter": "apache", "groups": ["all"]}]}, "exporter must be one of"),
    ({"monitoring_jobs": [{"name": "cache", "exporter": "node", "groups": ["cache"]}]},
     "name groups the inventory does not have: cache"),
    ({"monitoring_jobs": [{"name": "pool", "exporter": "blackbox", "groups": ["all"]}]},
     "blackbox jobs need probe_groups and probe_port"),
    ({"monitoring_alert_email_to": "ops@example.com"}, "alert mails need monitoring_smtp_smarthost (host:port)"),
]


@pytest.mark.parametrize(
    "extra, expected",
    BAD,
    ids=["ratio-not-a-number", "hours-not-a-number", "ratio-out-of-range", "bad-duration", "unknown-exporter",
         "unknown-group", "blackbox-without-probe", "mail-without-relay"],
)
def test_bad_monitoring_input_fails_early(extra, expected):
    check_failure(validate_role("monitoring", **extra), expected)
