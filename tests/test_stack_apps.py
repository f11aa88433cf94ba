"""The checks of the apps (stack_apps) that preflight runs before any change:
each app's fields, and what no two apps may share (filter_plugins/stack_checks.py)."""

import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "playbooks" / "filter_plugins"))
from stack_checks import stack_app_overrides, stack_app_problems, stack_app_role_names  # noqa: E402

SHARED = {"stack_app_secret_key": "k" * 32, "stack_db_password": "d" * 24}
DEMO = {"name": "demo", "domains": ["www.a.test"], "port": 8000, "wsgi_module": "demo.wsgi:app"}
SHOP = {"name": "shop", "domains": ["shop.a.test"], "port": 8100, "wsgi_module": "shop.wsgi:application",
        "server": "uwsgi", "secret_key": "s" * 32, "db_password": "p" * 24, "env": {"ALLOWED_HOSTS": "shop.a.test"}}


def test_sound_apps_pass():
    assert stack_app_problems([DEMO], SHARED) == []
    assert stack_app_problems([DEMO, SHOP], SHARED) == []


@pytest.mark.parametrize("apps, expected", [
    ("demo", "stack_apps must be a list of apps"),
    ([], "stack_apps is empty"),
    (["demo"], "stack_apps[0] must be an app"),
    ([{**DEMO, "domain": "x.test"}], "stack_apps[0] (demo) has no field domain"),
    ([{k: v for k, v in DEMO.items() if k != "port"}], "stack_apps[0] (demo) needs port"),
    ([{**DEMO, "name": "My App"}], "stack_apps[0] (My App).name must be a lower-case name of letters, digits and _"),
    ([{**DEMO, "domains": "www.a.test"}], "stack_apps[0] (demo).domains must be a list of names"),
    ([{**DEMO, "domains": ["localhost"]}], "domains must be lower-case DNS names with a dot; got localhost"),
    ([{**DEMO, "port": 70000}], "stack_apps[0] (demo).port must be a port from 1 to 65535; got '70000'"),
    ([{**DEMO, "wsgi_module": "demo.wsgi"}], "wsgi_module must be 'module:callable'; got 'demo.wsgi'"),
    ([{**DEMO, "server": "waitress"}], "server must be one of gunicorn, uwsgi; got 'waitress'"),
    ([{**DEMO, "source_type": "svn"}], "source_type must be one of directory, archive, git"),
    ([{**DEMO, "healthcheck_path": "healthz"}], "healthcheck_path must start with /"),
    ([{**DEMO, "db_password": "short"}], "stack_apps[0] (demo) has no db_password of 16 characters or more"),
    ([DEMO, {**SHOP, "name": "demo"}], "the apps demo and demo have demo as their name: each needs its own"),
    ([DEMO, {**SHOP, "port": "8000"}], "the apps demo and shop have 8000 as their port"),
    ([DEMO, {**SHOP, "domains": ["shop.a.test", "www.a.test"]}], "the apps demo and shop have www.a.test as their domain"),
    ([DEMO, {**SHOP, "cert_name": "demo"}], "have demo as their certificate name"),
    # Without its own, an app uses the environment's: two apps then share it.
    ([DEMO, {k: v for k, v in SHOP.items() if k != "db_password"}],
     "the apps demo and shop have the same value as their db_password: each needs its own (from the vault)"),
])
def test_each_problem_names_the_app_and_the_value(apps, expected):
    problems = stack_app_problems(apps, SHARED)
    assert any(expected in p for p in problems), problems


def test_a_removed_app_needs_only_its_name_and_frees_its_port_domains_and_secrets():
    gone = {"name": "shop", "state": "absent"}
    assert stack_app_problems([DEMO, gone], SHARED) == []
    # Its successor may take over its port, domains and secrets: nothing
    # of the removed app serves them any more.
    old = {**SHOP, "name": "oldshop", "cert_name": "oldshop", "state": "absent"}
    assert stack_app_problems([DEMO, SHOP, old], SHARED) == []


@pytest.mark.parametrize("apps, expected", [
    ([DEMO, {"state": "absent"}], "stack_apps[1] (state: absent) needs the name of the app to remove; got 'None'"),
    ([DEMO, {"name": "shop", "state": "gone"}], "stack_apps[1] (shop).state must be one of present, absent; got 'gone'"),
    ([DEMO, {"name": "shop", "state": "absent", "domian": "x"}], "stack_apps[1] (shop) has no field domian"),
    ([{**DEMO, "state": "absent"}], "every app of stack_apps has state: absent"),
    # Its user, database and certificate's files stay: their names stay its own.
    ([DEMO, {"name": "demo", "state": "absent"}], "the apps demo and demo have demo as their name"),
    ([DEMO, {"name": "old", "cert_name": "demo", "state": "absent"}], "have demo as their certificate name"),
])
def test_a_removed_app_is_checked_too(apps, expected):
    problems = stack_app_problems(apps, SHARED)
    assert any(expected in p for p in problems), problems


def test_a_secret_that_cannot_be_worked_out_counts_as_missing():
    class Undefined(dict):
        def get(self, key, default=None):
            if key == "secret_key":
                raise KeyError("vault_shop_secret_key is undefined")
            return super().get(key, default)

    # Never the environment's in its place: the app gave one.
    problems = stack_app_problems([{**DEMO, "secret_key": "x" * 20}, Undefined({**SHOP})], SHARED)
    assert problems == ["stack_apps[1] (shop).secret_key cannot be worked out: is its vault variable defined "
                        "(and the vault decrypted)?"], problems


def test_an_environment_setting_that_contradicts_an_apps_own_field_is_named():
    seen = {"app_name": "shop", "app_server_type": "gunicorn", "app_env": {"ALLOWED_HOSTS": "shop.a.test"},
            "app_migrate_command": "python manage.py migrate"}
    assert stack_app_overrides(SHOP, seen) == ["app_server_type ('gunicorn', the app's server is 'uwsgi')"]
    assert stack_app_role_names(SHOP) == ["app_name", "app_server_app_name", "tls_domains", "app_wsgi_module",
                                          "app_server_wsgi_module", "app_server_type", "app_env"]
    # A field the app leaves out may come from the environment.
    assert stack_app_overrides(DEMO, {"app_migrate_command": "python manage.py migrate", "app_name": "demo"}) == []


def test_a_layout_without_an_app_tier_may_leave_the_shared_app_secrets_out():
    # (The backup scenario: stack_required_secrets without the app's secret key.)
    assert stack_app_problems([DEMO], {"stack_db_password": "d" * 24}, ["stack_db_password"]) == []
    problems = stack_app_problems([DEMO], {"stack_db_password": "d" * 24}, ["stack_db_password", "stack_app_secret_key"])
    assert any("(demo) has no secret_key" in p for p in problems), problems
