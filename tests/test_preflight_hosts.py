"""The preflight checks that need every host's facts: addresses, port
clashes, and every role's variables as each host sees them.

The inventory's hosts are this machine over the local connection (facts only:
playbooks/preflight.yml runs no role), each with its own stack_address. Their
facts are this machine's, gathered once per test process and then read from a
fact cache (gathering smart), as a later run would with a cache configured."""

import json
import sys
import tempfile

import pytest
from conftest import check_failure, once_per_run, run_playbook, write_inventory

HOSTS = {"lb1": "10.9.0.10", "app1": "10.9.0.21", "app2": "10.9.0.22", "db1": "10.9.0.30", "bk1": "10.9.0.40"}
GROUPS = {"loadbalancers": ["lb1"], "app": ["app1", "app2"], "db": ["db1"], "backup": ["bk1"]}
SECRETS = {s: "s" * 24 for s in ("stack_db_password", "stack_app_secret_key", "stack_backup_password",
                                           "stack_db_archive_password")}
DEMO_APP = {"name": "demo", "domains": ["www.a.test"], "port": 8000, "wsgi_module": "demo.wsgi:app"}
SHOP_APP = {"name": "shop", "domains": ["shop.a.test"], "port": 8100, "wsgi_module": "shop.wsgi:application",
            "secret_key": "k" * 24, "db_password": "p" * 24, "migrate_command": "python manage.py migrate --noinput"}
# The hosts are this machine over the local connection: there is no SSH login
# to find (the stack scenario tests that play over SSH), so the login play is
# told the one it would settle on and skips its pings (about 3 s a run).
LOCAL_LOGIN = {"stack_login_user": "admin"}
FACT_CACHE = {"ANSIBLE_GATHERING": "smart", "ANSIBLE_CACHE_PLUGIN": "ansible.builtin.jsonfile",
              "ANSIBLE_CACHE_PLUGIN_CONNECTION": tempfile.mkdtemp(prefix="pyweb-facts-"),
              "ANSIBLE_CACHE_PLUGIN_TIMEOUT": "86400"}


def preflight(tmp_path, host_vars=None, groups=GROUPS, hosts=None, **extra):
    hosts = {h: {"ansible_connection": "local", "stack_address": a, **(host_vars or {}).get(h, {})}
             for h, a in (hosts or HOSTS).items()}
    inventory = write_inventory(tmp_path, groups, hosts=hosts, ansible_python_interpreter=sys.executable)
    return run_playbook("playbooks/preflight.yml", "-e", json.dumps({**SECRETS, **LOCAL_LOGIN, **extra}), inventory=inventory,
                        env=FACT_CACHE)


def test_a_sound_inventory_passes(tmp_path):
    run = preflight(tmp_path)
    assert run.rc == 0, run.failures() or run.stderr
    # Every role's variables were read and checked on every host.
    checked = run.task_results("Check every role's variables")
    assert len(checked) == len(HOSTS) and not any(r.get("failed") for r in checked)
    for read in run.task_results("Read every role's variables"):
        values = read["ansible_facts"]["preflight_role_values"]
        assert values["errors"] == {}
        assert {name.split("_")[0] for name in values["values"]} >= {
            "common", "firewall", "postgresql", "python", "app", "tls", "nginx", "keepalived", "backup", "monitoring"}
    assert run.task_results("Check the ranges and formats") and not any(
        r.get("failed") for r in run.task_results("Check the ranges and formats"))


