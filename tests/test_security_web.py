"""Hostile users against the web process (issue 9): bounded posts, no 500s, secrets, headers, throttled logins."""

import secrets
import subprocess
import sys

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.urls import reverse

from batches.models import Batch, BatchStatus
from tests import cluster
from tests.factories import make_batch

pytestmark = pytest.mark.django_db


def manage(*args, timeout=60, **env):
    base = {"PATH": "/usr/bin:/bin", "SECRET_KEY_FILE": "/nonexistent/secret_key", "DEBUG": "0",
            "DATABASE_URL": "sqlite:////nonexistent/never-opened.sqlite3"}
    return subprocess.run([sys.executable, *args], cwd=cluster.ROOT, env={**base, **env}, capture_output=True,
                          text=True, timeout=timeout)


# --- SECRET_KEY ---------------------------------------------------------------------------

REFUSAL_START = "SECRET_KEY is not set and DEBUG is off: refusing to start with the published development key"


def test_the_web_application_refuses_to_load_on_the_development_key():
    refused = manage("-c", "import sitemapadmin.wsgi")
    assert refused.returncode == 1 and REFUSAL_START in refused.stderr
    assert manage("-c", "import sitemapadmin.wsgi", DEBUG="1").returncode == 0
    assert manage("-c", "import sitemapadmin.wsgi", SECRET_KEY=secrets.token_urlsafe(50)).returncode == 0


def test_qcluster_refuses_to_start_on_the_development_key():
    refused = manage("manage.py", "qcluster", timeout=60)
    assert refused.returncode == 1 and REFUSAL_START in refused.stderr


