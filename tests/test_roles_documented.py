"""Every role documents every variable: defaults, argument specs and README agree."""

import sys

import pytest
import yaml

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import role_docs  # noqa: E402

ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks/main.yml").exists())


def defaults(role):
    path = ROOT / "roles" / role / "defaults/main.yml"
    return set(yaml.safe_load(path.read_text()) or {}) if path.exists() else set()


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_prefixed_specified_and_documented(role):
    specs = yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())
    options = set(specs["argument_specs"]["main"]["options"])
    readme = (ROOT / "roles" / role / "README.md").read_text()
    for var in defaults(role):
        assert var.startswith(f"{role}_"), f"{role}: {var} lacks the role prefix"
        assert var in options, f"{role}: {var} is not in meta/argument_specs.yml"
        assert f"`{var}`" in readme, f"{role}: {var} is not in the README's table"
    # And nothing is specified that the role does not define.
    assert options <= defaults(role) | {o for o, v in specs["argument_specs"]["main"]["options"].items() if v.get("required")}


@pytest.mark.parametrize("role", ROLES)
def test_the_readme_table_is_the_one_make_docs_writes(role):
    """The variables table comes from meta/argument_specs.yml and
    defaults/main.yml (scripts/role_docs.py): one source for each."""
    role_dir = ROOT / "roles" / role
    readme = (role_dir / "README.md").read_text()
    assert role_docs.rewrite(readme, role_docs.table(role_dir)) == readme, (
        f"roles/{role}/README.md's variables table is stale: run make docs")


@pytest.mark.parametrize("role", ROLES)
def test_every_role_has_a_molecule_scenario(role):
    # Its own scenario, a scenario that converges it, or a test suite of its
    # own on a scenario that converges the whole stack (monitoring on stack).
    assert (ROOT / "molecule" / role / "molecule.yml").exists() or any(
        role in (p.read_text()) for p in (ROOT / "molecule").glob("*/converge.yml")
    ) or any((ROOT / "molecule").glob(f"*/tests/test_{role}.py"))


@pytest.mark.parametrize("role", ROLES)
def test_templates_are_marked_as_managed(role):
    for tpl in (ROOT / "roles" / role / "templates").glob("**/*.j2"):
        assert "ansible_managed" in tpl.read_text(), f"{tpl} lacks the ansible_managed header"
