"""Apply demo/migrations/*.sql in name order, each once, recorded in
schema_migrations. An advisory lock makes concurrent runs wait for each other,
so running it from several hosts at once is safe."""

import sys
from pathlib import Path

from . import db

LOCK_ID = 7_100_001


def main():
    files = sorted((Path(__file__).parent / "migrations").glob("*.sql"))
    with db.connect() as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_ID,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz DEFAULT now())"
            )
            done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
            applied = []
            for f in files:
                if f.name in done:
                    continue
                with conn.transaction():
                    conn.execute(f.read_text())
                    conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (f.name,))
                applied.append(f.name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_ID,))
    print("applied: " + (", ".join(applied) if applied else "nothing"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
