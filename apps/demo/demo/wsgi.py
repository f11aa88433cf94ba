"""WSGI entry point: demo.wsgi:app"""

from . import create_app

app = create_app()
