"""What every suite of the stack scenario knows about it: where the project
and Molecule's inventory are, the hosts of each group and their addresses
(read from inventory/hosts.yml, as Ansible reads them), and a Testinfra host
for any of them, reached as Ansible reaches it."""

import os
import sys
from pathlib import Path

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


def uri(name):
    """Testinfra's address of a host: over SSH as the admin, with sudo
    (molecule.yml's connection options)."""
    return f"ansible://{name}?sudo=true&ansible_inventory={INVENTORY_DIR}"


def other(name):
    """A Testinfra host for any host of the stack."""
    return testinfra.get_host(uri(name))
