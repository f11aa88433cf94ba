"""Filters: the wiring that spans hosts, one implementation of each rule.

group_vars/all/topology.yml and bindings/ call these to give each role its
variables, and playbooks/preflight.yml calls the same ones to check every
host before any change (tests/test_stack_wiring.py tests them as plain
functions):

- stack_app_upstreams: where each app host's Nginx listens for each app
  (TCP on the host's private address), which is where the load balancers
  send requests;
- stack_app_users, stack_app_host_sites, stack_lb_sites,
  stack_app_probe_jobs: each app's user, its site on the app hosts and on
  the load balancers, and the monitoring job that probes it;
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


def stack_addresses_of(addresses, groups):
    """Each group's addresses, {group: [address, ...]} in the group's order
    (addresses: host name to private address; groups: group to host names)."""
    return {group: [addresses[host] for host in hosts] for group, hosts in groups.items()}


def stack_members(hosts, hostvars):
    """A cluster's members, {name, address} each: named after the host, on its
    private address (etcd's, Patroni's, the database proxy's), read from
    those hosts' variables only."""
    return [{"name": host, "address": hostvars[host]["stack_address"]} for host in hosts]


def stack_app_upstreams(app_hosts, hostvars):
    """Where each of app_hosts' Nginx listens for each app, {app:
    ["address:port", ...]} in app_hosts' order, read from those hosts'
    variables only: each one's private address (stack_address) and the port
    of each of its apps (stack_live_apps, as that host sees them). A host that
    is also the load balancer is reached the same way: its own Nginx in front
    of the app servers serves the static files and media."""
    ports = {host: {app["name"]: app["port"] for app in hostvars[host]["stack_live_apps"]} for host in app_hosts}
    apps = list(ports[app_hosts[0]]) if app_hosts else []
    return {app: [_endpoint(hostvars[host]["stack_address"], _port(ports[host][app])) for host in app_hosts]
            for app in apps}


def stack_apps_served(apps):
    """The apps the hosts serve: every app but those with state: absent."""
    return [app for app in apps if app.get("state", "present") != "absent"]


def stack_apps_removed(apps):
    """The apps to take off the hosts (state: absent): their app server,
    sites and open ports go; their user, files and database stay."""
    return [app for app in apps if app.get("state", "present") == "absent"]


def stack_app_socket(app):
    """Where an app's server listens on each app host: a unix socket, which
    the host's Nginx reaches."""
    return f"unix:/run/{app['name']}/app.sock"


def _app_root(app):
    return f"/srv/{app['name']}"


def stack_app_media_dirs(apps):
    """Each app's uploads on an app host (the app role's shared/media)."""
    return [_app_root(app) + "/shared/media" for app in apps]


def stack_app_users(apps):
    """Each app's system user and its home, where its releases live."""
    return [{"name": app["name"], "home": _app_root(app)} for app in apps]


def stack_app_host_sites(apps, address):
    """An app host's Nginx: one site per app on the host's private address
    and the app's port, in front of the app server's socket, serving the
    live release's static files and the shared media from disk."""
    return [{"name": app["name"],
             "listen": [_endpoint(address, _port(app["port"]))],
             "upstream": stack_app_socket(app),
             "static": [{"location": "/static/", "path": _app_root(app) + "/current/static",
                         "max_age": 31536000, "immutable": True},
                        {"location": "/media/", "path": stack_app_media_dirs([app])[0], "max_age": 3600}]}
            for app in apps]


def stack_app_databases(apps, default_password):
    """Each app's database and the role that owns it, both named after the
    app, with the app's password or else the environment's."""
    return [{"name": app["name"], "user": app["name"], "password": app.get("db_password") or default_password}
            for app in apps]


def stack_cert_dir(app, base_dir):
    """Where the tls role writes an app's certificate."""
    return f"{base_dir}/{app.get('cert_name') or app['name']}"


def stack_lb_sites(apps, upstreams, tls_base_dir, locations):
    """The load balancers' Nginx: one TLS site per app, for its domains,
    with its certificate, to its upstreams; /static/ cached for a year and
    /media/ for an hour (from any app host). The environment's added
    locations (stack_nginx_*_locations) go to the first app's site."""
    sites = []
    for index, app in enumerate(apps):
        cert = stack_cert_dir(app, tls_base_dir)
        added = list(locations) if index == 0 else []
        sites.append({
            "name": app["name"],
            "server_names": list(app["domains"]),
            "upstreams": list(upstreams[app["name"]]),
            "tls_certificate": cert + "/fullchain.pem",
            "tls_certificate_key": cert + "/privkey.pem",
            "tls_trusted_certificate": cert + "/chain.pem",
            "rate_limit": True,
            "static": [loc for loc in added if "path" in loc],
            "cached": [{"location": "/static/", "max_age": 31536000, "immutable": True},
                       {"location": "/media/", "max_age": 3600, "try_every_upstream": True}]
                      + [loc for loc in added if "path" not in loc],
        })
    return sites


def stack_app_probe_jobs(apps, probe_groups=("loadbalancers",)):
    """A monitoring job per app after the first (the first app's is the
    default app_pool job of stack_monitoring_jobs): each load balancer
    probes the app's health path on every app host."""
    return [{"name": "app_pool_" + app["name"], "exporter": "blackbox", "groups": list(probe_groups),
             "probe_groups": ["app"], "probe_port": _port(app["port"]),
             "probe_path": app.get("healthcheck_path") or "/healthz"}
            for app in apps[1:]]


def _unique(items):
    return list(dict.fromkeys(items))


def _rule(name, port, sources, proto="tcp"):
    rule = {"name": name, "proto": proto, "sources": list(sources)}
    if port is not None:
        rule["port"] = _port(port)
    return rule


def stack_openings(host, addresses):
    """The firewall openings of one host.

    host: this host's side, plain values only (bindings/firewall.yml):
      groups (its groups), app_ports ({app: port}, the first app's opening
      is "app-server", each other's "app-server-<app>"), db_port, patroni_port
      (with two database hosts or more: a cluster), etcd_member (this host holds an etcd member),
      etcd_ports ({client, peer}), vrrp (the load balancers share
      a floating address), exporter_ports ({exporter: port}), jobs
      (monitoring jobs: {exporter, groups}), monitoring_ports ({name: port},
      Prometheus' and Alertmanager's), ui_sources (who reaches those pages),
      journal_port (the journal receiver's port on the log host, 0 elsewhere),
      archive_port (pgBackRest's TLS server with the database archived, else
      0: the backup host calls the database hosts' to back up, they call
      the backup host's to archive and restore), added (the openings the environment, its groups and the host add).
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
        for index, (app, port) in enumerate(host["app_ports"].items()):
            name = "app-server" if index == 0 else "app-server-" + app
            rules.append(_rule(name, port, addresses["loadbalancers"]))
    cluster = len(addresses.get("db") or []) > 1
    if "db" in groups:
        # A cluster's members also stream from each other, and each app
        # host's proxy asks each member's Patroni which one is the primary.
        members = list(addresses["db"]) if cluster else []
        rules.append(_rule("postgresql", host["db_port"], _unique(list(addresses["app"]) + members)))
        if cluster:
            # ...and the monitoring host scrapes Patroni's /metrics there.
            sources = list(addresses["app"]) + members + list(addresses.get("monitoring") or [])
            rules.append(_rule("patroni", host["patroni_port"], _unique(sources)))
    if cluster and host.get("etcd_member"):
        store = list(addresses.get("etcd") or [])
        rules.append(_rule("etcd-client", host["etcd_ports"]["client"], _unique(list(addresses["db"]) + store)))
        rules.append(_rule("etcd-peer", host["etcd_ports"]["peer"], store))
    # (A host that is both keeps its repository beside the database: no
    # server, no opening.)
    archive = _port(host.get("archive_port") or 0) if not {"db", "backup"} <= groups else 0
    if archive and "db" in groups:
        rules.append(_rule("pgbackrest", archive, list(addresses["backup"])))
    if archive and "backup" in groups:
        rules.append(_rule("pgbackrest", archive, list(addresses["db"])))
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
            "stack_apps_served": stack_apps_served,
            "stack_addresses_of": stack_addresses_of,
            "stack_members": stack_members,
            "stack_apps_removed": stack_apps_removed,
            "stack_app_upstreams": stack_app_upstreams,
            "stack_app_users": stack_app_users,
            "stack_app_media_dirs": stack_app_media_dirs,
            "stack_app_socket": stack_app_socket,
            "stack_app_host_sites": stack_app_host_sites,
            "stack_cert_dir": stack_cert_dir,
            "stack_app_databases": stack_app_databases,
            "stack_lb_sites": stack_lb_sites,
            "stack_app_probe_jobs": stack_app_probe_jobs,
            "stack_openings": stack_openings,
            "stack_port_clashes": stack_port_clashes,
            "stack_job_groups": monitoring_job_groups,
        }
