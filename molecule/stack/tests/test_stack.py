"""The whole stack, end to end, as a user meets it: HTTPS through the load
balancer on 127.0.0.1 and through the floating address the two load
balancers share, both app hosts answering, writes landing in the database
cluster's primary through each app host's proxy and on its synchronous
standby, each tier reachable only from the tier that needs it, and the
lockout drills of the SSH path. (Backup and restore: the operations drills,
tests/test_operations.py.)"""

import json
import os
import socket
import time
import uuid
from pathlib import Path

import pytest

from stackinfo import ADDRESSES, APP_HOSTS, DB_HOSTS, INVENTORY_DIR, LB_HOSTS, db_primary, other, uri

# stackinfo put molecule/shared on the path.
import sshclient  # noqa: E402
import web  # noqa: E402
from playbook_runner import ansible_playbook, said  # noqa: E402

# Over SSH as the admin, with sudo (molecule.yml's connection options).
testinfra_hosts = [uri("pyweb-stack-lb1")]
NAME = "pyweb.localhost"
# The second app of the local environment: the Django example (apps/shop).
SHOP = "shop.pyweb.localhost"
HTTPS, HTTP = 28443, 28080
FLOATING = "10.59.0.100"
MEDIA = "/srv/demo/shared/media"
GATEWAY = "10.59.0.1"  # the controller, as the hosts see it


def address(name):
    return other(name).check_output("hostname -I").split()[0]


@pytest.fixture(scope="session")
def cafile(tmp_path_factory):
    """The CAs of the apps' self-signed certificates (the tls role makes a
    throwaway CA per certificate), as a user would trust them."""
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_text(other("pyweb-stack-lb1").check_output("cat /etc/ssl/pyweb/*/chain.pem") + "\n")
    return str(path)


def get(path, cafile, **kw):
    return web.request(HTTPS, path, NAME, cafile=cafile, **kw)


def upload(name, data, cafile):
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    status, _, answer = get("/upload", cafile, method="POST", headers=headers, body=body)
    return status, json.loads(answer)


def psql(sql, db="demo", on=None):
    return other(on or db_primary()).check_output(f'runuser -u postgres -- psql -d {db} -XtAc "{sql}"')


def project_playbook(name, *args):
    """One of the project's playbooks against this scenario's inventory (the
    local environment's group_vars are linked into it)."""
    return ansible_playbook(name, *args, inventory=INVENTORY_DIR, timeout=900)


def can_connect(src, dst, port):
    return other(src).run(f"timeout 3 bash -c '</dev/tcp/{address(dst)}/{port}'").rc == 0


def test_the_site_answers_over_https_with_a_certificate_for_its_name(cafile):
    status, headers, body = get("/", cafile)
    assert status == 200
    assert b"pyweb demo" in body
    assert web.header(headers, "Strict-Transport-Security")
    cert = web.peer_certificate(HTTPS, NAME, cafile)
    assert ("DNS", NAME) in cert["subjectAltName"]


def test_http_redirects_to_https():
    status, headers, _ = web.request(HTTP, "/notes?x=1", NAME, tls=False)
    assert status == 301
    assert web.header(headers, "Location") == [f"https://{NAME}/notes?x=1"]


def test_both_app_hosts_answer(cafile):
    hosts = set()
    for _ in range(12):
        status, headers, body = get("/healthz", cafile)
        assert status == 200, body
        hosts.add(web.json_body(body)["host"])
    assert hosts == set(APP_HOSTS)


