"""export_domains, export_findings and export_urls' extras, per their public contract; the same
exports as downloads and through the API; skipped input lines kept with the batch."""

import csv
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from batches.models import ApiToken, Batch, Domain, DomainErrorCode, Finding, Url
from tests.factories import make_batch

pytestmark = pytest.mark.django_db

IMAGES = {"images": [{"loc": "https://site1.example.com/1.jpg", "caption": "One, \"two\""}]}


@pytest.fixture
def batch(owner):
    """Two done domains, one failed with dns; findings on the first domain and its sitemap."""
    batch = make_batch(owner, domains=3, urls_per_domain=2, failed=1)
    first, second, failed = batch.domains.order_by("position")
    Domain.objects.filter(pk=failed.pk).update(error_code=DomainErrorCode.DNS, error="https://site3.example.com: "
                                               "the host name does not resolve")
    sitemap = first.sitemaps.get(url__endswith="/posts.xml")
    Finding.objects.bulk_create([
        Finding(batch=batch, domain=first, sitemap=sitemap, code="cross_host_url", count=3,
                detail="3 URLs on another host than the sitemap's, e.g. https://x.example/a"),
        Finding(batch=batch, domain=first, code="not_in_robots", detail="is not listed in robots.txt"),
    ])
    Domain.objects.filter(pk=first.pk).update(findings_count=2)
    Url.objects.filter(loc="https://site1.example.com/post/0").update(extras=IMAGES)
    return batch


def run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_it_exports_one_row_per_domain_with_the_contract_header(batch):
    rows = list(csv.reader(io.StringIO(run("export_domains", str(batch.pk)))))
    assert rows == [
        ["domain", "status", "origin", "sitemaps", "sitemaps_failed", "urls", "error_code", "error", "findings"],
        ["site1.example.com", "done", "https://site1.example.com", "2", "0", "2", "", "", "2"],
        ["site2.example.com", "done", "https://site2.example.com", "2", "0", "2", "", "", "0"],
        ["site3.example.com", "failed", "", "0", "0", "0", "dns",
         "https://site3.example.com: the host name does not resolve", "0"],
    ]


def test_it_exports_domains_as_json_lines_with_numbers(batch, tmp_path):
    target = tmp_path / "domains.jsonl"
    run("export_domains", str(batch.pk), "--format", "jsonl", "--output", str(target))
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert records[0] == {"domain": "site1.example.com", "status": "done", "origin": "https://site1.example.com",
                          "sitemaps": 2, "sitemaps_failed": 0, "urls": 2, "error_code": "", "error": "",
                          "findings": 2}
    assert [r["error_code"] for r in records] == ["", "", "dns"]


def test_it_exports_one_row_per_finding_with_an_empty_sitemap_for_the_domains_own(batch):
    rows = list(csv.reader(io.StringIO(run("export_findings", str(batch.pk)))))
    assert rows == [
        ["domain", "sitemap_url", "code", "count", "detail"],
        ["site1.example.com", "https://site1.example.com/posts.xml", "cross_host_url", "3",
         "3 URLs on another host than the sitemap's, e.g. https://x.example/a"],
        ["site1.example.com", "", "not_in_robots", "1", "is not listed in robots.txt"],
    ]
    records = [json.loads(line) for line in run("export_findings", str(batch.pk), "--format", "jsonl").splitlines()]
    assert records[1] == {"domain": "site1.example.com", "sitemap_url": "", "code": "not_in_robots", "count": 1,
                          "detail": "is not listed in robots.txt"}


def test_url_exports_end_with_the_extras_and_keep_the_other_columns(batch):
    rows = list(csv.reader(io.StringIO(run("export_urls", str(batch.pk)))))
    assert rows[0] == ["domain", "sitemap_url", "loc", "lastmod", "changefreq", "priority", "extras"]
    assert rows[1] == ["site1.example.com", "https://site1.example.com/posts.xml", "https://site1.example.com/post/0",
                       "2024-01-15T12:00:00+00:00", "weekly", "0.5", json.dumps(IMAGES, separators=(",", ":"))]
    assert rows[2][-1] == ""
    records = [json.loads(line) for line in run("export_urls", str(batch.pk), "--format", "jsonl").splitlines()]
    assert (records[0]["extras"], records[1]["extras"]) == (IMAGES, None)


@pytest.mark.parametrize("command", ["export_domains", "export_findings"])
def test_an_unknown_batch_is_a_clear_error(command):
    with pytest.raises(CommandError, match="no batch with id 999"):
        run(command, "999")


def test_the_batch_page_offers_the_same_exports_as_downloads(owner_client, batch):
    response = owner_client.get(reverse("batch_report", args=[batch.pk, "findings", "csv"]))
    assert response["Content-Disposition"] == f'attachment; filename="batch-{batch.pk}-findings.csv"'
    assert b"".join(response.streaming_content).decode() == run("export_findings", str(batch.pk))
    response = owner_client.get(reverse("batch_report", args=[batch.pk, "domains", "jsonl"]))
    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
    assert b"".join(response.streaming_content).decode() == run("export_domains", str(batch.pk), "--format", "jsonl")
    page = owner_client.get(batch.get_absolute_url()).content.decode()
    assert reverse("batch_report", args=[batch.pk, "findings", "csv"]) in page


def test_another_users_download_is_404(client, other_user, batch):
    client.force_login(other_user)
    assert client.get(reverse("batch_report", args=[batch.pk, "domains", "csv"])).status_code == 404


def test_the_api_links_and_serves_the_exports_to_a_token(client, owner, batch):
    _, key = ApiToken.issue(owner)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    body = client.get(reverse("api_batch", args=[batch.pk]), **auth).json()
    assert body["exports"]["findings_csv"] == f"http://testserver/api/batches/{batch.pk}/findings.csv"
    assert sorted(body["exports"]) == ["domains_csv", "domains_jsonl", "findings_csv", "findings_jsonl",
                                       "urls_csv", "urls_jsonl"]
    assert [d["error_code"] for d in body["domain_states"]] == ["", "", "dns"]
    response = client.get(body["exports"]["domains_csv"], **auth)
    assert b"".join(response.streaming_content).decode() == run("export_domains", str(batch.pk))
    assert client.get(body["exports"]["domains_csv"]).status_code == 401


def test_skipped_lines_are_kept_with_the_batch_and_shown_on_its_page(owner_client):
    text = "example.com\nnot a domain\nftp://x.example.org\n"
    owner_client.post(reverse("batch_new"), {"domains": text})
    batch = Batch.objects.get()
    assert batch.skipped_lines == [
        ["Line 2", "contains white space", "not a domain"],
        ["Line 3", "unsupported scheme 'ftp' (only http and https)", "ftp://x.example.org"],
    ]
    page = owner_client.get(batch.get_absolute_url()).content.decode()
    assert "2 input lines skipped" in page
    assert "<td>Line 3</td><td>unsupported scheme &#x27;ftp&#x27; (only http and https)</td>" in page


def test_import_keeps_the_first_skipped_lines_and_counts_the_rest(tmp_path, staff):
    path = tmp_path / "d.txt"
    path.write_text("example.com\n" + "".join(f"bad line {n}\n" for n in range(105)))
    call_command("import_domains", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    batch = Batch.objects.get()
    assert len(batch.skipped_lines) == 100
    assert batch.skipped_lines[0] == [f"{path} line 2", "contains white space", "bad line 0"]
    assert batch.skipped_lines_more == 5
