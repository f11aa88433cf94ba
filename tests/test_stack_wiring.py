"""The rules that span hosts (playbooks/filter_plugins/stack_wiring.py), as
plain functions: the bindings give the roles what these return, and
preflight checks every host with the same ones."""

import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "playbooks" / "filter_plugins"))
from stack_wiring import (  # noqa: E402
    stack_addresses_of, stack_app_databases, stack_members, stack_app_host_sites, stack_app_probe_jobs, stack_app_upstreams, stack_lb_sites,
    stack_openings, stack_apps_removed, stack_apps_served, stack_port_clashes)
from monitoring_jobs import monitoring_host_exporters, monitoring_job_groups  # noqa: E402  (the role's, through stack_wiring)

ADDRESSES = {"loadbalancers": ["10.0.0.2", "10.0.0.3"], "app": ["10.0.0.11", "10.0.0.12"], "db": ["10.0.0.21"],
             "monitoring": ["10.0.0.31"], "backup_clients": ["10.0.0.11", "10.0.0.12", "10.0.0.21"]}
JOBS = [{"name": "node", "exporter": "node", "groups": ["all"]},
        {"name": "nginx", "exporter": "nginx", "groups": ["loadbalancers"]},
        {"name": "postgres", "exporter": "postgres", "groups": ["db"]},
        {"name": "pool", "exporter": "blackbox", "groups": ["loadbalancers"], "probe_groups": ["app"]}]


def host(*groups, **changes):
    return {"groups": list(groups), "app_ports": {"demo": 8000}, "db_port": 5432, "vrrp": False,
            "exporter_ports": {"node": 9100, "nginx": 9113, "postgres": 9187, "blackbox": 9115}, "jobs": JOBS,
            "monitoring_ports": {"prometheus": 9090, "alertmanager": 9093}, "ui_sources": [], "added": [], **changes}


def test_each_group_gets_its_hosts_addresses_in_the_groups_order():
    addresses = {"lb1": "10.0.0.2", "app1": "10.0.0.11", "app2": "10.0.0.12", "db1": "10.0.0.21"}
    groups = {"app": ["app2", "app1"], "db": ["db1"], "monitoring": [], "backup_clients": ["app1", "app2", "db1"]}
    assert stack_addresses_of(addresses, groups) == {
        "app": ["10.0.0.12", "10.0.0.11"], "db": ["10.0.0.21"], "monitoring": [],
        "backup_clients": ["10.0.0.11", "10.0.0.12", "10.0.0.21"]}


def test_members_are_named_after_their_hosts_on_their_own_addresses():
    hostvars = {"db1": {"stack_address": "10.0.0.21"}, "db2": {"stack_address": "10.0.0.22"}, "app1": {}}
    assert stack_members(["db2", "db1"], hostvars) == [
        {"name": "db2", "address": "10.0.0.22"}, {"name": "db1", "address": "10.0.0.21"}]


def ports(rules):
    return {r["name"]: (r.get("port"), r["sources"]) for r in rules}


def test_each_tier_opens_to_the_tier_that_needs_it_and_exporters_to_monitoring_only():
    assert ports(stack_openings(host("loadbalancers"), ADDRESSES)) == {
        "http": (80, []), "https": (443, []), "metrics-node": (9100, ["10.0.0.31"]),
        "metrics-nginx": (9113, ["10.0.0.31"]), "metrics-blackbox": (9115, ["10.0.0.31"])}
    assert ports(stack_openings(host("app"), ADDRESSES)) == {
        "app-server": (8000, ["10.0.0.2", "10.0.0.3"]), "metrics-node": (9100, ["10.0.0.31"])}
    assert ports(stack_openings(host("db"), ADDRESSES)) == {
        "postgresql": (5432, ["10.0.0.11", "10.0.0.12"]), "metrics-node": (9100, ["10.0.0.31"]),
        "metrics-postgres": (9187, ["10.0.0.31"])}


