"""Where a site's sitemaps are announced: robots.txt, well-known paths and the home page."""

import re
from urllib.parse import urljoin, urlsplit

# Paths probed on every origin besides what robots.txt names; the order is the probing order.
# Sources: the sitemaps.org convention (/sitemap.xml, also Shopify, Wix, Squarespace, Drupal,
# Next.js), Yoast / Rank Math / SEOPress (/sitemap_index.xml), All in One SEO and many static
# generators (/sitemap-index.xml), WordPress core (/wp-sitemap.xml), gzipped and plain-text
# variants, Magento 2 (/pub/sitemap.xml), and names seen on hand-made sites.
WELL_KNOWN_PATHS = (
    "/sitemap.xml",
    "/sitemap_index.xml",
    "/sitemap-index.xml",
    "/sitemap.xml.gz",
    "/sitemap_index.xml.gz",
    "/wp-sitemap.xml",
    "/sitemap.txt",
    "/sitemapindex.xml",
    "/sitemaps.xml",
    "/sitemap1.xml",
    "/sitemap/sitemap.xml",
    "/sitemaps/sitemap.xml",
    "/pub/sitemap.xml",
    "/sitemap.php",
)

_ROBOTS_SITEMAP = re.compile(rb"^\s*site-?map\s*:\s*(\S.*?)\s*$", re.IGNORECASE)
_LINK_TAG = re.compile(rb"<link\b[^>]*>", re.IGNORECASE)
_ATTRIBUTE = re.compile(rb"""([a-z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)


def robots_sitemaps(body, robots_url):
    """Every `Sitemap:` (or `Site-map:`) line, absolute, in file order, de-duplicated."""
    found = []
    for raw_line in body.splitlines():
        match = _ROBOTS_SITEMAP.match(raw_line.lstrip(b"\xef\xbb\xbf"))
        if not match:
            continue
        # a trailing "# comment" goes; a URL's fragment is never sent to the server anyway
        value = match.group(1).split(b"#", 1)[0].strip()
        url = _absolute(value.decode("utf-8", "replace"), robots_url)
        if url and url not in found:
            found.append(url)
    return found


def home_page_sitemaps(body, page_url):
    """<link rel="sitemap" href="..."> in the first bytes of the home page."""
    found = []
    for tag in _LINK_TAG.findall(body):
        attributes = {m.group(1).lower(): (m.group(2) or m.group(3) or m.group(4) or b"") for m in _ATTRIBUTE.finditer(tag)}
        if b"sitemap" not in attributes.get(b"rel", b"").lower().split():
            continue
        url = _absolute(attributes.get(b"href", b"").decode("utf-8", "replace").strip(), page_url)
        if url and url not in found:
            found.append(url)
    return found


def well_known_urls(origin):
    return [origin + path for path in WELL_KNOWN_PATHS]


def _absolute(value, base):
    value = value.strip().strip("<>\"'")
    if not value:
        return None
    url = urljoin(base, value)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return url
