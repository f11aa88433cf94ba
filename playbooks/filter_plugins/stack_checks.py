"""Filter: what the roles' argument specs cannot say about a value.

preflight.yml validates every role variable the inventory sets against the
role's argument spec (types, choices) before any role runs. A spec has no
ranges and no formats: a port of 70000, a negative worker count, a network
written as one string where a list is meant (Ansible's validator turns
"10.0.0.0/8" into a list, while the templates would loop over its
characters), a network that is not one. stack_value_problems() returns one
sentence per such value, naming the variable and the value; preflight stops
the run with them before any change.

The rules, in one place:
- ports (`*_port`, a sub-option `port`, and the items or values of `*_ports`): 1 to
  65535; firewall_confirm_port may be 0 (no check from the controller);
- every other whole number: at least MINIMUM[name], else at least 0;
- every list option: a list, not a string or a mapping;
- NETWORKS options: every item an IP address or a network (CIDR);
- ENDPOINTS options (Nginx's `listen`, `upstream`, `upstreams`):
  'address:port' with a port from 1 to 65535, or 'unix:/path' where a
  socket is allowed; HOST_NAMES options (`server_names`): host names, a
  leading '*.' allowed (the nginx role checks the same on its own, for a run
  without preflight);
- sub-options (a list of dicts, a dict) by the same rules;
- the environment's inputs that are lists (the names preflight gives): lists.

stack_app_problems() checks the apps (stack_apps) the same way, field by
field, and what spans them: names, ports, domains, certificates and
secrets each an app's own. stack_app_overrides() names the app_* settings of
the environment that would override an app's own field (with several apps,
such a setting applies to every app).
"""

import ipaddress
import re

# Whole numbers that must be above 0 (or above a floor of their own): a
# service with no workers, connections or releases does not serve.
MINIMUM = {
    "app_healthcheck_timeout": 1,
    "app_keep_releases": 1,
    "app_server_backlog": 1,
    "app_server_workers": 1,
    "app_server_threads": 1,
    "app_server_timeout": 1,
    "common_fail2ban_maxretry": 1,
    "common_ssh_max_auth_tries": 1,
    "common_ssh_login_grace_time": 1,
    "firewall_ssh_rate_per_minute": 1,
    "firewall_confirm_timeout": 30,
    "keepalived_virtual_prefix": 1,
    "keepalived_advert_int": 1,
    "keepalived_check_timeout": 1,
    "keepalived_check_interval": 1,
    "keepalived_check_fall": 1,
    "keepalived_check_rise": 1,
    "monitoring_certificate_days": 1,
    "monitoring_backup_max_age_hours": 1,
    "nginx_worker_connections": 1,
    "nginx_worker_rlimit_nofile": 1,
    "nginx_keepalive_requests": 1,
    "nginx_client_header_timeout": 1,
    "nginx_client_body_timeout": 1,
    "nginx_send_timeout": 1,
    "nginx_log_retention_days": 1,
    "postgresql_memory_mb": 1,
    "postgresql_max_connections": 1,
    "postgresql_shared_buffers_mb": 1,
    "postgresql_effective_cache_size_mb": 1,
    "postgresql_work_mem_mb": 1,
    "postgresql_maintenance_work_mem_mb": 1,
    "tls_rsa_key_size": 2048,
    "tls_cert_valid_days": 1,
    "tls_cert_renew_days": 1,
    "tls_ca_valid_days": 1,
}

# Whole numbers with a ceiling as well. (The VRRP priorities and router id
# have checks of their own in preflight, which compare the load balancers.)
MAXIMUM = {
    "keepalived_virtual_prefix": 32,
}

# Ports that may be 0, meaning "none".
PORT_MAY_BE_ZERO = {"firewall_confirm_port"}

# Lists of addresses or networks (CIDR) that end up in firewall rules,
# Nginx's and keepalived's configuration: a name is not accepted there.
NETWORKS = {"firewall_ssh_sources", "nginx_rate_limit_exempt", "keepalived_unicast_peers"}

# Sub-options naming where Nginx listens or what it proxies to: whether a
# unix socket is allowed there.
ENDPOINTS = {"listen": False, "upstream": True, "upstreams": True}
HOST_NAMES = {"server_names"}
_UNIX_SOCKET = re.compile(r"^unix:/\S+$")
_ADDRESS_PORT = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"^(\*\.)?({_LABEL}\.)*{_LABEL}$")


