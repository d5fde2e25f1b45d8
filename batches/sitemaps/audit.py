"""A sitemap audit computed while a domain is crawled: what is wrong with its sitemaps.

`SitemapAudit` watches the engine's events as the worker stores them (no second pass over the
URLs) and keeps counts, never lists of URLs: per sitemap a few integers and one example loc
per problem, so its memory is bounded by the number of sitemaps (CrawlConfig.max_sitemaps).
After CrawlFinished, `findings()` lists what it saw, one Finding per (code, sitemap).
"""

from datetime import datetime, timedelta, timezone
from typing import NamedTuple
from urllib.parse import urlsplit

from .records import (
    CrawlFinished, DomainError, Kind, SitemapFinished, SitemapProblem, SitemapStarted, SkipReason, UrlChunk,
)

MAX_URLS_PER_FILE = 50_000  # the sitemaps.org limits, which Google enforces
MAX_BYTES_PER_FILE = 52_428_800
MAX_LOC_LENGTH = 2048
# A lastmod this far ahead of the crawl is "in the future": a day absorbs time-zone slips.
FUTURE_TOLERANCE = timedelta(days=1)
DETAIL_LENGTH = 300


class FindingCode:
    """The audit's vocabulary (README "Findings"); batches.models.FindingCode mirrors it."""

    HTTP_ERROR = "http_error"
    NOT_A_SITEMAP = "not_a_sitemap"
    XML_ERROR = "xml_error"
    COMPRESSION_ERROR = "compression_error"
    EMPTY_SITEMAP = "empty_sitemap"
    TOO_MANY_URLS = "too_many_urls"
    TOO_LARGE = "too_large"
    INVALID_LASTMOD = "invalid_lastmod"
    FUTURE_LASTMOD = "future_lastmod"
    INVALID_LOC = "invalid_loc"
    LOC_TOO_LONG = "loc_too_long"
    CROSS_HOST_URL = "cross_host_url"
    SCHEME_MISMATCH = "scheme_mismatch"
    OUTSIDE_SCOPE = "outside_scope"
    DUPLICATE_URL = "duplicate_url"
    INDEX_NESTED = "index_nested"
    REDIRECTED = "redirected"
    NO_SITEMAP = "no_sitemap"
    ROBOTS_MISSING = "robots_missing"
    ROBOTS_ERROR = "robots_error"
    NOT_IN_ROBOTS = "not_in_robots"


class Finding(NamedTuple):
    code: str
    sitemap_key: int | None  # None: about the domain
    count: int
    detail: str


_PROBLEM_FINDINGS = {
    SitemapProblem.HTTP_ERROR: FindingCode.HTTP_ERROR,
    SitemapProblem.TIMEOUT: FindingCode.HTTP_ERROR,  # "answered non-2xx or not at all"
    SitemapProblem.CONNECTION: FindingCode.HTTP_ERROR,
    SitemapProblem.BLOCKED: FindingCode.HTTP_ERROR,
    SitemapProblem.NOT_A_SITEMAP: FindingCode.NOT_A_SITEMAP,
    SitemapProblem.XML_ERROR: FindingCode.XML_ERROR,
    SitemapProblem.COMPRESSION_ERROR: FindingCode.COMPRESSION_ERROR,
}
_SKIP_FINDINGS = {
    SkipReason.INVALID_LOC: FindingCode.INVALID_LOC,
    SkipReason.HTML_ENTITY: FindingCode.INVALID_LOC,
    SkipReason.LOC_TOO_LONG: FindingCode.LOC_TOO_LONG,
    SkipReason.INVALID_LASTMOD: FindingCode.INVALID_LASTMOD,
}
_SKIP_DETAILS = {
    FindingCode.INVALID_LOC: "skipped, the loc is not an absolute http(s) URL",
    FindingCode.LOC_TOO_LONG: "skipped, the loc is over 2,048 characters",
    FindingCode.INVALID_LASTMOD: "kept without their lastmod, which is not a W3C date",
}
_LOC_DETAILS = {
    FindingCode.CROSS_HOST_URL: "on another host than the sitemap's",
    FindingCode.SCHEME_MISMATCH: "on another scheme than the sitemap's",
    FindingCode.OUTSIDE_SCOPE: "not under the sitemap's directory",
    FindingCode.FUTURE_LASTMOD: "with a lastmod in the future",
}
_READABLE_KINDS = (Kind.URLSET, Kind.TEXT, Kind.RSS, Kind.ATOM)