# Values refused on the host that holds them: each host of a run carries its
# own case (as a host variable), so one preflight run checks five cases. The
# facts play stops at the end of the first task that refuses a value
# (any_errors_fatal), so the cases refused by the argument specs share a run,
# and those refused by the range and format checks share another.
PER_HOST = {
    # Refused by the argument specs: a wrong type, an unknown choice.
    "wrong-type": ("lb1", {"nginx_worker_connections": "lots"}, "nginx_worker_connections"),
    # (An environment's stack_app_server is an app's field: the apps' check
    # takes it, test_bad_values_stop_the_run_before_any_role.)
    "unknown-app-server": ("app1", {"app_server_type": "waitress"},
                           "app_server_type must be one of: gunicorn, uwsgi, got: waitress"),
    "unknown-tls-mode": ("app2", {"stack_tls_mode": "letsencrypt"}, "tls_mode must be one of"),
    "wrong-type-backup": ("db1", {"backup_keep_daily": "many"}, "backup_keep_daily"),
    "monitoring-threshold-type": ("bk1", {"monitoring_error_ratio": "five percent"}, "monitoring_error_ratio"),
    # What the argument specs cannot say (filter_plugins/stack_checks.py).
    # (On app2: the apps' check runs once, on the first host, app1, and would
    # take it there; a host's own port is this host's check.)
    "port-out-of-range": ("app2", {"stack_app_port": 70000},
                          "firewall_allowed[0].port must be a port from 1 to 65535, got 70000"),
    "negative-count": ("lb1", {"nginx_worker_connections": -5}, "nginx_worker_connections must be at least 1, got -5"),
    "string-for-a-list": ("app1", {"stack_admin_networks": "10.0.0.0/8"}, "stack_admin_networks must be a list"),
    "not-a-network": ("db1", {"stack_admin_networks": ["10.0.0.0/33"]},
                      "firewall_ssh_sources must hold IP addresses or networks (CIDR), got ['10.0.0.0/33']"),
    "weak-rsa-key": ("bk1", {"tls_rsa_key_size": 1024}, "tls_rsa_key_size must be at least 2048, got 1024"),
    # An input of an extension point, and a port in a mapping of ports.
    "string-for-packages": ("lb1", {"stack_extra_packages": "htop"}, "stack_extra_packages must be a list"),
    "word-for-an-exporter-port": ("app1", {"stack_exporter_ports": {"node": "x"}},
                                  "monitoring_exporter_ports[node] must be a port from 1 to 65535, got 'x'"),
    # Nginx's endpoints, which the nginx role alone checked before.
    "app-site-upstream-without-address": ("app2", {"nginx_app_sites": [
        {"name": "pyweb", "listen": ["10.9.0.22:8080"], "upstream": "8000"}]},
        "nginx_app_sites[0].upstream must be 'address:port' (port 1 to 65535) or 'unix:/path', got '8000'"),
}
PER_HOST_RUNS = [list(PER_HOST)[:5], list(PER_HOST)[5:10], list(PER_HOST)[10:]]


@pytest.fixture(scope="module")
def per_host_runs(tmp_path_factory):
    def run_all():
        runs = {}
        for cases in PER_HOST_RUNS:
            host_vars = {PER_HOST[c][0]: PER_HOST[c][1] for c in cases}
            assert len(host_vars) == len(cases), "one case per host in a run"
            run = preflight(tmp_path_factory.mktemp("per-host"), host_vars=host_vars)
            runs.update({c: run for c in cases})
        return runs
    # Three preflight runs: once per test run, not once per worker.
    return once_per_run("per-host-runs", run_all)


@pytest.mark.parametrize("case", list(PER_HOST))
def test_a_bad_value_stops_the_run_before_any_role_naming_its_host(per_host_runs, case):
    host, _, expected = PER_HOST[case]
    run = per_host_runs[case]
    assert run.rc != 0
    failures = run.failures(host)
    assert failures, run.stderr
    task, msg = failures[0]
    assert expected in msg, msg
    assert "Check" in task, task


def test_a_run_of_some_roles_checks_their_variables_only(tmp_path):
    # deploy.yml applies app and app_server (preflight_roles) on the app hosts
    # (preflight_role_hosts): a bad value of another role (nginx's, which
    # site.yml refuses) does not stop it, nor one of those two on a host it
    # does not apply them to; one of those two on an app host does, before
    # any change. It needs the addresses of the app hosts and of the single
    # database host (preflight_address_hosts): the others (lb1, bk1) are
    # left out of the facts play, and no partial map of the addresses is
    # noted as stack_addresses.
    bad = {"lb1": {"nginx_worker_connections": "lots", "app_server_workers": "many"},
           "db1": {"app_server_workers": "many"}, "app2": {"app_server_workers": "many"}}
    needed = GROUPS["app"] + GROUPS["db"]
    run = preflight(tmp_path, host_vars=bad, preflight_roles=["app", "app_server"], preflight_role_hosts="app",
                    preflight_address_hosts=needed)
    assert run.rc != 0
    assert not run.failures("lb1") and not run.failures("db1"), (run.failures("lb1"), run.failures("db1"))
    task, msg = run.failures("app2")[0]
    assert "Check every role's variables" in task and "app_server_workers" in msg, (task, msg)

    def results(name):
        return {host: result for play in run.data["plays"] for task in play["tasks"]
                if name in task["task"]["name"] for host, result in task["hosts"].items()}
    reads = results("Read every role's variables")
    assert sorted(reads) == sorted(needed), reads
    assert sorted(h for h, r in reads.items() if not r.get("skipped")) == sorted(GROUPS["app"]), reads
    noted = [item["item"] for result in results("Note every host's address").values() for item in result["results"]]
    assert sorted(noted) == sorted(needed), noted
    mapped = results("Note the map of the addresses")
    assert mapped and all(r.get("skipped") for r in mapped.values()), mapped
    for host in GROUPS["app"]:
        assert not [n for n in reads[host]["ansible_facts"]["preflight_role_values"]["values"]
                    if n.startswith(("nginx_", "firewall_", "postgresql_", "common_"))]


