"""The rules that span hosts (playbooks/filter_plugins/stack_wiring.py), as
plain functions: the bindings give the roles what these return, and
preflight checks every host with the same ones."""

import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "playbooks" / "filter_plugins"))
from stack_wiring import stack_openings, stack_port_clashes, stack_upstreams  # noqa: E402
from monitoring_jobs import monitoring_host_exporters, monitoring_job_groups  # noqa: E402  (the role's, through stack_wiring)

ADDRESSES = {"loadbalancers": ["10.0.0.2", "10.0.0.3"], "app": ["10.0.0.11", "10.0.0.12"], "db": ["10.0.0.21"],
             "monitoring": ["10.0.0.31"], "backup_clients": ["10.0.0.11", "10.0.0.12", "10.0.0.21"]}
JOBS = [{"name": "node", "exporter": "node", "groups": ["all"]},
        {"name": "nginx", "exporter": "nginx", "groups": ["loadbalancers"]},
        {"name": "postgres", "exporter": "postgres", "groups": ["db"]},
        {"name": "pool", "exporter": "blackbox", "groups": ["loadbalancers"], "probe_groups": ["app"]}]


def host(*groups, **changes):
    return {"groups": list(groups), "app_port": 8000, "db_port": 5432, "vrrp": False,
            "exporter_ports": {"node": 9100, "nginx": 9113, "postgres": 9187, "blackbox": 9115}, "jobs": JOBS,
            "monitoring_ports": {"prometheus": 9090, "alertmanager": 9093}, "ui_sources": [], "added": [], **changes}


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
    rules = stack_openings(host("app", app_port="8001", added=added), ADDRESSES)
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


def test_upstreams_are_where_the_app_hosts_nginx_listens():
    addresses = {"app1": "10.0.0.11", "app2": "fd00::12", "solo": "10.0.0.5"}
    assert stack_upstreams(["app1", "app2"], addresses, {"app1": 8000, "app2": "8002"}) == ["10.0.0.11:8000", "[fd00::12]:8002"]
    # A host that is its own load balancer too is reached the same way: its
    # Nginx in front of the app server serves the static files.
    assert stack_upstreams(["solo"], addresses, {"solo": 8000}) == ["10.0.0.5:8000"]


def test_the_monitoring_roles_rules_for_its_jobs():
    # The firewall's openings above and the role's exporters are one function.
    assert monitoring_host_exporters(JOBS, ["loadbalancers", "app"]) == ["node", "nginx", "blackbox"]
    assert monitoring_host_exporters(JOBS, ["backup"]) == ["node"]
    assert monitoring_job_groups(JOBS) == ["all", "loadbalancers", "db", "app"]
