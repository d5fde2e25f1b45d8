"""A person in headless Chromium: log in, paste domains, watch the batch finish, inspect, export.

Drives Debian's /usr/bin/chromium through /usr/bin/chromedriver (Selenium Manager never
downloads anything). The domains are processed by this test's thread, one at a time, while
the browser polls: so the test sees the progress bar move on an open page. (django-q2's sync
mode would finish every domain inside the POST, before the page could show any progress.)
Screenshots of every page go to artifacts/screenshots/.
"""

import csv
import io
import shutil
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from batches.models import ApiToken, Batch, BatchStatus, Domain
from tests.sites import sitemapindex, urlset

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
                       reason="needs Debian's chromium and chromium-driver packages"),
]


@pytest.fixture
def downloads(tmp_path):
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


def start_chromium(profile, downloads, javascript=True):
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", "--window-size=1280,1000", f"--user-data-dir={profile}"):
        options.add_argument(argument)
    prefs = {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    if not javascript:
        prefs["profile.default_content_setting_values.javascript"] = 2
    options.add_experimental_option("prefs", prefs)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    return driver


@pytest.fixture
def browser(tmp_path, downloads):
    driver = start_chromium(tmp_path / "profile", downloads)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def screenshots():
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    return SCREENSHOTS


@pytest.fixture
def shoot(browser, screenshots, capsys):
    """Save a full-height screenshot of the current page as NN-name.png."""
    taken = []

    def take(name):
        time.sleep(0.6)  # let the progress bar's width transition end
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1280, max(800, min(height + 40, 4000)))
        path = screenshots / f"{len(list(screenshots.glob('*.png'))) + 1:02d}-{name}.png"
        browser.save_screenshot(str(path))
        browser.set_window_size(1280, 1000)
        taken.append(path)

    yield take
    with capsys.disabled():
        print(f"\nbrowser screenshots ({len(list(screenshots.glob('*.png')))} so far): {screenshots}")


def wait_for(browser, condition, timeout=30):
    """Poll the condition until it holds; an element replaced mid-check counts as "not yet"."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    def holds(driver):
        try:
            return condition()
        except WebDriverException as error:
            if not _replaced(error):
                raise
            return False

    return WebDriverWait(browser, timeout, poll_frequency=0.1).until(holds)


def _replaced(error):
    """Whether the element was swapped out by the page's polling before we used it. Chrome
    reports that as a stale reference, or, when the swap lands mid-command, as an inspector
    error naming a node that "does not belong to the document"."""
    from selenium.common.exceptions import StaleElementReferenceException

    return isinstance(error, StaleElementReferenceException) or "does not belong to the document" in str(error)


def _again_when_replaced(action):
    """Run the action, looking again (up to ten times) when its element was replaced."""
    from selenium.common.exceptions import WebDriverException

    for _ in range(10):
        try:
            return action()
        except WebDriverException as error:
            if not _replaced(error):
                raise
            time.sleep(0.05)
    return action()


def text_of(browser, selector):
    """The element's text; the page swaps its live parts in while it polls."""
    from selenium.webdriver.common.by import By

    return _again_when_replaced(lambda: browser.find_element(By.CSS_SELECTOR, selector).text)


def click(browser, by, selector):
    """Click an element that may sit in a live part of the page (swapped in while it polls)."""
    return _again_when_replaced(lambda: browser.find_element(by, selector).click())


def fixture_sites(site_factory):
    """Three live sites: one with robots.txt -> index -> two urlsets, one plain, one empty."""
    a, b, c = site_factory(), site_factory(), site_factory()
    a.add("/robots.txt", f"User-agent: *\nSitemap: {a.url('/sitemap_index.xml')}\n", content_type="text/plain")
    a.add("/sitemap_index.xml", sitemapindex([a.url("/posts.xml"), a.url("/pages.xml")]))
    posts = "".join(
        f"<url><loc>{a.url(f'/post/{n}')}</loc><lastmod>2024-{n % 12 + 1:02d}-10</lastmod></url>" for n in range(40))
    a.add("/posts.xml", '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
          f"{posts}</urlset>")
    a.add("/pages.xml", urlset([a.url("/"), a.url("/about"), a.url("/contact")]))
    b.add("/sitemap.xml", urlset([b.url("/only")], "<changefreq>weekly</changefreq><priority>0.8</priority>"))
    return a, b, c


