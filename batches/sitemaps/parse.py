"""Reading a sitemap body as a stream: XML urlsets and indexes, plain text, RSS and Atom.

The kind is decided by the content, never by the file name or Content-Type: the first bytes
say whether this is XML (parse_xml.py), a plain-text list of URLs, or something else (an HTML
soft 404, an error page), which is recorded as not a sitemap.
"""

import re
from collections import Counter

from .charsets import UTF8, Transcoder, choose_encoding
from .fetch import BodyError
from .parse_xml import XmlFormat
from .records import ChildSitemap, Kind, SitemapProblem, SkipReason, UrlRecord
from .values import MAX_LOC_LENGTH, check_loc, clean_loc

__all__ = ["ChildSitemap", "Kind", "SitemapReader", "clean_loc", "detect_generator", "sniff"]

HEAD_SIZE = 4096
_HTML_MARKERS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<meta ", b"<title", b"<script")
_SITEMAP_ROOTS = (b"<urlset", b"<sitemapindex", b"<rss", b"<feed", b":urlset", b":sitemapindex", b"<rdf:rdf")
_LEADING_SPACE = b"\xef\xbb\xbf \t\r\n\x00"  # before a body's first markup: a BOM, blank lines
# Where the XML of a body with junk before it starts (junk_before_document).
_DECLARATION = re.compile(rb"<\?xml[ \t\r\n][^>]*\?>")
_LATE_DECLARATION = re.compile(rb"<\?xml[ \t\r\n]")
_ROOT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:urlset|sitemapindex)[\s>/]", re.IGNORECASE)
_PROLOG = re.compile(rb"<!--.*?-->|<\?.*?\?>", re.DOTALL)
_PREVIEW_LENGTH = 80
_LINE_BREAK_TAG = re.compile(rb"<br\s*/?>", re.IGNORECASE)
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


class SitemapReader:
    """Read one sitemap pushed to it in byte chunks (already decompressed).

    `feed(data)` and `close()` return the entries completed so far: UrlRecord (urlset, text,
    feeds) or ChildSitemap (index). `stop(reason)` ends a body that broke off (size cap,
    deadline, truncated gzip): what came before it is kept and the reason is the error.
    Iterating a reader built with `chunks` does all of that for an iterable of bytes.
    `charset` is the HTTP Content-Type's charset parameter, if any (charsets.py says who wins).
    Along the way: `kind`, `generator`, `encoding` (the codec read with), `skipped` (entries
    without a usable loc), `skipped_by_reason` (SkipReason -> count, with `invalid_lastmod`
    counting entries kept without their lastmod), `extras_dropped` (extension values over
    their caps), `error` and `error_code` (a SitemapProblem: `xml_error` when the XML is
    damaged or refused, `not_a_sitemap` for an HTML page or another document, "" when fine;
    a reason given to `stop` sets `error` only: the caller knows its code).
    """

    def __init__(self, chunks=(), url="", charset=None):
        self.chunks = chunks
        self.url = url
        self.charset = charset or ""
        self.kind = Kind.NOT_SITEMAP
        self.generator = ""
        self.encoding = UTF8
        self.skipped = 0
        self.skipped_by_reason = {}
        self.extras_dropped = 0
        self.error = ""
        self.error_code = ""
        self._head = []
        self._head_size = 0
        self._junk_error = ""  # the error text for junk before the body's XML (junk_before_document)
        self._transcode = None  # None while the body is UTF-8 already
        self._format = None  # XmlFormat, _TextFormat or _Ignored once the head is seen
        self._closed = False

    def __iter__(self):
        for batch in self.batches():
            yield from batch

    def batches(self):
        try:
            for data in self.chunks:
                records = self.feed(data)
                if records:
                    yield records
        except BodyError as exc:
            yield self.stop(str(exc))
            return
        yield self.close()

    def feed(self, data):
        if self._format is None:
            self._head.append(data)
            self._head_size += len(data)
            if self._head_size < HEAD_SIZE:
                return []
            return self._start()
        records = self._format.feed(self._transcode(data) if self._transcode else data)
        self.kind = self._format.kind  # a misnamed root turns out what its first entry says
        return records

    def close(self):
        if self._closed:
            return []
        records = self._start() if self._format is None else []
        self._closed = True
        if self._transcode:
            records += self._format.feed(self._transcode.flush())
        records += self._format.close()
        if self._format.error and not self.error:
            self.error, self.error_code = self._format.error, SitemapProblem.XML_ERROR
        if self._junk_error and not self.error:
            self.error, self.error_code = self._junk_error, SitemapProblem.XML_ERROR
        self.kind, self.skipped = self._format.kind, self._format.skipped
        self.skipped_by_reason = self._format.skipped_by_reason
        self.extras_dropped = self._format.extras_dropped
        if self.kind == Kind.NOT_SITEMAP and not self.error_code:
            self.error_code = SitemapProblem.NOT_A_SITEMAP
        return records

    def stop(self, reason):
        self.error = self.error or reason
        return self.close()

    def _start(self):
        head, junk, landmark = junk_before_document(b"".join(self._head))
        self._head = []
        self._junk_error = _junk_error(junk, landmark) if junk else ""
        self.encoding, bom = choose_encoding(head, self.charset)
        head = head[bom:]
        if self.encoding != UTF8:
            self._transcode = Transcoder(self.encoding)
            head = self._transcode(head)
        head = head.lstrip(b"\xef\xbb\xbf \t\r\n")  # white space before the declaration: common, harmless
        self.generator = detect_generator(head, self.url)
        shape = sniff(head)
        self._format = XmlFormat(self.url) if shape == "xml" else _TextFormat() if shape == "text" else _Ignored()
        records = self._format.feed(head)
        self.kind = self._format.kind
        return records


