"""Bad inputs to the python, app_server and app roles stop the play before any change."""

import pytest
import yaml

from conftest import ROOT, check_failure, validate_role, validate_roles

DEMO = str(ROOT / "apps" / "demo")
SECRETS = {"SECRET_KEY": "s", "DATABASE_URL": "postgresql://demo@db/demo"}


APP = {"app_source_path": DEMO, "app_secrets": SECRETS}
DB = {"name": "demo", "user": "demo", "password": "a-long-enough-password"}
PG = {"postgresql_databases": [DB], "postgresql_allowed_clients": ["10.0.0.11", "10.0.1.0/24"]}
BACKUP = {"backup_password": "a-long-enough-password", "backup_server": "", "backup_paths": ["/srv/media"]}
FIREWALL = {
    "firewall_allowed": [{"name": "db", "port": 5432, "sources": ["10.0.0.11", "fd00::/64"]}],
    "firewall_ssh_sources": ["192.0.2.0/24"],
}
APP_USERS = {"python_app_users": [{"name": "demo", "home": "/srv/demo"}]}
BAD_APP_USERS = {"python_app_users": [{"name": "www-data", "home": "/srv/x"}]}


def app(**extra):
    return validate_role("app", **{**APP, **extra})


@pytest.fixture(scope="module", autouse=True)
def batched():
    """Every case of this module in one ansible-playbook run (conftest.validate_roles)."""
    validate_roles(
        [("app", APP), ("app_server", {"app_server_type": "uwsgi"}), ("python", APP_USERS), ("python", BAD_APP_USERS),
         ("postgresql", PG), ("firewall", FIREWALL)]
        + [("app", {**APP, **extra}) for extra, _ in BAD_APP]
        + [("app_server", extra) for extra, _ in BAD_APP_SERVER]
        + [("postgresql", {**PG, **extra}) for extra, _ in BAD_POSTGRESQL]
        + [("firewall", extra) for extra, _ in BAD_FIREWALL]
        + [("backup", {**BACKUP, **extra}) for extra, _ in BAD_BACKUP]
    )


def test_valid_app_inputs_pass():
    run = app()
    assert run.rc == 0, run.failures() or run.stderr
    assert validate_role("app_server", app_server_type="uwsgi").rc == 0
    assert validate_role("python", **APP_USERS).rc == 0


BAD_APP = [
    ({"app_source_type": "svn"}, "app_source_type must be one of"),
    ({"app_source_path": "/nonexistent/app"}, "/nonexistent/app is not a directory on the controller"),
    ({"app_source_path": "apps/demo"}, "an absolute path on the controller"),
    ({"app_source_type": "git", "app_source_git_repo": ""}, "needs app_source_git_repo and app_source_git_ref"),
    ({"app_secrets": {"SECRET_KEY": "s"}}, "Missing secret(s) DATABASE_URL"),
    ({"app_secrets": {"SECRET_KEY": "", "DATABASE_URL": "x"}}, "Missing secret(s) SECRET_KEY"),
    ({"app_wsgi_module": "demo.wsgi"}, 'app_wsgi_module "module:attribute"'),
    ({"app_keep_releases": 1}, "app_keep_releases at least 2"),
    ({"app_name": "My App"}, "app_name must be a short lower-case name"),
    ({"app_keep_releases": "many"}, "app_keep_releases"),
]


@pytest.mark.parametrize(
    "extra, expected",
    BAD_APP,
    ids=[
        "unknown-source-type",
        "missing-source",
        "relative-source",
        "git-without-repo",
        "missing-secret",
        "empty-secret",
        "wsgi-without-callable",
        "too-few-releases",
        "bad-app-name",
        "releases-not-int",
    ],
)
def test_bad_app_input_fails_early(extra, expected):
    check_failure(app(**extra), expected)


BAD_APP_SERVER = [
    ({"app_server_type": "waitress"}, "app_server_type must be one of"),
    ({"app_server_listen": "0.0.0.0"}, 'app_server_listen "unix:/path" or "address:port"'),
    ({"app_server_workers": 0}, "app_server_workers at least 1"),
    ({"app_server_wsgi_module": "wsgi"}, "app_server_wsgi_module must be"),
]


@pytest.mark.parametrize(
    "extra, expected",
    BAD_APP_SERVER,
    ids=["unknown-server", "listen-without-port", "zero-workers", "wsgi-without-callable"],
)
def test_bad_app_server_input_fails_early(extra, expected):
    check_failure(validate_role("app_server", **extra), expected)


def test_bad_app_user_name_fails_early():
    check_failure(
        validate_role("python", **BAD_APP_USERS),
        "not a valid name for an unprivileged application user",
    )


