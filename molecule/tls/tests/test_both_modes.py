"""What both modes promise: a root-only key, and Nginx serving the certificate on disk."""

import pytest
from helpers import file_serial, served_serial

SITE = {"pyweb-tls-ca": "ca.pyweb.test", "pyweb-tls-acme": "acme.pyweb.test"}


@pytest.fixture
def name(host):
    return SITE[host.backend.get_hostname()]


def test_private_key_is_root_only(host):
    key = host.file("/etc/ssl/pyweb/site/privkey.pem")
    assert (key.user, key.group, key.mode) == ("root", "root", 0o600)


def test_nginx_serves_the_certificate_on_disk(host, name):
    assert served_serial(host, name) == file_serial(host, "/etc/ssl/pyweb/site/cert.pem")


def test_certificate_names_the_site(host, name):
    out = host.check_output("openssl x509 -in /etc/ssl/pyweb/site/cert.pem -noout -ext subjectAltName")
    assert f"DNS:{name}" in out


