"""The account page: API tokens created (key shown once, stored hashed) and revoked."""

import re

import pytest
from django.urls import reverse

from batches.models import ApiToken

pytestmark = pytest.mark.django_db


def test_creating_a_token_shows_its_key_once_and_stores_only_its_hash(owner_client, owner):
    page = owner_client.post(reverse("account"), {"name": "nightly script"}).content.decode()
    key = re.search(r'value="(sba_[^"]+)"', page).group(1)
    token = ApiToken.objects.get()
    assert (token.user, token.name, token.prefix) == (owner, "nightly script", key[:12])
    assert token.digest == ApiToken.hash(key)
    again = owner_client.get(reverse("account")).content.decode()
    assert key not in again and f"{key[:12]}…" in again and "nightly script" in again


def test_a_token_needs_a_name(owner_client):
    page = owner_client.post(reverse("account"), {"name": ""}).content.decode()
    assert "This field is required." in page and not ApiToken.objects.exists()


def test_the_page_lists_only_the_users_own_tokens(owner_client, other_user):
    ApiToken.issue(other_user, "theirs")
    assert "theirs" not in owner_client.get(reverse("account")).content.decode()


def test_revoking_deletes_the_token(owner_client, owner):
    token, _ = ApiToken.issue(owner, "old")
    response = owner_client.post(reverse("token_revoke", args=[token.pk]), follow=True)
    assert f"Token {token.prefix}… revoked." in response.content.decode()
    assert not ApiToken.objects.exists()


def test_another_users_token_cannot_be_revoked(owner_client, other_user):
    token, _ = ApiToken.issue(other_user, "theirs")
    assert owner_client.post(reverse("token_revoke", args=[token.pk])).status_code == 404
    assert owner_client.get(reverse("token_revoke", args=[token.pk])).status_code == 405
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(reverse("account"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
