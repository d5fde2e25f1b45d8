"""What the engine emits, in order: a sitemap starts, its URLs arrive in chunks, it finishes."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple


class UrlRecord(NamedTuple):
    loc: str
    lastmod: datetime | None = None
    changefreq: str = ""
    priority: float | None = None
    extras: dict | None = None  # images, videos, news, alternates: only when present


@dataclass
class SitemapStarted:
    key: int
    url: str
    parent_key: int | None
    found_by: str  # robots, well_known, index, home_page
    lastmod: datetime | None = None  # from the parent index


@dataclass
class UrlChunk:
    sitemap_key: int
    urls: list
    # What CrawlConfig.prepare_chunk made of `urls`, in the thread that parsed them (None: no
    # preparer). The caller's store work done where the caller is not waiting for it.
    prepared: object = None


@dataclass
class SitemapFinished:
    key: int
    kind: str = "unknown"
    http_status: int | None = None
    content_type: str = ""
    compressed: bool = False
    bytes: int = 0
    response_ms: int | None = None
    url_count: int = 0
    skipped: int = 0
    generator: str = ""
    error: str = ""
    error_code: str = ""  # one of SitemapProblem, set with `error`
    final_url: str = ""  # where the last redirect hop landed ("" or the URL itself: no redirect)
    # Entries the parser skipped or flagged, by reason (SkipReason values -> count).
    skipped_by_reason: dict = field(default_factory=dict)
    etag: str = ""  # validators for conditional re-runs
    last_modified: str = ""
    # Not read this time: it answered 304 Not Modified, or its index lastmod did not move since
    # the previous run (CrawlConfig.previous); the caller keeps what that run stored.
    unchanged: bool = False


class PreviousSitemap(NamedTuple):
    """What the previous run knew of a sitemap URL (CrawlConfig.previous, keyed by normal form)."""

    etag: str = ""  # sent back as If-None-Match
    last_modified: str = ""  # sent back as If-Modified-Since
    lastmod: datetime | None = None  # as its parent index gave it


@dataclass
class CrawlFinished:
    origin: str = ""
    sitemaps: int = 0
    sitemaps_failed: int = 0
    urls: int = 0
    skipped: int = 0
    error: str = ""  # set only when nothing could be read at all: the domain failed
    error_code: str = ""  # one of DomainError, set with `error`
    notes: list = field(default_factory=list)  # caps hit, deadlines reached
    robots_status: int | None = None  # HTTP status of the origin's robots.txt (None: no answer)
    robots_bytes: int = 0
    robots_error: str = ""


class DomainError:
    """Why a domain failed: a stable code beside the readable text (README "Error codes")."""

    DNS = "dns"  # the name does not resolve
    REFUSED = "refused"  # the connection was refused
    TIMEOUT = "timeout"  # no answer in time
    TLS = "tls"  # the TLS handshake or certificate failed
    BLOCKED = "blocked"  # the address guard refused the target
    HTTP_ERROR = "http_error"  # the host answered, only with HTTP errors
    NO_READABLE_SITEMAP = "no_readable_sitemap"  # sitemaps were named, none could be read
    DEADLINE = "deadline"  # the domain's time limit ran out first
    INTERNAL = "internal"  # a bug of ours


class SitemapProblem:
    """Why one sitemap file could not be (fully) read."""

    HTTP_ERROR = "http_error"
    NOT_A_SITEMAP = "not_a_sitemap"
    XML_ERROR = "xml_error"
    COMPRESSION_ERROR = "compression_error"
    TOO_LARGE = "too_large"
    TIMEOUT = "timeout"
    BLOCKED = "blocked"
    CONNECTION = "connection"
    INTERNAL = "internal"


class SkipReason:
    """Entries a parser skipped (or kept but flagged), counted in SitemapFinished.skipped_by_reason."""

    INVALID_LOC = "invalid_loc"  # skipped: relative, not http(s), unparsable, empty
    LOC_TOO_LONG = "loc_too_long"  # skipped: over the loc length limit
    HTML_ENTITY = "html_entity"  # skipped: an undecodable entity in the loc
    INVALID_LASTMOD = "invalid_lastmod"  # kept, without its lastmod


class Kind:
    INDEX = "index"
    URLSET = "urlset"
    TEXT = "text"
    RSS = "rss"
    ATOM = "atom"
    NOT_SITEMAP = "not_sitemap"


class ChildSitemap:
    __slots__ = ("url", "lastmod")

    def __init__(self, url, lastmod):
        self.url = url
        self.lastmod = lastmod
