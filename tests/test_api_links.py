"""Every URL the API hands out accepts the token; every API error is JSON; cancel, retry, delete, paging."""

import json

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from batches.models import ApiToken, Batch, BatchStatus, Domain, DomainStatus
from tests.factories import make_batch

pytestmark = pytest.mark.django_db


@pytest.fixture
def token_key(owner):
    return ApiToken.issue(owner, "script")[1]


@pytest.fixture
def api(token_key):
    return Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {token_key}")


def test_it_serves_every_url_of_a_batch_answer_to_the_token(api, owner):
    batch = make_batch(owner, domains=2, urls_per_domain=3)
    body = api.get(reverse("api_batch", args=[batch.pk])).json()
    csv_response = api.get(body["csv_url"])
    assert csv_response.status_code == 200
    assert b"".join(csv_response.streaming_content).decode().count("\n") == 1 + 6
    jsonl = api.get(body["jsonl_url"])
    assert jsonl.status_code == 200 and len(b"".join(jsonl.streaming_content).splitlines()) == 6
    assert api.get(body["page_url"]).status_code == 200
    assert api.get(body["domain_states"][0]["page_url"]).status_code == 200


def test_a_download_with_a_bad_token_is_401_not_a_login_redirect(client, owner):
    batch = make_batch(owner)
    response = client.get(reverse("batch_export", args=[batch.pk, "csv"]), HTTP_AUTHORIZATION="Bearer sba_wrong")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'


