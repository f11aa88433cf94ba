"""Database access: one short connection per request (small app, no pool)."""

import os

import psycopg


def connect():
    # A new connection (a fork and SCRAM on the server) can take seconds on a
    # busy database host: a request that waits beats a 500 (the drills saw a
    # 3 s timeout expire under CI's load while app servers restarted).
    return psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=10, autocommit=True)