class _Sitemap:
    """What the audit keeps about one sitemap file: counts and one example per problem."""

    __slots__ = ("started", "finished", "prefix", "origin", "scheme", "netloc", "nested", "counts", "examples")

    def __init__(self, started):
        self.started = started
        self.finished = None
        parts = urlsplit(started.url)
        self.scheme, self.netloc = parts.scheme.lower(), parts.netloc.lower()
        directory = parts.path[: parts.path.rfind("/") + 1] or "/"
        # Locs starting with `prefix` are on the same scheme and host and in scope: the fast path.
        self.origin = f"{self.scheme}://{self.netloc}/"
        self.prefix = self.origin[:-1] + directory
        self.nested = 0  # child sitemaps that are indexes themselves
        self.counts = {}
        self.examples = {}

    def add(self, code, count=1, example=""):
        if code in self.counts:
            self.counts[code] += count
            return
        self.counts[code] = count
        if example:
            self.examples[code] = example[:200]


class SitemapAudit:
    def __init__(self, host, now=None):
        self.host = host
        self.future_after = (now or datetime.now(timezone.utc)) + FUTURE_TOLERANCE
        self.sitemaps = {}  # key -> _Sitemap
        self.crawl = None

    def observe(self, event):
        if isinstance(event, UrlChunk):
            self._observe_urls(event)
        elif isinstance(event, SitemapStarted):
            self.sitemaps[event.key] = _Sitemap(event)
        elif isinstance(event, SitemapFinished):
            self._observe_finished(event)
        elif isinstance(event, CrawlFinished):
            self.crawl = event

    def _observe_finished(self, finished):
        sitemap = self.sitemaps.get(finished.key)
        if sitemap is None:
            return
        sitemap.finished = finished
        parent = self.sitemaps.get(sitemap.started.parent_key)
        if parent is not None and finished.kind == Kind.INDEX:
            parent.nested += 1

    def count_duplicates(self, sitemap_key, count):
        """`count` URLs of this sitemap's chunk were already stored for the domain (a negative
        count takes back what a write that was rolled back counted)."""
        sitemap = self.sitemaps.get(sitemap_key)
        if sitemap is None or not count:
            return
        sitemap.add(FindingCode.DUPLICATE_URL, count)
        if sitemap.counts[FindingCode.DUPLICATE_URL] <= 0:
            del sitemap.counts[FindingCode.DUPLICATE_URL]

    def _observe_urls(self, chunk):
        sitemap = self.sitemaps.get(chunk.sitemap_key)
        if sitemap is None:
            return
        prefix, future_after = sitemap.prefix, self.future_after
        for record in chunk.urls:
            if not record.loc.startswith(prefix):
                sitemap.add(_misplaced(sitemap, record.loc), 1, record.loc)
            if record.lastmod is not None and record.lastmod > future_after:
                sitemap.add(FindingCode.FUTURE_LASTMOD, 1, record.loc)

    def findings(self):
        """Every finding, sitemap by sitemap in discovery order, then the domain's own."""
        found = []
        for key, sitemap in self.sitemaps.items():
            found.extend(Finding(code, key, count, detail) for code, count, detail in self._sitemap_findings(sitemap))
        found.extend(Finding(code, None, count, detail) for code, count, detail in self._domain_findings())
        return found

    # --- per sitemap ------------------------------------------------------------------
    def _sitemap_findings(self, sitemap):
        finished = sitemap.finished
        # An unchanged sitemap of a re-run was not read this time: its file has nothing to say.
        if finished is not None and not finished.unchanged:
            yield from self._file_findings(sitemap, finished)
        if sitemap.nested:
            yield FindingCode.INDEX_NESTED, sitemap.nested, (
                f"lists {sitemap.nested} other sitemap index(es), which Google does not follow")
        for code, count in sitemap.counts.items():
            yield code, count, _count_detail(code, count, sitemap.examples.get(code, ""))

    def _file_findings(self, sitemap, finished):
        problem = sitemap_problem(finished)
        code = _PROBLEM_FINDINGS.get(problem)
        if code == FindingCode.HTTP_ERROR:
            yield code, 1, _short(f"HTTP {finished.http_status}" if finished.http_status else finished.error)
        elif code == FindingCode.NOT_A_SITEMAP:
            yield code, 1, _short(f"{finished.content_type or 'a document'} where a sitemap was named")
        elif code is not None:
            yield code, 1, _short(finished.error)
        if finished.final_url and finished.final_url != sitemap.started.url:
            yield FindingCode.REDIRECTED, 1, _short(f"redirected to {finished.final_url}")
        if finished.kind in _READABLE_KINDS and not finished.url_count and not finished.error:
            yield FindingCode.EMPTY_SITEMAP, 1, "a readable sitemap that lists no URL"
        if finished.url_count > MAX_URLS_PER_FILE:
            yield FindingCode.TOO_MANY_URLS, finished.url_count, f"{finished.url_count:,} URLs (the limit is 50,000)"
        if finished.bytes > MAX_BYTES_PER_FILE or problem == SitemapProblem.TOO_LARGE:
            yield FindingCode.TOO_LARGE, 1, f"{finished.bytes:,} bytes uncompressed (the limit is 52,428,800)"
        skipped = {}
        for reason, count in _skipped_by_reason(finished).items():
            code = _SKIP_FINDINGS.get(reason)
            if code and count:
                skipped[code] = skipped.get(code, 0) + count
        for code, count in skipped.items():
            yield code, count, f"{count:,} entr{'y' if count == 1 else 'ies'}: {_SKIP_DETAILS[code]}"

    # --- per domain -------------------------------------------------------------------
    def _domain_findings(self):
        crawl = self.crawl
        if crawl is None or not crawl.origin:
            return  # the domain failed before answering: its error code says why
        status = crawl.robots_status
        robots_unusable = False
        if status is not None and 400 <= status < 500:
            robots_unusable = True
            yield FindingCode.ROBOTS_MISSING, 1, f"{crawl.origin}/robots.txt answered HTTP {status}"
        elif (status is not None and status >= 500) or crawl.robots_error:
            robots_unusable = True
            yield FindingCode.ROBOTS_ERROR, 1, _short(crawl.robots_error or f"robots.txt answered HTTP {status}")
        if not self.sitemaps:
            yield FindingCode.NO_SITEMAP, 1, "no sitemap in robots.txt, at the usual paths or on the home page"
            return
        if robots_unusable:
            return  # "not listed" says nothing new when there is no robots.txt to list it
        for sitemap in self.sitemaps.values():
            if sitemap.started.found_by in ("well_known", "home_page") and sitemap.started.parent_key is None:
                yield FindingCode.NOT_IN_ROBOTS, 1, _short(f"{sitemap.started.url} is not listed in robots.txt")


