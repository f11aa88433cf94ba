"""acme mode: certbot against a local Pebble server, through Nginx's webroot."""

import re
import time

from helpers import file_serial, served_serial

testinfra_hosts = ["ansible://pyweb-tls-acme"]



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
