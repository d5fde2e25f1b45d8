"""/healthz answers 200 only when the database, the broker and a recent cluster answer."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

pytestmark = pytest.mark.django_db


def cluster_seen(monkeypatch, seconds_ago):
    stat = SimpleNamespace(timestamp=timezone.now() - timedelta(seconds=seconds_ago))
    monkeypatch.setattr("django_q.status.Stat.get_all", staticmethod(lambda broker=None: [stat]))


def test_healthy_when_database_broker_and_a_recent_cluster_answer(client, monkeypatch):
    cluster_seen(monkeypatch, seconds_ago=1)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"healthy": True, "checks": {"database": "ok", "broker": "ok", "cluster": "ok"}}


def test_no_cluster_seen_is_503_and_says_so(client, monkeypatch):
    monkeypatch.setattr("django_q.status.Stat.get_all", staticmethod(lambda broker=None: []))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"] == {
        "database": "ok", "broker": "ok",
        "cluster": "error: no qcluster has reported its status (is a worker running?)"}


def test_a_cluster_last_seen_long_ago_is_503(client, monkeypatch, settings):
    settings.HEALTH_CLUSTER_SECONDS = 60
    cluster_seen(monkeypatch, seconds_ago=600)
    assert client.get("/healthz").json()["checks"]["cluster"] == "error: the last qcluster status is 600 s old"


def test_a_broker_that_does_not_answer_is_named(client, monkeypatch):
    cluster_seen(monkeypatch, seconds_ago=1)

    def refuse(self):
        raise ConnectionError("connection refused")

    monkeypatch.setattr("django_q.brokers.orm.ORM.queue_size", refuse)
    monkeypatch.setattr("django_q.brokers.redis_broker.Redis.queue_size", refuse)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "error: ConnectionError: connection refused"