@pytest.mark.parametrize(
    "extra, expected",
    [
        ({"stack_app_port": 22}, "would have two services on one port: ssh and app-server on port 22"),
        ({"stack_monitoring_jobs": [{"name": "cache", "exporter": "node", "groups": ["cache"]}]},
         "stack_monitoring_jobs (group_vars/all/inputs.yml) scrape the groups cache, which the inventory does not have"),
        ({"stack_monitoring_jobs": "node"}, "stack_monitoring_jobs must be a list of jobs"),
        ({"stack_app_server": "waitress"}, "stack_apps[0] (demo).server must be one of gunicorn, uwsgi; got 'waitress'"),
        ({"stack_app_name": "My App"}, "stack_apps[0] (My App).name must be a lower-case name of letters, digits and _"),
        ({"stack_apps": [DEMO_APP, {**SHOP_APP, "port": 8000}]}, "the apps demo and shop have 8000 as their port"),
        ({"stack_apps": [DEMO_APP, {k: v for k, v in SHOP_APP.items() if k != "secret_key"}]},
         "the apps demo and shop have the same value as their secret_key: each needs its own (from the vault)"),
        ({"stack_apps": [DEMO_APP, SHOP_APP], "app_migrate_command": "python -m demo.migrate"},
         "shop: the environment (or -e) sets app_migrate_command ('python -m demo.migrate', the app's migrate_command"),
    ],
    ids=["port-clash", "monitoring-unknown-group", "monitoring-jobs-not-jobs", "app-server", "app-name", "apps-share-a-port",
         "apps-share-a-secret", "app-setting-overrides-an-apps-own"],
)
def test_bad_values_stop_the_run_before_any_role(tmp_path, extra, expected):
    check_failure(preflight(tmp_path, **extra), expected)


def test_two_apps_and_a_removed_one_pass(tmp_path):
    # The removed app needs its name only; every role's variables (its
    # sites to delete among them) pass their specs on every host.
    run = preflight(tmp_path, stack_apps=[DEMO_APP, SHOP_APP, {"name": "blog", "state": "absent"}])
    assert run.rc == 0, run.failures() or run.stderr
    # Its sites go on the load balancer and the two app hosts.
    removed = [r["ansible_facts"]["preflight_role_values"]["values"].get("nginx_removed_sites")
               for r in run.task_results("Read every role's variables")]
    assert sorted(map(tuple, removed)) == [(), (), ("blog",), ("blog",), ("blog",)], removed


def test_a_port_clash_is_a_clash_only_on_a_host_holding_both(tmp_path):
    # PostgreSQL on 443 is fine on its own host...
    run = preflight(tmp_path, stack_db_port=443)
    assert run.rc == 0, run.failures() or run.stderr
    # ...not on a host that is also the load balancer.
    shared = {**GROUPS, "db": ["lb1"]}
    check_failure(preflight(tmp_path, groups=shared, stack_db_port=443),
                  "lb1 would have two services on one port: https and postgresql on port 443")


def test_an_added_opening_on_a_port_the_host_uses_is_a_clash(tmp_path):
    opening = {"name": "grpc", "port": 8000, "proto": "tcp", "sources": []}
    check_failure(preflight(tmp_path, host_vars={"app2": {"stack_firewall_host_openings": [opening]}}),
                  "app2 would have two services on one port: app-server and grpc on port 8000")


def test_an_address_that_is_not_an_ip_is_named(tmp_path):
    check_failure(preflight(tmp_path, host_vars={"app2": {"stack_address": "10.9.0.300"}}),
                  "app2 has the address '10.9.0.300', which is not an IP address")


