"""Monitoring as an operator meets it, on the stack scenario's converge (the
backup host is also the monitoring host, as in the local layout): Prometheus
scrapes every host of the inventory, the exporters answer the monitoring host
only, the alert rules pass promtool's checks and unit tests, and real failures
fire alerts: an app host whose service stops drops out of the pool while the
site stays up (and Alertmanager tells the webhook), the whole app tier down
raises the error ratio, and a backup 27 hours old, a host that needs a
reboot, a changed packaged file and a host whose logs stop arriving fire
their alerts side by side.

Runs after test_converge.py (a dry run and a --tags run, which change
nothing) and before the drills and test_stack.py (pytest takes the files in
name order): the first tests see the stack as the converge left it, with
nothing firing."""

import json
import shlex
import time

import pytest
import yaml

from stackinfo import ADDRESSES, APP_HOSTS, DB_HOSTS, LB_HOSTS, PROMETHEUS, ROOT, fetch, other, query, uri, wait_for

# stackinfo put molecule/shared on the path.
import sshclient  # noqa: E402

# Over SSH as the admin, with sudo (molecule.yml's connection options).
testinfra_hosts = [uri("pyweb-stack-backup1")]
ALERTMANAGER = "http://10.59.0.41:9093"
HOOK_LOG = "/var/tmp/pyweb-test-hook.log"
TEXTFILE = "/var/lib/prometheus/node-exporter/pyweb_backup.prom"


def firing(host, alert, instance, label="instance"):
    """The alert firing about `instance`; `label` names the label that holds
    the host (LogsNotReceived's is the log host's `sender`)."""
    return query(host, f'ALERTS{{alertname="{alert}",alertstate="firing",{label}="{instance}"}}')


def through_nginx(path, count, status):
    """`count` HTTPS requests to the load balancer's Nginx, from the load balancer; each answers `status`."""
    code = ("import ssl, sys, urllib.request, urllib.error\n"
            "for _ in range(int(sys.argv[2])):\n"
            "    try: status = urllib.request.urlopen(sys.argv[1], context=ssl._create_unverified_context(), timeout=5).status\n"
            "    except urllib.error.HTTPError as e: status = e.code\n"
            "    assert status == int(sys.argv[3]), status\n")
    other("pyweb-stack-lb1").check_output(f"python3 -c {shlex.quote(code)} https://127.0.0.1{path} {count} {status}")


def answers_200(path):
    try:
        through_nginx(path, 3, 200)
        return True
    except AssertionError:
        return False


def can_connect(src, address, port):
    return other(src).run(f"timeout 3 bash -c '</dev/tcp/{address}/{port}'").rc == 0


def test_promtool_passes_the_config_the_rules_and_their_unit_tests(host):
    assert host.run("promtool check config /etc/prometheus/prometheus.yml").rc == 0
    rules = host.run("promtool check rules /etc/prometheus/rules/pyweb.yml")
    # One rule per alert the role names (roles/monitoring/vars/main.yml).
    alerts = yaml.safe_load((ROOT / "roles" / "monitoring" / "vars" / "main.yml").read_text())["monitoring_alert_names"]
    assert rules.rc == 0 and f"{len(alerts)} rules found" in rules.stdout, rules.stdout
    tests = host.run("cd /etc/prometheus/rules.tested && promtool test rules pyweb.test.yml")
    assert tests.rc == 0 and "SUCCESS" in tests.stdout, tests.stdout + tests.stderr
    # The live rules are the tested ones.
    assert host.file("/etc/prometheus/rules/pyweb.yml").sha256sum == host.file("/etc/prometheus/rules.tested/pyweb.yml").sha256sum


def test_the_unit_tests_catch_a_wrong_rule(host):
    # The same tests against a rule whose threshold drifted (26 h -> 30 h) fail.
    run = host.run(
        "d=$(mktemp -d) && cp /etc/prometheus/rules.tested/pyweb.test.yml $d/ && "
        "sed 's/> 93600/> 108000/' /etc/prometheus/rules.tested/pyweb.yml > $d/pyweb.yml && "
        "! cmp -s $d/pyweb.yml /etc/prometheus/rules.tested/pyweb.yml && cd $d && promtool test rules pyweb.test.yml"
    )
    assert run.rc != 0 and "BackupTooOld" in run.stdout + run.stderr, run.stdout + run.stderr