def test_writes_land_on_the_primary_and_its_synchronous_standby(cafile):
    text = f"note-{uuid.uuid4().hex}"
    status, _, body = get("/notes", cafile, method="POST", headers={"Content-Type": "application/json"}, body=json.dumps({"body": text}))
    assert status == 201, body
    seen_by = set()
    for _ in range(8):
        status, headers, body = get("/notes", cafile)
        assert text in [n["body"] for n in web.json_body(body)["notes"]]
        seen_by.update(web.header(headers, "X-App-Host"))
    assert seen_by == set(APP_HOSTS)
    primary = db_primary()
    assert psql(f"SELECT count(*) FROM notes WHERE body = '{text}'", on=primary) == "1"
    # The other member streams from it and each commit waited for it.
    (standby,) = [name for name in DB_HOSTS if name != primary]
    assert psql("SELECT application_name || ':' || sync_state FROM pg_stat_replication", db="postgres",
                on=primary) == f"{standby}:sync"
    assert psql(f"SELECT count(*) FROM notes WHERE body = '{text}'", on=standby) == "1"


def test_each_app_host_reaches_the_primary_through_its_own_proxy():
    primary = db_primary()
    for app in APP_HOSTS:
        # The app's connection string names the proxy on loopback (the
        # password is not printed)...
        url = other(app).check_output("sed -n 's/^DATABASE_URL=.*@//p' /srv/demo/shared/env")
        assert url.strip("'\"") == "127.0.0.1:6432/demo?sslmode=disable&gssencmode=disable", (app, url)
        # ...which passes every connection to the primary, never to the standby.
        got = other(app).check_output(
            "python3 -c \"import socket; s = socket.socket(socket.AF_UNIX); s.connect('/run/haproxy/admin.sock');"
            " s.sendall(b'show servers state postgresql\\n'); print(s.makefile().read())\"")
        states = {f[3]: f[5] for f in (line.split() for line in got.splitlines()) if len(f) > 5 and f[1] == "postgresql"}
        assert states == {name: ("2" if name == primary else "0") for name in DB_HOSTS}, (app, got)
        # A connection as the app makes it (its settings, its venv's psycopg)
        # lands on the primary, from this host's address.
        code = ("import os, psycopg; c = psycopg.connect(os.environ['DATABASE_URL']);"
                " print(*c.execute('SELECT pg_is_in_recovery(), host(inet_server_addr()), host(inet_client_addr())').fetchone())")
        seen = other(app).check_output(
            f"runuser -u demo -- env $(grep -h '^DATABASE_URL=' /srv/demo/shared/env | tr -d '\"') "
            f"/srv/demo/current/venv/bin/python -c \"{code}\"")
        assert seen.split() == ["False", ADDRESSES[primary], ADDRESSES[app]], (app, seen)


def test_static_files_are_cached_by_the_load_balancer(cafile):
    statuses = []
    for _ in range(3):
        status, headers, body = get("/static/app.css", cafile)
        assert status == 200 and body
        assert "immutable" in web.header(headers, "Cache-Control")[0]
        # From the app host's disk (its Nginx), not from the app.
        assert web.header(headers, "X-App-Host") == [], headers
        statuses += web.header(headers, "X-Cache-Status")
    assert statuses[-1] == "HIT"


def test_an_upload_is_served_whichever_host_got_it(cafile):
    data = os.urandom(2048)
    status, answer = upload(f"up-{uuid.uuid4().hex}.bin", data, cafile)
    assert status == 201, answer
    holders = [h for h in APP_HOSTS if other(h).file(f"{MEDIA}/{answer['name']}").exists]
    assert len(holders) == 1
    for _ in range(4):
        status, headers, body = get(answer["url"], cafile)
        assert status == 200 and body == data
        assert web.header(headers, "X-App-Host") == [], headers  # the app host's Nginx, from disk


def test_the_second_app_answers_for_its_own_name_with_its_own_certificate(cafile):
    cert = web.peer_certificate(HTTPS, SHOP, cafile)
    assert ("DNS", SHOP) in cert["subjectAltName"] and ("DNS", NAME) not in cert["subjectAltName"]
    status, headers, body = web.request(HTTPS, "/admin/login/", SHOP, cafile=cafile)
    assert status == 200 and b"Django" in body, body[:300]
    assert web.header(headers, "Strict-Transport-Security")


