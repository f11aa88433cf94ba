"""Filters: the wiring that spans hosts, one implementation of each rule.

group_vars/all/topology.yml and bindings/ call these to give each role its
variables, and playbooks/preflight.yml calls the same ones to check every
host before any change (tests/test_stack_wiring.py tests them as plain
functions):

- stack_upstreams: where each app host's Nginx listens (TCP on the host's
  private address), which is where the load balancers send requests;
- stack_openings: what a host opens in its firewall, from its groups and the
  other groups' addresses (default deny; each tier opens only to the tier
  that needs it, the exporters to the monitoring host only), plus the
  openings the environment, a group and a host add;
- stack_port_clashes: two services that would listen on one port of a host.
"""

import ipaddress
import sys
from pathlib import Path

# The monitoring role owns what its jobs mean for a host; the firewall's
# openings and preflight use the same functions.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "roles" / "monitoring" / "filter_plugins"))
from monitoring_jobs import monitoring_host_exporters, monitoring_job_groups  # noqa: E402


def _port(value):
    """A port as a number where it is one (templated values may be strings)."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value


def _endpoint(address, port):
    try:
        if ipaddress.ip_address(str(address)).version == 6:
            return f"[{address}]:{port}"
    except ValueError:
        pass
    return f"{address}:{port}"


def stack_upstreams(app_hosts, addresses, ports):
    """Where each of app_hosts' Nginx listens, "address:port" (addresses and
    ports: host name to private address, to the port it listens on). A host
    that is also the load balancer is reached the same way: its own Nginx in
    front of the app server serves the static files and media."""
    return [_endpoint(addresses[host], _port(ports[host])) for host in app_hosts]


def _rule(name, port, sources, proto="tcp"):
    rule = {"name": name, "proto": proto, "sources": list(sources)}
    if port is not None:
        rule["port"] = _port(port)
    return rule


def stack_openings(host, addresses):
    """The firewall openings of one host.

    host: this host's side, plain values only (bindings/firewall.yml):
      groups (its groups), app_port, db_port, vrrp (the load balancers share
      a floating address), exporter_ports ({exporter: port}), jobs
      (monitoring jobs: {exporter, groups}), monitoring_ports ({name: port},
      Prometheus' and Alertmanager's), ui_sources (who reaches those pages),
      journal_port (the journal receiver's port on the log host, 0 elsewhere),
      added (the openings the environment, its groups and the host add).
    addresses: each group's private addresses (topology.yml), with
      `monitoring` empty when there is no monitoring host, and
      `log_senders` (every host but the log host).
    """
    groups = set(host["groups"])
    rules = []
    if "loadbalancers" in groups:
        rules += [_rule("http", 80, []), _rule("https", 443, [])]
        if host["vrrp"]:
            rules.append(_rule("vrrp", None, addresses["loadbalancers"], proto="vrrp"))
    if "app" in groups:
        rules.append(_rule("app-server", host["app_port"], addresses["loadbalancers"]))
    if "db" in groups:
        rules.append(_rule("postgresql", host["db_port"], addresses["app"]))
    monitoring = list(addresses.get("monitoring") or [])
    if monitoring:
        exporters = monitoring_host_exporters(host["jobs"], host["groups"])
        rules += [_rule("metrics-" + e, host["exporter_ports"][e], monitoring) for e in exporters]
        if "monitoring" in groups and host["ui_sources"]:
            rules += [_rule(name, port, host["ui_sources"]) for name, port in host["monitoring_ports"].items()]
    # The log host admits the other hosts' journals (never anyone else: no
    # senders, no opening).
    senders = list(addresses.get("log_senders") or [])
    if _port(host.get("journal_port") or 0) and senders:
        rules.append(_rule("journal-remote", host["journal_port"], senders))
    return rules + [dict(o, port=_port(o["port"])) if "port" in o else dict(o) for o in host["added"]]


def stack_port_clashes(openings, ssh_port):
    """One phrase per port that two services of a host want ("app-server and
    grpc on port 8000"), SSH's port included; empty when none clash."""
    users = {}
    for name, port in [("ssh", _port(ssh_port))] + [(o["name"], o["port"]) for o in openings if "port" in o]:
        users.setdefault(port, []).append(name)
    return [f"{' and '.join(names)} on port {port}" for port, names in users.items() if len(names) > 1]


class FilterModule:
    def filters(self):
        return {
            "stack_upstreams": stack_upstreams,
            "stack_openings": stack_openings,
            "stack_port_clashes": stack_port_clashes,
            "stack_job_groups": monitoring_job_groups,
        }
