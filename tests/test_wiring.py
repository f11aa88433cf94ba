"""What the shared group_vars make of an inventory: every address typed once
(in the inventory or learnt from facts) and every tier wired to the others,
for the five-host layout and for one host holding the whole stack; and an
environment's inputs beating the shared defaults (group_vars/all/inputs.yml)
wherever the environment sets them."""

import json

import pytest

from conftest import run_playbook, write_inventory

SECRETS = {"stack_db_password": "p/ss+w0rd" * 3, "stack_app_secret_key": "k" * 32, "stack_backup_password": "b" * 32,
           "stack_db_archive_password": "c" * 32}
ADDR = {"lb1": "10.0.0.2", "app1": "10.0.0.11", "app2": "10.0.0.12", "db1": "10.0.0.21", "bk1": "10.0.0.31"}


def wiring(tmp_path, groups, extra=None, host_vars=None, group_vars=None, env_vars=None, **all_vars):
    hosts = {h for members in groups.values() for h in members}
    path = write_inventory(
        tmp_path, groups, hosts={h: {"stack_address": ADDR.get(h, "10.0.0.99"), **(host_vars or {}).get(h, {})} for h in sorted(hosts)},
        group_vars=group_vars, **SECRETS, **all_vars
    )
    if env_vars:
        # An environment's own file for all its hosts: inventory/<env>/group_vars/all/main.yml.
        (tmp_path / "group_vars" / "all").mkdir(parents=True)
        (tmp_path / "group_vars" / "all" / "main.yml").write_text(json.dumps(env_vars))
    args = ["-e", json.dumps(extra)] if extra else []
    run = run_playbook("tests/playbooks/wiring/wiring.yml", *args, inventory=path)
    assert run.rc == 0, run.failures() or run.stderr
    results = run.task_results("Show this host's wiring")[0]
    return {h: r["msg"] for h, r in run.data["plays"][0]["tasks"][0]["hosts"].items()} if results else {}


FIVE = {"loadbalancers": ["lb1"], "app": ["app1", "app2"], "db": ["db1"], "backup": ["bk1"]}


@pytest.fixture
def five(tmp_path):
    return wiring(tmp_path, FIVE)


def openings(w, host):
    return {(o["name"], int(o["port"])): sorted(o["sources"]) for o in w[host]["firewall_allowed"]}


def test_app_hosts_serve_on_their_private_address_and_the_load_balancer_uses_exactly_those(five):
    # The app server on a unix socket; Nginx in front of it on the private
    # address, with the live release's static files and the uploads from disk.
    for host, address in (("app1", "10.0.0.11"), ("app2", "10.0.0.12")):
        assert five[host]["app_server_listen"] == "unix:/run/demo/app.sock"
        [site] = five[host]["nginx_app_sites"]
        assert site["listen"] == [f"{address}:8000"] and site["upstream"] == "unix:/run/demo/app.sock"
        assert {s["location"]: s["path"] for s in site["static"]} == {
            "/static/": "/srv/demo/current/static", "/media/": "/srv/demo/shared/media"}
        assert five[host]["nginx_upstreams"] == []  # no public site on an app host
    assert five["lb1"]["nginx_upstreams"] == ["10.0.0.11:8000", "10.0.0.12:8000"]
    assert five["lb1"]["nginx_app_sites"] == [] and five["db1"]["nginx_app_sites"] == []


def test_each_group_opens_only_what_the_others_need(five):
    assert openings(five, "lb1") == {("http", 80): [], ("https", 443): []}
    assert openings(five, "app1") == {("app-server", 8000): ["10.0.0.2"]}
    # The database and the backup host call each other's pgBackRest server:
    # the database archives its WAL, the backup host takes the backups.
    assert openings(five, "db1") == {("postgresql", 5432): ["10.0.0.11", "10.0.0.12"], ("pgbackrest", 8432): ["10.0.0.31"]}
    assert openings(five, "bk1") == {("pgbackrest", 8432): ["10.0.0.21"]}