def _misplaced(sitemap, loc):
    """Which rule a loc outside the sitemap's prefix breaks (string checks: this runs per URL)."""
    if loc.startswith(sitemap.origin):
        return FindingCode.OUTSIDE_SCOPE
    scheme, _, rest = loc.partition("://")
    netloc = rest.partition("/")[0].partition("?")[0].partition("#")[0].lower()
    if netloc != sitemap.netloc:
        return FindingCode.CROSS_HOST_URL
    if scheme.lower() != sitemap.scheme:
        return FindingCode.SCHEME_MISMATCH
    return FindingCode.OUTSIDE_SCOPE  # the same origin spelled differently (upper case, no path)


def _count_detail(code, count, example):
    if code == FindingCode.DUPLICATE_URL:
        return f"{count:,} URL{'s' if count != 1 else ''} already listed by a sitemap of this domain"
    text = f"{count:,} URL{'s' if count != 1 else ''} {_LOC_DETAILS.get(code, '')}"
    return _short(f"{text}, e.g. {example}" if example else text)


def _short(text):
    return text if len(text) <= DETAIL_LENGTH else text[: DETAIL_LENGTH - 1] + "…"


# --- codes: from the records' fields, or (until the engine fills them) from the text ----------
def sitemap_problem(finished):
    """The SitemapProblem of a finished sitemap, "" when it was read without trouble."""
    if finished.unchanged:  # a 304 (or an unmoved index lastmod) on a re-run: nothing wrong
        return ""
    if finished.error_code:
        return finished.error_code
    if finished.http_status is not None and not 200 <= finished.http_status < 300:
        return SitemapProblem.HTTP_ERROR
    if finished.kind == Kind.NOT_SITEMAP and not finished.error:
        return SitemapProblem.NOT_A_SITEMAP
    return _fallback_problem_from_text(finished.error) if finished.error else ""