def test_the_second_apps_static_files_come_through_the_load_balancers_cache(cafile):
    # Django does not serve its static files outside debug mode: the app
    # hosts' Nginx serves what collectstatic collected, the load balancers cache it.
    statuses = []
    for _ in range(3):
        status, headers, body = web.request(HTTPS, "/static/admin/css/base.css", SHOP, cafile=cafile)
        assert status == 200 and b"{" in body
        assert "immutable" in web.header(headers, "Cache-Control")[0]
        statuses += web.header(headers, "X-Cache-Status")
    assert statuses[-1] == "HIT"


def test_a_row_written_through_the_second_app_lands_in_its_own_database(cafile):
    text = f"shop-note-{uuid.uuid4().hex}"
    status, _, body = web.request(HTTPS, "/notes", SHOP, cafile=cafile, method="POST",
                                  headers={"Content-Type": "application/json"}, body=json.dumps({"body": text}))
    assert status == 201, body
    status, _, body = web.request(HTTPS, "/notes", SHOP, cafile=cafile)
    assert text in [n["body"] for n in web.json_body(body)["notes"]]
    assert psql(f"SELECT count(*) FROM notes_note WHERE body = '{text}'", db="shop") == "1"
    # No rule admits its role to the first app's database (the postgresql
    # scenario shows the refusal itself).
    assert psql("SELECT count(*) FROM pg_hba_file_rules WHERE 'shop' = ANY(user_name) AND 'demo' = ANY(database)",
                db="postgres") == "0"


def test_the_floating_address_serves_the_site_from_either_load_balancer(cafile):
    """From a host on the stack's network, as clients reach the site once DNS
    points at the floating address: the first load balancer holds it, the
    other serves the same site with a certificate of the same CA."""
    holders = [lb for lb in LB_HOSTS if f"inet {FLOATING}/" in other(lb).check_output("ip -4 -o addr show")]
    assert holders == ["pyweb-stack-lb1"]
    client = other("pyweb-stack-backup1")
    client.run(f"cat > /tmp/site-ca.pem <<'EOF'\n{Path(cafile).read_text()}EOF")
    for address in [FLOATING] + [other(lb).check_output("hostname -I").split()[0] for lb in LB_HOSTS]:
        out = client.check_output(f"curl -s --max-time 5 --cacert /tmp/site-ca.pem --resolve {NAME}:443:{address} "
                                  f"https://{NAME}/healthz")
        assert json.loads(out)["status"] == "ok", (address, out)


