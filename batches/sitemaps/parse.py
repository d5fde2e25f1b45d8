"""Reading a sitemap body as a stream: XML urlsets and indexes, plain text, RSS and Atom.

The kind is decided by the content, never by the file name or Content-Type. XML is read with
lxml's iterparse in recover mode, with elements cleared as they are consumed, so memory stays
flat whatever the file size; entities are never resolved and the network is never touched.
"""

import re

from lxml import etree

from .fetch import BodyError
from .values import parse_changefreq, parse_lastmod, parse_priority
from .records import UrlRecord

MAX_LOC_LENGTH = 2048
HEAD_SIZE = 4096
_ABSOLUTE = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)
_HTML_MARKERS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<meta ", b"<title", b"<script")
_GENERATORS = (  # (marker in the first bytes, name), first match wins
    (b"yoast", "Yoast SEO"),
    (b"rank math", "Rank Math"),
    (b"rankmath", "Rank Math"),
    (b"aioseo", "All in One SEO"),
    (b"all in one seo", "All in One SEO"),
    (b"wp-sitemap", "WordPress core"),
    (b"seopress", "SEOPress"),
    (b"google-sitemap-generator", "Google XML Sitemaps"),
    (b"generator=\"wordpress", "WordPress"),
    (b"shopify", "Shopify"),
    (b"wix.com", "Wix"),
    (b"squarespace", "Squarespace"),
    (b"xml-sitemaps.com", "XML-Sitemaps.com"),
    (b"screaming frog", "Screaming Frog"),
    (b"drupal", "Drupal"),
    (b"magento", "Magento"),
    (b"prestashop", "PrestaShop"),
)


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


class SitemapReader:
    """Iterate a body; yields UrlRecord (urlset, text, feeds) or ChildSitemap (index).

    After (or during) iteration: `kind`, `generator`, `skipped` (entries that had no usable
    loc) and `error` (why reading stopped early; entries before the damage were yielded).
    """

    def __init__(self, stream, url=""):
        self.stream = stream
        self.url = url
        self.kind = Kind.NOT_SITEMAP
        self.generator = ""
        self.skipped = 0
        self.error = ""

    def __iter__(self):
        try:
            head = _read_head(self.stream)
            self.generator = detect_generator(head, self.url)
            shape = sniff(head)
            body = _Prefixed(head.lstrip(b"\xef\xbb\xbf \t\r\n"), self.stream)
            if shape == "xml":
                yield from self._read_xml(body)
            elif shape == "text":
                self.kind = Kind.TEXT
                yield from self._read_text(body)
        except BodyError as exc:
            self.error = str(exc)

    # --- XML ------------------------------------------------------------------
    def _read_xml(self, body):
        events = etree.iterparse(
            body, events=("start", "end"), resolve_entities=False, no_network=True, load_dtd=False,
            recover=True, huge_tree=False, remove_comments=True, remove_pis=True,
        )
        depth = 0
        entry_depth, entry_name, make = None, None, None
        try:
            for event, element in events:
                if event == "start":
                    depth += 1
                    if depth == 1:
                        self.kind, entry_depth, entry_name, make = _root_plan(_local(element.tag))
                        if make is None:
                            return
                    continue
                depth -= 1
                if depth == entry_depth - 1 and _local(element.tag) == entry_name:
                    record = make(element)
                    if record is None:
                        self.skipped += 1
                    else:
                        yield record
                if depth == entry_depth - 1 or depth == 1:
                    _release(element)
        except etree.XMLSyntaxError as exc:
            self.error = f"XML error: {_xml_message(exc)}"
            return
        self.error = self.error or _recovered_errors(events)

    # --- Plain text -------------------------------------------------------------
    def _read_text(self, body):
        for raw_line in body:
            line = raw_line.strip().decode("utf-8", "replace")
            if not line:
                continue
            loc = clean_loc(line)
            if loc:
                yield UrlRecord(loc)
            else:
                self.skipped += 1


def _root_plan(root):
    """(kind, depth of the entry elements, their name, the function that reads one)."""
    if root == "urlset":
        return Kind.URLSET, 2, "url", _read_url
    if root == "sitemapindex":
        return Kind.INDEX, 2, "sitemap", _read_child
    if root == "rss":
        return Kind.RSS, 3, "item", _read_rss_item
    if root == "feed":
        return Kind.ATOM, 2, "entry", _read_atom_entry
    return Kind.NOT_SITEMAP, 0, None, None


def _local(tag):
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2].rpartition(":")[2].lower()


def _release(element):
    # Keep the tree from growing: drop this element's content and everything read before it.
    element.clear(keep_tail=False)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


def _text(element):
    return (element.text or "").strip()


def clean_loc(text):
    loc = (text or "").strip()
    if not loc or len(loc) > MAX_LOC_LENGTH or not _ABSOLUTE.match(loc):
        return None
    return loc


def _read_url(element):
    loc = lastmod = priority = extras = None
    changefreq = ""
    for child in element:
        name = _local(child.tag)
        if name == "loc":
            loc = _text(child)
        elif name == "lastmod":
            lastmod = parse_lastmod(_text(child))
        elif name == "changefreq":
            changefreq = parse_changefreq(child.text)
        elif name == "priority":
            priority = parse_priority(child.text)
        elif name in _EXTENSIONS:
            extras = extras or {}
            key, value = _EXTENSIONS[name](child)
            if value:
                extras.setdefault(key, []).append(value)
    loc = clean_loc(loc)
    if loc is None:
        return None
    return UrlRecord(loc, lastmod, changefreq, priority, extras)