def domain_error_code(crawl):
    """The DomainError of a failed crawl, "" when the domain did not fail."""
    if not crawl.error:
        return ""
    return crawl.error_code or _fallback_domain_error_from_text(crawl.error)


def _skipped_by_reason(finished):
    if finished.skipped_by_reason:
        return finished.skipped_by_reason
    # FALLBACK until the engine fills skipped_by_reason: today's skipped entries are locs.
    return {SkipReason.INVALID_LOC: finished.skipped} if finished.skipped else {}


# FALLBACK: until the engine sets error_code on its records, the codes are read from today's
# error text (fetch.py's _describe, guard.py, parse_xml.py, engine.py). Remove with the engine
# change; nothing else here reads error text.
_DOMAIN_MARKERS = (  # most telling first: a guard refusal or a TLS failure explains a refusal elsewhere
    ("refused to fetch", DomainError.BLOCKED),
    ("TLS", DomainError.TLS),
    ("timed out", DomainError.TIMEOUT),
    ("no answer within", DomainError.TIMEOUT),
    ("took longer than", DomainError.TIMEOUT),
    ("connection refused", DomainError.REFUSED),
    ("connection reset", DomainError.REFUSED),
    ("closed the connection", DomainError.REFUSED),
    ("does not resolve", DomainError.DNS),
)
_SITEMAP_MARKERS = (
    ("XML error", SitemapProblem.XML_ERROR),
    ("declares a DTD", SitemapProblem.XML_ERROR),
    ("compressed data", SitemapProblem.COMPRESSION_ERROR),
    ("truncated gzip", SitemapProblem.COMPRESSION_ERROR),
    ("truncated deflate", SitemapProblem.COMPRESSION_ERROR),
    ("Content-Encoding", SitemapProblem.COMPRESSION_ERROR),
    ("byte limit", SitemapProblem.TOO_LARGE),
    ("refused to fetch", SitemapProblem.BLOCKED),
    ("timed out", SitemapProblem.TIMEOUT),
    ("no answer within", SitemapProblem.TIMEOUT),
    ("took longer than", SitemapProblem.TIMEOUT),
    ("no data for", SitemapProblem.TIMEOUT),
    ("internal error", SitemapProblem.INTERNAL),
)


def _fallback_domain_error_from_text(error):
    if error.startswith("internal error") or error == "the crawl ended without a result":
        return DomainError.INTERNAL
    if error.startswith("no sitemap could be read"):
        return DomainError.NO_READABLE_SITEMAP
    if "domain time limit" in error:
        return DomainError.DEADLINE
    for marker, code in _DOMAIN_MARKERS:
        if marker in error:
            return code
    return DomainError.INTERNAL


def _fallback_problem_from_text(error):
    for marker, code in _SITEMAP_MARKERS:
        if marker in error:
            return code
    if error.startswith("stopped at"):
        return ""  # a crawl limit, not a problem of the file
    return SitemapProblem.CONNECTION
