"""internal_ca mode: the CA stays on the controller; the host trusts it."""

import os
from pathlib import Path

import pytest

testinfra_hosts = ["ansible://pyweb-tls-ca"]
CA_DIR = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "ca"


def test_internal_ca_key_stays_on_the_controller_encrypted_and_private(host):
    key = CA_DIR / "ca.key"
    assert key.exists()
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    # Encrypted with the vaulted passphrase: unreadable without it.
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    with pytest.raises(TypeError, match="encrypted"):
        load_pem_private_key(key.read_bytes(), password=None)
    assert not host.file("/etc/ssl/pyweb/site/ca.key").exists
    assert host.run("find / -xdev -name ca.key 2>/dev/null | grep -q .").rc != 0


def test_host_trusts_the_internal_ca_for_https(host):
    # No --cacert: the system trust store must vouch for the certificate.
    r = host.run(
        "curl -sS -o /dev/null -w '%{http_code}' --resolve ca.pyweb.test:443:127.0.0.1 https://ca.pyweb.test/"
    )
    assert r.rc == 0, r.stderr
    assert r.stdout in ("200", "502")  # 502: no app behind this test site; TLS itself verified
    verify = host.run(
        "openssl verify -CAfile /usr/local/share/ca-certificates/pyweb-internal-ca.crt /etc/ssl/pyweb/site/cert.pem"
    )
    assert verify.rc == 0, verify.stderr


def test_internal_ca_signs_short_lived_end_entity_certificates(host):
    text = host.check_output("openssl x509 -in /etc/ssl/pyweb/site/cert.pem -noout -text")
    assert "CA:FALSE" in text
    assert "TLS Web Server Authentication" in text
    assert "Issuer: CN = pyweb internal CA" in text
    days = host.check_output(
        "python3 -c \"import ssl,time;c=ssl._ssl._test_decode_cert('/etc/ssl/pyweb/site/cert.pem');"
        "print(int((ssl.cert_time_to_seconds(c['notAfter'])-ssl.cert_time_to_seconds(c['notBefore']))/86400))\""
    )
    assert int(days) <= 90


