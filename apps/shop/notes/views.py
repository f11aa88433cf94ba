"""The example's own pages: a health check for the deploy (the release it
runs, and whether the database answers) and notes written and read through
the site (a model with a migration)."""

import json
import socket

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from .models import Note

HOST = socket.gethostname()


def healthz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # the database is what health means here
        return JsonResponse({"status": "error", "error": type(exc).__name__, "release": settings.RELEASE_ID,
                             "host": HOST}, status=503)
    return JsonResponse({"status": "ok", "release": settings.RELEASE_ID, "host": HOST})


@csrf_exempt  # a JSON API for the tests; the admin keeps its CSRF checks
@require_http_methods(["GET", "POST"])
def notes(request):
    if request.method == "POST":
        body = json.loads(request.body or b"{}").get("body", "")
        if not body:
            return JsonResponse({"error": "body is required"}, status=400)
        note = Note.objects.create(body=body[:500])
        return JsonResponse({"id": note.id, "body": note.body}, status=201)
    return JsonResponse({"notes": [{"id": n.id, "body": n.body} for n in Note.objects.order_by("id")]})