class _Ignored:
    kind = Kind.NOT_SITEMAP
    skipped = 0
    skipped_by_reason = {}
    extras_dropped = 0
    error = ""

    def feed(self, data):
        return []

    def close(self):
        return []


class _TextFormat:
    kind = Kind.TEXT
    error = ""
    extras_dropped = 0

    def __init__(self):
        self.pending = b""
        self.dropping = False  # inside a line too long to be a URL, until its end
        self.skipped = 0
        self.reasons = Counter()

    @property
    def skipped_by_reason(self):
        return dict(self.reasons)

    def feed(self, data):
        data = data.replace(b"\r", b"\n")  # CR alone ends a line too (old Mac files); CRLF gives an empty one
        if self.dropping:
            end = data.find(b"\n")
            if end == -1:
                return []
            data, self.dropping = data[end + 1 :], False
        lines = (self.pending + data).split(b"\n")
        self.pending = lines.pop()
        if len(self.pending) > MAX_LOC_LENGTH * 4:
            # an endless "line" is not a URL: drop it rather than buffer it
            self.pending, self.dropping = b"", True
            self.skipped += 1
            self.reasons[SkipReason.LOC_TOO_LONG] += 1
        return self._records(lines)

    def close(self):
        pending, self.pending = self.pending, b""
        return [] if self.dropping else self._records([pending])

    def _records(self, lines):
        records = []
        for raw_line in lines:
            line = raw_line.strip().lstrip(b"\xef\xbb\xbf")
            if line.endswith(b">"):
                line = _without_line_break_tags(line)
            line = line.decode("utf-8", "replace")
            if not line:
                continue
            loc, reason = check_loc(line)
            if loc:
                records.append(UrlRecord(loc))
            else:
                self.skipped += 1
                self.reasons[reason] += 1
        return records


def _without_line_break_tags(line):
    """A text line printed through an HTML template ("http://a.example/x<br />") without its
    trailing <br> tags: taken off one at a time from the end, so a line of thousands of tags
    costs one pass (a regular expression anchored at the end tried them all at every start)."""
    while line.endswith(b">"):
        start = line.rfind(b"<")
        if start == -1 or not _LINE_BREAK_TAG.fullmatch(line, start):
            break
        line = line[:start].rstrip()
    return line


def sniff(head):
    """'xml', 'text' or 'other', from the first bytes of a (decompressed, UTF-8) body."""
    start = head.lstrip(_LEADING_SPACE)
    lowered = start[:2048].lower()
    if start.startswith(b"<"):
        if any(marker in lowered for marker in _HTML_MARKERS) and not any(r in lowered for r in _SITEMAP_ROOTS):
            return "other"
        return "xml"
    if lowered.startswith((b"http://", b"https://")):
        return "text"
    return "other"


def junk_before_document(head):
    """(head, junk, what the junk came before): a body that prints something before its XML,
    cut where the XML starts. WordPress and other PHP sites often do (a "Warning: ... on line
    3" from a plugin, a stray echo), before the XML declaration or between it and the root;
    Google and the usual parsers then read nothing. Nothing there can hold an entry. The junk is cut before a declaration
    that is not at the start, or else before a urlset or sitemapindex root, and only when it is
    neither an HTML page, a DOCTYPE, another root, nor comments and processing instructions
    alone (a prolog the parser reads as it is)."""
    start = len(head) - len(head.lstrip(_LEADING_SPACE))
    declaration, end = _DECLARATION.match(head, start), start + HEAD_SIZE  # a bounded search, whatever the head
    if declaration:
        found, kept = _ROOT.search(head, declaration.end(), end), head[start:declaration.end()]
    else:
        found, kept = _LATE_DECLARATION.search(head, start, end) or _ROOT.search(head, start, end), b""
    if found is None:
        return head, b"", ""
    junk, before_declaration = head[start + len(kept):found.start()], found.group().startswith(b"<?")
    if not _is_junk(junk, before_declaration):
        return head, b"", ""
    return kept + head[found.start():], junk, "the XML declaration" if before_declaration else "the root element"


def _is_junk(text, before_declaration):
    lowered = text.lower()
    if not text or b"<!doctype" in lowered or any(marker in lowered for marker in _HTML_MARKERS + _SITEMAP_ROOTS):
        return False
    # Before a declaration even a comment is out of place; before a root, a prolog is not.
    return before_declaration or bool(_PROLOG.sub(b"", text).strip(_LEADING_SPACE))


def _junk_error(junk, landmark):
    preview = " ".join(junk.decode("utf-8", "replace").split())
    if len(preview) > _PREVIEW_LENGTH:
        preview = preview[:_PREVIEW_LENGTH - 3] + "..."
    return f"XML error: {len(junk):,} bytes before {landmark} were skipped ({preview})"


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
