"""Bad inputs to the tls and nginx roles stop the play before any change, naming the problem."""

import pytest

from conftest import check_failure, validate_role, validate_roles

CERT = "/etc/ssl/pyweb/site/fullchain.pem"
KEY = "/etc/ssl/pyweb/site/privkey.pem"


def site(**over):
    base = {
        "name": "pyweb",
        "server_names": ["www.example.com"],
        "upstreams": ["10.0.0.11:8000"],
        "tls_certificate": CERT,
        "tls_certificate_key": KEY,
    }
    return {**base, **over}


TLS = {"tls_mode": "selfsigned", "tls_domains": ["www.example.com"]}
ACME = {"tls_mode": "acme", "tls_domains": ["example.com"], "tls_acme_email": "ops@example.com"}


def test_valid_tls_and_nginx_inputs_pass():
    assert validate_role("tls", **TLS).rc == 0
    assert validate_role("nginx", nginx_sites=[site()]).rc == 0
    acme = validate_role("tls", **ACME)
    assert acme.rc == 0, acme.failures()


BAD_TLS = [
    ({"tls_mode": "letsencrypt"}, "tls_mode must be one of"),
    ({"tls_domains": ["exa mple.com"]}, "these are not: exa mple.com"),
    ({"tls_domains": ["-bad-.example.com"]}, "these are not: -bad-.example.com"),
    ({"tls_domains": []}, "(empty list)"),
    ({"tls_cert_valid_days": 825}, "tls_cert_valid_days must be between 2 and 366"),
    ({"tls_key_type": "DSA"}, "tls_key_type must be one of"),
    ({"tls_mode": "acme", "tls_domains": ["example.com"]}, "tls_acme_email must be a contact address"),
    (
        {"tls_mode": "acme", "tls_domains": ["*.example.com"], "tls_acme_email": "ops@example.com"},
        "free of wildcards",
    ),
    ({"tls_mode": "internal_ca", "tls_ca_dir": "relative/ca"}, "tls_ca_dir must be an absolute path"),
]


@pytest.mark.parametrize(
    "extra, expected",
    BAD_TLS,
    ids=[
        "unknown-mode",
        "domain-with-space",
        "domain-bad-hyphens",
        "no-domains",
        "lifetime-too-long",
        "unknown-key-type",
        "acme-without-email",
        "acme-wildcard",
        "ca-dir-relative",
    ],
)
def test_bad_tls_input_fails_early(extra, expected):
    check_failure(validate_role("tls", **extra), expected)


BAD_SITES = [
    ([site(tls_certificate_key=None) | {"tls_certificate_key": ""}], "tls_certificate_key must be absolute paths"),
    ([{k: v for k, v in site().items() if k != "tls_certificate"}], "tls_certificate and"),
    ([site(server_names=["bad name.example.com"])], "bad: bad name.example.com"),
    ([site(upstreams=["10.0.0.11"])], "bad: 10.0.0.11"),
    ([site(upstreams=[])], "at least one of each"),
    ([site(), site()], "share a name or a server name"),
    ([{k: v for k, v in site().items() if k != "upstreams"}], "missing required arguments: upstreams"),
    ([site(max_fails="often")], "max_fails"),
]


@pytest.mark.parametrize(
    "sites, expected",
    BAD_SITES,
    ids=[
        "tls-key-empty",
        "tls-cert-missing",
        "malformed-server-name",
        "upstream-without-port",
        "no-upstreams",
        "duplicate-site",
        "upstreams-missing",
        "max-fails-not-int",
    ],
)
def test_bad_nginx_site_fails_early(sites, expected):
    check_failure(validate_role("nginx", nginx_sites=sites), expected)


def test_status_port_clash_fails_early():
    check_failure(validate_role("nginx", nginx_status_port=443), "clashes with 80/443")


def test_a_default_site_that_is_not_a_site_fails_early():
    run = validate_role("nginx", nginx_sites=[site()], nginx_default_site="shop")
    check_failure(run, "nginx_default_site 'shop' is not the name of a site in nginx_sites (pyweb)")


def test_a_cached_location_without_a_location_fails_early():
    run = validate_role("nginx", nginx_sites=[site(cached=[{"max_age": 60}])])
    check_failure(run, "missing required arguments: location")


