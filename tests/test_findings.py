"""Findings and error codes end to end: fixture sites with known problems, crawled by the worker,
read back through export_findings and export_domains."""

import csv
import io
import socket

import pytest
from django.core.management import call_command
from django.db import transaction

from batches.models import Batch, Domain, Finding, SitemapFile
from batches.services import rerun_batch
from batches.worker import process_batch_here
from tests.sites import sitemapindex, urlset

pytestmark = pytest.mark.django_db(transaction=True)


def export(command, batch):
    out = io.StringIO()
    call_command(command, str(batch.pk), stdout=out)
    return list(csv.DictReader(io.StringIO(out.getvalue())))


def run_batch(tmp_path, entries):
    path = tmp_path / "domains.txt"
    path.write_text("".join(f"{entry}\n" for entry in entries))
    call_command("import_domains", str(path), "--sync", stdout=io.StringIO(), stderr=io.StringIO())
    return Batch.objects.get()


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def unanswering():
    """A port whose listen queue is full: connections are never accepted and time out."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for sock in [server, *fillers]:
        sock.close()


def robots(site, *paths):
    lines = ["User-agent: *", "Disallow:"] + [f"Sitemap: {site.url(path)}" for path in paths]
    site.add("/robots.txt", "\n".join(lines) + "\n", content_type="text/plain")


@pytest.fixture
def problem_sites(site_factory):
    """name -> site; every site has a robots.txt, so robots findings depend on its content only."""
    sites = {name: site_factory() for name in ("clean", "broken", "html", "dupes", "empty", "nothing", "unreadable")}
    clean = sites["clean"]
    robots(clean, "/sitemap.xml")
    clean.add("/sitemap.xml", urlset([clean.url("/a"), clean.url("/b")]))

    broken = sites["broken"]  # one sitemap missing, one cut off after its first URL
    robots(broken, "/gone.xml", "/cut.xml")
    whole = urlset([broken.url("/kept"), broken.url("/lost")])
    broken.add("/cut.xml", whole[: whole.index(f"<url><loc>{broken.url('/lost')}")])

    html = sites["html"]  # robots names an HTML page; the probed sitemap.xml lists another host
    robots(html, "/page.xml")
    html.add("/page.xml", "<!doctype html><html><head><title>Hi</title></head></html>", content_type="text/html")
    html.add("/sitemap.xml", urlset([html.url("/own"), "https://elsewhere.example/page"]))

    dupes = sites["dupes"]  # an index of an index, and two sitemaps sharing a URL
    robots(dupes, "/index.xml", "/extra.xml")
    dupes.add("/index.xml", sitemapindex([dupes.url("/inner.xml")]))
    dupes.add("/inner.xml", sitemapindex([dupes.url("/posts.xml")]))
    dupes.add("/posts.xml", urlset([dupes.url("/p1"), dupes.url("/p2")]))
    dupes.add("/extra.xml", urlset([dupes.url("/p2"), dupes.url("/p3")]))

    empty = sites["empty"]  # robots lists nothing; the probe finds an empty sitemap
    robots(empty)
    empty.add("/sitemap.xml", urlset([]))

    robots(sites["nothing"])  # no sitemap anywhere

    unreadable = sites["unreadable"]  # the only sitemap breaks before its first URL
    robots(unreadable, "/bad.xml")
    unreadable.add("/bad.xml", '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>')
    return sites


def test_it_exports_the_exact_findings_of_each_problem_site(tmp_path, problem_sites):
    batch = run_batch(tmp_path, [site.origin for site in problem_sites.values()])
    host = {name: site.host for name, site in problem_sites.items()}

    pairs = {(row["domain"], row["code"]) for row in export("export_findings", batch)}

    assert pairs == {
        (host["broken"], "http_error"), (host["broken"], "xml_error"),
        (host["html"], "not_a_sitemap"), (host["html"], "cross_host_url"), (host["html"], "not_in_robots"),
        (host["dupes"], "index_nested"), (host["dupes"], "duplicate_url"),
        (host["empty"], "empty_sitemap"), (host["empty"], "not_in_robots"),
        (host["nothing"], "no_sitemap"),
        (host["unreadable"], "xml_error"),
    }


def test_the_findings_export_names_the_sitemap_and_counts(tmp_path, problem_sites):
    dupes, nothing = problem_sites["dupes"], problem_sites["nothing"]
    batch = run_batch(tmp_path, [dupes.origin, nothing.origin])
    rows = export("export_findings", batch)
    by_code = {row["code"]: row for row in rows}
    assert list(rows[0]) == ["domain", "sitemap_url", "code", "count", "detail"]
    assert (by_code["index_nested"]["sitemap_url"], by_code["index_nested"]["count"]) == (dupes.url("/index.xml"), "1")
    assert by_code["duplicate_url"]["sitemap_url"] in (dupes.url("/posts.xml"), dupes.url("/extra.xml"))
    assert by_code["duplicate_url"]["count"] == "1"
    assert by_code["duplicate_url"]["detail"] == "1 URL already listed by a sitemap of this domain"
    assert by_code["no_sitemap"]["sitemap_url"] == ""
    assert Domain.objects.get(host=dupes.host).findings_count == 2


def test_failed_domains_say_why_with_a_code(tmp_path, problem_sites, unanswering, settings):
    settings.SITEMAPS_CONNECT_TIMEOUT = 0.5
    refused = f"http://127.0.0.1:{closed_port()}"
    timeout = f"http://127.0.0.1:{unanswering}"
    entries = ["http://nothing-here.invalid", refused, timeout, problem_sites["unreadable"].origin,
               problem_sites["clean"].origin]
    batch = run_batch(tmp_path, entries)

    rows = export("export_domains", batch)

    assert list(rows[0])[:9] == [
        "domain", "status", "origin", "sitemaps", "sitemaps_failed", "urls", "error_code", "error", "findings"]
    outcome = {row["domain"]: (row["status"], row["error_code"]) for row in rows}
    assert outcome == {
        "nothing-here.invalid": ("failed", "dns"),
        refused.removeprefix("http://"): ("failed", "refused"),
        timeout.removeprefix("http://"): ("failed", "timeout"),
        problem_sites["unreadable"].host: ("failed", "no_readable_sitemap"),
        problem_sites["clean"].host: ("done", ""),
    }
    clean = next(row for row in rows if row["domain"] == problem_sites["clean"].host)
    assert (clean["sitemaps"], clean["sitemaps_failed"], clean["urls"], clean["findings"]) == ("1", "0", "2", "0")
    assert SitemapFile.objects.get(url=problem_sites["unreadable"].url("/bad.xml")).error_code == "xml_error"


def test_a_guarded_address_fails_as_blocked(tmp_path, site, settings):
    settings.SITEMAPS_ALLOW_PRIVATE_HOSTS = False
    robots(site, "/sitemap.xml")
    site.add("/sitemap.xml", urlset([site.url("/a")]))
    batch = run_batch(tmp_path, [site.origin])
    [row] = export("export_domains", batch)
    assert (row["status"], row["error_code"], row["findings"]) == ("failed", "blocked", "0")
    assert site.hits == {}


def test_a_second_run_replaces_the_findings_of_the_first(tmp_path, problem_sites):
    batch = run_batch(tmp_path, [problem_sites["empty"].origin])
    assert Finding.objects.count() == 2
    # A domain processed again (a retry, a run whose worker died) starts from no findings.
    batch.requeue(Domain.objects.filter(batch=batch), attempts=0)
    process_batch_here(batch.pk)
    assert sorted(Finding.objects.values_list("code", flat=True)) == ["empty_sitemap", "not_in_robots"]


def test_a_rerun_has_findings_of_its_own_and_the_first_batch_keeps_its(tmp_path, problem_sites):
    batch = run_batch(tmp_path, [problem_sites["empty"].origin])
    with transaction.atomic():
        rerun = rerun_batch(batch.pk)
    process_batch_here(rerun.pk)
    for run in (batch, rerun):
        assert sorted(Finding.objects.filter(batch=run).values_list("code", flat=True)) == [
            "empty_sitemap", "not_in_robots"]


def test_a_sitemap_behind_php_warnings_is_read_and_its_owner_told(tmp_path, site):
    """WordPress sites often print a plugin's warning before the XML declaration."""
    robots(site, "/wp-sitemap.xml")
    warning = "<br />\n<b>Warning</b>:  Undefined variable $x in <b>/var/www/x.php</b> on line <b>7</b><br />\n"
    site.add("/wp-sitemap.xml", warning + urlset([site.url("/a"), site.url("/b")]))
    batch = run_batch(tmp_path, [site.origin])

    [domain] = export("export_domains", batch)
    stored = set(batch.domains.get().urls.values_list("loc", flat=True))
    [finding] = export("export_findings", batch)
    expected = ("XML error: 94 bytes before the XML declaration were skipped "
                "(<br /> <b>Warning</b>: Undefined variable $x in <b>/var/www/x.php</b> on line...)")
    assert (domain["status"], domain["urls"], stored) == ("done", "2", {site.url("/a"), site.url("/b")})
    assert (finding["sitemap_url"], finding["code"], finding["detail"]) == (site.url("/wp-sitemap.xml"), "xml_error", expected)
    assert SitemapFile.objects.get(url=site.url("/wp-sitemap.xml")).error == expected
