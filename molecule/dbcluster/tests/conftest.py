import os
import sys
from pathlib import Path

import pytest
import testinfra
import yaml

ROOT = Path(__file__).resolve().parents[3]
SCENARIO = ROOT / "molecule" / "dbcluster"
sys.path.insert(0, str(Path(__file__).resolve().parent))
INVENTORY = os.environ.get("MOLECULE_INVENTORY_FILE", "")


def node(name):
    return testinfra.get_host(f"ansible://pyweb-dbc-{name}?ansible_inventory={INVENTORY}")


class _VaultLoader(yaml.SafeLoader):
    """Reads vars/vault.yml with each !vault value as its ciphertext."""


_VaultLoader.add_constructor("!vault", lambda loader, n: loader.construct_scalar(n))


@pytest.fixture(scope="session")
def secrets():
    """The scenario's test secrets, decrypted with the throwaway password."""
    from ansible.parsing.vault import VaultLib, VaultSecret
    password = (ROOT / "molecule" / "shared" / "vault-password.txt").read_bytes().strip()
    vault = VaultLib([("default", VaultSecret(password))])
    data = yaml.load((ROOT / "molecule" / "dbcluster" / "vars" / "vault.yml").read_text(), Loader=_VaultLoader)
    return {k: vault.decrypt(v).decode() for k, v in data.items()}


@pytest.fixture(scope="session")
def addresses():
    return {n: node(n).check_output("hostname -I").split()[0] for n in ("db1", "db2")}
