"""Nginx in front of two stand-in app servers, seen from the machine through
the container's published ports (127.0.0.1:18080 for HTTP, :18443 for HTTPS)."""

import http.client
import os
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from web import container_ip, header, json_body, peer_certificate, request

HTTP, HTTPS = 18080, 18443
SITE = "pyweb.test"
ROOT = Path(__file__).resolve().parents[3]


def get(cafile, path="/", host=SITE, **kw):
    return request(HTTPS, path, host, cafile, **kw)


def test_https_certificate_names_match_the_site(cafile):
    for name in ("pyweb.test", "www.pyweb.test"):
        cert = peer_certificate(HTTPS, name, cafile)  # raises if the name does not match
        assert ("DNS", name) in cert["subjectAltName"]


def test_private_key_is_root_only(host):
    key = host.file("/etc/ssl/pyweb/site/privkey.pem")
    assert key.user == "root" and key.group == "root"
    assert key.mode == 0o600


def test_http_redirects_to_https_keeping_the_path(cafile):
    status, headers, _ = request(HTTP, "/some/page?q=1", SITE, tls=False)
    assert status == 301
    assert header(headers, "Location") == ["https://pyweb.test/some/page?q=1"]


def test_acme_challenges_are_served_over_plain_http(host):
    host.run("echo token-content > /var/www/acme/.well-known/acme-challenge/t0ken")
    status, _, body = request(HTTP, "/.well-known/acme-challenge/t0ken", SITE, tls=False)
    assert status == 200
    assert body.strip() == b"token-content"


def test_security_headers_are_sent(cafile):
    status, headers, _ = get(cafile, "/")
    assert status == 200
    assert header(headers, "Strict-Transport-Security") == ["max-age=63072000"]
    assert header(headers, "X-Content-Type-Options") == ["nosniff"]
    assert header(headers, "X-Frame-Options") == ["DENY"]
    assert header(headers, "Referrer-Policy") == ["strict-origin-when-cross-origin"]
    assert header(headers, "Content-Security-Policy")[0].startswith("default-src 'self'")
    # No version in the Server header.
    assert header(headers, "Server") == ["nginx"]


def test_unknown_host_name_is_refused_over_http():
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        request(HTTP, "/", "evil.example", tls=False)


def test_unknown_host_name_is_refused_over_https(cafile):
    with pytest.raises(ssl.SSLError):
        get(cafile, "/", host="evil.example")


def test_static_files_carry_long_lived_cache_headers(cafile):
    status, headers, body = get(cafile, "/static/css/site.css")
    assert status == 200
    assert body == b"body { color: #333; }\n"
    assert header(headers, "Cache-Control") == ["public, max-age=31536000, immutable"]
    # Security headers are not lost in the static location.
    assert header(headers, "X-Content-Type-Options") == ["nosniff"]
    missing, _, _ = get(cafile, "/static/css/none.css")
    assert missing == 404


def test_requests_reach_both_upstreams_with_forwarded_headers(cafile):
    seen = set()
    for _ in range(12):
        status, _, body = get(cafile, "/api/ping")
        assert status == 200
        data = json_body(body)
        seen.add(data["backend"])
        h = {k.lower(): v for k, v in data["headers"].items()}
        assert h["host"] == SITE
        assert h["x-forwarded-proto"] == "https"
        assert h["x-forwarded-for"]
    assert seen == {"app1", "app2"}


def test_dead_upstream_is_skipped_without_an_error(host, cafile):
    host.run("systemctl stop standin-app2")
    try:
        results = [get(cafile, f"/failover/{i}") for i in range(20)]
        assert [s for s, _, _ in results] == [200] * 20
        assert {json_body(b)["backend"] for _, _, b in results} == {"app1"}
    finally:
        host.run("systemctl start standin-app2")


def test_responses_are_compressed(cafile):
    _, headers, _ = get(cafile, "/gzip/" + "x" * 300, headers={"Accept-Encoding": "gzip"})
    assert header(headers, "Content-Encoding") == ["gzip"]


def test_access_log_records_request_and_upstream_times(host, cafile):
    get(cafile, "/logged")
    line = host.check_output("grep ' /logged ' /var/log/nginx/access.log | tail -n 1")
    assert " rt=" in line and " urt=" in line and " ua=127.0.0.1:800" in line


def test_stub_status_answers_on_loopback_only(host):
    out = host.check_output("curl -s http://127.0.0.1:8081/nginx_status")
    assert out.startswith("Active connections:")
    assert host.socket("tcp://127.0.0.1:8081").is_listening
    assert not host.socket("tcp://0.0.0.0:8081").is_listening
    # From outside the container the port is closed.
    with pytest.raises(OSError):
        import socket

        socket.create_connection((container_ip("pyweb-nginx"), 8081), timeout=3)


def test_logrotate_config_is_valid(host):
    assert host.run("logrotate -d /etc/logrotate.d/nginx").rc == 0


def test_mozilla_intermediate_compliance_with_sslyze(cafile):
    sslyze = ROOT / ".cache/sslyze-venv/bin/sslyze"
    assert sslyze.exists(), "make sslyze builds the sslyze venv"
    out = subprocess.run(
        [str(sslyze), "--mozilla_config=intermediate", f"--certinfo_ca_file={cafile}", f"{SITE}:{HTTPS}{{127.0.0.1}}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert f"{SITE}:{HTTPS}: OK - Compliant." in out.stdout


def test_a_bad_value_is_rejected_and_the_running_config_keeps_serving(host, cafile):
    before = host.file("/etc/nginx/nginx.conf").content_string
    env = dict(os.environ, ANSIBLE_ROLES_PATH=str(ROOT / "roles"))
    run = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            os.environ["MOLECULE_INVENTORY_FILE"],
            str(Path(__file__).resolve().parents[1] / "converge.yml"),
            "-e",
            "nginx_client_max_body_size='20 megabytes'",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert run.returncode != 0
    assert "nginx -t rejected the new configuration" in run.stdout + run.stderr
    assert host.file("/etc/nginx/nginx.conf").content_string == before
    assert host.run("ls /etc/nginx/*~ /etc/nginx/sites-enabled/*~ 2>/dev/null").stdout == ""
    assert host.run("nginx -t").rc == 0
    status, _, _ = get(cafile, "/still-up")
    assert status == 200


def test_rate_limit_answers_429_past_the_burst(cafile):
    statuses = [get(cafile, f"/burst/{i}")[0] for i in range(120)]
    assert 429 in statuses
    assert statuses[:20] == [200] * 20
    time.sleep(3)  # let the bucket drain for whatever runs next