def test_check_deploy_names_the_development_key_and_is_clean_with_https_settings():
    flagged = manage("manage.py", "check", "--deploy")
    assert flagged.returncode == 1 and "sitemapadmin.E001" in flagged.stderr
    clean = manage("manage.py", "check", "--deploy", "--fail-level", "WARNING", SECRET_KEY=secrets.token_urlsafe(50),
                   HTTPS="1", SECURE_HSTS_INCLUDE_SUBDOMAINS="1", SECURE_HSTS_PRELOAD="1",
                   SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto")
    assert (clean.returncode, clean.stdout.strip()) == (0, "System check identified no issues (0 silenced).")


def test_https_settings_come_from_the_environment():
    script = ("import django; django.setup(); from django.conf import settings as s;"
              "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS,"
              " s.SECURE_PROXY_SSL_HEADER)")
    done = manage("-c", script, HTTPS="1", SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
                  DJANGO_SETTINGS_MODULE="sitemapadmin.settings")
    assert done.stdout.strip() == "True True True 31536000 ('HTTP_X_FORWARDED_PROTO', 'https')"


# --- Headers ------------------------------------------------------------------------------

def test_our_pages_carry_a_content_security_policy(owner_client, settings):
    response = owner_client.get(reverse("batch_new"))
    assert response["Content-Security-Policy"] == settings.CONTENT_SECURITY_POLICY
    assert "script-src 'self';" in response["Content-Security-Policy"]
    assert "Content-Security-Policy" not in owner_client.get("/admin/login/")


# --- One post must not exhaust the web process (item 4) -----------------------------------

def test_two_million_invalid_lines_are_refused_after_the_line_limit_with_a_small_page(owner_client, settings):
    settings.SITEMAPS_WEB_MAX_LINES = 1000
    pasted = "bad!\n" * 2_000_000  # 10 MB
    response = owner_client.post(reverse("batch_new"), {"domains": pasted})
    page = response.content.decode()
    assert response.status_code == 200 and Batch.objects.count() == 0
    assert "The list has more than 1,000 lines, more than a web submission may hold" in page
    assert page.count("<li>Line ") == 100
    # the page echoes the text area once; the list of reasons adds kilobytes, not a line per input line
    assert len(response.content) < len(pasted) + 100_000


def test_the_page_lists_the_first_hundred_invalid_lines_and_counts_them_all(owner_client):
    response = owner_client.post(reverse("batch_new"), {"domains": "bad!\n" * 20_000})
    page = response.content.decode()
    assert '<span class="pill bad">20,000 invalid</span>' in page
    assert page.count("<li>Line ") == 100
    assert "…and 20,000 invalid lines in all; the first 100 are shown." in page
    assert len(response.content) < 100_000 + 20_000 * 5


def test_a_post_larger_than_the_limits_is_refused_before_it_is_read(owner_client):
    response = owner_client.post(reverse("batch_new"), {"domains": "a.example.com"}, CONTENT_LENGTH=str(2**31))
    assert response.status_code == 413
    assert "That post is larger than a 10 MB file and a pasted list together" in response.content.decode()


def test_an_upload_over_10_mb_is_never_spooled_in_full(owner_client, monkeypatch):
    written = []
    spool = TemporaryFileUploadHandler.receive_data_chunk

    def counting_spool(self, raw_data, start):
        written.append(len(raw_data))
        return spool(self, raw_data, start)

    monkeypatch.setattr(TemporaryFileUploadHandler, "receive_data_chunk", counting_spool)
    upload = SimpleUploadedFile("big.txt", b"a.example.com\n" * 1_100_000)  # 15 MB: under the refusal by length
    response = owner_client.post(reverse("batch_new"), {"file": upload})
    assert "The file is larger than 10 MB; use the import_domains command." in response.content.decode()
    assert Batch.objects.count() == 0
    assert sum(written) <= 10 * 1024 * 1024 + 64 * 1024


def test_a_csv_upload_with_a_200_kb_field_is_one_invalid_line(owner_client):
    upload = SimpleUploadedFile("d.csv", b"domain\na.example.com\n" + b"x" * 200_000 + b",y\nb.example.com\n")
    response = owner_client.post(reverse("batch_new"), {"file": upload}, follow=True)
    page = response.content.decode()
    assert Batch.objects.get().domains_total == 2
    assert "Skipped file line 3: longer than 2048 characters" in page
    assert "File line 1, “domain”, is the CSV&#x27;s header row: read as a column name, not a domain." in page


@pytest.mark.parametrize("query", [{"lastmod_to": "9999-12-31"}, {"lastmod_from": "0001-01-01"},
                                   {"lastmod_from": "0001-01-01", "lastmod_to": "9999-12-31"}])
def test_extreme_lastmod_bounds_are_no_bounds_not_a_500(owner_client, owner, query):
    batch = make_batch(owner, domains=1, urls_per_domain=3)
    domain = batch.domains.get()
    response = owner_client.get(reverse("domain_detail", args=[batch.pk, domain.pk]), query)
    assert response.status_code == 200 and response.content.decode().count("/post/") >= 3


# --- Logins (item 7) ----------------------------------------------------------------------

def test_after_ten_wrong_passwords_even_the_right_one_is_refused(client, owner):
    for _ in range(10):
        wrong = client.post(reverse("login"), {"username": "owner", "password": "guess"})
        assert wrong.status_code == 200
    refused = client.post(reverse("login"), {"username": "owner", "password": "owner-pass-123"})
    assert "Too many failed logins: try again in 15 minutes." in refused.content.decode()
    assert "_auth_user_id" not in client.session
    other = client.post(reverse("login"), {"username": "OWNER ", "password": "owner-pass-123"})
    assert "Too many failed logins" in other.content.decode()


def test_the_admin_login_counts_the_same_failures(client, staff):
    for _ in range(10):
        client.post("/admin/login/", {"username": "staff", "password": "guess"})
    refused = client.post("/admin/login/", {"username": "staff", "password": "staff-pass-123"})
    assert "Too many failed logins" in refused.content.decode()


def test_a_right_password_below_the_limit_logs_in(client, owner):
    for _ in range(9):
        client.post(reverse("login"), {"username": "owner", "password": "guess"})
    response = client.post(reverse("login"), {"username": "owner", "password": "owner-pass-123"})
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(owner.pk)


# --- Staff alone is not a permission (item 6) ---------------------------------------------

@pytest.fixture
def plain_staff(django_user_model):
    return django_user_model.objects.create_user("plainstaff", password="x-pass-123", is_staff=True)


def test_staff_without_permissions_cannot_open_or_delete_another_users_batch(client, plain_staff, other_user):
    theirs = make_batch(other_user)
    client.force_login(plain_staff)
    for name, args in [("batch_detail", []), ("batch_export", ["csv"]), ("batch_delete", [])]:
        assert client.get(reverse(name, args=[theirs.pk, *args])).status_code == 404
    assert client.post(reverse("batch_delete", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("batch_action", args=[theirs.pk, "rerun"])).status_code == 404
    assert Batch.objects.get(pk=theirs.pk).status == BatchStatus.COMPLETED


def test_the_view_permission_shows_the_batch_without_its_buttons(client, plain_staff, other_user):
    plain_staff.user_permissions.add(Permission.objects.get(codename="view_batch"))
    theirs = make_batch(other_user)
    client.force_login(plain_staff)
    page = client.get(reverse("batch_detail", args=[theirs.pk])).content.decode()
    assert "Competitors" in page and "Run again" not in page and "Delete…" not in page
    assert client.post(reverse("batch_action", args=[theirs.pk, "rerun"])).status_code == 403
    assert client.post(reverse("batch_delete", args=[theirs.pk])).status_code == 403
    assert Batch.objects.filter(pk=theirs.pk).exists()


def test_the_change_and_delete_permissions_act_on_another_users_batch(client, plain_staff, other_user,
                                                                      django_capture_on_commit_callbacks):
    plain_staff.user_permissions.add(*Permission.objects.filter(codename__in=["change_batch", "delete_batch"]))
    theirs = make_batch(other_user)
    client.force_login(plain_staff)
    with django_capture_on_commit_callbacks(execute=False):
        assert client.post(reverse("batch_action", args=[theirs.pk, "rerun"])).status_code == 302
        assert client.post(reverse("batch_delete", args=[theirs.pk])).status_code == 302
    assert not Batch.objects.filter(pk=theirs.pk).exists()
