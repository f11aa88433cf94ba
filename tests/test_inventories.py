"""The layout: every environment has the same groups, and a tier playbook run
on its own sees exactly the variables that site.yml sees."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ENVIRONMENTS, ROOT, run_playbook, write_inventory

REPORT = "Report the environment"
# No host is contacted here: facts are skipped, so every host gets a
# documentation address, and the environments' secrets (vault files the
# repository does not hold) are stand-ins; so is a floating address on the
# documentation network, for the checks of keepalived's inputs.
OFFLINE = {
    # One address each (a database cluster's members must differ).
    "stack_address": "{{ '192.0.2.' ~ (10 + groups['all'].index(inventory_hostname)) }}",
    "stack_private_interface": {"device": "eth0", "ipv4": {"address": "{{ stack_address }}", "prefix": 24}},
    "stack_floating_address": "192.0.2.100",
    "stack_vrrp_password": "v" * 32,
    "stack_db_password": "x" * 32,
    "stack_app_secret_key": "y" * 32,
    "stack_backup_password": "z" * 32,
    "stack_db_superuser_password": "s" * 32,
    "stack_db_replication_password": "r" * 32,
    "stack_db_api_password": "a" * 32,
    "stack_db_archive_password": "c" * 32,
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


def filled_in(env, directory):
    """A copy of an environment's inventory with its CHANGE ME placeholders
    replaced, as a user would: host and site names of a domain they own (a
    reserved test name here), a real admin key."""
    source = ROOT / "inventory" / env
    copy = directory / env
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns(".secrets"))
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(directory / "admin_key")], check=True)
    if env == "local":
        # make up generates this key on a fresh clone before its first run.
        (copy / ".secrets" / "ssh").mkdir(parents=True)
        for suffix in ("", ".pub"):
            shutil.copy(directory / f"admin_key{suffix}", copy / ".secrets" / "ssh" / f"id_ed25519{suffix}")
        return copy
    key = (directory / "admin_key.pub").read_text().strip()
    for f in copy.rglob("*.yml"):
        text = f.read_text().replace("example.com", "shop.test").replace("(CHANGE ME)", "")
        text = "\n".join(f"      - {key}" if "Placeholder" in line else line for line in text.splitlines())
        f.write_text(text + "\n")
    return copy


def report(playbook, env, directory):
    run = offline_run(playbook, filled_in(env, directory))
    assert run.rc == 0, run.failures() or run.stderr
    # site.yml imports preflight once per tier; it checks and reports once.
    results = [r for r in run.task_results(REPORT) if not r.get("skipped")]
    assert len(results) == 1, f"{playbook}: preflight report ran {len(results)} times"
    return results[0]["msg"]


def test_the_three_environments_exist():
    assert {"local", "staging", "production"} <= set(ENVIRONMENTS)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_environment_defines_the_stack_groups(env):
    shared = yaml.safe_load((ROOT / "group_vars/all/topology.yml").read_text())
    hosts = yaml.safe_load((ROOT / "inventory" / env / "hosts.yml").read_text())
    groups = hosts["all"]["children"]
    for group in shared["stack_groups"]:
        assert groups.get(group, {}).get("hosts"), f"{env}: group {group} has no hosts"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_site_and_a_tier_playbook_see_the_same_variables(env, tmp_path):
    from_tier = report("playbooks/common.yml", env, tmp_path / "tier")
    # What could make them differ is where each playbook sits (site.yml next
    # to group_vars/, the tiers below it with a link), not the environment:
    # site.yml, whose run checks every role's inputs (about 15 s), runs for one.
    if env == "local":
        assert report("site.yml", env, tmp_path / "site") == from_tier
    # Both the shared and the environment's own group_vars are in effect.
    assert from_tier["stack_environment"] == env
    assert from_tier["stack_name"] == "pyweb"
    assert from_tier["common_admin_group"] == "sysadmins"


def _keys(path):
    keys = set()
    for f in sorted(path.rglob("*.yml")):
        data = yaml.safe_load(f.read_text()) or {}
        keys |= set(data)
    return keys


def test_every_stack_setting_of_an_environment_is_an_input_with_a_default():
    # An environment sets inputs (group_vars/all/inputs.yml, where each has its
    # default): a stack_* name that is not one would be a typo nothing reads.
    inputs = set(yaml.safe_load((ROOT / "group_vars/all/inputs.yml").read_text()))
    required = {"stack_environment", "stack_domain", "stack_db_password", "stack_app_secret_key", "stack_backup_password",
                "stack_ssh_port", "stack_vrrp_priority"}
    for env in ENVIRONMENTS:
        hosts = yaml.safe_load((ROOT / "inventory" / env / "hosts.yml").read_text())["all"]
        names = _keys(ROOT / "inventory" / env / "group_vars") | set(hosts.get("vars") or {})
        unknown = {n for n in names if n.startswith("stack_")} - inputs - required
        assert not unknown, f"{env} sets stack_* names that are no input: {sorted(unknown)}"


def test_the_shared_layers_read_forward_only():
    # inputs.yml reads no name of the later layers; topology.yml reads no
    # binding; a binding reads no other role's variables.
    text = {p.relative_to(ROOT / "group_vars/all"): p.read_text() for p in (ROOT / "group_vars/all").rglob("*.yml")}
    names = {p: set(yaml.safe_load(t) or {}) for p, t in text.items()}
    topology = names[Path("topology.yml")]
    bindings = {p: n for p, n in names.items() if p.parts[0] == "bindings"}
    later = topology | set().union(*bindings.values())

    def reads(path, candidates):
        body = "\n".join(line for line in text[path].splitlines() if not line.lstrip().startswith("#"))
        return {n for n in candidates if re.search(rf"\b{n}\b", body)
                and not re.search(rf"^{n}:", body, re.M)}

    assert not reads(Path("inputs.yml"), later)
    assert not reads(Path("topology.yml"), set().union(*bindings.values()))
    for path, own in bindings.items():
        role = path.stem
        others = {n for p, ns in bindings.items() if p != path for n in ns if not n.startswith(role + "_")}
        assert not reads(path, others), f"{path} reads another role's binding: {reads(path, others)}"


def test_every_role_variable_is_at_most_three_steps_from_an_input():
    # A step: a shared variable whose value names another. No input is more
    # than three steps from the role variable it ends in, and nothing loops.
    # An input is where a chain ends, also one whose default names another
    # input (stack_apps' first app is made of the stack_app_* inputs): an
    # environment sets either, in the one file of inputs.
    values, inputs = {}, set(yaml.safe_load((ROOT / "group_vars/all/inputs.yml").read_text()))
    for path in sorted((ROOT / "group_vars/all").rglob("*.yml")):
        values.update({k: json.dumps(v) for k, v in (yaml.safe_load(path.read_text()) or {}).items()})
    reads = {name: {n for n in values if n != name and re.search(rf"\b{n}\b", text)} for name, text in values.items()}

    def steps(name, seen=()):
        assert name not in seen, f"a loop: {' -> '.join(seen + (name,))}"
        if name in inputs:
            # Still no loop among the inputs.
            [steps(n, seen + (name,)) for n in reads[name]]
            return 0
        return max([1 + steps(n, seen + (name,)) for n in reads[name]] or [0])

    longest = {name: steps(name) for name in values if not name.startswith("stack_")}
    assert max(longest.values()) <= 3, sorted(longest.items(), key=lambda kv: -kv[1])[:5]


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


GROUPS = {"loadbalancers": ["lb1"], "app": ["app1"], "db": ["db1"], "backup": ["bk1"]}


def preflight_failure(run):
    assert run.rc != 0
    failures = [msg for task, msg in run.failures() if task.startswith("Check")]
    assert failures, run.failures() or run.stderr
    return " ".join(failures[0].split())


@pytest.mark.parametrize("env", ["staging", "production"])
def test_a_missing_vault_is_named_before_any_change(env):
    # The repository holds no vault.yml for these: the run must stop and say what to create.
    run = run_playbook("site.yml", "--tags", "preflight", "--skip-tags", "facts", inventory=ROOT / "inventory" / env)
    msg = preflight_failure(run)
    assert "The secret stack_db_password is missing" in msg
    assert "vault.yml" in msg


@pytest.mark.parametrize(
    "groups,expected",
    [
        ({**GROUPS, "db": [f"db{n}" for n in range(6)]}, "The group 'db' holds 6 host(s)"),
        ({**GROUPS, "app": []}, "The group 'app' holds 0 host(s) (none); it needs at least 1"),
        ({**GROUPS, "backup": ["bk1", "bk2"]}, "The group 'backup' holds 2 host(s)"),
        # A database cluster's store: an odd number of members, three or more.
        ({**GROUPS, "db": ["db1", "db2"]}, "keeps its leader lock in etcd, whose group holds 0 host(s) (none)"),
        ({**GROUPS, "db": ["db1", "db2"], "etcd": ["db1", "db2"]}, "whose group holds 2 host(s) (db1, db2): it needs an odd"),
        ({**GROUPS, "db": ["db1", "db2"], "etcd": ["db1", "db2", "bk1", "app1"]}, "whose group holds 4 host(s)"),
        ({**GROUPS, "etcd": ["db1", "bk1", "app1"]}, "but the db group holds one host: only a database cluster"),
    ],
    ids=["six-databases", "no-app-host", "two-backup-hosts", "cluster-without-store", "even-store", "four-members",
         "store-without-cluster"],
)
def test_group_sizes_are_checked(tmp_path, groups, expected):
    run = offline_run("site.yml", write_inventory(tmp_path, groups))
    assert expected in preflight_failure(run)


CLUSTER = {**GROUPS, "db": ["db1", "db2"], "etcd": ["db1", "db2", "bk1"]}


def test_a_database_cluster_with_a_witness_passes_the_checks(tmp_path):
    run = offline_run("site.yml", write_inventory(tmp_path, CLUSTER))
    assert run.rc == 0, run.failures() or run.stderr


def test_a_database_cluster_needs_its_own_secrets(tmp_path):
    run = offline_run("site.yml", write_inventory(tmp_path, CLUSTER), stack_db_replication_password="")
    assert "The secret stack_db_replication_password is missing" in preflight_failure(run)


@pytest.mark.parametrize("domain", ["localhost", "Shop.Example.com", "shop..example.com", "https://shop.example.com"])
def test_a_malformed_domain_is_refused(tmp_path, domain):
    run = offline_run("site.yml", write_inventory(tmp_path, GROUPS), stack_domain=domain)
    assert "stack_domain a lower-case DNS name" in preflight_failure(run)


def test_a_short_secret_is_refused(tmp_path):
    run = offline_run("site.yml", write_inventory(tmp_path, GROUPS), stack_backup_password="short")
    assert "The secret stack_backup_password is missing or shorter than 16 characters" in preflight_failure(run)


def test_an_unreachable_host_stops_the_run_before_any_change(tmp_path):
    # Every host answers on port 1 of loopback, which refuses connections.
    path = write_inventory(
        tmp_path,
        GROUPS,
        ansible_host="127.0.0.1",
        ansible_port=1,
        ansible_connection="ssh",
        ansible_user="admin",
        stack_db_password="x" * 32,
        stack_app_secret_key="y" * 32,
        stack_backup_password="z" * 32,
        stack_db_archive_password="c" * 32,
    )
    run = run_playbook("site.yml", inventory=path)
    assert run.rc != 0
    # Neither the admin nor the bootstrap user (root) got in, and the run says so.
    assert all(s["failures"] == 1 for s in run.data["stats"].values()), run.data["stats"]
    said = [" ".join(msg.split()) for task, msg in run.failures()]
    assert len(said) == len(run.data["stats"]) and all("Ansible cannot log in to" in m for m in said), said
    assert "neither as the admin" in said[0] and "nor as the bootstrap user root" in said[0]
    # Nothing past the facts: no role's task ran, on any host.
    assert not [name for name in run.task_names() if " : " in name], run.task_names()


@pytest.mark.parametrize("env", ["staging", "production"])
def test_preflight_refuses_every_placeholder_of_the_example_inventories(env):
    run = offline_run("site.yml", ROOT / "inventory" / env)
    msg = preflight_failure(run)
    assert "placeholders of the example inventory" in msg
    for named in (
        f"the host name lb1.{env}.example.com",
        f"the host name db1.{env}.example.com",
        f"the site name (stack_domain, stack_extra_server_names) {env}.example.com",
        f"www.{env}.example.com",
        "the ACME account e-mail (stack_acme_email) ops@example.com",
        "the admin user (common_admin_users) admin",
        "an SSH key that ssh-keygen cannot read: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlaceholder",
    ):
        assert named in msg, (named, msg)
    # Stopped in the checks on the controller: no host was contacted.
    assert not [t for t in run.task_names() if " : " in t]


def test_an_acme_email_at_an_example_domain_is_refused(tmp_path):
    run = offline_run("site.yml", write_inventory(tmp_path, GROUPS), stack_tls_mode="acme", stack_acme_email="me@example.org")
    assert "the ACME account e-mail (stack_acme_email) me@example.org" in preflight_failure(run)