def test_the_rules_are_tested_again_only_when_they_or_their_tests_change(host):
    # The role's own task script (roles/monitoring/tasks/server.yml), run on
    # copies of the tested pair: a pair that passed is not tested again; a
    # rule changed since fails the tests and loses its stamp, so the next
    # run tests it again before anything is put in place.
    tasks = yaml.safe_load((ROOT / "roles" / "monitoring" / "tasks" / "server.yml").read_text())
    script = next(t for t in tasks if t["name"] == "Run the rules' unit tests")["ansible.builtin.shell"]
    assert host.run("cd /etc/prometheus/rules.tested && sha256sum --check .passed").rc == 0
    d = host.check_output("mktemp -d")
    run = f"cd {d} && bash -c {shlex.quote(script)}"
    try:
        host.check_output(f"cp -a /etc/prometheus/rules.tested/. {d}/")
        again = host.run(run)
        assert again.rc == 0 and "passed before, unchanged" in again.stdout, again.stdout + again.stderr
        host.check_output(f"sed -i 's/> 93600/> 108000/' {d}/pyweb.yml")
        for _ in range(2):  # failed, and failed again: nothing stamped it
            drifted = host.run(run)
            assert drifted.rc != 0 and "BackupTooOld" in drifted.stdout + drifted.stderr, drifted.stdout + drifted.stderr
            assert not host.file(f"{d}/.passed").exists
        host.check_output(f"cp /etc/prometheus/rules.tested/pyweb.yml {d}/")
        fixed = host.run(run)
        assert fixed.rc == 0 and "SUCCESS" in fixed.stdout and host.file(f"{d}/.passed").exists, fixed.stdout + fixed.stderr
    finally:
        host.run(f"rm -rf {d}")


def test_every_host_and_exporter_of_the_inventory_is_scraped_and_up(host):
    expected = {("node", h) for h in ADDRESSES} | {("nginx", lb) for lb in LB_HOSTS} | {
        ("nginx_log", lb) for lb in LB_HOSTS} | {(job, app) for app in APP_HOSTS for job in ("app_pool", "app_pool_shop")} | {
        ("prometheus", "pyweb-stack-backup1"), ("alertmanager", "pyweb-stack-backup1"),
    } | {(job, db) for db in DB_HOSTS for job in ("postgres", "patroni")}

    def all_up():
        targets = json.loads(fetch(host, f"{PROMETHEUS}/api/v1/targets?state=active"))["data"]["activeTargets"]
        seen = {(t["labels"]["job"], t["labels"]["instance"]): t["health"] for t in targets}
        return seen if set(seen) == expected and set(seen.values()) == {"up"} else None

    wait_for(all_up, 90, "every target up")
    # Each app host is probed from each load balancer, where Nginx reaches
    # it, for each app (the second app, the Django example, on its own port).
    for job in ("app_pool", "app_pool_shop"):
        probe = query(host, f'probe_success{{job="{job}"}}')
        assert {(r["metric"]["instance"], r["metric"]["prober"]): r["value"][1] for r in probe} == {
            (app, lb): "1" for app in APP_HOSTS for lb in LB_HOSTS}, job


def test_nothing_fires_on_a_sound_stack(host):
    # Before the tests below break things on purpose: no alert fires, none is pending.
    assert query(host, "ALERTS") == []

def test_the_exporters_report_what_they_watch(host):
    assert {r["metric"]["instance"]: r["value"][1] for r in query(host, "pg_up")} == {db: "1" for db in DB_HOSTS}
    # Patroni's own metrics: one primary, the other member a running standby.
    roles = {r["metric"]["instance"]: r["value"][1] for r in query(host, "patroni_primary")}
    assert sorted(roles.values()) == ["0", "1"] and set(roles) == set(DB_HOSTS), roles
    standby = next(db for db, primary in roles.items() if primary == "0")
    assert query(host, f'patroni_replica{{instance="{standby}"}} == 1 and patroni_postgres_running == 1')
    assert query(host, "nginx_up")[0]["value"][1] == "1"
    # Each app's certificate (the demo's and the Django example's): its real
    # expiry, far from the 14-day alert.
    expiry = {(r["metric"]["instance"], r["metric"]["path"]): r["value"][1]
              for r in query(host, "pyweb_tls_certificate_not_after_timestamp_seconds")}
    paths = [f"/etc/ssl/pyweb/{name}/fullchain.pem" for name in ("pyweb", "shop")]
    assert set(expiry) == {(lb, path) for lb in LB_HOSTS for path in paths}
    for lb in LB_HOSTS:
        for path in paths:
            cert = other(lb).check_output(
                f"date -d \"$(openssl x509 -noout -enddate -in {path} | cut -d= -f2)\" +%s")
            assert expiry[(lb, path)] == cert, (lb, path)
    assert not query(host, 'ALERTS{alertname="CertificateExpiring"}')


