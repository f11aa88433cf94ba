"""Helpers shared by the tls scenario's tests."""


def served_serial(host, name):
    """Serial number of the certificate Nginx hands out for `name`."""
    out = host.check_output(
        f"openssl s_client -connect 127.0.0.1:443 -servername {name} </dev/null 2>/dev/null"
        " | openssl x509 -noout -serial"
    )
    return out.strip().split("=", 1)[1]


def file_serial(host, path):
    return host.check_output(f"openssl x509 -in {path} -noout -serial").strip().split("=", 1)[1]