def _read_child(element):
    loc = lastmod = None
    for child in element:
        name = _local(child.tag)
        if name == "loc":
            loc = _text(child)
        elif name == "lastmod":
            lastmod = parse_lastmod(_text(child))
    loc = clean_loc(loc)
    return ChildSitemap(loc, lastmod) if loc else None


def _read_rss_item(element):
    loc = lastmod = extras = None
    for child in element:
        name = _local(child.tag)
        if name == "link" and not loc:
            loc = _text(child)
        elif name == "guid" and not loc and child.get("isPermaLink", "true") != "false":
            loc = _text(child)
        elif name in ("pubdate", "date", "updated") and lastmod is None:
            lastmod = parse_lastmod(_text(child))
        elif name in ("content", "group", "thumbnail", "enclosure"):
            extras = extras or {}
            extras.setdefault("videos", []).append(_attributes_and_leaves(child))
    loc = clean_loc(loc)
    return UrlRecord(loc, lastmod, "", None, extras) if loc else None


def _read_atom_entry(element):
    loc = lastmod = None
    for child in element:
        name = _local(child.tag)
        if name == "link" and child.get("rel", "alternate") == "alternate" and not loc:
            loc = (child.get("href") or "").strip()
        elif name in ("updated", "published") and lastmod is None:
            lastmod = parse_lastmod(_text(child))
    loc = clean_loc(loc)
    return UrlRecord(loc, lastmod) if loc else None


def _attributes_and_leaves(element):
    """An extension element as a dict: its attributes plus each leaf child's text (nested
    elements such as news:publication become dicts; repeated tags become lists)."""
    result = {key.rpartition("}")[2]: value for key, value in element.attrib.items()}
    for child in element:
        name = _local(child.tag)
        if not name:
            continue
        value = _attributes_and_leaves(child) if len(child) else (_text(child) or dict(child.attrib) or "")
        if isinstance(value, dict) and child.text and child.text.strip():
            value["value"] = child.text.strip()
        if name in result:
            previous = result[name]
            result[name] = previous + [value] if isinstance(previous, list) else [previous, value]
        else:
            result[name] = value
    return result


def _alternate(element):
    if element.get("rel", "alternate") != "alternate":
        return None
    return {key: element.get(key) for key in ("hreflang", "href", "media") if element.get(key)}


_EXTENSIONS = {
    "image": lambda el: ("images", _attributes_and_leaves(el)),
    "video": lambda el: ("videos", _attributes_and_leaves(el)),
    "news": lambda el: ("news", _attributes_and_leaves(el)),
    "link": lambda el: ("alternates", _alternate(el)),
    "content": lambda el: ("videos", _attributes_and_leaves(el)),  # mRSS media:content in a urlset
}


def _xml_message(exc):
    return str(exc).split("\n")[0][:300]


def _recovered_errors(events):
    # In recover mode libxml2 keeps going past damage; report the first fatal error it noted
    # (a truncated file, a broken tag) so the sitemap still shows what went wrong.
    try:
        log = events.error_log
    except AttributeError:
        return ""
    for entry in log:
        if entry.level >= etree.ErrorLevels.ERROR:
            return f"XML error at line {entry.line}: {entry.message.strip()[:250]}"
    return ""


# --- Sniffing ------------------------------------------------------------------
def _read_head(stream):
    chunks, size = [], 0
    while size < HEAD_SIZE:
        data = stream.read(HEAD_SIZE - size)
        if not data:
            break
        chunks.append(data)
        size += len(data)
    return b"".join(chunks)


def sniff(head):
    """'xml', 'text' or 'other', from the first bytes of a (decompressed) body."""
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "xml"  # UTF-16 with a byte order mark: lxml reads it
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n\x00")
    lowered = start[:2048].lower()
    if start.startswith(b"<"):
        if any(marker in lowered for marker in _HTML_MARKERS) and not _has_sitemap_root(lowered):
            return "other"
        return "xml"
    if lowered.startswith((b"http://", b"https://")):
        return "text"
    return "other"


def _has_sitemap_root(lowered):
    return any(root in lowered for root in (b"<urlset", b"<sitemapindex", b"<rss", b"<feed", b":urlset", b":sitemapindex"))


def detect_generator(head, url=""):
    lowered = head[:HEAD_SIZE].lower()
    for marker, name in _GENERATORS:
        if marker in lowered:
            return name
    lowered_url = url.lower()
    if "wp-sitemap" in lowered_url:
        return "WordPress core"
    if "sitemap_products_" in lowered_url or "sitemap_collections_" in lowered_url:
        return "Shopify"
    return ""


class _Prefixed:
    """A stream that yields `prefix` and then the rest of `stream` (the head was already read)."""

    def __init__(self, prefix, stream):
        self.prefix = prefix
        self.stream = stream

    def read(self, size=-1):
        if self.prefix:
            if size is None or size < 0:
                data, self.prefix = self.prefix + self.stream.read(), b""
                return data
            data, self.prefix = self.prefix[:size], self.prefix[size:]
            return data
        return self.stream.read(size if size is not None else -1)

    def __iter__(self):
        pending = b""
        while True:
            data = self.read(64 * 1024)
            if not data:
                break
            pending += data
            lines = pending.split(b"\n")
            pending = lines.pop()
            yield from lines
            if len(pending) > MAX_LOC_LENGTH * 4:
                pending = b""  # an endless "line" is not a URL; drop it rather than buffer it
        if pending:
            yield pending