def test_a_database_cluster_opens_its_ports_between_its_members_and_to_the_app_hosts_only():
    cluster = {**ADDRESSES, "db": ["10.0.0.21", "10.0.0.22"], "etcd": ["10.0.0.21", "10.0.0.22", "10.0.0.31"],
               "monitoring": ["10.0.0.41"]}
    member = host("db", patroni_port=8008, etcd_member=True, etcd_ports={"client": 2379, "peer": 2380}, jobs=[])
    assert ports(stack_openings(member, cluster)) == {
        # Streaming between the members; the app hosts' proxies ask Patroni which one is the primary.
        "postgresql": (5432, ["10.0.0.11", "10.0.0.12", "10.0.0.21", "10.0.0.22"]),
        # The monitoring host scrapes Patroni's /metrics there.
        "patroni": (8008, ["10.0.0.11", "10.0.0.12", "10.0.0.21", "10.0.0.22", "10.0.0.41"]),
        # Patroni on the database hosts is etcd's client; the members talk to each other.
        "etcd-client": (2379, ["10.0.0.21", "10.0.0.22", "10.0.0.31"]),
        "etcd-peer": (2380, ["10.0.0.21", "10.0.0.22", "10.0.0.31"])}
    # The witness holds etcd only; an app host nothing of the cluster's.
    witness = ports(stack_openings(host("backup", etcd_member=True, etcd_ports={"client": 2379, "peer": 2380}, jobs=[]),
                                   cluster))
    assert set(witness) == {"etcd-client", "etcd-peer"}
    assert set(ports(stack_openings(host("app", jobs=[]), cluster))) == {"app-server"}
    # One database host: no cluster, no etcd, no Patroni, even if a host says it is a member.
    single = ports(stack_openings(dict(member), {**ADDRESSES, "monitoring": []}))
    assert single == {"postgresql": (5432, ["10.0.0.11", "10.0.0.12"])}


def test_the_database_hosts_and_the_backup_host_open_pgbackrest_to_each_other_only():
    archive = {**ADDRESSES, "db": ["10.0.0.21"], "backup": ["10.0.0.31"], "monitoring": []}
    assert ports(stack_openings(host("db", archive_port=8432, jobs=[]), archive))["pgbackrest"] == (8432, ["10.0.0.31"])
    assert ports(stack_openings(host("backup", archive_port=8432, jobs=[]), archive)) == {
        "pgbackrest": (8432, ["10.0.0.21"])}
    assert "pgbackrest" not in ports(stack_openings(host("app", archive_port=8432, jobs=[]), archive))
    # Archiving off (port 0), or the repository beside the only database: none.
    assert "pgbackrest" not in ports(stack_openings(host("db", archive_port=0, jobs=[]), archive))
    assert "pgbackrest" not in ports(stack_openings(host("db", "backup", archive_port=8432, jobs=[]), archive))


def test_no_monitoring_host_no_exporter_openings():
    assert ports(stack_openings(host("app"), {**ADDRESSES, "monitoring": []})) == {
        "app-server": (8000, ["10.0.0.2", "10.0.0.3"])}


def test_vrrp_between_the_load_balancers_only_with_a_floating_address():
    vrrp = [r for r in stack_openings(host("loadbalancers", vrrp=True), ADDRESSES) if r["name"] == "vrrp"]
    assert vrrp == [{"name": "vrrp", "proto": "vrrp", "sources": ["10.0.0.2", "10.0.0.3"]}]


def test_the_log_host_admits_the_other_hosts_journals_and_nobody_else():
    senders = {**ADDRESSES, "log_senders": ["10.0.0.2", "10.0.0.11", "10.0.0.21"]}
    assert ports(stack_openings(host("backup", "monitoring", journal_port=19532), senders))["journal-remote"] == (
        19532, ["10.0.0.2", "10.0.0.11", "10.0.0.21"])
    # Only the log host opens it; a log host with no senders (one host)
    # opens nothing rather than to anywhere.
    assert "journal-remote" not in ports(stack_openings(host("app", journal_port=0), senders))
    assert "journal-remote" not in ports(stack_openings(host("backup", journal_port=19532), {**ADDRESSES, "log_senders": []}))


def test_the_monitoring_pages_open_to_their_sources_only_when_there_are_some():
    assert "prometheus" not in ports(stack_openings(host("backup", "monitoring"), ADDRESSES))
    opened = ports(stack_openings(host("backup", "monitoring", ui_sources=["192.0.2.0/24"]), ADDRESSES))
    assert opened["prometheus"] == (9090, ["192.0.2.0/24"]) and opened["alertmanager"] == (9093, ["192.0.2.0/24"])


def test_added_openings_come_last_and_ports_given_as_text_become_numbers():
    added = [{"name": "grpc", "port": "9000", "proto": "tcp", "sources": []}]
    rules = stack_openings(host("app", app_ports={"demo": "8001"}, added=added), ADDRESSES)
    assert rules[0]["port"] == 8001 and rules[-1] == {"name": "grpc", "port": 9000, "proto": "tcp", "sources": []}


def test_one_host_holding_every_tier_opens_each_exporter_once():
    names = [r["name"] for r in stack_openings(host("loadbalancers", "app", "db", "monitoring"), ADDRESSES)]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("rules, ssh, clashes", [
    ([{"name": "app-server", "port": 8000}], 22, []),
    ([{"name": "app-server", "port": 22}], "22", ["ssh and app-server on port 22"]),
    ([{"name": "https", "port": 443}, {"name": "postgresql", "port": 443}, {"name": "vrrp"}], 22,
     ["https and postgresql on port 443"]),
])
def test_port_clashes_name_both_services(rules, ssh, clashes):
    assert stack_port_clashes(rules, ssh) == clashes


