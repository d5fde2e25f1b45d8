"""rerun_batch and export_changes: a site changes between two runs, and the re-run keeps history,
reports exactly what changed, and does not download what did not change."""

import json
from datetime import date

import pytest
from django.core.management.base import CommandError

from django.utils import timezone

from batches.changes import sitemap_changes
from batches.models import Batch, BatchStatus, LastmodMonth, SitemapFile, Url
from batches.retention import purge_batch
from tests.rerun_sites import NEWS_ETAG, csv_rows, last_json, run, two_runs  # noqa: F401 (a fixture)
from tests.sites import urlset

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_reports_the_rerun_with_the_import_keys_and_the_change_counts(two_runs):
    first, second, summary, _ = two_runs
    assert summary == {
        "batch_id": second.pk, "name": first.name, "status": "completed", "domains": 1, "domains_done": 1,
        "domains_failed": 0, "domains_cancelled": 0, "sitemaps": 6, "urls": 8, "progress": 100,
        "previous_batch_id": first.pk, "urls_added": 2, "urls_removed": 3, "urls_modified": 1,
        "sitemaps_unchanged": 2,
    }
    domain = second.domains.get()
    assert (domain.urls_added, domain.urls_removed, domain.urls_modified, domain.sitemaps_unchanged) == (2, 3, 1, 2)


def test_it_exports_exactly_the_changes_against_the_previous_batch(two_runs, site):
    first, second, _, _ = two_runs
    out, _ = run("export_changes", str(second.pk))
    host = site.host
    assert csv_rows(out) == [
        ["domain", "change", "loc", "lastmod", "previous_lastmod"],
        [host, "added", site.url("/a4"), "", ""],
        [host, "added", site.url("/w1"), "", ""],
        [host, "removed", site.url("/a3"), "", ""],
        [host, "removed", site.url("/g1"), "", ""],
        [host, "removed", site.url("/o1"), "", ""],
        [host, "modified", site.url("/a2"), "2024-02-01T00:00:00+00:00", "2024-01-01T00:00:00+00:00"],
    ]


def test_it_exports_the_changes_as_json_lines_and_the_reverse_with_since(two_runs, site, tmp_path):
    first, second, _, _ = two_runs
    path = tmp_path / "changes.jsonl"
    run("export_changes", str(first.pk), "--since", str(second.pk), "--format", "jsonl", "--output", str(path))
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["change"], r["loc"]) for r in records] == [
        ("added", site.url("/a3")), ("added", site.url("/g1")), ("added", site.url("/o1")),
        ("removed", site.url("/a4")), ("removed", site.url("/w1")), ("modified", site.url("/a2")),
    ]
    assert records[-1] == {"domain": site.host, "change": "modified", "loc": site.url("/a2"),
                           "lastmod": "2024-01-01T00:00:00+00:00", "previous_lastmod": "2024-02-01T00:00:00+00:00"}


def test_the_second_batch_holds_every_url_the_site_lists_now_reused_ones_included(two_runs, site):
    _, second, _, _ = two_runs
    out, _ = run("export_urls", str(second.pk))
    rows = csv_rows(out)[1:]
    assert sorted(row[2] for row in rows) == sorted(site.url(p) for p in ("/p1", "/p2", "/n1", "/n2", "/a1", "/a2",
                                                                          "/a4", "/w1"))
    # ... and only the changed sitemaps were written again: the reused ones hold no rows of their own.
    assert Url.objects.filter(domain__batch=second).count() == 4


def test_it_sends_the_validators_and_downloads_no_unchanged_sitemap(two_runs, site):
    assert site.requests_for("/news.xml")[0]["If-None-Match"] == NEWS_ETAG
    assert site.hits["/posts.xml"] == 0  # its index lastmod did not move
    assert site.hits["/pages.xml"] == 1 and site.hits["/index.xml"] == 1
    _, second, _, _ = two_runs
    reused = SitemapFile.objects.filter(domain__batch=second, reused_from__isnull=False)
    assert sorted((s.url, s.http_status) for s in reused) == [(site.url("/news.xml"), 304),
                                                              (site.url("/posts.xml"), None)]


