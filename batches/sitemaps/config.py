from dataclasses import dataclass, field


@dataclass(frozen=True)
class CrawlConfig:
    """Every bound of a crawl; the Django side builds one from the SITEMAPS_* settings."""

    user_agent: str = "SitemapBatchAdmin/1.0"
    allow_private_hosts: bool = False
    # Addresses the guard lets through although they are not public (an intranet server the
    # operator trusts; the tests' first hop when they check later hops).
    allowed_addresses: tuple = ()
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    request_deadline: float = 120.0  # a server that drips bytes forever is cut off here
    domain_deadline: float = 1200.0
    max_sitemap_bytes: int = 200 * 1024 * 1024  # decompressed; the protocol's own limit is 50 MB
    max_robots_bytes: int = 1024 * 1024  # a longer robots.txt is read up to here, not rejected
    max_home_page_bytes: int = 512 * 1024  # where <link rel="sitemap"> is looked for
    max_depth: int = 5
    max_sitemaps: int = 5000
    max_urls: int = 10_000_000
    max_redirects: int = 10
    concurrency: int = 4
    retries: int = 2
    retry_backoff: float = 1.0
    max_retry_after: float = 30.0
    chunk_size: int = 10_000  # URLs per UrlChunk: one store transaction; larger sorted chunks insert faster
    probe_well_known: bool = True
    # Parse on a helper thread while the caller handles an event (stores a chunk). Pays off
    # when the caller mostly waits on a database server (PostgreSQL); with SQLite, whose
    # inserts release the GIL once per row, a second busy thread slows the writer down.
    parse_ahead: bool = False
    # A function of a chunk's records whose result travels with it (UrlChunk.prepared), called
    # where the records were parsed: on the parse-ahead helper, the caller's per-URL work of
    # storing (keys, row text) is done while the caller waits on its database.
    prepare_chunk: object = None
    # Politeness across processes: an object with `slot(host) -> context manager`, entered
    # around every request to `host` ("name:port"); None means no gate (tests, benchmarks).
    host_gate: object = None
    # A re-run: sitemap normal-form URL -> records.PreviousSitemap. Validators found there are
    # sent as conditional headers and a 304 is reported as unchanged; with trust_index_lastmod,
    # an index child whose <lastmod> equals the previous one is reported unchanged unread.
    previous: dict = field(default_factory=dict)
    trust_index_lastmod: bool = True
