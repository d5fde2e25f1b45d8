"""A fixture site that changes between two runs, and the two batches that crawled it."""

import csv
import io
import json

import pytest
from django.core.management import call_command

from batches.models import Batch
from tests.sites import sitemapindex, urlset

NEWS_ETAG = '"news-1"'


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def last_json(out):
    return json.loads(out.strip().splitlines()[-1])


def csv_rows(text):
    return list(csv.reader(io.StringIO(text)))


def _entries(site, rows):
    return "".join(f"<url><loc>{site.url(path)}</loc>{f'<lastmod>{lastmod}</lastmod>' if lastmod else ''}</url>"
                   for path, lastmod in rows)


def _urlset(site, rows):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"{_entries(site, rows)}</urlset>")


def publish(site, second_run=False):
    """The site as the first run sees it, or as it changed by the second run."""
    posts, news, pages, old, gone, new = (site.url(p) for p in (
        "/posts.xml", "/news.xml", "/pages.xml", "/old.xml", "/gone.xml", "/new.xml"))
    listed = [posts, news, pages, old] + ([new] if second_run else [gone])
    site.add("/robots.txt", f"Sitemap: {site.url('/index.xml')}\n", content_type="text/plain")
    site.add("/index.xml", sitemapindex(listed, {posts: "2024-06-01"}))
    # Unchanged, and its index lastmod says so: the second run must not download it.
    site.add("/posts.xml", urlset([site.url("/p1"), site.url("/p2")]))
    # Unchanged, answering a matching If-None-Match with 304.
    site.add("/news.xml", urlset([site.url("/n1"), site.url("/n2")]), headers={"ETag": NEWS_ETAG})
    if second_run:
        site.add("/pages.xml", _urlset(site, [("/a1", None), ("/a2", "2024-02-01"), ("/a4", None)]))
        site.add("/old.xml", "oops", status=500, content_type="text/plain")
        site.add("/new.xml", urlset([site.url("/w1")]))
        del site.routes["/gone.xml"]
    else:
        site.add("/pages.xml", _urlset(site, [("/a1", None), ("/a2", "2024-01-01"), ("/a3", None)]))
        site.add("/old.xml", urlset([site.url("/o1")]))
        site.add("/gone.xml", urlset([site.url("/g1")]))


@pytest.fixture
def two_runs(site, tmp_path, staff, settings):
    settings.SITEMAPS_PROBE_WELL_KNOWN = False
    publish(site)
    path = tmp_path / "domains.txt"
    path.write_text(f"{site.origin}\n")
    out, _ = run("import_domains", str(path), "--sync", "--json")
    first = Batch.objects.get(pk=last_json(out)["batch_id"])
    first_export, _ = run("export_urls", str(first.pk))
    publish(site, second_run=True)
    site.requests.clear()
    site.hits.clear()
    out, _ = run("rerun_batch", str(first.pk), "--sync", "--json")
    second = Batch.objects.get(pk=last_json(out)["batch_id"])
    return first, second, last_json(out), first_export
