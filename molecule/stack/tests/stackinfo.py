"""What every suite of the stack scenario knows about it: where the project
and Molecule's inventory are, the hosts of each group and their addresses
(read from inventory/hosts.yml, as Ansible reads them), and a Testinfra host
for any of them, reached as Ansible reaches it."""

import json
import os
import shlex
import sys
import time
from pathlib import Path
from urllib.parse import quote

import testinfra
import yaml

SCENARIO = Path(__file__).resolve().parents[1]
ROOT = SCENARIO.parents[1]
# The suites' shared helpers (playbook_runner, sshclient, web).
sys.path.insert(0, str(ROOT / "molecule" / "shared"))
# Molecule's inventory directory: its own file (the connection options) and
# the linked hosts.yml (the groups and addresses); the inventory file alone
# lacks those.
INVENTORY_DIR = Path(os.environ.get("MOLECULE_INVENTORY_FILE", "/nonexistent")).parent

_GROUPS = yaml.safe_load((SCENARIO / "inventory" / "hosts.yml").read_text())["all"]["children"]
ADDRESSES = {name: h["ansible_host"] for g in _GROUPS.values() for name, h in g["hosts"].items() if h and "ansible_host" in h}
LB_HOSTS = list(_GROUPS["loadbalancers"]["hosts"])
APP_HOSTS = list(_GROUPS["app"]["hosts"])
DB_HOSTS = list(_GROUPS["db"]["hosts"])


def uri(name):
    """Testinfra's address of a host: over SSH as the admin, with sudo
    (molecule.yml's connection options)."""
    return f"ansible://{name}?sudo=true&ansible_inventory={INVENTORY_DIR}"


def other(name):
    """A Testinfra host for any host of the stack."""
    return testinfra.get_host(uri(name))


def in_recovery(name):
    """'f' on the database cluster's primary, 't' on a standby."""
    return other(name).run("runuser -u postgres -- psql -XtAc 'SELECT pg_is_in_recovery()'").stdout.strip()


def db_primary():
    """The database host whose PostgreSQL takes writes (the cluster's primary)."""
    primaries = [name for name in DB_HOSTS if in_recovery(name) == "f"]
    assert len(primaries) == 1, f"not one primary among {DB_HOSTS}: {primaries}"
    return primaries[0]


# Prometheus on the monitoring host (the backup host).
PROMETHEUS = "http://10.59.0.41:9090"


def fetch(host, url):
    """GET a URL from inside a container; the body as text."""
    code = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())"
    return host.check_output(f"python3 -c {shlex.quote(code)} {shlex.quote(url)}")


def query(host, promql):
    """A PromQL query's result, asked from `host`."""
    answer = json.loads(fetch(host, f"{PROMETHEUS}/api/v1/query?query={quote(promql)}"))
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def wait_for(check, timeout, what, interval=2):
    """check()'s first true result within timeout seconds, else fail naming what."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout} s: {what}")
        time.sleep(interval)
