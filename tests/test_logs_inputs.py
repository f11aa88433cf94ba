"""Bad inputs to the logs and audit roles stop the play before any change, naming the problem."""

import pytest

from conftest import check_failure, validate_role, validate_roles

# `keeper` is a host of every case's inventory (conftest.validate_roles).
VALID = {"logs_server": "keeper", "logs_server_address": "10.57.0.40", "logs_port": 19532,
         "logs_senders": {"web1": "10.57.0.11"}, "logs_heartbeat_interval": "30s"}

BAD = [
    ({**VALID, "logs_server": "logs1"}, "logs_server must be an inventory host (got 'logs1')"),
    ({**VALID, "logs_server_address": ""}, "with an address (logs_server_address: '')"),
    ({**VALID, "logs_port": 70000}, "logs_port a port (got 70000)"),
    ({**VALID, "logs_heartbeat_interval": "every minute"}, "got 'every minute'"),
    ({**VALID, "logs_senders": ["10.57.0.11"]}, "logs_senders"),
]
AUDIT_BAD = [
    ({"audit_disk_full_action": "PANIC"}, "audit_disk_full_action"),
    ({"audit_watches": [{"path": "/etc/passwd"}]}, "key"),
    ({"audit_max_log_file": "big"}, "audit_max_log_file"),
]


@pytest.fixture(scope="module", autouse=True)
def batched():
    """Every case of this module in one ansible-playbook run (conftest.validate_roles)."""
    validate_roles([("logs", VALID), ("audit", {})] + [("logs", e) for e, _ in BAD]
                   + [("audit", e) for e, _ in AUDIT_BAD])


def test_valid_inputs_pass():
    for role, extra in (("logs", VALID), ("audit", {})):
        run = validate_role(role, **extra)
        assert run.rc == 0, run.failures()


@pytest.mark.parametrize("extra, expected", BAD,
                         ids=["unknown-log-host", "no-address", "port-out-of-range", "bad-interval", "senders-a-list"])
def test_bad_logs_input_fails_early(extra, expected):
    check_failure(validate_role("logs", **extra), expected)


@pytest.mark.parametrize("extra, expected", AUDIT_BAD, ids=["unknown-disk-action", "watch-without-key", "size-not-a-number"])
def test_bad_audit_input_fails_early(extra, expected):
    check_failure(validate_role("audit", **extra), expected)