BAD_POSTGRESQL = [
    ({"postgresql_databases": [{"name": "demo", "user": "demo"}]}, "password"),
    ({"postgresql_databases": [{**DB, "password": "short"}]}, "12 characters or more"),
    ({"postgresql_allowed_clients": ["app1.example.com"]}, "bad: app1.example.com"),
    ({"postgresql_databases": [{**DB, "name": "My-DB"}]}, "lower-case identifiers"),
    ({"postgresql_databases": [DB, {**DB, "name": "shop"}]}, "its own database name and user"),
    ({"postgresql_memory_mb": "lots"}, "postgresql_memory_mb"),
]


@pytest.mark.parametrize(
    "extra, expected",
    BAD_POSTGRESQL,
    ids=["no-password", "short-password", "client-not-an-address", "bad-db-name", "shared-user", "memory-not-int"],
)
def test_bad_postgresql_input_fails_early(extra, expected):
    check_failure(validate_role("postgresql", **{**PG, **extra}), expected)


def test_valid_postgresql_input_passes():
    run = validate_role("postgresql", **PG)
    assert run.rc == 0, run.failures() or run.stderr


BAD_FIREWALL = [
    ({"firewall_allowed": [{"name": "db", "port": 5432, "sources": ["app1.example.com"]}]}, "bad: app1.example.com"),
    ({"firewall_allowed": [{"name": "a", "port": 8000}, {"name": "b", "port": 8000}]}, "clash: 8000/tcp"),
    ({"firewall_ssh_port": 22, "firewall_allowed": [{"name": "ssh again", "port": 22}]}, "clash: 22/tcp"),
    # By default the SSH port is the one Ansible connects on: 1 on the placeholder host.
    ({"firewall_allowed": [{"name": "ssh again", "port": 1}]}, "clash: 1/tcp"),
    ({"firewall_allowed": [{"name": "x", "port": 80, "proto": "sctp"}]}, "proto must be one of"),
    ({"firewall_allowed": [{"port": 80}]}, "missing required arguments: name"),
    ({"firewall_ssh_sources": ["10.0.0.0/33"]}, "bad: 10.0.0.0/33"),
    ({"firewall_confirm_timeout": 5}, "firewall_confirm_timeout at least 30"),
]


@pytest.mark.parametrize(
    "extra, expected",
    BAD_FIREWALL,
    ids=["source-not-address", "port-clash", "clash-with-ssh", "clash-with-the-login-port", "unknown-proto", "opening-without-name", "bad-cidr", "timeout-too-short"],
)
def test_bad_firewall_input_fails_early(extra, expected):
    check_failure(validate_role("firewall", **extra), expected)


def test_valid_firewall_input_passes():
    run = validate_role("firewall", **FIREWALL)
    assert run.rc == 0, run.failures() or run.stderr


BAD_BACKUP = [
    ({"backup_password": ""}, "backup_password must be set from vault"),
    ({"backup_server": "no-such-host"}, "must be a host of the inventory"),
    ({"backup_paths": ["srv/media"]}, "bad: srv/media"),
    ({"backup_keep_daily": 0, "backup_keep_weekly": 0, "backup_keep_monthly": 0}, "keep at least one snapshot"),
    ({"backup_keep_daily": "week"}, "backup_keep_daily"),
]


@pytest.mark.parametrize(
    "extra, expected",
    BAD_BACKUP,
    ids=["no-password", "unknown-server", "relative-path", "keep-nothing", "keep-not-int"],
)
def test_bad_backup_input_fails_early(extra, expected):
    check_failure(validate_role("backup", **{**BACKUP, **extra}), expected)


def role_includes(path):
    """The include_role tasks of a playbook (its plays' tasks) or of a task file."""
    data = yaml.safe_load(path.read_text())
    tasks = [t for item in data for t in (item.get("tasks", []) if "hosts" in item else [item])]
    return {t["ansible.builtin.include_role"]["tasks_from"]: t["ansible.builtin.include_role"]
            for t in tasks if "ansible.builtin.include_role" in t}


@pytest.mark.parametrize(("entry", "checked_by", "files"), [
    ("rollout", "prepare_release", ["deploy.yml", "tasks/deploy_prepare.yml"]),
    ("rollback", "rollback_target", ["rollback.yml"])])
def test_what_a_playbook_does_not_check_host_by_host_is_checked_before_the_first_switch(entry, checked_by, files):
    # deploy.yml and rollback.yml include rollout and rollback host by host
    # without checking their variables (rolespec_validate: false): each
    # must be among those checked on every app host before the first switch.
    specs = yaml.safe_load((ROOT / "roles" / "app" / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    unchecked = set(specs[entry]["options"]) - set(specs[checked_by]["options"])
    assert not unchecked, f"{entry}'s {sorted(unchecked)} are not among {checked_by}'s argument specs"
    includes = {k: v for f in files for k, v in role_includes(ROOT / "playbooks" / f).items()}
    assert includes[entry].get("rolespec_validate") is False
    assert includes[checked_by].get("rolespec_validate", True) is True
