"""HTTP(S) helpers for Testinfra tests that talk to a container's published
ports on 127.0.0.1, as a user's browser would (SNI and Host set to the site's
name, the certificate checked against the scenario's CA)."""

import http.client
import json
import socket
import ssl
import subprocess


def tls_context(cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = True
    return ctx


def request(port, path, host, cafile=None, method="GET", headers=None, tls=True, timeout=10, body=None):
    """One request on a fresh connection; returns (status, headers as a list of pairs, body).

    Over TLS the SNI name and the certificate check use `host`, not 127.0.0.1."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    if tls:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        conn.sock = tls_context(cafile).wrap_socket(sock, server_hostname=host)
    conn.request(method, path, body=body, headers={"Host": host, **(headers or {})})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, resp.getheaders(), data


def header(headers, name):
    return [v for k, v in headers if k.lower() == name.lower()]


def peer_certificate(port, host, cafile):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    with tls_context(cafile).wrap_socket(sock, server_hostname=host) as tls:
        return tls.getpeercert()


def json_body(body):
    return json.loads(body.decode())


def container_ip(name):
    out = subprocess.check_output(
        ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", name], text=True
    )
    return out.split()[0]
