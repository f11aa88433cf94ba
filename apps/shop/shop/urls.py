"""URLs of the Django example: the admin, a health check and the notes."""

from django.contrib import admin
from django.urls import path

from notes import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", views.healthz),
    path("notes", views.notes),
]