@pytest.mark.parametrize(
    "src,dst,port,open_",
    [
        ("pyweb-stack-app1", "pyweb-stack-db1", 5432, True),
        ("pyweb-stack-app2", "pyweb-stack-db1", 5432, True),
        ("pyweb-stack-lb1", "pyweb-stack-db1", 5432, False),
        ("pyweb-stack-backup1", "pyweb-stack-db1", 5432, False),
        ("pyweb-stack-lb1", "pyweb-stack-app1", 8000, True),
        ("pyweb-stack-lb2", "pyweb-stack-app2", 8000, True),
        ("pyweb-stack-db1", "pyweb-stack-app1", 8000, False),
        ("pyweb-stack-app2", "pyweb-stack-app1", 8000, False),
        ("pyweb-stack-lb1", "pyweb-stack-app1", 8100, True),
        ("pyweb-stack-db1", "pyweb-stack-app2", 8100, False),
        ("pyweb-stack-backup1", "pyweb-stack-lb1", 443, True),
        ("pyweb-stack-db1", "pyweb-stack-backup1", 22, True),
        ("pyweb-stack-lb1", "pyweb-stack-lb1", 8081, False),
        # The database cluster: PostgreSQL and Patroni's API to the app hosts
        # (their proxies) and between the members (Patroni's also to the
        # monitoring host, the backup host); etcd between its members (the
        # backup host is the witness) and to nobody else.
        ("pyweb-stack-app2", "pyweb-stack-db2", 5432, True),
        ("pyweb-stack-db2", "pyweb-stack-db1", 5432, True),
        ("pyweb-stack-app1", "pyweb-stack-db2", 8008, True),
        ("pyweb-stack-lb1", "pyweb-stack-db1", 8008, False),
        ("pyweb-stack-lb2", "pyweb-stack-db2", 8008, False),
        ("pyweb-stack-db1", "pyweb-stack-backup1", 2379, True),
        ("pyweb-stack-db2", "pyweb-stack-db1", 2380, True),
        ("pyweb-stack-app1", "pyweb-stack-db1", 2379, False),
        ("pyweb-stack-app1", "pyweb-stack-backup1", 2380, False),
        # Each app host's proxy serves its own apps only (loopback).
        ("pyweb-stack-lb1", "pyweb-stack-app1", 6432, False),
        # pgBackRest's TLS servers: the database hosts archive to the backup
        # host, the backup host backs them up; nobody else reaches either.
        ("pyweb-stack-db2", "pyweb-stack-backup1", 8432, True),
        ("pyweb-stack-backup1", "pyweb-stack-db1", 8432, True),
        ("pyweb-stack-app1", "pyweb-stack-backup1", 8432, False),
        ("pyweb-stack-app2", "pyweb-stack-db2", 8432, False),
    ],
)
def test_each_tier_is_reachable_only_from_the_tier_that_needs_it(src, dst, port, open_):
    assert can_connect(src, dst, port) == open_


def test_every_host_drops_what_it_does_not_allow():
    for name in APP_HOSTS + LB_HOSTS + DB_HOSTS + ["pyweb-stack-backup1"]:
        rules = other(name).check_output("nft list chain inet pyweb input")
        assert "policy drop" in rules, name


def ssh(user, host, *args, options=()):
    return sshclient.run(user, ADDRESSES[host], *args, extra=options)


@pytest.mark.parametrize("host", list(ADDRESSES))
def test_after_the_first_run_the_admin_logs_in_and_root_does_not(host):
    admin = ssh("admin", host, "sudo", "-n", "id", "-un")
    assert admin.returncode == 0 and admin.stdout.strip() == "root", admin.stderr
    root = ssh("root", host, "true")
    assert root.returncode == 255 and "Permission denied" in root.stderr, root.stderr


@pytest.mark.parametrize("host", APP_HOSTS)
def test_sessions_have_umask_027_and_the_releases_built_under_it_are_the_apps_alone(host):
    """login.defs' UMASK 027 reaches every session, the admin's sudo (which
    Ansible uses) included; the app's releases, built in such sessions, are
    root's and the app's group's only, and serve (the tests above). Others
    (Nginx) may only traverse a release to its static files, which are public."""
    umask = ssh("admin", host, "umask; sudo -n sh -c umask")
    assert umask.returncode == 0, umask.stderr
    own, root = umask.stdout.split()
    assert own[-1] == "7" and root == "0027", umask.stdout
    releases = other(host).check_output("find /srv/demo/releases -mindepth 1 -maxdepth 1 -type d").split()
    traverse = other(host).check_output("find /srv/demo/releases -mindepth 1 -maxdepth 1 \\( -perm /o=rw -o ! -perm -o=x \\)")
    readable = other(host).check_output("find /srv/demo/releases -mindepth 2 -path '/srv/demo/releases/*/static' -prune "
                                        "-o ! -type l -perm /o=rwx -print")
    assert releases and traverse == "" and readable == "", traverse + readable


def test_a_cloud_images_user_hands_over_to_the_admin():
    """backup1 was reached first as the image's sudo user (prepare.yml); after
    the first run the admin logs in there and that user does not."""
    assert ssh("admin", "pyweb-stack-backup1", "true").returncode == 0
    image_user = ssh("debian", "pyweb-stack-backup1", "true")
    assert image_user.returncode == 255 and "Permission denied" in image_user.stderr, image_user.stderr