@pytest.mark.parametrize("target, port", [
    ("pyweb-stack-lb1", 9100), ("pyweb-stack-lb1", 9113), ("pyweb-stack-lb1", 3903), ("pyweb-stack-lb2", 9115),
    ("pyweb-stack-db1", 9187), ("pyweb-stack-app1", 9100), ("pyweb-stack-app2", 9100),
])
def test_exporter_ports_answer_the_monitoring_host_only(target, port):
    assert can_connect("pyweb-stack-backup1", ADDRESSES[target], port)
    source = "pyweb-stack-app1" if target != "pyweb-stack-app1" else "pyweb-stack-db1"
    assert not can_connect(source, ADDRESSES[target], port)


@pytest.fixture
def webhook(host):
    """A webhook receiver on the monitoring host, where Alertmanager posts."""
    code = (
        "import http.server\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_POST(self):\n"
        "        body = self.rfile.read(int(self.headers['Content-Length']))\n"
        f"        open('{HOOK_LOG}', 'ab').write(body + b'\\n')\n"
        "        self.send_response(200); self.end_headers()\n"
        "http.server.HTTPServer(('127.0.0.1', 9999), H).serve_forever()\n"
    )
    host.run(f"rm -f {HOOK_LOG}")
    host.check_output(f"systemd-run --unit pyweb-test-hook python3 -c {shlex.quote(code)}")
    yield
    host.run("systemctl stop pyweb-test-hook")


def test_an_app_host_whose_service_stops_fires_app_host_missing(host, webhook):
    app = other("pyweb-stack-app1")
    app.check_output("systemctl stop demo.socket demo.service")
    try:
        # Both load balancers see it fail its health check; the other app host serves the site.
        wait_for(lambda: {r["metric"]["prober"] for r in firing(host, "AppHostMissing", "pyweb-stack-app1")}
                 == set(LB_HOSTS), 90, "AppHostMissing firing from both load balancers")
        through_nginx("/", 20, 200)
        assert not firing(host, "AppHostMissing", "pyweb-stack-app2")
        # Alertmanager has it and posted it to the webhook.
        alerts = json.loads(fetch(host, f"{ALERTMANAGER}/api/v2/alerts"))
        assert "AppHostMissing" in {a["labels"]["alertname"] for a in alerts}

        def posted():
            sent = [json.loads(line) for line in host.run(f"cat {HOOK_LOG}").stdout.splitlines() if line.strip()]
            return [a for m in sent for a in m["alerts"] if a["labels"]["alertname"] == "AppHostMissing"
                    and a["status"] == "firing" and a["labels"]["instance"] == "pyweb-stack-app1"]

        alert = wait_for(posted, 60, "the webhook receives the firing alert")[0]
        assert alert["annotations"]["summary"] in {
            f"pyweb-stack-app1 is out of the pool: its health check fails from {lb}" for lb in LB_HOSTS}
    finally:
        app.check_output("systemctl start demo.socket demo.service")
    wait_for(lambda: not firing(host, "AppHostMissing", "pyweb-stack-app1"), 60, "the alert resolves")


def test_the_whole_app_tier_down_fires_high_error_ratio(host):
    def counted():
        return sum(float(r["value"][1]) for r in query(host, 'pyweb_nginx_responses_total{code="502"}'))

    before = counted()
    for name in APP_HOSTS:
        other(name).check_output("systemctl stop demo.socket demo.service")
    try:
        # Nginx has no app host left: it answers 502, mtail counts them, and at more than
        # 0.1 requests per second over 5 minutes, all 5xx, HighErrorRatio fires.
        # One first (a counter's first sample is no increase), then sixty.
        through_nginx("/", 1, 502)
        wait_for(lambda: counted() >= before + 1, 30, "the first 502 answer counted")
        through_nginx("/", 60, 502)
        wait_for(lambda: counted() >= before + 61, 30, "sixty more 502 answers counted")
        wait_for(lambda: firing(host, "HighErrorRatio", "pyweb-stack-lb1"), 120, "HighErrorRatio firing")
        assert not firing(host, "HighErrorRatio", "pyweb-stack-lb2")
    finally:
        for name in APP_HOSTS:
            other(name).check_output("systemctl start demo.socket demo.service")
    # Nginx tries a failed app host again after its fail_timeout: the site recovers within it.
    wait_for(lambda: answers_200("/healthz"), 30, "the site answering 200 again")