def test_the_database_archives_to_the_backup_host(tmp_path, five):
    assert five["db1"]["postgresql_archive_command"] == "pgbackrest --stanza=pyweb archive-push %p"
    assert five["db1"]["pgbackrest_db_hosts"] == [{"name": "db1", "address": "10.0.0.21"}]
    assert {five[h]["pgbackrest_repository_address"] for h in ("db1", "bk1")} == {"10.0.0.31"}
    # The repository's passphrase is on the backup host only.
    assert five["bk1"]["pgbackrest_cipher_pass"] == "c" * 32 and five["db1"]["pgbackrest_cipher_pass"] == ""
    # Turned off: no archiving, no opening, and its secret is not required.
    off = wiring(tmp_path, FIVE, stack_db_archive=False)
    assert off["db1"]["postgresql_archive_command"] == ""
    assert openings(off, "bk1") == {} and ("pgbackrest", 8432) not in openings(off, "db1")
    assert "stack_db_archive_password" not in off["db1"]["stack_required_secrets"]
    assert "stack_db_archive_password" in five["db1"]["stack_required_secrets"]


def test_the_database_admits_the_app_hosts_only(five):
    assert five["db1"]["postgresql_allowed_clients"] == ["10.0.0.11/32", "10.0.0.12/32"]
    assert five["db1"]["postgresql_listen_addresses"] == ["localhost", "10.0.0.21"]
    # The password is URL-encoded in the app's DATABASE_URL.
    assert five["app1"]["database_url"] == "postgresql://demo:p%2Fss%2Bw0rdp%2Fss%2Bw0rdp%2Fss%2Bw0rd@10.0.0.21:5432/demo"


def test_backups_cover_media_and_the_database_and_go_to_the_backup_host(five):
    assert five["app1"]["backup_paths"] == ["/srv/demo/shared/media"]
    assert five["db1"]["backup_postgresql_databases"] == ["demo"]
    assert five["db1"]["backup_paths"] == [] and five["lb1"]["backup_paths"] == []
    assert {w["backup_server_address"] for w in five.values()} == {"10.0.0.31"}
    assert "pyweb-backup" in five["bk1"]["common_ssh_allow_groups"]
    assert "pyweb-backup" not in five["app1"]["common_ssh_allow_groups"]


def test_admin_networks_restrict_ssh_and_the_backup_host_admits_its_clients(tmp_path):
    w = wiring(tmp_path, FIVE, stack_admin_networks=["192.0.2.0/24"])
    assert w["app1"]["firewall_ssh_sources"] == ["192.0.2.0/24"]
    assert w["bk1"]["firewall_ssh_sources"] == ["192.0.2.0/24", "10.0.0.11", "10.0.0.12", "10.0.0.21"]


def test_an_environment_a_group_and_a_host_add_openings_without_editing_the_shared_files(tmp_path):
    w = wiring(
        tmp_path, FIVE,
        stack_firewall_extra_openings=[{"name": "node-agent", "port": 7000, "proto": "tcp", "sources": ["192.0.2.5"]}],
        group_vars={"app": {"stack_firewall_group_openings": [{"name": "grpc", "port": 9000, "proto": "tcp", "sources": ["10.0.0.2"]}]}},
        host_vars={"db1": {"stack_firewall_host_openings": [{"name": "pgbouncer", "port": 6432, "proto": "tcp",
                                                            "sources": ["10.0.0.11"]}]}},
    )
    assert openings(w, "lb1") == {("http", 80): [], ("https", 443): [], ("node-agent", 7000): ["192.0.2.5"]}
    assert openings(w, "app1") == {("app-server", 8000): ["10.0.0.2"], ("node-agent", 7000): ["192.0.2.5"],
                                   ("grpc", 9000): ["10.0.0.2"]}
    assert openings(w, "db1") == {("postgresql", 5432): ["10.0.0.11", "10.0.0.12"], ("node-agent", 7000): ["192.0.2.5"],
                                  ("pgbouncer", 6432): ["10.0.0.11"], ("pgbackrest", 8432): ["10.0.0.31"]}
    assert openings(w, "bk1") == {("node-agent", 7000): ["192.0.2.5"], ("pgbackrest", 8432): ["10.0.0.21"]}


