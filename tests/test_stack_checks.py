"""Unit tests of the range and format rules preflight applies to every role
variable (playbooks/filter_plugins/stack_checks.py): plain Python, no
Ansible run."""

import sys

import pytest
import yaml
from conftest import ROOT

sys.path.insert(0, str(ROOT / "playbooks" / "filter_plugins"))
from stack_checks import ENDPOINTS, HOST_NAMES, MINIMUM, NETWORKS, stack_value_problems  # noqa: E402

OPTIONS = {
    "app_server_workers": {"type": "int"},
    "postgresql_port": {"type": "int"},
    "firewall_confirm_port": {"type": "int"},
    "backup_keep_daily": {"type": "int"},
    "tls_rsa_key_size": {"type": "int"},
    "keepalived_virtual_prefix": {"type": "int"},
    "common_ssh_extra_ports": {"type": "list", "elements": "int"},
    "firewall_ssh_sources": {"type": "list", "elements": "str"},
    "common_packages": {"type": "list", "elements": "str"},
    "nginx_worker_processes": {"type": "raw"},
    # The nginx role's sites, as its argument spec has them.
    "nginx_sites": {"type": "list", "elements": "dict", "options": {
        "name": {"type": "str"}, "server_names": {"type": "list", "elements": "str"},
        "upstreams": {"type": "list", "elements": "str"}}},
    "nginx_app_sites": {"type": "list", "elements": "dict", "options": {
        "name": {"type": "str"}, "listen": {"type": "list", "elements": "str"}, "upstream": {"type": "str"}}},
}


@pytest.mark.parametrize("values", [
    {"app_server_workers": 4, "postgresql_port": 5432, "backup_keep_daily": 0, "tls_rsa_key_size": 4096},
    {"postgresql_port": "5433"},  # -e gives strings
    {"firewall_confirm_port": 0},  # no check from the controller
    {"common_ssh_extra_ports": [22, "2222"]},
    {"firewall_ssh_sources": ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]},
    {"firewall_ssh_sources": []},
    {"keepalived_virtual_prefix": 32},
    {"nginx_worker_processes": "auto", "not_an_option": -1},
    {"nginx_sites": [{"name": "shop", "server_names": ["shop.example.com", "*.shop.test", "localhost"],
                      "upstreams": ["10.0.0.21:8080", "[2001:db8::21]:8080", "app1.internal:80", "unix:/run/app.sock"]}]},
    {"nginx_app_sites": [{"name": "app", "listen": ["10.0.0.21:8080", "[::1]:8080"], "upstream": "unix:/run/app/app.sock"}]},
])
def test_sound_values_pass(values):
    assert stack_value_problems(values, OPTIONS) == []


@pytest.mark.parametrize("values, expected", [
    ({"postgresql_port": 70000}, "postgresql_port must be a port from 1 to 65535, got 70000"),
    ({"postgresql_port": 0}, "postgresql_port must be a port from 1 to 65535, got 0"),
    ({"firewall_confirm_port": -1}, "firewall_confirm_port must be a port from 0 to 65535, got -1"),
    ({"common_ssh_extra_ports": [22, 65536]}, "common_ssh_extra_ports item must be a port from 1 to 65535, got 65536"),
    ({"app_server_workers": 0}, "app_server_workers must be at least 1, got 0"),
    ({"app_server_workers": "-2"}, "app_server_workers must be at least 1, got '-2'"),
    ({"backup_keep_daily": -1}, "backup_keep_daily must be at least 0, got -1"),
    ({"tls_rsa_key_size": 1024}, "tls_rsa_key_size must be at least 2048, got 1024"),
    ({"keepalived_virtual_prefix": 33}, "keepalived_virtual_prefix must be from 1 to 32, got 33"),
    ({"firewall_ssh_sources": "10.0.0.0/8"}, "firewall_ssh_sources must be a list"),
    ({"common_packages": {"nginx": True}}, "common_packages must be a list"),
    ({"firewall_ssh_sources": ["10.0.0.0/33", "office"]},
     "firewall_ssh_sources must hold IP addresses or networks (CIDR), got ['10.0.0.0/33', 'office']"),
    # Nginx's endpoints and names, which the nginx role alone checked before (issue 17).
    ({"nginx_app_sites": [{"name": "app", "listen": ["10.0.0.21"], "upstream": "unix:/run/a.sock"}]},
     "nginx_app_sites[0].listen item must be 'address:port' (port 1 to 65535), got '10.0.0.21'"),
    ({"nginx_app_sites": [{"name": "app", "listen": ["unix:/run/x.sock"], "upstream": "127.0.0.1:8000"}]},
     "nginx_app_sites[0].listen item must be 'address:port' (port 1 to 65535), got 'unix:/run/x.sock'"),
    ({"nginx_app_sites": [{"name": "app", "listen": ["10.0.0.21:8080"], "upstream": "127.0.0.1:80000"}]},
     "nginx_app_sites[0].upstream must be 'address:port' (port 1 to 65535) or 'unix:/path', got '127.0.0.1:80000'"),
    ({"nginx_sites": [{"name": "shop", "server_names": ["shop.test"], "upstreams": ["10.0.0.21:8080", "app2"]}]},
     "nginx_sites[0].upstreams item must be 'address:port' (port 1 to 65535) or 'unix:/path', got 'app2'"),
    ({"nginx_sites": [{"name": "shop", "server_names": ["shop test", "-x.test"], "upstreams": ["10.0.0.21:8080"]}]},
     "nginx_sites[0].server_names must hold host names (a leading '*.' allowed), got ['shop test', '-x.test']"),
])
def test_each_problem_is_named_with_its_value(values, expected):
    problems = stack_value_problems(values, OPTIONS)
    assert len(problems) == 1 and expected in problems[0], problems


def test_a_value_that_is_no_number_is_left_to_the_argument_spec():
    # The spec's own check names it ("unable to convert to int").
    assert stack_value_problems({"app_server_workers": "many", "postgresql_port": "x"}, OPTIONS) == [
        "postgresql_port must be a port from 1 to 65535, got 'x'"]


def test_every_rule_names_a_real_option_of_the_right_type():
    options = {}
    for spec in (ROOT / "roles").glob("*/meta/argument_specs.yml"):
        options.update(yaml.safe_load(spec.read_text())["argument_specs"]["main"]["options"])
    for name in MINIMUM:
        assert options.get(name, {}).get("type") == "int", name
    for name in NETWORKS:
        assert options.get(name, {}).get("type") == "list", name
    # The endpoint and host-name rules name sub-options of the nginx role's sites.
    sub = {k: v for o in options.values() for k, v in (o.get("options") or {}).items()}
    for name in {**ENDPOINTS, **dict.fromkeys(HOST_NAMES)}:
        assert name in sub, name
    # And every role default passes them (where it is a plain value).
    for defaults in (ROOT / "roles").glob("*/defaults/main.yml"):
        plain = {k: v for k, v in (yaml.safe_load(defaults.read_text()) or {}).items() if "{{" not in str(v)}
        assert stack_value_problems(plain, options) == [], defaults
