"""acme mode: certbot against a local Pebble server, through Nginx's webroot."""

import os
import re
import sys
import time
from pathlib import Path

from helpers import file_serial, served_serial

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from playbook_runner import ansible_playbook  # noqa: E402

testinfra_hosts = ["ansible://pyweb-tls-acme"]

# A second certificate, obtained by hand as an earlier run would have, then
# taken out of service with the role's remove tasks (an app removed from the
# stack): twice, the second run finding nothing to do.
RETIRE = """
- name: Retire a certificate
  hosts: pyweb-tls-acme
  become: true
  gather_facts: false
  tasks:
    - name: Take it out of service
      ansible.builtin.include_role:
        name: tls
        tasks_from: remove
      vars:
        tls_cert_name: retired
"""

def test_acme_certificate_comes_from_the_acme_server(host):
    issuer = host.check_output("openssl x509 -in /etc/ssl/pyweb/site/cert.pem -noout -issuer")
    assert "Pebble Intermediate" in issuer
    assert file_serial(host, "/etc/ssl/pyweb/site/cert.pem") == file_serial(host, "/etc/letsencrypt/live/site/cert.pem")


def test_acme_renewal_runs_on_a_timer_that_replaces_debians(host):
    timer = host.service("pyweb-certbot-renew.timer")
    assert timer.is_enabled and timer.is_running
    assert not host.service("certbot.timer").is_enabled
    # The renewal service itself works (nothing is due, so it renews nothing).
    assert host.run("systemctl start pyweb-certbot-renew.service").rc == 0
    assert host.check_output("systemctl show -p Result --value pyweb-certbot-renew.service") == "success"


def test_acme_renewal_installs_the_new_certificate_and_reloads_nginx(host):
    before = served_serial(host, "acme.pyweb.test")
    r = host.run("REQUESTS_CA_BUNDLE=/etc/pebble/cert.pem certbot renew --force-renewal --no-random-sleep-on-renew -q")
    assert r.rc == 0, r.stderr
    # Nginx's reload is a signal: its new workers serve the new certificate a
    # moment later (under load, after the first handshake here).
    deadline = time.monotonic() + 15
    after = served_serial(host, "acme.pyweb.test")
    while after == before and time.monotonic() < deadline:
        time.sleep(0.5)
        after = served_serial(host, "acme.pyweb.test")
    assert after != before
    assert after == file_serial(host, "/etc/ssl/pyweb/site/cert.pem")
    assert re.search(r"installed the certificate", host.check_output("journalctl -t pyweb-tls --no-pager"))


def test_a_retired_certificate_is_no_longer_renewed(host, tmp_path):
    issue = host.run("REQUESTS_CA_BUNDLE=/etc/pebble/cert.pem certbot certonly --non-interactive --agree-tos"
                     " --email ops@pyweb.test --server https://localhost:14000/dir --webroot"
                     " --webroot-path /var/www/acme --cert-name retired -d acme.pyweb.test"
                     " && install -m 0755 /dev/null /usr/local/sbin/pyweb-tls-install-retired")
    assert issue.rc == 0, issue.stderr
    assert "Certificate Name: retired" in host.check_output("certbot certificates")
    playbook = tmp_path / "retire.yml"
    playbook.write_text(RETIRE)
    runs = [ansible_playbook(playbook, inventory=os.environ["MOLECULE_INVENTORY_FILE"], timeout=300) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[-1].stdout[-3000:]
    assert re.search(r"pyweb-tls-acme\s*: ok=\d+\s+changed=[1-9]", runs[0].stdout)
    assert re.search(r"pyweb-tls-acme\s*: ok=\d+\s+changed=0", runs[1].stdout)
    listed = host.check_output("certbot certificates")
    assert "Certificate Name: retired" not in listed and "Certificate Name: site" in listed
    assert not host.file("/usr/local/sbin/pyweb-tls-install-retired").exists
    assert not host.file("/etc/letsencrypt/renewal/retired.conf").exists
