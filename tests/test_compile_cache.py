"""The compile cache (playbooks/callback_plugins/stack_compile_cache.py): a run
that loads kept code renders what a run that compiles renders, and what
shapes the code (Ansible's backslash escaping, a template's own delimiters)
keeps two compiles of the same text apart."""

import sys

import pytest
from conftest import ROOT
from playbook_runner import ansible_playbook, said

sys.path.insert(0, str(ROOT / "playbooks" / "callback_plugins"))
import stack_compile_cache  # noqa: E402

PLAYBOOK = "tests/playbooks/compile_cache/site.yml"
# The inline text compiled with escaping (3 characters: x, \ and 1), the same
# text in a file template without (\1 is one character), a sort, the
# template with its own delimiters, a conditional expression.
EXPECTED = "3 2 1,2,3 3 {{ literal }} yes"


def rendered(directory, mode):
    run = ansible_playbook(PLAYBOOK, env={"STACK_COMPILE_CACHE": mode, "STACK_COMPILE_CACHE_DIR": str(directory),
                                          "ANSIBLE_NOCOLOR": "1"})
    assert run.returncode == 0, said(run)
    return [line.split("msg:", 1)[1].strip() for line in run.stdout.splitlines() if "msg:" in line]


def test_kept_code_renders_what_compiled_code_renders(tmp_path):
    kept = tmp_path / "jinja"
    assert rendered(kept, "off") == [EXPECTED]
    assert not kept.exists() or not any(kept.rglob("*"))
    # Cold: compiled and written; warm: loaded (the files are not rewritten).
    assert rendered(kept, "on") == [EXPECTED]
    files = {p: p.stat().st_mtime_ns for p in kept.rglob("*") if p.is_file()}
    assert len(files) >= 5, files
    assert rendered(kept, "on") == [EXPECTED]
    assert {p: p.stat().st_mtime_ns for p in kept.rglob("*") if p.is_file()} == files


def test_code_kept_by_another_version_is_not_read(monkeypatch, tmp_path):
    monkeypatch.setenv("STACK_COMPILE_CACHE_DIR", str(tmp_path))
    here = stack_compile_cache.cache_dir()
    monkeypatch.setattr(stack_compile_cache, "ANSIBLE_CORE_VERSION", "2.19.0")
    assert stack_compile_cache.cache_dir() != here


@pytest.mark.parametrize("version", ["2.18.6", "2.20.0"])
def test_it_stays_off_on_an_ansible_core_it_was_not_written_for(monkeypatch, tmp_path, version):
    monkeypatch.setenv("STACK_COMPILE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(stack_compile_cache, "ANSIBLE_CORE_VERSION", version)
    assert stack_compile_cache.install() is False
    assert not any(tmp_path.iterdir())