def test_an_environment_a_group_and_a_host_add_packages(tmp_path, five):
    assert {w["common_extra_packages"] == [] for w in five.values()} == {True}
    w = wiring(tmp_path, FIVE, stack_extra_packages=["htop"], group_vars={"db": {"stack_group_packages": ["pgtop", "htop"]}},
               host_vars={"app1": {"stack_host_packages": ["strace"]}})
    assert w["db1"]["common_extra_packages"] == ["htop", "pgtop"]
    assert w["app1"]["common_extra_packages"] == ["htop", "strace"]
    assert w["lb1"]["common_extra_packages"] == ["htop"]


def test_one_host_holds_the_whole_stack(tmp_path):
    w = wiring(tmp_path, {g: ["solo"] for g in FIVE})["solo"]
    # The public site reaches the same host's Nginx in front of the app
    # server, which serves the static files, as on any app host.
    assert w["app_server_listen"] == "unix:/run/demo/app.sock"
    assert w["nginx_upstreams"] == ["10.0.0.99:8000"]
    assert w["nginx_app_sites"][0]["listen"] == ["10.0.0.99:8000"]
    assert w["backup_paths"] == ["/srv/demo/shared/media"] and w["backup_postgresql_databases"] == ["demo"]
    # The database's archive beside it: no pgBackRest server to open.
    assert w["pgbackrest_repository_host"] == "solo" and w["postgresql_archive_command"]
    assert ("pgbackrest", 8432) not in openings({"solo": w}, "solo")


def test_the_site_names_and_certificate_follow_the_domain(five):
    assert five["lb1"]["tls_domains"] == ["shop.test"]
    assert five["lb1"]["nginx_default_site"] == ""


def test_the_environment_overrides_the_shared_defaults_of_its_inputs(tmp_path, five):
    # The defaults (group_vars/all/inputs.yml)...
    assert five["lb1"]["keepalived_virtual_router_id"] == 51 and five["app1"]["app_server_type"] == "gunicorn"
    # ...and the environment's values, set in its group_vars/all (as the
    # example inventories do), for a group and for a host.
    w = wiring(tmp_path, FIVE, env_vars={"stack_app_port": 9000, "stack_vrrp_router_id": 77, "stack_app_server": "uwsgi",
                                         "stack_nginx_status_port": 8089, "stack_tls_mode": "internal_ca"},
               group_vars={"db": {"stack_db_port": 6543}}, host_vars={"app2": {"stack_app_port": 9002}})
    assert w["app1"]["nginx_app_sites"][0]["listen"] == ["10.0.0.11:9000"]
    assert w["app2"]["nginx_app_sites"][0]["listen"] == ["10.0.0.12:9002"]
    assert w["lb1"]["nginx_upstreams"] == ["10.0.0.11:9000", "10.0.0.12:9002"]
    assert openings(w, "app2") == {("app-server", 9002): ["10.0.0.2"]}
    assert w["db1"]["postgresql_port"] == 6543 and openings(w, "db1") == {("postgresql", 6543): ["10.0.0.11", "10.0.0.12"],
                                                                          ("pgbackrest", 8432): ["10.0.0.31"]}
    assert w["lb1"]["keepalived_virtual_router_id"] == 77 and w["app1"]["app_server_type"] == "uwsgi"
    assert w["lb1"]["nginx_status_port"] == 8089 and w["lb1"]["keepalived_check_url"] == "http://127.0.0.1:8089/nginx_status"
    assert w["lb1"]["tls_mode"] == "internal_ca"