def test_the_first_batch_and_its_export_stay_as_they_were(two_runs):
    first, _, _, first_export = two_runs
    out, _ = run("export_urls", str(first.pk))
    assert out == first_export
    assert len(csv_rows(out)) == 1 + 9
    first.refresh_from_db()
    assert (first.status, first.urls_count, first.previous_id) == (BatchStatus.COMPLETED, 9, None)


def test_it_lists_the_sitemaps_that_appeared_vanished_or_started_failing(two_runs, site):
    first, second, _, _ = two_runs
    assert sitemap_changes(first.domains.get().pk, second.domains.get().pk) == {
        "appeared": [site.url("/new.xml")], "vanished": [site.url("/gone.xml")],
        "started_failing": [site.url("/old.xml")],
    }


def test_a_third_run_with_nothing_changed_reports_no_change_and_keeps_every_url(two_runs, site):
    _, second, _, _ = two_runs
    site.add("/pages.xml", site.routes["/pages.xml"].body, headers={"ETag": '"pages"'})
    out, _ = run("rerun_batch", str(second.pk), "--sync", "--json")
    summary = last_json(out)
    assert (summary["urls_added"], summary["urls_removed"], summary["urls_modified"], summary["urls"]) == (0, 0, 0, 8)
    third = Batch.objects.get(pk=summary["batch_id"])
    exported, _ = run("export_urls", str(third.pk))
    assert len(csv_rows(exported)) == 1 + 8
    changes, _ = run("export_changes", str(third.pk))
    assert csv_rows(changes) == [["domain", "change", "loc", "lastmod", "previous_lastmod"]]


def test_deleting_the_first_batch_hands_its_rows_to_the_rerun(two_runs, site):
    first, second, _, _ = two_runs
    before, _ = run("export_urls", str(second.pk))
    Batch.objects.filter(pk=first.pk).update(deleted_at=timezone.now())
    purge_batch(first.pk)
    after, _ = run("export_urls", str(second.pk))
    assert sorted(csv_rows(after)[1:]) == sorted(csv_rows(before)[1:])
    assert not SitemapFile.objects.filter(domain__batch=second, reused_from__isnull=False).exists()


def test_it_refuses_to_rerun_a_running_or_unknown_batch(two_runs):
    first, _, _, _ = two_runs
    Batch.objects.filter(pk=first.pk).update(status=BatchStatus.RUNNING)
    with pytest.raises(CommandError, match=f"batch {first.pk} is still running"):
        run("rerun_batch", str(first.pk))
    with pytest.raises(CommandError, match="no batch with id 999999"):
        run("rerun_batch", "999999")


def test_export_changes_needs_a_batch_to_compare_with(two_runs):
    first, _, _, _ = two_runs
    with pytest.raises(CommandError, match=f"batch {first.pk} is not a re-run: give --since OTHER_BATCH_ID"):
        run("export_changes", str(first.pk))


def test_a_rerun_that_reuses_a_sitemap_charts_the_lastmods_of_its_reused_urls(site, tmp_path, staff, settings):
    settings.SITEMAPS_PROBE_WELL_KNOWN = False
    site.add("/robots.txt", f"Sitemap: {site.url('/s.xml')}\n", content_type="text/plain")
    site.add("/s.xml", urlset([site.url("/a"), site.url("/b")], "<lastmod>2024-03-05</lastmod>"),
             headers={"ETag": '"s1"'})
    path = tmp_path / "domains.txt"
    path.write_text(f"{site.origin}\n")
    first = last_json(run("import_domains", str(path), "--sync", "--json")[0])["batch_id"]
    second = last_json(run("rerun_batch", str(first), "--sync", "--json")[0])
    assert (second["sitemaps_unchanged"], second["urls"]) == (1, 2)
    for batch_id in (first, second["batch_id"]):
        assert list(LastmodMonth.objects.filter(domain__batch_id=batch_id).values_list("month", "urls")) == [
            (date(2024, 3, 1), 2)]