def _endpoint_problem(name, value, socket_allowed):
    text = str(value)
    if socket_allowed and _UNIX_SOCKET.match(text):
        return None
    match = _ADDRESS_PORT.match(text)
    if match and 1 <= int(match.group(2)) <= 65535:
        return None
    wanted = "'address:port' (port 1 to 65535) or 'unix:/path'" if socket_allowed else "'address:port' (port 1 to 65535)"
    return f"{name} must be {wanted}, got {value!r}"


def _whole(value):
    """The value as a whole number, or None (a string of digits counts: -e
    gives strings; a boolean does not)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _is_network(value):
    try:
        ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        return False
    return True


def _port_problem(name, value):
    number = _whole(value)
    low = 0 if name in PORT_MAY_BE_ZERO else 1
    if number is None or not low <= number <= 65535:
        return f"{name} must be a port from {low} to 65535, got {value!r}"
    return None


def _int_problem(name, value):
    number = _whole(value)
    if number is None:
        return None  # not a number at all: the argument spec names it
    low, high = MINIMUM.get(name, 0), MAXIMUM.get(name)
    if number < low or (high is not None and number > high):
        bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
        return f"{name} must be {bounds}, got {value!r}"
    return None


def stack_value_problems(values, options, list_inputs=(), errors=None):
    """One sentence per value in `values` (name: value) that its option in
    `options` (argument spec options) allows by type but not by range or
    format, per name of `list_inputs` whose value is not a list, and per
    entry of `errors` (name: why its value could not be worked out). Other
    names are left alone. Sub-options (a list of dicts, a dict) are checked
    the same way, a sub-option `port` as a port."""
    problems = [f"{name} cannot be worked out from the inventory ({why})" for name, why in sorted((errors or {}).items())]
    for name in sorted(values):
        value = values[name]
        if name in list_inputs:
            if not isinstance(value, (list, tuple)):
                problems.append(f"{name} must be a list (YAML: [a, b] or one '- item' per line), got {value!r}")
            continue
        option = options.get(name)
        if option is None:
            continue
        kind, elements = option.get("type", "str"), option.get("elements")
        if kind == "list":
            if not isinstance(value, (list, tuple)):
                problems.append(f"{name} must be a list (YAML: [a, b] or one '- item' per line), got {value!r}")
                continue
            if elements == "dict" and option.get("options"):
                for i, item in enumerate(value):
                    if isinstance(item, dict):
                        problems.extend(_sub_problems(f"{name}[{i}]", item, option["options"]))
            if name in ENDPOINTS:
                problems.extend(p for p in (_endpoint_problem(f"{name} item", v, ENDPOINTS[name]) for v in value) if p)
            elif name in HOST_NAMES:
                bad = [v for v in value if not _HOST_NAME.match(str(v))]
                if bad:
                    problems.append(f"{name} must hold host names (a leading '*.' allowed), got {bad!r}")
            elif name.endswith("_ports"):
                problems.extend(p for p in (_port_problem(f"{name} item", v) for v in value) if p)
            elif elements == "int":
                problems.extend(p for p in (_int_problem(f"{name} item", v) for v in value) if p)
            if name in NETWORKS:
                bad = [v for v in value if not _is_network(v)]
                if bad:
                    problems.append(f"{name} must hold IP addresses or networks (CIDR), got {bad!r}")
        elif kind == "dict" and name.endswith("_ports") and isinstance(value, dict):
            problems.extend(p for p in (_port_problem(f"{name}[{k}]", v) for k, v in value.items()) if p)
        elif kind == "dict" and option.get("options") and isinstance(value, dict):
            problems.extend(_sub_problems(name, value, option["options"]))
        elif kind == "int":
            problem = _port_problem(name, value) if _is_port(name) else _int_problem(name, value)
            if problem:
                problems.append(problem)
        elif kind == "str" and name in ENDPOINTS:
            problem = _endpoint_problem(name, value, ENDPOINTS[name])
            if problem:
                problems.append(problem)
    return problems


def _is_port(name):
    return name == "port" or name.endswith("_port")


def _sub_problems(prefix, item, options):
    """The problems of one dict against its sub-options, named prefix.key."""
    problems = stack_value_problems({k: v for k, v in item.items() if k in options}, options)
    # Sub-options' own names are short (port): say where they are.
    return [f"{prefix}.{p}" if not p.startswith(prefix) else p for p in problems]


APP_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
DOMAIN = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$")
WSGI_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$")
# An app's fields, and the role variables each one sets (bindings/app.yml,
# app_server.yml, tls.yml).
APP_FIELDS = {
    "name": ("app_name", "app_server_app_name"),
    "domains": ("tls_domains",),
    "port": (),
    "wsgi_module": ("app_wsgi_module", "app_server_wsgi_module"),
    "server": ("app_server_type",),
    "secret_key": (),
    "db_password": (),
    "cert_name": ("tls_cert_name",),
    "source_type": ("app_source_type",),
    "source_path": ("app_source_path",),
    "source_git_repo": ("app_source_git_repo",),
    "source_git_ref": ("app_source_git_ref",),
    "source_git_key": ("app_source_git_key",),
    "source_git_known_hosts": ("app_source_git_known_hosts",),
    "migrate_command": ("app_migrate_command",),
    "collectstatic_command": ("app_collectstatic_command",),
    "healthcheck_path": ("app_healthcheck_path",),
    "env": ("app_env",),
    "state": (),
}
APP_CHOICES = {"server": ("gunicorn", "uwsgi"), "source_type": ("directory", "archive", "git"),
               "state": ("present", "absent")}
# An app's secrets, and the environment's variable each one defaults to.
APP_SECRETS = {"secret_key": "stack_app_secret_key", "db_password": "stack_db_password"}


def _field(app, key):
    """An app's field, None when missing or when it cannot be worked out (a
    vault variable that is not defined, say)."""
    try:
        return app.get(key)
    except Exception:  # noqa: BLE001 (Ansible's undefined-variable markers)
        return None


def _unresolved(app, key):
    """The app gives the field, but its value cannot be worked out."""
    try:
        app.get(key)
    except Exception:  # noqa: BLE001
        return True
    return False


def stack_app_removed(app):
    """The app is one to take off the hosts (state: absent)."""
    return isinstance(app, dict) and _field(app, "state") == "absent"


def _app_problems(where, app, shared_secrets, required):
    problems = []
    unknown = sorted(str(k) for k in app if k not in APP_FIELDS)
    if unknown:
        problems.append(f"{where} has no field {', '.join(unknown)} (its fields: {', '.join(APP_FIELDS)})")
    if stack_app_removed(app):
        # A removed app needs its name (what to take off the hosts) only.
        name = _field(app, "name")
        if name in (None, "") or not APP_NAME.match(str(name)):
            problems.append(f"{where} (state: absent) needs the name of the app to remove; got '{name}'")
        return problems
    for key in ("name", "domains", "port", "wsgi_module"):
        if _field(app, key) in (None, "", []):
            problems.append(f"{where} needs {key}")
    name, domains, port = _field(app, "name"), _field(app, "domains"), _field(app, "port")
    if name not in (None, "") and not APP_NAME.match(str(name)):
        problems.append(f"{where}.name must be a lower-case name of letters, digits and _ starting with a letter "
                        f"(its user, database and directories); got '{name}'")
    if domains not in (None, []):
        if isinstance(domains, (str, dict)):
            problems.append(f"{where}.domains must be a list of names, not '{domains}'")
        else:
            bad = [str(d) for d in domains if not DOMAIN.match(str(d))]
            if bad:
                problems.append(f"{where}.domains must be lower-case DNS names with a dot; got {', '.join(bad)}")
    if port is not None and not (_whole(port) is not None and 1 <= _whole(port) <= 65535):
        problems.append(f"{where}.port must be a port from 1 to 65535; got '{port}'")
    module = _field(app, "wsgi_module")
    if module not in (None, "") and not WSGI_MODULE.match(str(module)):
        problems.append(f"{where}.wsgi_module must be 'module:callable'; got '{module}'")
    for key, choices in APP_CHOICES.items():
        value = _field(app, key)
        if value is not None and value not in choices:
            problems.append(f"{where}.{key} must be one of {', '.join(choices)}; got '{value}'")
    path = _field(app, "healthcheck_path")
    if path is not None and not str(path).startswith("/"):
        problems.append(f"{where}.healthcheck_path must start with /; got '{path}'")
    env = _field(app, "env")
    if env is not None and not isinstance(env, dict):
        problems.append(f"{where}.env must be a mapping of names to values")
    for key, shared in APP_SECRETS.items():
        value = _field(app, key) or shared_secrets.get(shared) or ""
        if _unresolved(app, key):
            problems.append(f"{where}.{key} cannot be worked out: is its vault variable defined "
                            "(and the vault decrypted)?")
        elif len(str(value)) < 16 and (_field(app, key) or shared in required):
            problems.append(f"{where} has no {key} of 16 characters or more (its own from the vault, "
                            f"else {shared}; an undefined vault variable counts as none)")
    return problems


def stack_app_problems(apps, shared_secrets=None, required=APP_SECRETS.values()):
    """One sentence per problem of the apps (stack_apps): each app's fields,
    then what two apps may not share. shared_secrets: the environment's
    secrets an app without its own uses ({stack_db_password: ..., ...});
    required: those of them the layout needs (stack_required_secrets: a
    layout without an app tier may leave them out)."""
    shared_secrets = shared_secrets or {}
    if isinstance(apps, (str, dict)) or not hasattr(apps, "__iter__"):
        return [f"stack_apps must be a list of apps, each {{name, domains, port, wsgi_module, ...}}; got '{apps}'"]
    apps = list(apps)
    if not apps:
        return ["stack_apps is empty: the stack serves at least one app"]
    problems, owners = [], {}
    if all(stack_app_removed(app) for app in apps):
        problems.append("every app of stack_apps has state: absent: the stack serves at least one app")
    for index, app in enumerate(apps):
        if not isinstance(app, dict):
            problems.append(f"stack_apps[{index}] must be an app, {{name, domains, port, wsgi_module, ...}}; got '{app}'")
            continue
        name = _field(app, "name")
        where = f"stack_apps[{index}] ({name})" if name else f"stack_apps[{index}]"
        problems += _app_problems(where, app, shared_secrets, list(required))
        label = str(name or index)
        domains = _field(app, "domains")
        if stack_app_removed(app):
            # A removed app keeps its name (its user, database and files stay)
            # and its certificate's name (its files stay); its port, domains
            # and secrets are free for another app.
            for what, value in (("name", name), ("certificate name", _field(app, "cert_name") or name)):
                if value not in (None, ""):
                    owners.setdefault((what, str(value)), []).append(label)
            continue
        shared = {
            "name": [name],
            "port": [_whole(_field(app, "port"))],
            "domain": list(domains) if isinstance(domains, list) else [],
            "certificate name": [_field(app, "cert_name") or name],
            **{key: [_field(app, key) or shared_secrets.get(env)] for key, env in APP_SECRETS.items()},
        }
        for what, values in shared.items():
            for value in values:
                if value not in (None, ""):
                    owners.setdefault((what, str(value)), []).append(label)
    for (what, value), names in owners.items():
        if len(names) > 1:
            shown = "the same value" if what in APP_SECRETS else value
            problems.append(f"the apps {' and '.join(names)} have {shown} as their {what}: each needs its own"
                            + (" (from the vault)" if what in APP_SECRETS else ""))
    return problems


def stack_app_role_names(app):
    """The role variables that the fields this app gives set."""
    return [name for key, names in APP_FIELDS.items() if key in app for name in names]


def stack_app_overrides(app, role_values):
    """The role variables (role_values: name to value, as this app sees
    them) whose value differs from the app's own field: the environment
    sets them for every app. One phrase each."""
    out = []
    for key, names in APP_FIELDS.items():
        own = _field(app, key)
        if own is None:
            continue
        for name in names:
            if name in role_values and role_values[name] != own:
                out.append(f"{name} ('{role_values[name]}', the app's {key} is '{own}')")
    return out


def stack_spec_for(options, values):
    """The argument spec of the options among `values` (every role's options,
    by name), none of them required: preflight checks what the inventory
    sets, all roles at once (one filter, not a Jinja chain over some 400
    options, evaluated for each host)."""
    return {name: {**options[name], "required": False} for name in values if name in options}


def stack_spec_values(values, options):
    """The values that have an option (the environment's list inputs have none)."""
    return {name: value for name, value in values.items() if name in options}


class FilterModule:
    def filters(self):
        return {
            "stack_value_problems": stack_value_problems,
            "stack_spec_for": stack_spec_for,
            "stack_spec_values": stack_spec_values,
            "stack_app_problems": stack_app_problems,
            "stack_app_overrides": stack_app_overrides,
            "stack_app_role_names": stack_app_role_names,
        }