def test_upstreams_are_where_the_app_hosts_nginx_listens_for_each_app():
    def apps(**ports):
        return [{"name": name, "port": port, "domains": [f"{name}.test"]} for name, port in ports.items()]
    hostvars = {"app1": {"stack_address": "10.0.0.11", "stack_live_apps": apps(demo=8000, shop=8100)},
                "app2": {"stack_address": "fd00::12", "stack_live_apps": apps(demo="8002", shop=8100)},
                "solo": {"stack_address": "10.0.0.5", "stack_live_apps": apps(demo=8000)},
                # Not an app host: never read.
                "lb1": {}}
    assert stack_app_upstreams(["app1", "app2"], hostvars) == {
        "demo": ["10.0.0.11:8000", "[fd00::12]:8002"], "shop": ["10.0.0.11:8100", "[fd00::12]:8100"]}
    # A host that is its own load balancer too is reached the same way: its
    # Nginx in front of the app server serves the static files.
    assert stack_app_upstreams(["solo"], hostvars) == {"demo": ["10.0.0.5:8000"]}
    assert stack_app_upstreams([], hostvars) == {}


def test_each_app_has_its_own_opening_named_after_it_beside_the_first():
    rules = ports(stack_openings(host("app", app_ports={"demo": 8000, "shop": "8100"}), ADDRESSES))
    assert rules["app-server"] == (8000, ["10.0.0.2", "10.0.0.3"])
    assert rules["app-server-shop"] == (8100, ["10.0.0.2", "10.0.0.3"])


APPS = [{"name": "demo", "domains": ["a.test"], "port": 8000, "cert_name": "pyweb"},
        {"name": "shop", "domains": ["shop.test", "www.shop.test"], "port": "8100", "healthcheck_path": "/up",
         "db_password": "own-password-of-shop"}]


def test_each_app_has_a_site_with_its_names_and_certificate_and_the_added_locations_go_to_the_first():
    added = [{"location": "/dl/", "path": "/srv/dl"}, {"location": "/feed/", "max_age": 60}]
    demo, shop = stack_lb_sites(APPS, {"demo": ["10.0.0.11:8000"], "shop": ["10.0.0.11:8100"]}, "/etc/ssl/pyweb", added)
    assert (demo["server_names"], demo["tls_certificate"]) == (["a.test"], "/etc/ssl/pyweb/pyweb/fullchain.pem")
    assert (shop["server_names"], shop["tls_certificate_key"]) == (["shop.test", "www.shop.test"], "/etc/ssl/pyweb/shop/privkey.pem")
    assert shop["upstreams"] == ["10.0.0.11:8100"]
    assert demo["static"] == [added[0]] and [c["location"] for c in demo["cached"]] == ["/static/", "/media/", "/feed/"]
    assert shop["static"] == [] and [c["location"] for c in shop["cached"]] == ["/static/", "/media/"]


def test_each_app_has_its_app_host_site_database_and_probe():
    demo, shop = stack_app_host_sites(APPS, "fd00::11")
    assert shop["listen"] == ["[fd00::11]:8100"] and shop["upstream"] == "unix:/run/shop/app.sock"
    assert [s["path"] for s in shop["static"]] == ["/srv/shop/current/static", "/srv/shop/shared/media"]
    assert stack_app_databases(APPS, "the-environment-s") == [
        {"name": "demo", "user": "demo", "password": "the-environment-s"},
        {"name": "shop", "user": "shop", "password": "own-password-of-shop"}]
    # The first app's probe is the environment's app_pool job.
    assert stack_app_probe_jobs(APPS) == [{"name": "app_pool_shop", "exporter": "blackbox", "groups": ["loadbalancers"],
                                           "probe_groups": ["app"], "probe_port": 8100, "probe_path": "/up"}]


def test_a_removed_app_leaves_the_served_ones_in_their_order():
    gone = {"name": "blog", "state": "absent"}
    apps = [APPS[0], gone, {**APPS[1], "state": "present"}]
    assert [a["name"] for a in stack_apps_served(apps)] == ["demo", "shop"]
    assert stack_apps_removed(apps) == [gone]
    assert stack_apps_removed(APPS) == []


def test_the_monitoring_roles_rules_for_its_jobs():
    # The firewall's openings above and the role's exporters are one function.
    assert monitoring_host_exporters(JOBS, ["loadbalancers", "app"]) == ["node", "nginx", "blackbox"]
    assert monitoring_host_exporters(JOBS, ["backup"]) == ["node"]
    assert monitoring_job_groups(JOBS) == ["all", "loadbalancers", "db", "app"]