def log_in(browser, live_server, shoot, username, password):
    from selenium.webdriver.common.by import By

    browser.get(live_server.url + reverse("batch_list"))
    assert browser.current_url.startswith(live_server.url + reverse("login"))
    browser.find_element(By.ID, "id_username").send_keys(username)
    browser.find_element(By.ID, "id_password").send_keys(password)
    shoot("login")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(browser, lambda: browser.current_url == live_server.url + reverse("batch_list"))


def test_a_person_pastes_domains_watches_them_finish_and_takes_the_urls(
        browser, live_server, site_factory, owner, shoot, downloads):
    from selenium.webdriver.common.by import By

    from batches.tasks import process_domain

    a, b, c = fixture_sites(site_factory)
    log_in(browser, live_server, shoot, "owner", "owner-pass-123")
    assert "No batches yet" in text_of(browser, "main")
    shoot("batch-list-empty")

    # A paste with no valid line is shown back with each line's number and reason.
    browser.find_element(By.LINK_TEXT, "New batch").click()
    browser.find_element(By.ID, "id_domains").send_keys("not a domain\nftp://files.example.com\n")
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait_for(browser, lambda: browser.find_elements(By.ID, "invalid-lines"))
    assert text_of(browser, "#invalid-lines").splitlines() == [
        "Line 1: contains white space not a domain",
        "Line 2: unsupported scheme 'ftp' (only http and https) ftp://files.example.com",
    ]
    shoot("new-batch-errors")

    domains = browser.find_element(By.ID, "id_domains")
    domains.clear()
    domains.send_keys(f"{a.host}\n{b.origin}/any/page\n{c.host}\nhttp://127.0.0.1:9/\n")
    browser.find_element(By.ID, "id_name").send_keys("Local sites")
    shoot("new-batch-filled")
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()

    wait_for(browser, lambda: browser.find_elements(By.ID, "batch-progress"))
    batch = Batch.objects.get()
    assert browser.current_url == live_server.url + reverse("batch_detail", args=[batch.pk])
    assert text_of(browser, ".progress-label") == "0%"
    assert text_of(browser, "[data-status-badge]") == "Pending"
    browser.execute_script("window.stillTheSamePage = true;")
    shoot("batch-pending")

    # Work through the domains here while the open page polls its status endpoint.
    domain_ids = list(Domain.objects.filter(batch=batch).order_by("position").values_list("pk", flat=True))
    process_domain(domain_ids[0])
    wait_for(browser, lambda: text_of(browser, ".progress-label") == "25%")
    assert text_of(browser, "[data-status-badge]") == "Running"
    assert text_of(browser, '[data-count="urls"]') == "43"
    shoot("batch-running")
    for domain_id in domain_ids[1:]:
        process_domain(domain_id)
    wait_for(browser, lambda: text_of(browser, ".progress-label") == "100%")
    wait_for(browser, lambda: text_of(browser, "[data-status-badge]") == "Completed with errors")
    wait_for(browser, lambda: "connection refused" in text_of(browser, "#domain-table"))
    assert browser.execute_script("return window.stillTheSamePage === true;")
    assert text_of(browser, '[data-count="urls"]') == "44"
    assert text_of(browser, '[data-count="domains_failed"]') == "1"
    assert "Retry 1 failed" in text_of(browser, "#batch-actions")
    assert Batch.objects.get().status == BatchStatus.COMPLETED_WITH_ERRORS
    # the actions sit on one line, each as high as a button (Delete was once a tall red box)
    actions = [browser.find_element(By.XPATH, "//section[@id='batch-actions']//button[normalize-space()='Run again']"),
               browser.find_element(By.ID, "repeat-select"),
               browser.find_element(By.XPATH, "//section[@id='batch-actions']//a[normalize-space()='Delete…']")]
    tops = {element.location["y"] + element.size["height"] // 2 for element in actions}
    assert max(tops) - min(tops) <= 3, tops
    assert abs(actions[2].size["height"] - actions[0].size["height"]) <= 2
    shoot("batch-finished")

    click(browser, By.CSS_SELECTOR, ".tabs a[href*='show=failed']")
    rows = browser.find_elements(By.CSS_SELECTOR, "#domain-table tbody tr")
    assert len(rows) == 1 and "127.0.0.1:9" in rows[0].text and "connection refused" in rows[0].text
    shoot("batch-failed-only")
    browser.find_element(By.CSS_SELECTOR, ".tabs a:first-child").click()

    browser.find_element(By.LINK_TEXT, a.host).click()
    wait_for(browser, lambda: browser.find_elements(By.ID, "url-table"))
    tree = [row.text.split()[0] for row in browser.find_elements(By.CSS_SELECTOR, "#sitemap-tree tbody tr")]
    # The index's children are fetched concurrently, so either may be stored first.
    assert tree[:2] == ["robots.txt", "└" + a.url("/sitemap_index.xml")]
    assert sorted(tree[2:]) == ["└" + a.url("/pages.xml"), "└" + a.url("/posts.xml")]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#url-table tbody tr")) == 43
    shoot("domain")

    search = browser.find_element(By.ID, "id_q")
    search.send_keys("post/3")
    search.submit()
    wait_for(browser, lambda: "q=post%2F3" in browser.current_url)
    locs = [link.text for link in browser.find_elements(By.CSS_SELECTOR, "#url-table tbody td.url a")]
    assert locs == [a.url("/post/3")] + [a.url(f"/post/{n}") for n in range(30, 40)]
    shoot("domain-search")

    browser.find_element(By.LINK_TEXT, "Local sites").click()
    browser.find_element(By.LINK_TEXT, "Download CSV").click()
    path = downloads / f"batch-{batch.pk}-urls.csv"
    wait_for(browser, lambda: path.exists() and path.stat().st_size > 0)
    rows = list(csv.reader(io.StringIO(path.read_text())))
    assert rows[0] == ["domain", "sitemap_url", "loc", "lastmod", "changefreq", "priority", "extras"]
    assert len(rows) == 1 + 44
    assert [b.host, b.url("/sitemap.xml"), b.url("/only"), "", "weekly", "0.8", ""] in rows


def test_the_other_pages_look_right(browser, live_server, site_factory, owner, shoot):
    """Screenshots of the pages the first test does not visit: list, delete, tokens."""
    from selenium.webdriver.common.by import By

    from tests.factories import make_batch

    make_batch(owner, name="Competitors, weekly", domains=12, urls_per_domain=30, failed=2)
    make_batch(owner, name="Cancelled run", domains=5, urls_per_domain=3, status=BatchStatus.CANCELLED)
    running = make_batch(owner, name="Still running", domains=8, urls_per_domain=0, status=BatchStatus.RUNNING)
    Batch.objects.filter(pk=running.pk).update(domains_done=3, domains_failed=1, finished_at=None,
                                               started_at=timezone.now() - timedelta(seconds=95))
    Batch.objects.filter(name="Cancelled run").update(domains_done=2, domains_cancelled=3)
    log_in(browser, live_server, shoot, "owner", "owner-pass-123")
    assert [row.text.split("\n")[0] for row in browser.find_elements(By.CSS_SELECTOR, "#batch-table td.name")] == [
        "Still running", "Cancelled run", "Competitors, weekly"]
    shoot("batch-list")

    browser.find_element(By.LINK_TEXT, "Cancelled run").click()
    browser.find_element(By.LINK_TEXT, "Delete…").click()
    shoot("batch-delete-confirm")
    browser.find_element(By.CSS_SELECTOR, "button.danger").click()
    wait_for(browser, lambda: "deleted" in text_of(browser, ".messages"))
    assert not Batch.objects.filter(name="Cancelled run").exists()

    browser.find_element(By.LINK_TEXT, "API tokens").click()
    wait_for(browser, lambda: browser.find_elements(By.ID, "token-table"))
    browser.find_element(By.ID, "id_name").send_keys("nightly script")
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait_for(browser, lambda: browser.find_elements(By.CSS_SELECTOR, "#new-key input"))
    key = browser.find_element(By.CSS_SELECTOR, "#new-key input").get_attribute("value")
    assert ApiToken.objects.get().digest == ApiToken.hash(key)
    shoot("api-tokens")


def test_staff_inspect_a_batch_in_the_admin(browser, live_server, owner, staff, shoot):
    from selenium.webdriver.common.by import By

    from tests.factories import make_batch

    batch = make_batch(owner, name="Competitors, weekly", domains=12, urls_per_domain=30, failed=2)
    log_in(browser, live_server, shoot, "staff", "staff-pass-123")
    browser.get(live_server.url + reverse("admin:batches_batch_changelist"))
    assert "Competitors, weekly" in text_of(browser, "#result_list")
    shoot("admin-batches")
    browser.find_element(By.LINK_TEXT, "failed domains").click()
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert [row.find_element(By.CSS_SELECTOR, "th").text for row in rows] == [
        "site12.example.com", "site11.example.com"]
    shoot("admin-failed-domains")
    browser.get(live_server.url + reverse("admin:batches_url_changelist") + f"?domain__batch__id__exact={batch.pk}")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")) == 100
    shoot("admin-urls")


def closed_ports(count):
    """Loopback ports with nothing listening (bound, then released): connecting is refused."""
    import socket

    ports = []
    for _ in range(count):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    return ports


def test_fifty_domains_with_failures_cancel_and_retry(browser, live_server, site_factory, owner, shoot):
    from selenium.webdriver.common.by import By

    from batches.tasks import process_domain

    sites = [site_factory() for _ in range(40)]
    for n, site in enumerate(sites):
        site.add("/sitemap.xml", urlset([site.url(f"/page/{i}") for i in range(n % 5 + 1)]))
    good = [site.origin for site in sites]
    refused = [f"http://127.0.0.1:{port}" for port in closed_ports(10)]
    lines = [refused.pop() if n % 5 == 4 else good.pop(0) for n in range(50)]  # every fifth one fails
    log_in(browser, live_server, shoot, "owner", "owner-pass-123")
    browser.find_element(By.LINK_TEXT, "New batch").click()
    browser.execute_script("document.getElementById('id_domains').value = arguments[0];", "\n".join(lines))
    browser.find_element(By.ID, "id_name").send_keys("Fifty local domains")
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait_for(browser, lambda: browser.find_elements(By.ID, "batch-progress"))
    batch = Batch.objects.get()
    ids = list(Domain.objects.filter(batch=batch).order_by("position").values_list("pk", flat=True))
    assert len(ids) == 50

    for domain_id in ids[:25]:
        process_domain(domain_id)
    wait_for(browser, lambda: text_of(browser, ".progress-label") == "50%")
    click(browser, By.XPATH, "//button[normalize-space()='Cancel batch']")
    wait_for(browser, lambda: text_of(browser, "[data-status-badge]") == "Cancelled")
    batch.refresh_from_db()
    assert (batch.domains_done, batch.domains_failed, batch.domains_cancelled) == (20, 5, 25)
    assert text_of(browser, '[data-count="domains_cancelled"]') == "25"
    shoot("fifty-cancelled")

    click(browser, By.XPATH, "//button[normalize-space()='Retry 30 failed & cancelled']")
    wait_for(browser, lambda: text_of(browser, "[data-status-badge]") == "Pending")
    for domain_id in Domain.objects.filter(batch=batch, status="queued").values_list("pk", flat=True):
        process_domain(domain_id)
    wait_for(browser, lambda: text_of(browser, "[data-status-badge]") == "Completed with errors")
    batch.refresh_from_db()
    assert (batch.domains_done, batch.domains_failed, batch.domains_cancelled) == (40, 10, 0)
    assert batch.urls_count == sum(n % 5 + 1 for n in range(40)) == 120
    assert text_of(browser, ".progress-label") == "100%"
    assert text_of(browser, '[data-count="urls"]') == "120"
    shoot("fifty-finished")


def test_without_javascript_the_batch_page_refreshes_itself_until_done(tmp_path, downloads, live_server, site,
                                                                        owner, screenshots):
    from selenium.webdriver.common.by import By

    from batches.tasks import process_domain

    site.add("/sitemap.xml", urlset([site.url("/a"), site.url("/b")]))
    browser = start_chromium(tmp_path / "profile-no-js", downloads, javascript=False)
    try:
        browser.get("data:text/html,<title>off</title><script>document.title = 'on'</script>")
        assert browser.title == "off"  # scripts really do not run in this browser
        browser.get(live_server.url + reverse("login"))
        browser.find_element(By.ID, "id_username").send_keys("owner")
        browser.find_element(By.ID, "id_password").send_keys("owner-pass-123")
        browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        # a click does not wait for the login's answer: leaving too early is leaving logged out
        wait_for(browser, lambda: not browser.current_url.startswith(live_server.url + reverse("login")))
        browser.get(live_server.url + reverse("batch_new"))
        browser.find_element(By.ID, "id_domains").send_keys(f"{site.origin}\nhttp://127.0.0.1:9\n")
        browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait_for(browser, lambda: browser.find_elements(By.ID, "batch-progress"))
        assert text_of(browser, ".progress-label") == "0%"
        # (Selenium never reports <noscript> text as visible, so read the markup.)
        assert "<noscript>This page reloads every 5 seconds while the batch runs.</noscript>" in browser.page_source
        for domain_id in Domain.objects.order_by("position").values_list("pk", flat=True):
            process_domain(domain_id)
        wait_for(browser, lambda: text_of(browser, ".progress-label") == "100%", timeout=15)
        assert text_of(browser, "[data-status-badge]") == "Completed with errors"
        assert "connection refused" in text_of(browser, "#domain-table")
        browser.save_screenshot(str(screenshots / "99-batch-finished-without-javascript.png"))
    finally:
        browser.quit()


def test_a_person_reads_a_domains_urls_sorted_searched_and_paged(browser, live_server, owner, shoot):
    """Issue 14, item 12: sitemap order, sort by a column, match count, last page, Unicode host, 404 page."""
    from selenium.webdriver.common.by import By

    from batches.models import Url
    from tests.factories import make_batch

    batch = make_batch(owner, name="Blog", domains=1, urls_per_domain=120)
    batch.domains.update(host="xn--bcher-kva.de", origin="https://xn--bcher-kva.de")
    domain = batch.domains.get()
    for url in Url.objects.filter(domain=domain):
        url.loc = url.loc.replace("/post/", "/blog/").replace("site1.example.com", "xn--bcher-kva.de")
        url.save()
    log_in(browser, live_server, shoot, "owner", "owner-pass-123")
    browser.get(live_server.url + reverse("domain_detail", args=[batch.pk, domain.pk]))

    def first_locs(count=4):
        cells = browser.find_elements(By.CSS_SELECTOR, "#url-table tbody td.url a")
        return [cell.text.rsplit("/", 1)[1] for cell in cells[:count]]

    assert text_of(browser, "#unicode-host") == "bücher.de"
    assert first_locs() == ["0", "1", "2", "3"]  # the sitemap's own order
    shoot("domain-urls-sitemap-order")
    browser.find_element(By.LINK_TEXT, "URL").click()
    wait_for(browser, lambda: "order=loc" in browser.current_url)
    assert first_locs() == ["0", "1", "10", "100"] and "Page 1 of 2" in text_of(browser, "nav.pager")
    browser.find_element(By.LINK_TEXT, "URL ▲").click()
    wait_for(browser, lambda: "order=-loc" in browser.current_url)
    assert first_locs(2) == ["99", "98"]
    browser.find_element(By.LINK_TEXT, "Last »").click()
    wait_for(browser, lambda: "page=2" in browser.current_url)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#url-table tbody tr")) == 20
    shoot("domain-urls-sorted-last-page")

    browser.find_element(By.ID, "id_q").send_keys("blog/1")
    browser.find_element(By.CSS_SELECTOR, "#url-filters button[type=submit]").click()
    wait_for(browser, lambda: "q=blog" in browser.current_url)
    assert text_of(browser, "#match-count") == "31 matches"  # 1, 10-19, 100-119
    shoot("domain-urls-search")

    browser.get(live_server.url + "/batches/999999/")
    assert text_of(browser, "#not-found h1") == "Not found"
    assert browser.find_element(By.LINK_TEXT, "Your batches")
    shoot("not-found")