def test_an_environment_a_group_and_a_host_add_nginx_locations(tmp_path, five):
    assert five["lb1"]["nginx_static"] == [] and five["lb1"]["nginx_cached"] == ["/static/", "/media/"]
    w = wiring(tmp_path, FIVE, stack_nginx_extra_locations=[{"location": "/downloads/", "max_age": 60}],
               group_vars={"loadbalancers": {"stack_nginx_group_locations": [{"location": "/.well-known/pki/",
                                                                              "path": "/srv/pki"}]}},
               host_vars={"lb1": {"stack_nginx_host_locations": [{"location": "/maintenance/", "path": "/srv/maint"}]}})
    assert w["lb1"]["nginx_cached"] == ["/static/", "/media/", "/downloads/"]
    assert w["lb1"]["nginx_static"] == [{"location": "/.well-known/pki/", "path": "/srv/pki"},
                                        {"location": "/maintenance/", "path": "/srv/maint"}]


SHOP = {"name": "shop", "domains": ["shop.example.net", "www.shop.example.net"], "port": 8100,
        "wsgi_module": "shop.wsgi:application", "server": "uwsgi", "secret_key": "s" * 32, "db_password": "d/" * 10,
        "healthcheck_path": "/health/"}


def test_a_second_app_gets_its_own_site_certificate_database_opening_and_probe(tmp_path):
    demo = {"name": "demo", "domains": ["shop.test"], "port": 8000, "wsgi_module": "demo.wsgi:app", "cert_name": "pyweb"}
    w = wiring(tmp_path, FIVE, env_vars={"stack_apps": [demo, SHOP]})
    # On the load balancers, a site per app, each with its names, certificate and upstreams.
    sites = {s["name"]: s for s in w["lb1"]["nginx_sites"]}
    assert sites["demo"]["server_names"] == ["shop.test"]
    assert sites["demo"]["upstreams"] == ["10.0.0.11:8000", "10.0.0.12:8000"]
    assert sites["demo"]["tls_certificate"] == "/etc/ssl/pyweb/pyweb/fullchain.pem"
    assert sites["shop"]["server_names"] == SHOP["domains"]
    assert sites["shop"]["upstreams"] == ["10.0.0.11:8100", "10.0.0.12:8100"]
    assert sites["shop"]["tls_certificate"] == "/etc/ssl/pyweb/shop/fullchain.pem"
    assert w["lb1"]["monitoring_tls_certificates"] == ["/etc/ssl/pyweb/pyweb/fullchain.pem",
                                                       "/etc/ssl/pyweb/shop/fullchain.pem"]
    # On each app host, Nginx in front of each app's own socket and files.
    app_sites = {s["name"]: s for s in w["app2"]["nginx_app_sites"]}
    assert app_sites["shop"]["listen"] == ["10.0.0.12:8100"]
    assert app_sites["shop"]["upstream"] == "unix:/run/shop/app.sock"
    assert {s["path"] for s in app_sites["shop"]["static"]} == {"/srv/shop/current/static", "/srv/shop/shared/media"}
    assert w["app1"]["python_app_users"] == [{"name": "demo", "home": "/srv/demo"}, {"name": "shop", "home": "/srv/shop"}]
    # The firewall opens each app's port to the load balancers; the load
    # balancers probe each app's health.
    assert openings(w, "app1") == {("app-server", 8000): ["10.0.0.2"], ("app-server-shop", 8100): ["10.0.0.2"]}
    assert w["lb1"]["monitoring_probes"] == ["app_pool", "app_pool_shop"]
    # A database and role per app; its dump; both apps' uploads backed up.
    assert w["db1"]["postgresql_databases"] == ["demo", "shop"]
    assert w["db1"]["backup_postgresql_databases"] == ["demo", "shop"]
    assert w["app1"]["backup_paths"] == ["/srv/demo/shared/media", "/srv/shop/shared/media"]
    # Outside a loop over the apps, the per-app roles see the first app.
    assert w["app1"]["app_server_listen"] == "unix:/run/demo/app.sock"
    assert w["app1"]["database_url"].endswith("@10.0.0.21:5432/demo")
