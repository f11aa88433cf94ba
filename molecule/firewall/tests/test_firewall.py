"""Default deny, and each group open only to whom it serves, probed from the
other containers on the scenario's network."""

import os
import time

import pytest
import testinfra

INV = os.environ.get("MOLECULE_INVENTORY_FILE", "")
testinfra_hosts = ["ansible://pyweb-fw-other"]  # the tests drive the others themselves
NAMES = ["pyweb-fw-lb", "pyweb-fw-app", "pyweb-fw-db", "pyweb-fw-other"]


@pytest.fixture(scope="module")
def hosts():
    return {n.split("-")[-1]: testinfra.get_host(f"ansible://{n}?ansible_inventory={INV}") for n in NAMES}


@pytest.fixture(scope="module")
def ip(hosts):
    return {k: h.interface("eth0").addresses[0] for k, h in hosts.items()}


def can_connect(src, addr, port):
    code = (
        "import socket,sys\n"
        "s=socket.socket(); s.settimeout(2)\n"
        f"sys.exit(0 if s.connect_ex(('{addr}', {port})) == 0 else 1)\n"
    )
    return src.run(f'python3 -c "{code}"').rc == 0


@pytest.mark.parametrize(
    "src, dst, port, open_",
    [
        ("other", "lb", 80, True),
        ("other", "lb", 443, True),
        ("other", "lb", 9999, False),
        ("lb", "app", 8000, True),
        ("other", "app", 8000, False),
        ("db", "app", 8000, False),
        ("app", "db", 5432, True),
        ("other", "db", 5432, False),
        ("lb", "db", 5432, False),
        ("lb", "other", 9999, False),
        ("app", "lb", 9999, False),
    ],
)
def test_exposure_follows_the_groups(hosts, ip, src, dst, port, open_):
    assert can_connect(hosts[src], ip[dst], port) is open_


def test_policy_is_drop_for_ipv4_and_ipv6(hosts):
    for h in hosts.values():
        table = h.check_output("nft list table inet pyweb")
        assert "type filter hook input priority filter; policy drop;" in table
        assert "ct state established,related accept" in table
        assert 'iif "lo" accept' in table


def test_one_sources_ssh_flood_does_not_lock_out_another_source(hosts, ip):
    """New SSH connections are limited per source address (15/minute, burst
    20): a scanner that floods port 22 is held back, an admin elsewhere still
    gets in."""
    flood = (
        "import socket\n"
        "opened=0\n"
        "for _ in range(40):\n"
        "    s=socket.socket(); s.settimeout(1)\n"
        f"    opened += s.connect_ex(('{ip['db']}', 22)) == 0\n"
        "    s.close()\n"
        "print(opened)\n"
    )
    opened = int(hosts["other"].check_output(f'python3 -c "{flood}"'))
    assert 15 <= opened <= 25, opened
    assert not can_connect(hosts["other"], ip["db"], 22)
    assert can_connect(hosts["app"], ip["db"], 22)


def test_boot_loads_only_confirmed_rules(hosts):
    for h in hosts.values():
        assert h.service("nftables").is_enabled
        assert h.file("/etc/pyweb-firewall/active.nft").content_string == h.file("/etc/pyweb-firewall/rules.nft").content_string
        assert h.run("nft -c -f /etc/nftables.conf").rc == 0
        assert not h.service("pyweb-firewall-revert.timer").is_running


def test_unconfirmed_rules_revert_by_themselves(hosts, ip):
    """Rules that Ansible never confirms (it lost the host) go away on their
    own, and a confirmation that comes after the revert is refused: it would
    make rules that are no longer loaded the boot rules."""
    db = hosts["db"]
    db.run("cp /etc/pyweb-firewall/rules.nft /tmp/rules.keep")
    db.run("sed -i 's/counter comment \"dropped by default\"/tcp dport 9999 accept\\n        &/' /etc/pyweb-firewall/rules.nft")
    try:
        assert db.run("/usr/local/sbin/pyweb-firewall-apply 4").rc == 0
        assert can_connect(hosts["other"], ip["db"], 9999)  # the unconfirmed rules are live
        time.sleep(8)
        assert not can_connect(hosts["other"], ip["db"], 9999)  # ...and reverted
        late = db.run("/usr/local/sbin/pyweb-firewall-apply --confirm")
        assert late.rc != 0 and "the revert timer fired before the new rules were confirmed" in late.stderr, late
        assert not can_connect(hosts["other"], ip["db"], 9999)
        assert "9999" not in db.file("/etc/pyweb-firewall/active.nft").content_string
    finally:
        db.run("cp /tmp/rules.keep /etc/pyweb-firewall/rules.nft")
