"""A second app on the same host: the Django example (apps/shop) added beside
the demo by variables alone (vars/shop.yml), on the Gunicorn host. Its admin's
static files come from Nginx and disk, a model row written through the site is
read back from PostgreSQL, a code-only deploy and a rollback under load lose
no request, and the demo keeps serving, untouched, while the second app
arrives. (Runs after test_app.py: the demo's tests are done by then.)"""

import json
import os
import shutil
import uuid

import pytest
import testinfra
from conftest import ROOT, SCENARIO, playbook

HOST = "pyweb-app-gunicorn"
SHOP = ROOT / "apps" / "shop"
VARS = SCENARIO / "vars" / "shop.yml"
NAME = "shop.test"


@pytest.fixture(scope="module")
def box():
    return testinfra.get_host(f"ansible://{HOST}?ansible_inventory={os.environ['MOLECULE_INVENTORY_FILE']}")


def site(box, app):
    """Nginx in front of the app's server on this host (vars/shop.yml)."""
    return f"http://{box.interface('eth0').addresses[0]}:{8080 if app == 'demo' else 8090}"


def curl(box, url, *args):
    out = box.check_output(" ".join(["curl -s -D - -H 'Host: shop.test'", *args, f"'{url}'"]))
    head, _, body = out.replace("\r\n", "\n").partition("\n\n")
    return int(head.split()[1]), head, body


class Load:
    """curl in a loop on the host, until stopped: the status of every answer.
    Five requests a second, enough to catch a switch's gap, not so many that
    the load takes the cores from the run it watches."""

    def __init__(self, box, name, url):
        self.box, self.name = box, name
        box.run(f"rm -f /tmp/{name}.stop /tmp/{name}.out; nohup sh -c 'while [ ! -e /tmp/{name}.stop ]; do "
                f"curl -s -o /dev/null -w \"%{{http_code}}\\n\" --max-time 10 -H \"Host: {NAME}\" {url} "
                f">> /tmp/{name}.out; sleep 0.2; done' >/dev/null 2>&1 &")

    def stop(self):
        self.box.run(f"sleep 1; touch /tmp/{self.name}.stop; sleep 1")
        return self.box.file(f"/tmp/{self.name}.out").content_string.split()


def state(box, app):
    return {
        "live": box.file(f"/srv/{app}/current").linked_to.rsplit("/", 1)[1],
        "pid": box.check_output(f"systemctl show -p MainPID --value {app}.service"),
        "venv": box.file(f"/srv/{app}/current/venv").linked_to,
    }


@pytest.fixture(scope="module")
def added(box):
    """The app tier again with the second app's variables, while requests keep
    flowing to the demo through its Nginx."""
    before = state(box, "demo")
    load = Load(box, "demo-load", f"{site(box, 'demo')}/healthz")
    run = playbook("converge.yml", vars_files=[VARS], limit=HOST)
    codes = load.stop()
    assert run.returncode == 0, run.stdout[-4000:]
    return {"demo_before": before, "demo_after": state(box, "demo"), "demo_codes": codes}


@pytest.fixture(scope="module")
def redeployed(box, added, tmp_path_factory):
    """A code-only release of the second app through playbooks/deploy.yml,
    then playbooks/rollback.yml, each under load on that app."""
    source = tmp_path_factory.mktemp("shop") / "shop"
    shutil.copytree(SHOP, source, ignore=shutil.ignore_patterns("__pycache__"))
    (source / "notes" / "VERSION").write_text("2\n")
    first = state(box, "shop")
    load = Load(box, "shop-deploy", f"{site(box, 'shop')}/notes")
    deploy = playbook("playbooks/deploy.yml", source=source, vars_files=[VARS], limit=HOST)
    deploy_codes = load.stop()
    assert deploy.returncode == 0, deploy.stdout[-4000:]
    second = state(box, "shop")
    load = Load(box, "shop-rollback", f"{site(box, 'shop')}/notes")
    rollback = playbook("playbooks/rollback.yml", vars_files=[VARS], limit=HOST)
    rollback_codes = load.stop()
    assert rollback.returncode == 0, rollback.stdout[-4000:]
    return {"first": first, "second": second, "back": state(box, "shop"),
            "deploy_codes": deploy_codes, "rollback_codes": rollback_codes}


def test_the_second_app_arrives_while_the_first_serves_untouched(box, added):
    assert box.service("shop.service").is_running
    assert added["demo_after"] == added["demo_before"]  # same release, same server process
    codes = added["demo_codes"]
    assert len(codes) > 20 and set(codes) == {"200"}, f"{len(codes)} requests: {sorted(set(codes))}"


def test_the_admin_and_its_static_files_come_through_nginx_from_disk(box, added):
    status, _, body = curl(box, f"{site(box, 'shop')}/admin/login/")
    assert status == 200 and "/static/admin/css/base.css" in body, body[:500]
    status, head, body = curl(box, f"{site(box, 'shop')}/static/admin/css/base.css")
    assert status == 200 and "immutable" in head and "body" in body, head
    # Django outside debug mode does not serve them itself.
    status, _, _ = curl(box, "http://localhost/static/admin/css/base.css", "--unix-socket /run/shop/app.sock")
    assert status == 404


def test_a_note_written_through_the_site_is_read_back_from_its_own_database(box, added):
    text = f"note-{uuid.uuid4().hex}"
    status, _, body = curl(box, f"{site(box, 'shop')}/notes", "-X POST -H 'Content-Type: application/json'",
                           f"-d '{json.dumps({'body': text})}'")
    assert status == 201, body
    status, _, body = curl(box, f"{site(box, 'shop')}/notes")
    assert status == 200 and text in [n["body"] for n in json.loads(body)["notes"]]
    with box.sudo():
        rows = box.check_output(f"runuser -u postgres -- psql -d shop -tAc \"SELECT count(*) FROM notes_note WHERE body = '{text}'\"")
        migrated = box.check_output("runuser -u postgres -- psql -d shop -tAc "
                                    "\"SELECT name FROM django_migrations WHERE app = 'notes'\"")
    assert rows == "1" and migrated == "0001_initial"


def test_the_two_apps_keep_to_their_own_users_and_files(box, added):
    for app, other in (("shop", "demo"), ("demo", "shop")):
        assert box.user(app).exists
        assert box.run(f"runuser -u {app} -- cat /srv/{other}/shared/env").rc != 0
        assert box.run(f"runuser -u {app} -- ls /srv/{other}/current/").rc != 0


def test_a_code_only_deploy_and_a_rollback_of_the_second_app_lose_no_request(redeployed):
    first, second, back = redeployed["first"], redeployed["second"], redeployed["back"]
    assert second["live"] != first["live"] and back["live"] == first["live"]
    assert second["venv"] == first["venv"]  # code only: the virtualenv is shared
    for step in ("deploy_codes", "rollback_codes"):
        codes = redeployed[step]
        assert len(codes) > 10 and set(codes) == {"200"}, f"{step}: {len(codes)} requests: {sorted(set(codes))}"
