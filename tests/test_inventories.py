"""The layout: every environment has the same groups, and a tier playbook run
on its own sees exactly the variables that site.yml sees."""

import json

import pytest
import yaml

from conftest import ENVIRONMENTS, ROOT, run_playbook

REPORT = "Report the environment"
# No host is contacted here: facts are skipped, so every host gets a
# documentation address, and the environments' secrets (vault files the
# repository does not hold) are stand-ins.
OFFLINE = {
    "stack_address": "192.0.2.10",
    "stack_db_password": "x" * 32,
    "stack_app_secret_key": "y" * 32,
    "stack_backup_password": "z" * 32,
}


def offline_run(playbook, inventory, *args, **extra):
    return run_playbook(
        playbook,
        "--tags",
        "preflight",
        "--skip-tags",
        "facts",
        "-e",
        json.dumps({**OFFLINE, **extra}),
        *args,
        inventory=inventory,
    )


def report(playbook, env):
    run = offline_run(playbook, ROOT / "inventory" / env)
    assert run.rc == 0, run.failures() or run.stderr
    # site.yml imports preflight once per tier; it checks and reports once.
    results = [r for r in run.task_results(REPORT) if not r.get("skipped")]
    assert len(results) == 1, f"{playbook}: preflight report ran {len(results)} times"
    return results[0]["msg"]


def test_the_three_environments_exist():
    assert {"local", "staging", "production"} <= set(ENVIRONMENTS)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_environment_defines_the_stack_groups(env):
    shared = yaml.safe_load((ROOT / "group_vars/all/main.yml").read_text())
    hosts = yaml.safe_load((ROOT / "inventory" / env / "hosts.yml").read_text())
    groups = hosts["all"]["children"]
    for group in shared["stack_groups"]:
        assert groups.get(group, {}).get("hosts"), f"{env}: group {group} has no hosts"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_site_and_a_tier_playbook_see_the_same_variables(env):
    from_site = report("site.yml", env)
    from_tier = report("playbooks/common.yml", env)
    assert from_site == from_tier
    # Both the shared and the environment's own group_vars are in effect.
    assert from_site["stack_environment"] == env
    assert from_site["stack_name"] == "pyweb"
    assert from_site["common_admin_group"] == "sysadmins"


def _keys(path):
    keys = set()
    for f in sorted(path.rglob("*.yml")):
        data = yaml.safe_load(f.read_text()) or {}
        keys |= set(data)
    return keys


def test_no_variable_is_set_both_shared_and_per_environment():
    # Playbook group_vars (the shared ones) beat inventory group_vars: a name in
    # both would make the environment's value silently ineffective.
    shared = _keys(ROOT / "group_vars")
    for env in ENVIRONMENTS:
        clash = shared & _keys(ROOT / "inventory" / env / "group_vars")
        assert not clash, f"{env} sets shared variables: {sorted(clash)}"


def test_preflight_names_a_missing_group(tmp_path):
    inv = tmp_path / "hosts.yml"
    inv.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "vars": {"stack_environment": "broken"},
                    "children": {"app": {"hosts": {"a1": None}}, "db": {"hosts": {"d1": None}}},
                }
            }
        )
    )
    run = run_playbook("site.yml", "--tags", "preflight", inventory=inv)
    assert run.rc != 0
    assert any("no group 'loadbalancers'" in msg for _, msg in run.failures()), run.failures()
