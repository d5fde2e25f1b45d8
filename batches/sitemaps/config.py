from dataclasses import dataclass


@dataclass(frozen=True)
class CrawlConfig:
    """Every bound of a crawl; the Django side builds one from the SITEMAPS_* settings."""

    user_agent: str = "SitemapBatchAdmin/1.0"
    allow_private_hosts: bool = False
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    request_deadline: float = 120.0  # a server that drips bytes forever is cut off here
    domain_deadline: float = 1200.0
    max_sitemap_bytes: int = 200 * 1024 * 1024  # decompressed; the protocol's own limit is 50 MB
    max_robots_bytes: int = 1024 * 1024
    max_depth: int = 5
    max_sitemaps: int = 5000
    max_urls: int = 10_000_000
    max_redirects: int = 10
    concurrency: int = 4
    retries: int = 2
    retry_backoff: float = 1.0
    max_retry_after: float = 30.0
    chunk_size: int = 2000
    probe_well_known: bool = True
    # Politeness across processes: an object with `slot(host) -> context manager`, entered
    # around every request to `host` ("name:port"); None means no gate (tests, benchmarks).
    host_gate: object = None