def test_a_token_never_passes_a_page_form_post(token_key, owner):
    batch = make_batch(owner)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token_key}")  # even with the CSRF check out of the way
    response = client.post(reverse("batch_delete", args=[batch.pk]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert Batch.objects.filter(pk=batch.pk).exists()


def test_a_bad_token_on_the_api_names_the_error_in_www_authenticate(client):
    response = client.get(reverse("api_batches"), HTTP_AUTHORIZATION="Bearer sba_wrong")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'


@pytest.mark.parametrize("path", ["/api/batches/abc/", "/api/nothing", "/api/batches/1/frobnicate/"])
def test_an_unknown_api_path_is_a_json_404(api, path):
    response = api.get(path)
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert response.json() == {"error": f"no API endpoint at {path}"}


def test_a_post_without_the_trailing_slash_creates_the_batch(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = api.post("/api/batches", json.dumps({"domains": ["example.com"]}), content_type="application/json")
    assert response.status_code == 201 and Batch.objects.get().domains_total == 1


def test_cancel_over_the_api_cancels_the_queued_domains(api, owner):
    batch = make_batch(owner, domains=2, status=BatchStatus.RUNNING)
    Domain.objects.filter(batch=batch).update(status=DomainStatus.QUEUED)
    Batch.objects.filter(pk=batch.pk).update(domains_done=0)
    response = api.post(reverse("api_batch_action", args=[batch.pk, "cancel"]))
    body = response.json()
    assert response.status_code == 200
    assert (body["status"], body["cancelled"], body["domains_cancelled"]) == ("cancelled", True, 2)
    again = api.post(reverse("api_batch_action", args=[batch.pk, "cancel"]))
    assert (again.status_code, again.json()) == (409, {"error": "the batch has already finished"})


def test_retry_over_the_api_queues_the_failed_domains(api, owner, django_capture_on_commit_callbacks):
    batch = make_batch(owner, domains=3, failed=2, status=BatchStatus.COMPLETED_WITH_ERRORS)
    with django_capture_on_commit_callbacks(execute=False):
        response = api.post(f"/api/batches/{batch.pk}/retry/")
    assert (response.status_code, response.json()["queued"], response.json()["status"]) == (200, 2, "pending")
    assert Domain.objects.filter(batch=batch, status=DomainStatus.QUEUED).count() == 2


def test_delete_over_the_api_hides_the_batch(api, owner, django_capture_on_commit_callbacks):
    batch = make_batch(owner)
    with django_capture_on_commit_callbacks(execute=False):
        response = api.delete(reverse("api_batch", args=[batch.pk]))
    assert response.status_code == 204 and response.content == b""
    assert not Batch.objects.filter(pk=batch.pk).exists()
    assert api.get(reverse("api_batch", args=[batch.pk])).status_code == 404


def test_the_batch_list_is_paged_with_next_and_previous_links(api, owner, monkeypatch):
    monkeypatch.setattr("batches.api.BATCHES_PER_PAGE", 2)
    made = [make_batch(owner, name=f"b{i}", domains=1) for i in range(5)]
    first = api.get(reverse("api_batches")).json()
    assert [b["name"] for b in first["batches"]] == ["b4", "b3"]
    assert (first["count"], first["page"], first["previous"]) == (5, 1, None)
    assert first["next"] == "http://testserver/api/batches/?page=2"
    last = api.get(first["next"].replace("?page=2", "?page=3")).json()
    assert ([b["id"] for b in last["batches"]], last["next"]) == ([made[0].pk], None)
    assert last["previous"] == "http://testserver/api/batches/?page=2"
    bad = api.get(reverse("api_batches"), {"page": "99"})
    assert (bad.status_code, bad.json()) == (400, {"error": "no page '99': pages are numbered from 1"})


@pytest.mark.parametrize("offset", ["1e23", "100000000000000000000000", "-1", "x"])
def test_an_offset_that_is_not_a_small_whole_number_is_400(api, owner, offset):
    batch = make_batch(owner)
    response = api.get(reverse("api_batch", args=[batch.pk]), {"offset": offset})
    assert (response.status_code, response.json()) == (400, {"error": "offset must be a whole number from 0 to 1,000,000,000"})


def test_deeply_nested_json_is_a_json_400(api):
    body = b"[" * 200_000 + b"]" * 200_000
    response = api.post(reverse("api_batches"), body, content_type="application/json")
    assert (response.status_code, response.json()) == (400, {"error": "the body is not valid JSON: nested too deeply"})


def test_a_body_over_the_limit_is_a_json_413(api, settings):
    settings.SITEMAPS_WEB_MAX_BYTES = 1000
    response = api.post(reverse("api_batches"), json.dumps({"domains": ["a.example.com"] * 100}),
                        content_type="application/json")
    assert (response.status_code, response.json()) == (413, {"error": "the body is larger than 1,000 bytes"})


def test_a_list_longer_than_the_line_limit_is_refused_unread(api, settings):
    settings.SITEMAPS_WEB_MAX_LINES = 10
    response = api.post(reverse("api_batches"), json.dumps({"domains": ["a.example.com"] * 11}),
                        content_type="application/json")
    assert (response.status_code, response.json()) == (400, {"error": "11 entries is more than the 10 one request may hold"})


def test_the_invalid_list_holds_the_first_hundred_and_counts_the_rest(api, django_capture_on_commit_callbacks):
    domains = ["ok.example.com"] + [f"bad entry {n}" for n in range(50_000)] + [7] * 10
    with django_capture_on_commit_callbacks(execute=False):
        response = api.post(reverse("api_batches"), json.dumps({"domains": domains}), content_type="application/json")
    body = response.json()
    assert response.status_code == 201
    assert body["invalid_count"] == 50_010
    assert len(body["invalid"]) == 100
    assert body["invalid"][0] == {"index": 1, "entry": "bad entry 0", "reason": "contains white space"}
    assert len(response.content) < 20_000


# --- Permissions: staff alone is not enough (issue 9, item 6) ---------------------------------

@pytest.fixture
def plain_staff(django_user_model):
    return django_user_model.objects.create_user("plainstaff", password="x-pass-123", is_staff=True)


def staff_api(user, *perms):
    user.user_permissions.add(*Permission.objects.filter(codename__in=perms))
    return Client(HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(user, 'ops')[1]}")


def test_staff_without_permissions_see_no_other_users_batch(plain_staff, other_user):
    theirs = make_batch(other_user)
    api = staff_api(plain_staff)
    assert api.get(reverse("api_batch", args=[theirs.pk])).status_code == 404
    assert api.delete(reverse("api_batch", args=[theirs.pk])).status_code == 404
    assert api.get(reverse("batch_export", args=[theirs.pk, "csv"])).status_code == 404
    assert Batch.objects.filter(pk=theirs.pk).exists()


def test_the_view_permission_reads_but_may_not_cancel_or_delete(plain_staff, other_user):
    theirs = make_batch(other_user, status=BatchStatus.RUNNING)
    api = staff_api(plain_staff, "view_batch")
    assert api.get(reverse("api_batch", args=[theirs.pk])).status_code == 200
    refused = api.post(reverse("api_batch_action", args=[theirs.pk, "cancel"]))
    assert (refused.status_code, refused.json()) == (403, {"error": "you may not change this batch"})
    assert api.delete(reverse("api_batch", args=[theirs.pk])).status_code == 403
    assert Batch.objects.get(pk=theirs.pk).status == BatchStatus.RUNNING


def test_the_delete_permission_deletes_another_users_batch(plain_staff, other_user, django_capture_on_commit_callbacks):
    theirs = make_batch(other_user)
    api = staff_api(plain_staff, "view_batch", "delete_batch")
    with django_capture_on_commit_callbacks(execute=False):
        assert api.delete(reverse("api_batch", args=[theirs.pk])).status_code == 204
    assert not Batch.objects.filter(pk=theirs.pk).exists()
