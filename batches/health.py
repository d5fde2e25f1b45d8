"""/healthz: 200 only when the database, the broker and a recent cluster all answer.

The body names each check, so a monitor (or a person) sees what is wrong:
{"healthy": false, "checks": {"database": "ok", "broker": "ok", "cluster": "error: ..."}}
"""

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone


def healthz(request):
    checks = {"database": _check(_database), "broker": _check(_broker), "cluster": _check(_cluster)}
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"healthy": healthy, "checks": checks}, status=200 if healthy else 503)


def _check(probe):
    try:
        problem = probe()
    except Exception as exc:  # the point of a health check is to report any failure
        problem = f"{type(exc).__name__}: {exc}"
    return f"error: {problem}" if problem else "ok"


def _database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _broker():
    from django_q.brokers import get_broker

    broker = get_broker()
    broker.ping()
    broker.queue_size()  # the ORM broker's ping is a constant: this query is the real test


def _cluster():
    """None when a qcluster has saved its status within HEALTH_CLUSTER_SECONDS, else why not."""
    from django_q.status import Stat

    stats = Stat.get_all()
    if not stats:
        return "no qcluster has reported its status (is a worker running?)"
    newest = max(stat.timestamp for stat in stats)
    age = (timezone.now() - newest).total_seconds()
    if age > settings.HEALTH_CLUSTER_SECONDS:
        return f"the last qcluster status is {age:.0f} s old"
    return None
