import json

PATRONICTL = "patronictl -c /etc/patroni/config.yml"


def members(host):
    """patronictl's view: {name: (role, state)}."""
    out = host.run(f"sudo -u postgres {PATRONICTL} list --format json")
    if out.rc != 0:
        return {}
    return {m["Member"]: (m["Role"], m["State"]) for m in json.loads(out.stdout)}


def client_url(addresses):
    hosts = ",".join(addresses.values())
    return f"host={hosts} port=5432 dbname=demo user=demo target_session_attrs=read-write connect_timeout=2"


def sql_as_app(client, secrets, addresses, query):
    return client.run(f"PGPASSWORD='{secrets['vault_db_password']}' psql '{client_url(addresses)}' -qAtc \"{query}\"")
