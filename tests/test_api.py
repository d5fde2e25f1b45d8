"""The JSON API: create a batch, read its status; session or Bearer token; errors as JSON."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from batches.models import ApiToken, Batch, BatchStatus, Domain
from tests.factories import make_batch
from tests.sites import urlset

pytestmark = pytest.mark.django_db


@pytest.fixture
def token_key(owner):
    _, raw = ApiToken.issue(owner, "script")
    return raw


@pytest.fixture
def api(token_key):
    """A client that is not logged in and sends the owner's token, with CSRF checks on."""
    client = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {token_key}")
    return client


def post_json(client, body, **extra):
    return client.post(reverse("api_batches"), json.dumps(body), content_type="application/json", **extra)


def test_a_token_creates_a_batch_and_gets_201_with_its_status_url(api, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_json(api, {"name": "From a script", "domains": ["example.com", "EXAMPLE.com", "bad entry"]})
    batch = Batch.objects.get()
    body = response.json()
    assert response.status_code == 201
    assert response["Location"] == f"http://testserver/api/batches/{batch.pk}/"
    assert (body["id"], body["status"], body["domains"], body["progress"]) == (batch.pk, "pending", 1, 0)
    assert body["status_url"] == f"http://testserver/api/batches/{batch.pk}/"
    assert body["invalid"] == [{"index": 2, "entry": "bad entry", "reason": "contains white space"}]
    assert body["duplicates"] == 1
    assert (batch.owner, batch.name) == (owner, "From a script")
    assert len(callbacks) == 1  # enqueued on commit


def test_the_created_batch_is_processed_and_its_status_reaches_100(api, site, q_sync,
                                                                  django_capture_on_commit_callbacks):
    site.add("/sitemap.xml", urlset([site.url("/a"), site.url("/b"), site.url("/c")]))
    with django_capture_on_commit_callbacks(execute=True):
        created = post_json(api, {"domains": [site.origin]}).json()
    status = api.get(created["status_url"]).json()
    domain = Domain.objects.get()
    assert (status["status"], status["progress"], status["finished"], status["urls"]) == ("completed", 100, True, 3)
    assert status["domain_states"] == [{
        "id": domain.pk, "host": site.host, "origin": site.origin, "status": "done", "attempts": 1,
        "sitemaps": 1, "urls": 3, "error": "", "error_code": "",
        "findings": 1,  # the probed sitemap.xml, which no robots.txt lists
        "page_url": f"http://testserver/batches/{domain.batch_id}/domains/{domain.pk}/",
    }]
    assert status["domain_states_next"] is None


def test_no_valid_domain_is_400_with_every_reason(api):
    response = post_json(api, {"domains": ["not a domain", "ftp://x.example.com", 42]})
    assert response.status_code == 400
    assert response.json() == {"error": "no valid domain or URL", "invalid": [
        {"index": 0, "entry": "not a domain", "reason": "contains white space"},
        {"index": 1, "entry": "ftp://x.example.com", "reason": "unsupported scheme 'ftp' (only http and https)"},
        {"index": 2, "entry": 42, "reason": "not a string"},
    ], "invalid_count": 3}
    assert Batch.objects.count() == 0


@pytest.mark.parametrize("body, message", [
    (b"{not json", "the body is not valid JSON"),
    (b'["example.com"]', 'send a JSON object: {"name": "...", "domains": ["example.com", ...]}'),
    (b'{"domains": "example.com"}', 'send a JSON object: {"name": "...", "domains": ["example.com", ...]}'),
    (b'{"name": 5, "domains": ["example.com"]}', "name must be a string of at most 200 characters"),
])
def test_a_malformed_body_is_400(api, body, message):
    response = api.post(reverse("api_batches"), body, content_type="application/json")
    assert (response.status_code, response.json()) == (400, {"error": message})


def test_the_api_refuses_more_domains_than_the_web_limit(api, settings):
    settings.SITEMAPS_WEB_MAX_DOMAINS = 1
    response = post_json(api, {"domains": ["a.example.com", "b.example.com"]})
    assert response.status_code == 400 and Batch.objects.count() == 0


def test_without_credentials_the_api_answers_401_json(client):
    response = post_json(client, {"domains": ["example.com"]})
    assert response.status_code == 401 and response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert client.get(reverse("api_batch", args=[1])).status_code == 401


@pytest.mark.parametrize("header", ["Bearer sba_wrong", "Token abc", "Bearer "])
def test_a_bad_token_is_401(client, header, token_key):
    response = client.get(reverse("api_batches"), HTTP_AUTHORIZATION=header)
    assert (response.status_code, response.json()) == (401, {"error": "invalid API token"})


def test_a_revoked_token_stops_working(api, owner):
    assert api.get(reverse("api_batches")).status_code == 200
    ApiToken.objects.filter(user=owner).delete()
    assert api.get(reverse("api_batches")).status_code == 401


def test_a_token_of_an_inactive_user_is_401(api, owner):
    owner.is_active = False
    owner.save()
    assert api.get(reverse("api_batches")).status_code == 401


def test_using_a_token_records_when_it_was_last_used(api, owner):
    assert ApiToken.objects.get().last_used_at is None
    api.get(reverse("api_batches"))
    assert ApiToken.objects.get().last_used_at is not None


def test_the_session_works_too_but_needs_the_csrf_token_for_post(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    refused = post_json(client, {"domains": ["example.com"]})
    assert refused.status_code == 403 and "CSRF" in refused.json()["error"]
    client.get(reverse("batch_new"))  # sets the csrftoken cookie
    accepted = post_json(client, {"domains": ["example.com"]}, HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)
    assert accepted.status_code == 201


def test_the_session_reads_status_without_csrf(owner_client, owner):
    batch = make_batch(owner, domains=2, failed=1)
    body = owner_client.get(reverse("api_batch", args=[batch.pk])).json()
    assert (body["status"], body["progress"], body["domains_failed"]) == ("completed", 100, 1)
    assert [d["status"] for d in body["domain_states"]] == ["done", "failed"]


def test_foreign_and_unknown_ids_are_404_never_500(api, other_user):
    foreign = make_batch(other_user)
    for pk in (foreign.pk, 987654):
        response = api.get(reverse("api_batch", args=[pk]))
        assert (response.status_code, response.json()) == (404, {"error": "no such batch"})
    assert api.get("/api/batches/not-a-number/").status_code == 404


def test_the_list_shows_only_the_token_owners_batches(api, owner, other_user):
    mine = make_batch(owner, name="Mine")
    make_batch(other_user, name="Theirs")
    body = api.get(reverse("api_batches")).json()
    assert [b["id"] for b in body["batches"]] == [mine.pk]


def test_wrong_methods_are_405(api, owner):
    batch = make_batch(owner)
    response = api.put(reverse("api_batch", args=[batch.pk]))
    assert (response.status_code, response["Allow"]) == (405, "GET, DELETE")
    assert api.put(reverse("api_batches")).status_code == 405
    assert api.get(reverse("api_batch_action", args=[batch.pk, "cancel"])).status_code == 405
    assert Batch.objects.filter(pk=batch.pk, status=BatchStatus.COMPLETED).exists()


def test_the_status_query_count_does_not_grow_with_the_batch(api, owner, django_assert_num_queries):
    small = make_batch(owner, domains=2)
    big = make_batch(owner, domains=60)
    for batch in (small, big):
        # token, last-used update, batch, page of domain states
        with django_assert_num_queries(4):
            api.get(reverse("api_batch", args=[batch.pk]))


def test_domain_states_are_paged_by_offset(api, owner, monkeypatch):
    monkeypatch.setattr("batches.api.DOMAINS_PER_RESPONSE", 2)
    batch = make_batch(owner, domains=5, urls_per_domain=0)
    first = api.get(reverse("api_batch", args=[batch.pk])).json()
    assert [d["host"] for d in first["domain_states"]] == ["site1.example.com", "site2.example.com"]
    assert first["domain_states_next"] == f"http://testserver/api/batches/{batch.pk}/?offset=2"
    last = api.get(reverse("api_batch", args=[batch.pk]), {"offset": 4}).json()
    assert [d["host"] for d in last["domain_states"]] == ["site5.example.com"]
    assert last["domain_states_next"] is None


def test_a_staff_token_reads_any_batch_like_the_pages_do(client, staff, other_user):
    _, key = ApiToken.issue(staff, "ops")
    theirs = make_batch(other_user)
    response = client.get(reverse("api_batch", args=[theirs.pk]), HTTP_AUTHORIZATION=f"Bearer {key}")
    assert (response.status_code, response.json()["id"]) == (200, theirs.pk)
