"""A change after which the host no longer answers is rolled back at once."""

import json
import os
import subprocess
from pathlib import Path

testinfra_hosts = ["ansible://pyweb-fw-other"]
SCENARIO = Path(__file__).resolve().parents[1]


# The rules, without their state (counters, and the addresses that the
# per-source SSH limit holds: Ansible's own logins come and go there).
RULES = "nft -s list chain inet pyweb input"


def test_rules_that_fail_the_confirmation_are_rolled_back(host):
    before = host.check_output(RULES)
    extra = {
        # A new opening (so the rules change) and a confirm port that the new
        # rules keep closed: the check from the controller must fail.
        "firewall_allowed": [{"name": "probe", "port": 7777}],
        "firewall_confirm_port": 9999,
    }
    run = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            os.environ["MOLECULE_INVENTORY_FILE"],
            str(SCENARIO / "converge.yml"),
            "--limit",
            "pyweb-fw-other",
            "-e",
            json.dumps(extra),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, ANSIBLE_ROLES_PATH=str(SCENARIO.parents[1] / "roles")),
    )
    assert run.returncode != 0
    assert "no longer answered" in run.stdout + run.stderr
    assert host.check_output(RULES) == before
    assert "7777" not in host.file("/etc/pyweb-firewall/active.nft").content_string
    assert not host.service("pyweb-firewall-revert.timer").is_running