def test_rotated_nginx_logs_are_kept_and_still_counted(host):
    lb = other("pyweb-stack-lb1")
    # Kept 14 days (stack_log_retention_days), like the journal with the app server's logs.
    assert "rotate 14" in lb.file("/etc/logrotate.d/nginx").content_string
    journald = lb.check_output("systemd-analyze cat-config systemd/journald.conf")
    assert "MaxRetentionSec=14day" in journald and "Storage=persistent" in journald

    def answered_200():
        return sum(float(r["value"][1]) for r in query(host, 'pyweb_nginx_responses_total{code="200"}'))

    lb.check_output("logrotate -f /etc/logrotate.d/nginx")
    assert lb.file("/var/log/nginx/access.log.1").exists
    before = answered_200()
    through_nginx("/healthz", 3, 200)
    # mtail follows the new file: the requests after the rotation are counted.
    wait_for(lambda: answered_200() >= before + 3, 30, "three more 200 answers counted after the rotation")


def test_the_readmes_ssh_tunnel_reaches_prometheus():
    """docs/monitoring.md: ssh -L to Prometheus on the monitoring host, as
    the admin, from this machine."""
    from urllib.request import urlopen

    backup = ADDRESSES["pyweb-stack-backup1"]
    with sshclient.tunnel("admin", backup, backup, 9090) as port, \
            urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=10) as answer:
        assert answer.status == 200


def test_every_host_reports_its_pending_updates_and_none_is_from_security(host):
    # Debian's apt collector (every 15 minutes) feeds the node exporter; run
    # it now rather than wait. Every host reports its apt cache's age and
    # whether it needs a reboot. Debian 13's collector writes
    # apt_upgrades_pending only for origins with updates pending (Debian
    # 12's also a 0 without origin). The converge applied the security
    # updates, so none of them is from a security suite.
    for name in ADDRESSES:
        other(name).check_output("systemctl start prometheus-node-exporter-apt.service")
    wait_for(lambda: {r["metric"]["instance"] for r in query(host, "apt_package_cache_timestamp_seconds")} >= set(ADDRESSES),
             60, "the apt collector's figures of every host")
    assert query(host, 'apt_upgrades_pending{origin=~".*-security.*"} > 0') == []
    assert {r["metric"]["instance"] for r in query(host, "node_reboot_required == 0")} == set(ADDRESSES)


# Failures on the hosts themselves, each with its own alert: a backup 27 hours
# old, a host that needs a reboot, a packaged file changed, a host whose logs
# stop arriving. They are independent, so they happen at once and one wait
# for Prometheus's scrape and evaluation cycles sees them all fire (then all
# resolve), rather than one wait each.
PACKAGED = "/usr/share/doc/less/copyright"
HOST_ALERTS = {
    # (alert, the host it is about): its severity.
    ("BackupTooOld", "pyweb-stack-db1"): "critical",
    ("PackageFilesModified", "pyweb-stack-db1"): "critical",
    ("RebootRequired", "pyweb-stack-app2"): "warning",
    ("LogsNotReceived", "pyweb-stack-app2"): "warning",
}


def host_alert(host, alert, instance):
    # LogsNotReceived is about a sender (the log host's metric), the others about the instance scraped.
    return firing(host, alert, instance, "sender" if alert == "LogsNotReceived" else "instance")


ARCHIVE_TEXTFILE = "/var/lib/prometheus/node-exporter/pyweb_pgbackrest_backups.prom"
ARCHIVE_DIR = "/var/lib/pgbackrest/archive"


