"""Central logs on the stack scenario's converge: every host but the log host
(the backup host, which is also the monitoring host) sends its journal there
as it is written, over HTTPS that the senders verify; a line logged on an app
host is on the log host within seconds and stays there after the app host's
journal is wiped; the port admits the stack's hosts only. A host that stops
sending raises LogsNotReceived: test_monitoring.py fires it beside the other
alerts about a host's own state.

Runs after test_converge.py and before test_monitoring.py, whose first tests
expect nothing firing."""

import json
import shlex
import socket
import time
import uuid

from stackinfo import ADDRESSES, other, uri, wait_for

testinfra_hosts = [uri("pyweb-stack-backup1")]
LOG_HOST = "pyweb-stack-backup1"
REMOTE = "/var/log/journal/remote"
PORT = 19532


def central(host, tag):
    """The messages the log host holds under a syslog tag."""
    out = host.run(f"journalctl --quiet --directory={REMOTE} --identifier={shlex.quote(tag)} --output=cat")
    return out.stdout.split()


def local(host, tag):
    return host.run(f"journalctl --quiet --identifier={shlex.quote(tag)} --output=cat").stdout.split()


def test_every_other_host_has_a_file_of_its_own_on_the_log_host(host):
    senders = {name: address for name, address in ADDRESSES.items() if name != LOG_HOST}
    for address in senders.values():
        wait_for(lambda: host.file(f"{REMOTE}/remote-{address}.journal").exists, 30, f"the journal of {address}")
    assert not host.file(f"{REMOTE}/remote-{ADDRESSES[LOG_HOST]}.journal").exists
    # Each file holds that host's own lines: its heartbeat names the log host.
    for name, address in senders.items():
        lines = host.check_output(f"journalctl --quiet --file={REMOTE}/remote-{address}.journal"
                                  " --identifier=pyweb-logs-heartbeat --output=json --lines=1")
        assert json.loads(lines)["_HOSTNAME"] == other(name).check_output("hostname")


def test_a_line_logged_on_an_app_host_is_on_the_log_host_within_seconds_and_outlives_a_wipe(host):
    app = other("pyweb-stack-app1")
    token = f"central-{uuid.uuid4().hex}"
    started = time.monotonic()
    app.check_output(f"logger --tag pyweb-test-logs {token}")
    wait_for(lambda: token in central(host, "pyweb-test-logs"), 10, "the line on the log host", interval=0.2)
    print(f"logged on app1, found on the log host after {time.monotonic() - started:.1f} s")

    # What an intruder with root does to cover their tracks: the host's own
    # journal loses the line, the log host keeps it.
    app.check_output("journalctl --rotate && journalctl --vacuum-time=1s")
    assert token not in local(app, "pyweb-test-logs")
    assert token in central(host, "pyweb-test-logs")

    # The upload goes on after the wipe.
    later = f"central-{uuid.uuid4().hex}"
    app.check_output(f"logger --tag pyweb-test-logs {later}")
    wait_for(lambda: later in central(host, "pyweb-test-logs"), 15, "a line logged after the wipe")


def test_the_senders_verify_the_log_hosts_certificate(host):
    lb = other("pyweb-stack-lb1")
    url = f"https://{ADDRESSES[LOG_HOST]}:{PORT}/"
    # The CA the senders were given signs a certificate for the log host's address...
    verified = lb.run(f"curl --silent --output /dev/null --write-out '%{{http_code}}' --cacert /etc/ssl/pyweb/journal-remote-ca.pem {url}")
    assert verified.rc == 0 and verified.stdout.isdigit(), verified.stderr
    # ...and the system's trust store does not trust it.
    unverified = lb.run(f"curl --silent --output /dev/null {url}")
    assert unverified.rc == 60, (unverified.rc, unverified.stderr)


def reaches(address, port):
    with socket.socket() as s:
        s.settimeout(3)
        try:
            s.connect((address, port))
            return True
        except OSError:
            return False


def test_the_log_port_admits_the_stack_hosts_only(host):
    # This machine (the network's gateway) is not one of the stack's hosts:
    # it reaches the log host's SSH, not its log port.
    assert reaches(ADDRESSES[LOG_HOST], 22)
    assert not reaches(ADDRESSES[LOG_HOST], PORT)
    # A stack host reaches it.
    other("pyweb-stack-db1").check_output(f"timeout 3 bash -c 'exec 3<>/dev/tcp/{ADDRESSES[LOG_HOST]}/{PORT}'")
