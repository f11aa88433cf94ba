"""Two load balancers sharing a floating address: it answers; both show a
certificate of the same CA and serve the same site; an ACME challenge is
answered whichever of them holds the address; VRRP is taken from the
other load balancer only; the address moves when Nginx stops on its holder
and when the holder goes away, and the holder's return interrupts nothing.

The requests go from the app host's container to the floating address on the
scenario's own docker network."""

import json
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

testinfra_hosts = ["ansible://pyweb-ka-lb1"]
VIP = "10.58.0.100"
ADDRESS = {"pyweb-ka-lb1": "10.58.0.11", "pyweb-ka-lb2": "10.58.0.12"}
LBS = list(ADDRESS)
CLIENT = "pyweb-ka-app1"
NAME = "pyweb.localhost"
CA = "/tmp/pyweb-ca.pem"
ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "molecule" / "shared"))
from playbook_runner import ansible_playbook  # noqa: E402


def docker(*args, **kw):
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120, **kw)


def sh(container, script):
    return docker("exec", container, "sh", "-c", script)


def running(container):
    return docker("inspect", "-f", "{{.State.Running}}", container).stdout.strip() == "true"


def holders():
    return [lb for lb in LBS if running(lb) and f"inet {VIP}/" in sh(lb, "ip -4 -o addr show").stdout]


def status(address=VIP):
    """HTTPS status of the site at address, from the client container, with
    the certificate checked against the CA."""
    out = sh(CLIENT, f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 3 --cacert {CA} "
                     f"--resolve {NAME}:443:{address} https://{NAME}/").stdout
    return int(out or 0)


