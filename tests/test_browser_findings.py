"""A person in headless Chromium asks "why did these fail" and "what is wrong with these sitemaps"."""

import io
import socket

from django.core.management import call_command

from batches.models import Batch
from tests.sites import urlset
from tests.test_browser import (  # noqa: F401 (its fixtures, and its markers: browser, slow, skip without Chromium)
    browser, downloads, log_in, pytestmark, screenshots, shoot, text_of, wait_for,
)


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_summary_answers_why_domains_failed_and_what_is_wrong_in_two_clicks(
        browser, live_server, site_factory, owner, shoot, tmp_path):
    from selenium.webdriver.common.by import By

    good, broken = site_factory(), site_factory()
    good.add("/robots.txt", f"Sitemap: {good.url('/sitemap.xml')}\n", content_type="text/plain")
    good.add("/sitemap.xml", urlset([good.url("/a")]))
    broken.add("/robots.txt", f"Sitemap: {broken.url('/gone.xml')}\nSitemap: {broken.url('/s.xml')}\n",
               content_type="text/plain")
    broken.add("/s.xml", urlset([broken.url("/b"), "https://elsewhere.example/c"]))
    path = tmp_path / "domains.txt"
    path.write_text(f"{good.origin}\n{broken.origin}\nhttp://gone-away.invalid\nhttp://127.0.0.1:{closed_port()}\n")
    call_command("import_domains", str(path), "--sync", "--user", "owner", stdout=io.StringIO(),
                 stderr=io.StringIO())
    batch = Batch.objects.get()

    log_in(browser, live_server, shoot, "owner", "owner-pass-123")
    browser.get(live_server.url + batch.get_absolute_url())
    assert text_of(browser, "#error-summary tbody").splitlines() == [
        "dns Name does not resolve 1", "refused Connection refused 1"]
    assert text_of(browser, "#finding-summary tbody").splitlines() == [
        "cross_host_url URL on another host 1 1", "http_error HTTP error 1 1"]
    shoot("findings-summary")

    browser.find_element(By.LINK_TEXT, "dns").click()
    wait_for(browser, lambda: "error=dns" in browser.current_url)
    assert "gone-away.invalid" in text_of(browser, "#domain-table tbody")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#domain-table tbody tr")) == 1
    assert "Failed 2" in text_of(browser, "nav.tabs")

    browser.get(live_server.url + batch.get_absolute_url())
    browser.find_element(By.LINK_TEXT, "http_error").click()
    wait_for(browser, lambda: "finding=http_error" in browser.current_url)
    rows = browser.find_elements(By.CSS_SELECTOR, "#domain-table tbody tr")
    assert [row.find_element(By.CSS_SELECTOR, ".name").text for row in rows] == [broken.origin.removeprefix("http://")]  # the host, as the table shows it
    shoot("findings-filtered")

    browser.get(live_server.url + batch.get_absolute_url())
    browser.find_element(By.ID, "domain-q").send_keys("invalid")
    browser.find_element(By.CSS_SELECTOR, "#domain-filters button[type=submit]").click()
    wait_for(browser, lambda: "q=invalid" in browser.current_url)
    rows = browser.find_elements(By.CSS_SELECTOR, "#domain-table tbody tr")
    assert [row.find_element(By.CSS_SELECTOR, ".name").text for row in rows] == ["gone-away.invalid"]

    rows[0].find_element(By.CSS_SELECTOR, ".name a").click()
    wait_for(browser, lambda: browser.find_elements(By.ID, "finding-list"))
    assert "Failed (Name does not resolve, dns):" in text_of(browser, "#domain-error")
    shoot("failed-domain")
