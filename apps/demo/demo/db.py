"""Database access: one short connection per request (small app, no pool)."""

import os

import psycopg


def connect():
    return psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=3, autocommit=True)
