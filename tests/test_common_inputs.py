"""Bad inputs to the common role stop the play before any change, naming the variable."""

import pytest

from conftest import check_failure, validate_role, validate_roles

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBp0aKfLkE6qVUR5p5fH8x7d6l3vY0kq9Kc0p2s2n5wX alice@example.com"


# The placeholder host is reached as admin (conftest.PLACEHOLDER_HOST): an admin.
VALID = {"common_admin_users": [{"name": "admin", "ssh_keys": [KEY]}, {"name": "alice", "ssh_keys": [KEY]}]}
# Reached on port 1; sshd moves to 2222 and keeps 1 until the run has moved (site.yml).
MOVED = {"common_admin_users": [{"name": "admin", "ssh_keys": [KEY]}], "common_ssh_port": 2222, "common_ssh_extra_ports": [1]}
# A cloud image's sudo user logs in for the first run; an admin with a key takes over.
HANDOVER = {"ansible_user": "debian", "common_bootstrap_user": "debian",
            "common_admin_users": [{"name": "alice", "ssh_keys": [KEY]}]}


def validate(**extra):
    return validate_role("common", **extra)


@pytest.fixture(scope="module", autouse=True)
def batched():
    """Every case of this module in one ansible-playbook run (conftest.validate_roles)."""
    validate_roles([("common", e) for e in (VALID, MOVED, HANDOVER, *(extra for extra, _ in BAD))])


def test_valid_input_passes_without_touching_the_host():
    run = validate(**VALID)
    assert run.rc == 0, run.failures() or run.stderr
    # Only checks ran: argument specs and asserts.
    assert all(
        n == "Apply the role under test" or "Validating arguments" in n or n.startswith("common : Check") or "Refuse" in n
        for n in run.task_names()
    ), run.task_names()


BAD = [
    ({"common_ssh_port": "twenty-two"}, "common_ssh_port"),
    ({"common_admin_users": [{"ssh_keys": [KEY]}]}, "missing required arguments: name"),
    ({"common_admin_users": "alice"}, "common_admin_users"),
    ({"common_ssh_permit_root_login": "maybe"}, "common_ssh_permit_root_login must be one of"),
    ({"common_unattended_upgrades_enabled": "sometimes"}, "common_unattended_upgrades_enabled"),
    ({"common_admin_users": [{"name": "deploy", "ssh_keys": [KEY]}]}, "name the same user twice (deploy)"),
    ({"common_admin_users": [{"name": "Alice Smith"}]}, "'Alice Smith'"),
    ({"common_admin_users": [{"name": "alice", "ssh_keys": ["my laptop key"]}]}, "not a public key line"),
    ({"common_timezone": "Mars/Olympus Mons"}, "common_timezone like Europe/Berlin"),
    ({"common_locale": "english"}, "common_locale must look like en_US.UTF-8"),
    ({"ansible_user": "root"}, "Ansible logs in to testhost over SSH as root, which this run shuts out"),
    ({"ansible_user": "debian", "common_bootstrap_user": "debian"}, "which this run shuts out (AllowGroups admits the admins only)"),
    ({"ansible_user": "bob", "common_admin_users": [{"name": "alice", "ssh_keys": [KEY]}]},
     "Ansible logs in to testhost as bob, who is not a present admin in common_admin_users"),
    # The placeholder host is reached on port 1 (conftest.PLACEHOLDER_HOST).
    ({"common_ssh_port": 2222}, "Ansible logs in to testhost on port 1, which sshd would stop listening on"),
]


@pytest.mark.parametrize(
    "extra, expected",
    BAD,
    ids=[
        "port-not-int",
        "admin-without-name",
        "users-not-a-list",
        "unknown-root-login-choice",
        "bool-not-bool",
        "deploy-user-is-admin",
        "invalid-login-name",
        "malformed-ssh-key",
        "malformed-timezone",
        "malformed-locale",
        "root-lockout",
        "bootstrap-user-lockout",
        "login-user-not-an-admin",
        "login-port-closed",
    ],
)
def test_bad_input_fails_early_naming_the_problem(extra, expected):
    check_failure(validate(**extra), expected)


def test_moving_sshd_passes_while_the_login_port_stays_open():
    run = validate(**MOVED)
    assert run.rc == 0, run.failures() or run.stderr


def test_a_bootstrap_user_hands_over_to_an_admin_with_a_key():
    """A cloud image's sudo user logs in for the first run; an admin with a
    key takes over, so the run may shut the bootstrap user out."""
    run = validate(**HANDOVER)
    assert run.rc == 0, run.failures() or run.stderr
