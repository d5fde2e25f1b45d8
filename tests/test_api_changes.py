"""POST /api/batches/<id>/rerun/ and GET /api/batches/<id>/changes/."""

import pytest
from django.urls import reverse

from batches.models import ApiToken, Batch
from tests.factories import make_batch
from tests.rerun_sites import two_runs  # noqa: F401 (a fixture)


def bearer(user):
    _, key = ApiToken.issue(user)
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


@pytest.mark.django_db
def test_it_creates_a_rerun_linked_to_the_batch(client, owner, django_capture_on_commit_callbacks):
    batch = make_batch(owner, domains=2)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("api_batch_rerun", args=[batch.pk]), **bearer(owner))
    assert response.status_code == 201
    rerun = Batch.objects.get(previous=batch)
    body = response.json()
    assert (body["id"], body["previous_batch_id"], body["domains"], body["status"]) == (rerun.pk, batch.pk, 2, "pending")
    assert response["Location"] == body["status_url"]
    assert body["changes_url"].endswith(reverse("api_batch_changes", args=[rerun.pk]))


@pytest.mark.django_db
def test_rerun_of_a_running_batch_is_409_and_of_another_users_batch_404(client, owner, other_user):
    running = make_batch(owner, status="running")
    response = client.post(reverse("api_batch_rerun", args=[running.pk]), **bearer(owner))
    assert (response.status_code, response.json()) == (409, {"error": f"batch {running.pk} is still running"})
    assert client.post(reverse("api_batch_rerun", args=[running.pk]), **bearer(other_user)).status_code == 404
    assert client.get(reverse("api_batch_rerun", args=[running.pk]), **bearer(owner)).status_code == 405


@pytest.mark.django_db(transaction=True)
def test_it_pages_the_changes_as_json(two_runs, client, site, monkeypatch):
    first, second, _, _ = two_runs
    monkeypatch.setattr("batches.api_changes.CHANGES_PER_RESPONSE", 4)
    url = reverse("api_batch_changes", args=[second.pk])
    body = client.get(url, **bearer(second.owner)).json()
    assert (body["since_batch_id"], body["urls_added"], body["urls_removed"], body["urls_modified"]) == (
        first.pk, 2, 3, 1)
    assert [(c["change"], c["loc"]) for c in body["changes"]] == [
        ("added", site.url("/a4")), ("added", site.url("/w1")), ("removed", site.url("/a3")),
        ("removed", site.url("/g1"))]
    assert body["sitemaps"] == [{"domain": site.host, "appeared": [site.url("/new.xml")],
                                 "vanished": [site.url("/gone.xml")], "started_failing": [site.url("/old.xml")]}]
    rest = client.get(body["next"], **bearer(second.owner)).json()
    assert [(c["change"], c["loc"]) for c in rest["changes"]] == [
        ("removed", site.url("/o1")), ("modified", site.url("/a2"))]
    assert rest["next"] is None
    only = client.get(url, {"change": "modified"}, **bearer(second.owner)).json()
    assert only["changes"] == [{"domain": site.host, "change": "modified", "loc": site.url("/a2"),
                                "lastmod": "2024-02-01T00:00:00+00:00",
                                "previous_lastmod": "2024-01-01T00:00:00+00:00"}]


@pytest.mark.django_db
def test_changes_of_a_batch_that_is_not_a_rerun_ask_for_since(client, owner):
    batch = make_batch(owner)
    response = client.get(reverse("api_batch_changes", args=[batch.pk]), **bearer(owner))
    assert (response.status_code, response.json()) == (400, {"error": "this batch is not a re-run: give ?since=<batch id>"})
    response = client.get(reverse("api_batch_changes", args=[batch.pk]), {"change": "moved", "since": batch.pk},
                          **bearer(owner))
    assert (response.status_code, response.json()) == (400, {"error": "change must be added, removed or modified"})


@pytest.mark.django_db
def test_rerun_without_the_slash_also_creates_the_rerun(client, owner, django_capture_on_commit_callbacks):
    batch = make_batch(owner, domains=1)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(f"/api/batches/{batch.pk}/rerun", **bearer(owner))
    assert (response.status_code, response.json()["previous_batch_id"]) == (201, batch.pk)
    assert Batch.objects.filter(previous=batch).count() == 1
