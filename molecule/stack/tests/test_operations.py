"""The operations drills (tests/drills/drills.py, `make drills` on the local
stack) on this scenario's converge: a zero-downtime deploy and rollback of the
demo under load, a third app added and taken off again under load on the
other two, an app host stopped and killed under load, reload and restart on every
app host in turn, backup and restore byte-equal, the load balancer holding the
floating address stopped and killed under load, the database cluster's
primary handed over (db_switchover.yml) and killed, and its standby killed,
while notes are written through the site (no acknowledged write lost, the
alert fired), and the catalogue of bad
inputs refused before any change (the cases only real hosts can show, and
one of each kind of check: pytest runs the rest of the catalogue on
placeholder hosts). One converge serves them and the other suites (make test
runs no second whole stack for them). All but `second-app` (a deploy and a
rollback of the Django example under load on both apps): the app scenario's
tests/test_shop.py proves the same of it on one host, and the add-app drill
here an app arriving under load on the others without touching them; it
cost this lane about three minutes.

Runs after test_monitoring.py (whose first tests see the stack as the
converge left it) and before test_stack.py, whose last test moves SSH to
another port. Each drill prints its figures next to its target; they are also
written to tests/drills/results/stack-scenario.json."""

import os
import subprocess
import sys

from stackinfo import INVENTORY_DIR, ROOT

OUTPUT = ROOT / "tests" / "drills" / "results" / "stack-scenario.json"
DRILLS = ["deploy", "add-app", "loss", "kill", "reload", "backup", "failover", "failover-kill", "db-switchover", "db-loss",
          "db-standby-loss", "db-pitr", "bad-inputs"]


def test_every_drill_meets_its_target():
    env = dict(os.environ, DRILLS_INVENTORY=str(INVENTORY_DIR), ANSIBLE_ROLES_PATH=str(ROOT / "roles"))
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "drills" / "drills.py"), *DRILLS, "--output", str(OUTPUT),
                           "--bad-inputs", "real-hosts"],
                          capture_output=True, text=True, timeout=3600, env=env, cwd=ROOT)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-3000:]
    assert OUTPUT.exists()
