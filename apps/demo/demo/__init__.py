"""The demo WSGI application."""

import os
import socket
from pathlib import Path

from flask import Flask, jsonify, request
from markupsafe import escape
from werkzeug.utils import secure_filename

from . import db


def create_app():
    # /static/ and /media/ are Nginx's, from disk (STATIC_ROOT, MEDIA_ROOT):
    # the app serves neither, as Django outside debug mode does not.
    app = Flask(__name__, static_folder=None)
    app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024
    release = os.environ.get("RELEASE_ID", "unknown")
    media = Path(os.environ.get("MEDIA_ROOT", "/tmp/media"))
    host = socket.gethostname()

    @app.after_request
    def identify(resp):
        resp.headers["X-App-Release"] = release
        resp.headers["X-App-Host"] = host
        return resp

    @app.get("/healthz")
    def healthz():
        try:
            with db.connect() as conn:
                conn.execute("SELECT 1")
        except Exception as exc:  # the database is what health means here
            return jsonify(status="error", error=type(exc).__name__, release=release, host=host), 503
        return jsonify(status="ok", release=release, host=host)

    @app.get("/")
    def index():
        with db.connect() as conn:
            conn.execute("INSERT INTO visits (host) VALUES (%s)", (host,))
            (count,) = conn.execute("SELECT count(*) FROM visits").fetchone()
        return (
            "<!doctype html><title>pyweb demo</title>"
            '<link rel="stylesheet" href="/static/app.css">'
            f"<h1>pyweb demo</h1><p>Visits: {count}</p><p>Served by {host}, release {release}.</p>"
        )

    # A dynamic page that needs no database: what the serving benchmarks
    # (bench/bench.py) measure, so that the proxy's cost is not hidden behind
    # PostgreSQL's.
    @app.get("/hello")
    def hello():
        name = request.args.get("name", "world")[:64]
        return f"<!doctype html><title>hello</title><p>Hello, {escape(name)}, from {host}.</p>"

    @app.get("/notes")
    def notes():
        with db.connect() as conn:
            rows = conn.execute("SELECT id, body FROM notes ORDER BY id").fetchall()
        return jsonify(notes=[{"id": i, "body": b} for i, b in rows])

    @app.post("/notes")
    def add_note():
        body = (request.get_json(silent=True) or {}).get("body", "")
        if not body:
            return jsonify(error="body is required"), 400
        with db.connect() as conn:
            (note_id,) = conn.execute("INSERT INTO notes (body) VALUES (%s) RETURNING id", (body,)).fetchone()
        return jsonify(id=note_id, body=body), 201

    @app.post("/upload")
    def upload():
        f = request.files.get("file")
        if f is None or not f.filename:
            return jsonify(error="file is required"), 400
        name = secure_filename(f.filename)
        media.mkdir(parents=True, exist_ok=True)
        f.save(media / name)
        return jsonify(name=name, url=f"/media/{name}"), 201

    return app
