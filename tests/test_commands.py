"""import_domains and export_urls, per their public contract."""

import csv
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from batches.models import Batch, BatchStatus, Domain
from tests.sites import urlset

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args, stdin=None, monkeypatch=None):
    out, err = io.StringIO(), io.StringIO()
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def two_sites(site_factory):
    a, b = site_factory(), site_factory()
    a.add("/sitemap.xml", urlset([a.url("/one"), a.url("/two")], "<lastmod>2024-05-06</lastmod><priority>0.5</priority>"))
    b.add("/robots.txt", f"Sitemap: {b.url('/s.txt')}\n")
    b.add("/s.txt", f"{b.url('/text-page')}\nnot a url\n", content_type="text/plain")
    return a, b


def test_import_sync_json_processes_the_batch_and_ends_with_a_json_line(tmp_path, two_sites, staff):
    a, b = two_sites
    path = tmp_path / "domains.txt"
    path.write_text(f"# list\n{a.host}\nbad domain\n{b.origin}\n{a.host}\n")

    out, err = run("import_domains", str(path), "--name", "nightly", "--sync", "--json")

    summary = json.loads(out.strip().splitlines()[-1])
    batch = Batch.objects.get()
    assert summary == {
        "batch_id": batch.pk, "name": "nightly", "status": "completed", "domains": 2, "domains_done": 2,
        "domains_failed": 0, "domains_cancelled": 0, "sitemaps": 2, "urls": 3, "progress": 100,
    }
    assert f"{path}: line 3: contains white space: 'bad domain'" in err
    assert "2 valid, 1 duplicate, 1 invalid" in err
    assert batch.owner == staff


def test_import_reads_stdin_and_without_a_mode_only_enqueues(monkeypatch, two_sites, owner):
    a, _ = two_sites
    out, _ = run("import_domains", "-", "--user", "owner", "--json", stdin=f"{a.host}\n", monkeypatch=monkeypatch)
    summary = json.loads(out.strip().splitlines()[-1])
    assert (summary["status"], summary["domains"], summary["urls"]) == ("pending", 1, 0)
    assert Domain.objects.get().status == "queued"
    assert Batch.objects.get().owner == owner


def test_import_without_a_valid_entry_fails_and_creates_nothing(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("not valid\n\n# comment\n")
    with pytest.raises(CommandError, match="no valid entry"):
        run("import_domains", str(path))
    assert Batch.objects.count() == 0


def test_import_with_an_unknown_user_fails(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("example.com\n")
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        run("import_domains", str(path), "--user", "nobody")


def test_export_writes_csv_and_jsonl_with_the_contract_columns(tmp_path, two_sites, staff):
    a, b = two_sites
    path = tmp_path / "d.txt"
    path.write_text(f"{a.host}\n{b.host}\n")
    run("import_domains", str(path), "--sync")
    batch = Batch.objects.get()
    assert batch.status == BatchStatus.COMPLETED

    out, _ = run("export_urls", str(batch.pk))
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["domain", "sitemap_url", "loc", "lastmod", "changefreq", "priority", "extras"]
    assert sorted(rows[1:]) == sorted([
        [a.host, a.url("/sitemap.xml"), a.url("/one"), "2024-05-06T00:00:00+00:00", "", "0.5", ""],
        [a.host, a.url("/sitemap.xml"), a.url("/two"), "2024-05-06T00:00:00+00:00", "", "0.5", ""],
        [b.host, b.url("/s.txt"), b.url("/text-page"), "", "", "", ""],
    ])

    target = tmp_path / "out.jsonl"
    run("export_urls", str(batch.pk), "--format", "jsonl", "--output", str(target))
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert {r["loc"]: (r["lastmod"], r["priority"]) for r in records} == {
        a.url("/one"): ("2024-05-06T00:00:00+00:00", 0.5),
        a.url("/two"): ("2024-05-06T00:00:00+00:00", 0.5),
        b.url("/text-page"): (None, None),
    }


def test_export_of_an_unknown_batch_fails():
    with pytest.raises(CommandError, match="no batch with id 999"):
        run("export_urls", "999")
