"""The flow's own node paths (start, assign, execute) under /api/, and /healthz for the bench's readiness check."""
from django.http import HttpResponse
from django.urls import include, path

from .flows import TeamFlow


def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("healthz", healthz),
    path("api/", include([TeamFlow.start.start_view_path, TeamFlow.handle.assign_path, TeamFlow.handle.view_path])),
]