def wait_for(predicate, seconds, step=0.2):
    """Seconds until predicate() held, or None."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if predicate():
            return time.monotonic() - start
        time.sleep(step)
    return None


@pytest.fixture(scope="module", autouse=True)
def client_trusts_the_site_ca():
    ca = sh("pyweb-ka-lb1", "cat /etc/ssl/pyweb/pyweb/chain.pem").stdout
    docker("exec", "-i", CLIENT, "sh", "-c", f"cat > {CA}", input=ca, check=True)


def test_the_first_load_balancer_holds_the_floating_address_and_it_serves_the_site():
    assert wait_for(lambda: holders() == ["pyweb-ka-lb1"], 20) is not None, holders()
    body = sh(CLIENT, f"curl -s --max-time 3 --cacert {CA} --resolve {NAME}:443:{VIP} https://{NAME}/").stdout
    assert '"backend": "pyweb-ka-app1"' in body


@pytest.mark.parametrize("lb", LBS)
def test_each_load_balancer_serves_the_site_with_a_certificate_of_the_same_ca(lb):
    # The client trusts lb1's CA only: lb2's certificate must chain to it too.
    assert status(ADDRESS[lb]) == 200
    issuer = sh(lb, "openssl x509 -noout -issuer -in /etc/ssl/pyweb/pyweb/cert.pem").stdout
    assert "pyweb-ka-lb1 self-signed CA" in issuer


def test_an_acme_challenge_is_answered_whichever_load_balancer_holds_the_address():
    """The CA's HTTP-01 request reaches the holder; the file may sit on the
    other load balancer (the one that asked for its certificate)."""
    holder = holders()[0]
    other = next(lb for lb in LBS if lb != holder)
    token = f"token-{time.time_ns()}"
    sh(other, f"mkdir -p /var/www/acme/.well-known/acme-challenge && echo {token} > "
              f"/var/www/acme/.well-known/acme-challenge/{token}")
    try:
        def fetch(name):
            return sh(CLIENT, f"curl -s -w ' %{{http_code}}' --max-time 5 -H 'Host: {NAME}' "
                              f"http://{VIP}/.well-known/acme-challenge/{name}").stdout.split()
        assert fetch(token) == [token, "200"]
        # A file nobody has: 404 from the holder, no loop between the two.
        assert fetch("nobody-has-this")[-1] == "404"
    finally:
        sh(other, f"rm -f /var/www/acme/.well-known/acme-challenge/{token}")


def forged_adverts(target, secret, count=6):
    """A script sending VRRPv2 adverts for the floating address with the top
    priority and the right secret, as a stranger on the network could."""
    packet = struct.pack("!BBBBBBH4s8s", 0x21, 51, 254, 1, 1, 1, 0, bytes(map(int, VIP.split("."))),
                         secret.encode()[:8].ljust(8, b"\0"))
    words = struct.unpack(f"!{len(packet) // 2}H", packet)
    total = sum(words)
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    packet = packet[:6] + struct.pack("!H", ~total & 0xFFFF) + packet[8:]
    return ("import socket, time\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)\n"
            "s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 255)\n"
            f"for _ in range({count}):\n"
            f"    s.sendto({packet!r}, ({target!r}, 0)); time.sleep(0.3)\n")


def dropped(lb):
    out = sh(lb, "nft list chain inet pyweb input | grep 'dropped by default'").stdout.split()
    return int(out[out.index("packets") + 1])


def test_vrrp_is_taken_from_the_other_load_balancer_only():
    holder = holders()[0]
    rules = sh(holder, "nft list table inet pyweb").stdout
    assert "ip protocol vrrp accept" in rules
    assert "10.58.0.11, 10.58.0.12" in rules
    secret = sh(holder, "sed -n 's/^ *auth_pass //p' /etc/keepalived/keepalived.conf").stdout.strip()
    since = sh(holder, "date '+%Y-%m-%d %H:%M:%S'").stdout.strip()
    before = dropped(holder)
    # Higher than the holder's own advert (same priority, higher address):
    # were it let in, the holder would give the address up.
    sent = docker("exec", "-i", CLIENT, "python3", "-", input=forged_adverts(ADDRESS[holder], secret))
    assert sent.returncode == 0, sent.stderr
    time.sleep(2)
    assert dropped(holder) - before >= 6
    assert holders() == [holder]
    log = sh(holder, f"journalctl -u keepalived --since '{since}' --no-pager").stdout
    assert "higher prio" not in log and "BACKUP STATE" not in log


def test_stopping_nginx_on_the_holder_moves_the_address():
    holder = holders()[0]
    other = next(lb for lb in LBS if lb != holder)
    sh(holder, "systemctl stop nginx")
    try:
        moved = wait_for(lambda: holders() == [other], 15)
        assert moved is not None and moved < 6, f"address still on {holders()} after 15 s"
        assert status() == 200
    finally:
        sh(holder, "systemctl start nginx")
    # Nginx back: the address stays where it is (no second move).
    time.sleep(4)
    assert holders() == [other]
    assert status() == 200


def test_stopping_the_holder_moves_the_address_and_its_return_interrupts_nothing():
    holder = holders()[0]
    other = next(lb for lb in LBS if lb != holder)
    stopping = subprocess.Popen(["docker", "stop", holder])
    try:
        moved = wait_for(lambda: f"inet {VIP}/" in sh(other, "ip -4 -o addr show").stdout, 15)
        assert moved is not None and moved < 6, "the other load balancer did not take the address"
        assert status() == 200
    finally:
        stopping.wait(60)
    assert not running(holder)
    assert status() == 200
    docker("start", holder, check=True)
    answers = []
    deadline = time.monotonic() + 25
    while time.monotonic() < deadline:
        answers.append(status())
        time.sleep(0.3)
    assert answers and all(code == 200 for code in answers), answers
    back = sh(holder, "journalctl -b -u keepalived --no-pager").stdout
    assert "Entering BACKUP STATE" in back
    assert holders() == [other]


def front_playbook(tmp_path, loadbalancers, *args):
    """The project's load balancer playbook with another inventory of this
    scenario's containers (the local environment's group_vars)."""
    inventory = tmp_path / "inventory"
    inventory.mkdir(exist_ok=True)
    # Each host reached as Molecule's own inventory reaches it (its connection
    # options, from the shared config.yml), in other groups.
    secrets = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory" / ".secrets" / "ssh"
    molecule_hosts = yaml.safe_load(Path(os.environ["MOLECULE_INVENTORY_FILE"]).read_text())["all"]["hosts"]
    hosts = {
        "all": {
            "vars": {"ansible_python_interpreter": "/usr/bin/python3", "stack_floating_address": VIP},
            "hosts": {h: {k: v for k, v in molecule_hosts[h].items() if k.startswith("ansible_")}
                      for h in [*loadbalancers, CLIENT]},
            "children": {"loadbalancers": {"hosts": {lb: None for lb in loadbalancers}},
                         **{g: {"hosts": {CLIENT: None}} for g in ("app", "db", "backup")}},
        }
    }
    (inventory / "hosts.yml").write_text(json.dumps(hosts))
    if not (inventory / "group_vars").exists():
        os.symlink(ROOT / "inventory" / "local" / "group_vars", inventory / "group_vars")
    # The local group_vars name the admin's key beside the inventory (create.yml made it).
    keys = inventory / ".secrets" / "ssh"
    if not keys.exists():
        keys.mkdir(parents=True)
        shutil.copy(secrets / "id_ed25519.pub", keys)
    return ansible_playbook("playbooks/loadbalancers.yml", *args, inventory=inventory, timeout=900)


def test_one_load_balancer_holds_the_address_alone_and_without_one_gives_it_up(tmp_path):
    # The second load balancer leaves (its keepalived stops); the first is
    # configured as the only one.
    sh("pyweb-ka-lb2", "systemctl stop keepalived")
    alone = front_playbook(tmp_path, ["pyweb-ka-lb1"])
    assert alone.returncode == 0, alone.stdout[-3000:]
    assert "pyweb-ka-lb1 is the only load balancer" in " ".join(alone.stdout.split())
    assert "unicast_peer" not in sh("pyweb-ka-lb1", "cat /etc/keepalived/keepalived.conf").stdout
    assert wait_for(lambda: holders() == ["pyweb-ka-lb1"], 15) is not None, holders()
    assert status() == 200
    # The floating address taken out of the inventory: keepalived stops, the
    # address goes, the load balancer still serves on its own address.
    gone = front_playbook(tmp_path, ["pyweb-ka-lb1"], "-e", "stack_floating_address=")
    assert gone.returncode == 0, gone.stdout[-3000:]
    assert "keepalived is stopped and disabled" in " ".join(gone.stdout.split())
    assert sh("pyweb-ka-lb1", "systemctl is-enabled keepalived").stdout.strip() == "disabled"
    assert holders() == []
    assert status(ADDRESS["pyweb-ka-lb1"]) == 200
