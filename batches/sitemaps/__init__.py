"""The sitemap engine: plain Python, no Django. A domain goes in; sitemap and URL records stream out.

    for event in crawl_domain("example.com", CrawlConfig()):
        ...  # SitemapStarted, UrlChunk, SitemapFinished, CrawlFinished

See `engine.crawl_domain` for the contract.
"""

from .config import CrawlConfig
from .engine import crawl_domain
from .records import CrawlFinished, PreviousSitemap, SitemapFinished, SitemapStarted, UrlChunk, UrlRecord

__all__ = [
    "CrawlConfig",
    "CrawlFinished",
    "PreviousSitemap",
    "SitemapFinished",
    "SitemapStarted",
    "UrlChunk",
    "UrlRecord",
    "crawl_domain",
]