def test_a_value_that_refers_to_an_undefined_variable_is_left_to_its_role(tmp_path):
    # An inventory without the app's secret (a backup-only test layout, say):
    # app_secrets cannot be resolved, so it is not checked here, and the rest is.
    partial = {"stack_db_password": "d" * 24, "stack_backup_password": "b" * 24,
               "stack_required_secrets": ["stack_db_password", "stack_backup_password"]}
    hosts = {h: {"ansible_connection": "local", "stack_address": a} for h, a in HOSTS.items()}
    inventory = write_inventory(tmp_path, GROUPS, hosts=hosts, ansible_python_interpreter=sys.executable)
    run = run_playbook("playbooks/preflight.yml", "-e", json.dumps({**partial, **LOCAL_LOGIN}), inventory=inventory, env=FACT_CACHE)
    assert run.rc == 0, run.failures() or run.stderr
    bad = run_playbook("playbooks/preflight.yml", "-e", json.dumps({**partial, **LOCAL_LOGIN, "nginx_worker_connections": "lots"}),
                       inventory=inventory, env=FACT_CACHE)
    check_failure(bad, "nginx_worker_connections")


# Two load balancers sharing a floating address on 10.9.0.0/24, and one host
# for the other groups (these checks read the load balancers only, and every
# host adds to each run's time). The hosts are this machine, whose
# interfaces do not hold these addresses: each load balancer says which of
# its interfaces carries its private network (the facts would).
TWO_LBS_HOSTS = {"lb1": "10.9.0.10", "lb2": "10.9.0.11", "app1": "10.9.0.21"}
TWO_LBS = {"loadbalancers": ["lb1", "lb2"], "app": ["app1"], "db": ["app1"], "backup": ["app1"]}


def floating(tmp_path, host_vars=None, **extra):
    nets = {lb: {"stack_private_interface": {"device": "eth0", "ipv4": {"address": TWO_LBS_HOSTS[lb], "prefix": 24}}}
            for lb in ("lb1", "lb2")}
    for host, values in (host_vars or {}).items():
        nets.setdefault(host, {}).update(values)
    return preflight(tmp_path, host_vars=nets, groups=TWO_LBS, hosts=TWO_LBS_HOSTS,
                     **{"stack_floating_address": "10.9.0.100", "stack_vrrp_password": "v" * 24, **extra})


def test_two_load_balancers_with_a_floating_address_pass(tmp_path):
    run = floating(tmp_path)
    assert run.rc == 0, run.failures() or run.stderr


@pytest.mark.parametrize(
    "extra, host_vars, expected",
    [
        ({"stack_floating_address": "10.8.0.100"}, None,
         "The floating address '10.8.0.100' (stack_floating_address) must be a free IPv4 address on the "
         "load balancers' private network, and lb1 (10.9.0.10) is on 10.9.0.0/24"),
        ({"stack_floating_address": "10.9.0.21"}, None, "The floating address '10.9.0.21'"),
        ({"stack_floating_address": "10.9.0.255"}, None, "The floating address '10.9.0.255'"),
        ({"stack_floating_address": "10.9.0.300"}, None, "The floating address '10.9.0.300'"),
        ({"stack_vrrp_password": ""}, None, "The secret stack_vrrp_password is missing or shorter than 16"),
        ({}, {"lb1": {"stack_vrrp_priority": 200}, "lb2": {"stack_vrrp_priority": 200}},
         "Two load balancers have the same VRRP priority ({'lb1': 200, 'lb2': 200})"),
        ({}, {"lb2": {"stack_vrrp_priority": 300}}, "VRRP priorities go from 1 to 254"),
        ({"stack_vrrp_router_id": "first"}, None, "stack_vrrp_router_id must be a number from 1 to 255"),
    ],
    ids=["outside-the-network", "a-host-address", "broadcast", "not-an-ip", "missing-secret",
         "duplicate-priorities", "priority-out-of-range", "router-id"],
)
def test_floating_address_mistakes_stop_the_run_before_any_role(tmp_path, extra, host_vars, expected):
    check_failure(floating(tmp_path, host_vars=host_vars, **extra), expected)


def test_the_exporters_ports_count_only_with_a_monitoring_host(tmp_path):
    # Without a monitoring host no exporter runs: the app may use 9100...
    run = preflight(tmp_path, stack_app_port=9100)
    assert run.rc == 0, run.failures() or run.stderr
    # ...with one, the node exporter listens there on every host.
    check_failure(preflight(tmp_path, groups={**GROUPS, "monitoring": ["bk1"]}, stack_app_port=9100),
                  "app1 would have two services on one port: app-server and metrics-node on port 9100")


def test_two_monitoring_hosts_are_refused(tmp_path):
    groups = {**GROUPS, "monitoring": ["bk1", "db1"]}
    check_failure(preflight(tmp_path, groups=groups), "The group 'monitoring' holds 2 host(s)")