def test_passwords_are_not_offered():
    refused = ssh("admin", "pyweb-stack-app1", "true",
                  options=["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive"])
    assert refused.returncode == 255
    assert "Permission denied (publickey)" in refused.stderr, refused.stderr


def test_failed_logins_from_the_controller_never_ban_it():
    """fail2ban bans after 5 failures; the controller's address is exempt, so
    a run that fails to log in cannot lock the next one out."""
    for _ in range(7):
        ssh("root", "pyweb-stack-db1", "true")
    status = other("pyweb-stack-db1").check_output("fail2ban-client status sshd")
    assert "Currently failed" in status
    assert GATEWAY not in status.split("Banned IP list:")[1]
    assert ssh("admin", "pyweb-stack-db1", "true").returncode == 0


def test_an_admin_opens_a_tunnel_through_a_host_the_deploy_user_cannot():
    """ssh -L through a load balancer to an app host's server port (open to
    the load balancers only): what the Prometheus tunnel of docs/monitoring.md does."""
    with sshclient.tunnel("admin", ADDRESSES["pyweb-stack-lb1"], ADDRESSES["pyweb-stack-app1"], 8000) as port:
        status, _, body = web.request(port, "/healthz", NAME, tls=False)
    assert status == 200 and web.json_body(body)["host"] == "pyweb-stack-app1"
    sshd = other("pyweb-stack-lb1").check_output(f"sshd -T -C user=deploy,host=x,addr={GATEWAY} | grep -i '^allowtcpforwarding'")
    assert sshd.strip().lower() == "allowtcpforwarding no"


def test_every_host_runs_the_confirmed_firewall_rules():
    for name in ADDRESSES:
        host = other(name)
        assert host.file("/etc/pyweb-firewall/active.nft").content_string == host.file("/etc/pyweb-firewall/rules.nft").content_string
        assert not host.service("pyweb-firewall-revert.timer").is_running
        loaded = host.check_output("nft list table inet pyweb")
        assert "update @r1_ssh_rate_v4 { ip saddr limit rate 15/minute burst 20 packets }" in loaded, name


# Lockout drills: each ends with the host still reachable and the reason named.

def active_rules(name):
    return other(name).file("/etc/pyweb-firewall/active.nft").content_string


# The lockout drills run on both app hosts at once: app1 runs Debian 13, app2
# Debian 12 (molecule.yml), so each drill is proven on both releases in one run.
LOCKOUT = ",".join(APP_HOSTS)


def test_sshd_settings_that_shut_out_the_login_are_refused_before_any_change():
    before = {h: other(h).file("/etc/ssh/sshd_config").content_string for h in APP_HOSTS}
    key = (sshclient.keys() / "id_ed25519.pub").read_text().strip()
    other_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBp0aKfLkE6qVUR5p5fH8x7d6l3vY0kq9Kc0p2s2n5wX alice@laptop"
    # admin is no longer an admin: AllowGroups would shut it out.
    not_admin = project_playbook("playbooks/common.yml", "--limit", LOCKOUT, "-e",
                                 json.dumps({"common_admin_users": [{"name": "alice", "ssh_keys": [key]}]}))
    assert not_admin.returncode != 0
    # admin keeps its account but not the key Ansible logs in with.
    key_gone = project_playbook("playbooks/common.yml", "--limit", LOCKOUT, "-e",
                                json.dumps({"common_admin_users": [{"name": "admin", "ssh_keys": [other_key]}]}))
    assert key_gone.returncode != 0
    for h in APP_HOSTS:
        assert f"Ansible logs in to {h} as admin, who is not a present admin" in said(not_admin)
        assert f"Ansible logs in to {h} as admin with the key" in said(key_gone)
        assert "which is not among admin's ssh_keys in common_admin_users" in said(key_gone)
        assert other(h).file("/etc/ssh/sshd_config").content_string == before[h]
        assert "admin" in other(h).check_output("getent group sysadmins")
        assert ssh("admin", h, "true").returncode == 0


