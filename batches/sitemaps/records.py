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


@dataclass
class CrawlFinished:
    origin: str = ""
    sitemaps: int = 0
    sitemaps_failed: int = 0
    urls: int = 0
    skipped: int = 0
    error: str = ""  # set only when nothing could be read at all: the domain failed
    notes: list = field(default_factory=list)  # caps hit, deadlines reached


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