def app_site(**over):
    return {"name": "shop", "listen": ["10.0.0.11:8000"], "upstream": "unix:/run/shop/app.sock", **over}


BAD_APP_SITES = [
    ([app_site(listen=["unix:/run/x.sock"])], "listen must be one or more 'address:port' (got unix:/run/x.sock)"),
    ([app_site(listen=[])], "listen must be one or more"),
    ([app_site(upstream="localhost")], "upstream must be 'address:port' or 'unix:/path' other than those (got 'localhost')"),
    ([app_site(upstream="10.0.0.11:8000")], "other than those (got '10.0.0.11:8000')"),
    ([{k: v for k, v in app_site().items() if k != "upstream"}], "missing required arguments: upstream"),
]


def test_a_valid_app_site_passes():
    assert validate_role("nginx", nginx_app_sites=[app_site(static=[{"location": "/static/", "path": "/srv/shop/current/static"}])]).rc == 0


@pytest.mark.parametrize("sites, expected", BAD_APP_SITES,
                         ids=["listen-unix", "listen-none", "upstream-no-port", "upstream-is-listen", "upstream-missing"])
def test_bad_nginx_app_site_fails_early(sites, expected):
    check_failure(validate_role("nginx", nginx_app_sites=sites), expected)


# The keepalived role on its own (the stack's preflight checks the same
# before any role; see tests/test_preflight_hosts.py).
KEEPALIVED = {
    "keepalived_virtual_ipaddress": "10.0.0.100",
    "keepalived_virtual_prefix": 24,
    "keepalived_interface": "eth0",
    "keepalived_unicast_src_ip": "10.0.0.11",
    "keepalived_unicast_peers": ["10.0.0.12"],
    "keepalived_priority": 254,
    "keepalived_auth_pass": "a-long-vault-secret",
}


def test_valid_keepalived_inputs_pass():
    run = validate_role("keepalived", **KEEPALIVED)
    assert run.rc == 0, run.failures()
    # No floating address: nothing to check, nothing installed.
    assert validate_role("keepalived").rc == 0


BAD_KEEPALIVED = [
    ({"keepalived_virtual_ipaddress": "10.1.0.100"},
     "the floating address '10.1.0.100' must be a free IPv4 address inside this host's private network 10.0.0.0/24"),
    ({"keepalived_virtual_ipaddress": "10.0.0.12"}, "not a host's own address"),
    ({"keepalived_auth_pass": ""}, "the secret keepalived_auth_pass at least 8 characters"),
    ({"keepalived_priority": 255}, "the priority 1-254 (got 255)"),
    ({"keepalived_virtual_router_id": "first"}, "keepalived_virtual_router_id"),
    ({"keepalived_preempt": "sometimes"}, "keepalived_preempt"),
]


@pytest.mark.parametrize(
    "extra, expected",
    BAD_KEEPALIVED,
    ids=["outside-the-network", "a-peer-address", "no-secret", "priority-255", "router-id-word", "preempt-word"],
)
def test_bad_keepalived_input_fails_early(extra, expected):
    check_failure(validate_role("keepalived", **{**KEEPALIVED, **extra}), expected)


@pytest.fixture(scope="module", autouse=True)
def batched():
    """Every case of this module in one ansible-playbook run (conftest.validate_roles)."""
    validate_roles(
        [("tls", TLS), ("tls", ACME), ("nginx", {"nginx_sites": [site()]}), ("keepalived", KEEPALIVED), ("keepalived", {}),
         ("nginx", {"nginx_status_port": 443}), ("nginx", {"nginx_sites": [site()], "nginx_default_site": "shop"}),
         ("nginx", {"nginx_sites": [site(cached=[{"max_age": 60}])]})]
        + [("tls", extra) for extra, _ in BAD_TLS]
        + [("nginx", {"nginx_sites": sites}) for sites, _ in BAD_SITES]
        + [("nginx", {"nginx_app_sites": [app_site(static=[{"location": "/static/", "path": "/srv/shop/current/static"}])]})]
        + [("nginx", {"nginx_app_sites": sites}) for sites, _ in BAD_APP_SITES]
        + [("keepalived", {**KEEPALIVED, **extra}) for extra, _ in BAD_KEEPALIVED]
    )