def test_stale_backups_a_failing_archive_a_pending_reboot_a_changed_file_and_silent_logs_each_fire_their_alert(host):
    db, app, backup = other("pyweb-stack-db1"), other("pyweb-stack-app2"), other("pyweb-stack-backup1")
    # And the database's archive: the primary's archiving fails for real (the
    # repository's archive directory unreadable to its user on the backup
    # host), the newest backup's time made stale.
    primary = next(n for n in ("pyweb-stack-db1", "pyweb-stack-db2")
                   if other(n).check_output("runuser -u postgres -- psql -XtAc 'SELECT pg_is_in_recovery()'") == "f")
    expected = {**HOST_ALERTS, ("DatabaseArchivingFailing", primary): "critical",
                ("DatabaseBackupTooOld", "pyweb-stack-backup1"): "critical"}
    # Sound first: a real backup's time, a clean package count, the archive
    # taking the primary's WAL and every sender's recent logs are scraped,
    # and none of these alerts fires.
    db.check_output("systemctl start pyweb-backup.service pyweb-verify-packages.service")
    other(primary).check_output("runuser -u postgres -- pgbackrest --stanza=pyweb check"
                                " && systemctl start pyweb-pgbackrest-metrics.service")
    done = int(db.check_output(f"sed -n 's/^pyweb_backup_last_success_timestamp_seconds //p' {TEXTFILE}"))
    wait_for(lambda: query(host, f'pyweb_backup_last_success_timestamp_seconds{{instance="pyweb-stack-db1"}} == {done}')
             and query(host, 'pyweb_packages_modified_files{instance="pyweb-stack-db1"} == 0'),
             60, "the backup's time and a clean package count scraped")
    fresh = query(host, "time() - pyweb_logs_last_received_timestamp_seconds < 40")
    assert {r["metric"]["sender"] for r in fresh} == set(ADDRESSES) - {"pyweb-stack-backup1"}
    wait_for(lambda: not any(host_alert(host, *key) for key in expected), 60, f"none of {sorted(expected)} firing")
    saved_textfile = db.file(TEXTFILE).content_string
    saved_packaged = db.check_output(f"base64 -w0 {PACKAGED}")
    saved_archive = backup.file(ARCHIVE_TEXTFILE).content_string
    try:
        old = int(time.time()) - 27 * 3600
        # 0644 by hand: the admin's session has umask 027 (common_login_defs)
        # and the node exporter reads the file as its own user.
        db.check_output(f"printf 'pyweb_backup_last_run_success 1\\npyweb_backup_last_success_timestamp_seconds {old}\\n'"
                        f" > {TEXTFILE}.tmp && chmod 0644 {TEXTFILE}.tmp && mv {TEXTFILE}.tmp {TEXTFILE}")
        db.check_output(f"echo tampered >> {PACKAGED} && systemctl start pyweb-verify-packages.service")
        # What a kernel or libc upgrade leaves behind; and app2's uploader stops.
        app.check_output("touch /run/reboot-required && systemctl start prometheus-node-exporter-apt.service"
                         " && systemctl stop systemd-journal-upload.service")
        backup.check_output(f"printf 'pyweb_pgbackrest_last_backup_timestamp_seconds{{stanza=\"pyweb\",type=\"any\"}} {old}\\n'"
                            f" > {ARCHIVE_TEXTFILE}.tmp && chmod 0644 {ARCHIVE_TEXTFILE}.tmp"
                            f" && mv {ARCHIVE_TEXTFILE}.tmp {ARCHIVE_TEXTFILE}")
        backup.check_output(f"chmod 000 {ARCHIVE_DIR}")
        # A write, and its segment closed: PostgreSQL hands it to the archive,
        # which refuses it; the figures are written at once, not within the minute.
        other(primary).check_output("runuser -u postgres -- psql -XtA -c 'SELECT txid_current()' -c 'SELECT pg_switch_wal()'"
                                    " && sleep 3 && systemctl start pyweb-pgbackrest-metrics.service")

        def all_firing():
            found = {key: host_alert(host, *key) for key in expected}
            return found if all(found.values()) else None

        alerts = wait_for(all_firing, 150, f"every one of {sorted(expected)} firing")
        for key, severity in expected.items():
            assert alerts[key][0]["metric"]["severity"] == severity, key
        assert alerts[("LogsNotReceived", "pyweb-stack-app2")][0]["metric"]["address"] == ADDRESSES["pyweb-stack-app2"]
        # Each about its own host only.
        for alert, _ in expected:
            assert not host_alert(host, alert, "pyweb-stack-app1"), alert
    finally:
        db.check_output(f"printf %s {shlex.quote(saved_textfile)} > {TEXTFILE}.tmp && chmod 0644 {TEXTFILE}.tmp"
                        f" && mv {TEXTFILE}.tmp {TEXTFILE}")
        db.check_output(f"echo {saved_packaged} | base64 -d > {PACKAGED} && systemctl start pyweb-verify-packages.service")
        app.check_output("rm -f /run/reboot-required && systemctl start prometheus-node-exporter-apt.service"
                         " systemd-journal-upload.service")
        backup.check_output(f"printf %s {shlex.quote(saved_archive)} > {ARCHIVE_TEXTFILE}.tmp && chmod 0644 {ARCHIVE_TEXTFILE}.tmp"
                            f" && mv {ARCHIVE_TEXTFILE}.tmp {ARCHIVE_TEXTFILE}")
        backup.check_output(f"chmod 0750 {ARCHIVE_DIR}")
        # The waiting segments go (check switches another and waits for it),
        # and the figures say so at once.
        other(primary).check_output("runuser -u postgres -- pgbackrest --stanza=pyweb check"
                                    " && systemctl start pyweb-pgbackrest-metrics.service")
    wait_for(lambda: not any(query(host, f'ALERTS{{alertname="{alert}"}}') for alert, _ in expected),
             120, "the alerts resolve")