def test_a_firewall_that_cuts_the_controller_off_is_reverted_by_its_timer():
    """SSH only from a network the controller is not on: the new rules'
    fresh-connection check fails, the controller cannot even reach the host
    to put the old rules back, and the revert timer does it."""
    before = {h: active_rules(h) for h in APP_HOSTS}
    cut = project_playbook("playbooks/firewall.yml", "--limit", LOCKOUT, "-e",
                           json.dumps({"stack_admin_networks": ["192.0.2.0/24"], "firewall_confirm_timeout": 30}))
    assert cut.returncode != 0
    assert "The previous rules were put back" in said(cut)
    for h in APP_HOSTS:
        assert f"After the new firewall rules were applied, {h} no longer answered" in said(cut)
    deadline = time.monotonic() + 90
    for h in APP_HOSTS:
        while ssh("admin", h, "true").returncode != 0:
            assert time.monotonic() < deadline, f"{h} did not come back"
            time.sleep(3)
        assert active_rules(h) == before[h]
        assert "192.0.2.0/24" not in other(h).check_output("nft list table inet pyweb")


# Last: the hosts answer SSH on another port afterwards (Testinfra's
# connection, from the inventory, knows port 22 only).

def answers(address, port):
    with socket.socket() as s:
        s.settimeout(3)
        return s.connect_ex((address, port)) == 0


# The hosts that hold every part of SSH's port: the backup host (sshd and
# the SFTP server) and a backup client (the database host: its dumps go to
# the same restic repository over the same SFTP setting as the app hosts'
# files). The load balancers and app hosts run the same roles; each host in
# the run costs it time on these two cores.
MOVED = ["pyweb-stack-db1", "pyweb-stack-backup1"]


def test_one_setting_moves_ssh_to_another_port_in_one_run():
    """stack_ssh_port: 2222 moves sshd, its firewall opening, the backups'
    SFTP and Ansible's own connection together: site.yml logs in on 22,
    keeps both open while it works, moves over and closes 22 at its end.
    The run is limited to the tags of the parts that hold SSH's port (the
    common role's sshd and fail2ban, the firewall, the backup role's SFTP
    client); preflight and the last play run whatever the tags; nothing else
    reads the port."""
    limit = ("--limit", ",".join(MOVED))
    moved = project_playbook("site.yml", "--tags", "common_ssh,common_fail2ban,firewall,backup", *limit, "-e", "stack_ssh_port=2222")
    assert moved.returncode == 0, moved.stdout[-3000:]
    for name in MOVED:
        addr = ADDRESSES[name]
        admin = ssh("admin", name, "sudo", "-n", "ss", "-Hltn", options=["-p", "2222"])
        assert admin.returncode == 0, (name, admin.stderr)
        listening = {line.split()[3].rsplit(":", 1)[1] for line in admin.stdout.splitlines()}
        assert "2222" in listening and "22" not in listening, (name, listening)
        assert not answers(addr, 22), name
    # The next run logs in on 2222 at once; the backups reach the backup host's SFTP there.
    backup = project_playbook("playbooks/backup.yml", *limit, "-e", "stack_ssh_port=2222")
    assert backup.returncode == 0, backup.stdout[-3000:]
    known = ssh("admin", "pyweb-stack-db1", "sudo", "-n", "ssh-keygen", "-F", f"[{ADDRESSES['pyweb-stack-backup1']}]:2222",
                "-f", "/root/.ssh/known_hosts", options=["-p", "2222"])
    assert known.returncode == 0 and known.stdout.strip(), known.stderr
    rules = ssh("admin", "pyweb-stack-backup1", "sudo", "-n", "nft", "list", "table", "inet", "pyweb", options=["-p", "2222"])
    assert "tcp dport 2222" in rules.stdout and "tcp dport 22 " not in rules.stdout, rules.stdout
