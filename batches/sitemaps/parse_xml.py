"""XML sitemaps, indexes and feeds through lxml's push parser with a target object (SAX style).

No tree is built, so memory stays flat whatever a file holds, and each chunk's entries are
handed on as soon as it is parsed. Entities are never expanded beyond XML's own five, DTDs are
never loaded, the network is never touched, and a document that declares a DTD of its own is
refused (that is where entity bombs and external entities live).
"""

import re

from lxml import etree

from .records import ChildSitemap, Kind, UrlRecord
from .values import clean_loc, parse_changefreq, parse_lastmod, parse_priority

_DOCTYPE = re.compile(rb"<!doctype\b[^>\[]*(\[)?", re.IGNORECASE)
# "&" that does not start an entity or character reference: generators that forget to escape
# query strings (?a=1&b=2) are common, and libxml2 would silently drop the "&b" part.
_BARE_AMPERSAND = re.compile(rb"&(?!(?:[A-Za-z_][\w.-]{0,31}|#[0-9]{1,8}|#x[0-9A-Fa-f]{1,8});)")


class XmlFormat:
    def __init__(self, head):
        doctype = _DOCTYPE.search(head)
        self.target = _SitemapTarget(doctype_in_head=doctype is not None)
        self.error = _ENTITIES_REFUSED if doctype and doctype.group(1) else ""
        self.done = bool(self.error)
        self.parser = etree.XMLParser(
            target=self.target, resolve_entities=False, no_network=True, load_dtd=False, recover=True,
            huge_tree=False, remove_comments=True, remove_pis=True,
        )
        self.repair = _AmpersandRepair(enabled=head[:2] not in (b"\xff\xfe", b"\xfe\xff"))

    @property
    def kind(self):
        return self.target.kind

    @property
    def skipped(self):
        return self.target.skipped

    def feed(self, data):
        if not self.done:
            self._parse(self.parser.feed, self.repair(data))
        return self.target.take()

    def close(self):
        if not self.done:
            self._parse(self.parser.feed, self.repair.flush())
        if not self.done:
            self._parse(self.parser.close)
        self.done = True
        self.error = self.error or self.target.unfinished() or _first_error(self.parser)
        return self.target.take()

    def _parse(self, step, *data):
        try:
            step(*data)
        except _StopReading as stop:
            self.error, self.done = stop.reason, True
        except etree.XMLSyntaxError as exc:
            self.error, self.done = f"XML error: {_xml_message(exc)}", True


_ENTITIES_REFUSED = "refused: the XML declares a DTD of its own (entities are never expanded)"


class _StopReading(Exception):
    def __init__(self, reason=""):
        super().__init__(reason)
        self.reason = reason


# --- The parser target: one object per document, called by libxml2 for every tag ----------
# What each root holds: (kind, depth of its entries, entry tag, leaf fields read as text,
# the function that turns an entry's fields into a record).
def _url_record(fields, extras):
    loc = clean_loc(fields.get("loc"))
    if loc is None:
        return None
    return UrlRecord(
        loc, parse_lastmod(fields.get("lastmod")), parse_changefreq(fields.get("changefreq")),
        parse_priority(fields.get("priority")), extras,
    )


def _child_record(fields, extras):
    loc = clean_loc(fields.get("loc"))
    return ChildSitemap(loc, parse_lastmod(fields.get("lastmod"))) if loc else None


def _feed_record(fields, extras):
    loc = clean_loc(fields.get("link") or fields.get("guid") or fields.get("href"))
    if loc is None:
        return None
    lastmod = fields.get("updated") or fields.get("pubdate") or fields.get("date") or fields.get("published")
    return UrlRecord(loc, parse_lastmod(lastmod), "", None, extras)


_PLANS = {
    "urlset": (Kind.URLSET, 2, "url", frozenset(("loc", "lastmod", "changefreq", "priority")), _url_record),
    "sitemapindex": (Kind.INDEX, 2, "sitemap", frozenset(("loc", "lastmod")), _child_record),
    "rss": (Kind.RSS, 3, "item", frozenset(("link", "guid", "pubdate", "date", "updated")), _feed_record),
    "rdf": (Kind.RSS, 2, "item", frozenset(("link", "date")), _feed_record),  # RSS 1.0
    "feed": (Kind.ATOM, 2, "entry", frozenset(("updated", "published")), _feed_record),
}
# Extension elements kept in a record's extras: local name -> key in extras.
_EXTENSIONS = {
    "image": "images",
    "video": "videos",
    "content": "videos",  # mRSS media:content
    "group": "videos",  # mRSS media:group
    "news": "news",
    "enclosure": "enclosures",
}


class _Node:
    """An extension element being read: its attributes, child values and text."""

    __slots__ = ("name", "value", "text")

    def __init__(self, name, attrib):
        self.name = name
        self.value = {_local(key): value for key, value in attrib.items()}
        self.text = []

    def result(self):
        text = "".join(self.text).strip()
        if not self.value:
            return text
        if text:
            self.value["value"] = text
        return self.value

    def add(self, name, value):
        if name in self.value:
            previous = self.value[name]
            self.value[name] = previous + [value] if isinstance(previous, list) else [previous, value]
        else:
            self.value[name] = value


class _SitemapTarget:
    def __init__(self, doctype_in_head):
        self.doctype_in_head = doctype_in_head
        self.records = []
        self.kind = Kind.NOT_SITEMAP
        self.skipped = 0
        self.depth = 0
        self.entry_depth = -1
        self.entry_name = None
        self.leaf_names = frozenset()
        self.make = None
        self.fields = None  # the entry being read, None between entries
        self.extras = None
        self.field = None  # the leaf whose text is being collected
        self.text = []
        self.nodes = []  # the extension element being read, outermost first
        self.bad = False
        self.names = {}

    def take(self):
        records, self.records = self.records, []
        return records

    def unfinished(self):
        if self.depth > 0 and self.kind != Kind.NOT_SITEMAP:
            return "XML error: the document ends before its closing tags (truncated file?)"
        return ""

    def doctype(self, name, public_id, system_id):
        # A DOCTYPE we could not inspect in the head may carry an internal subset: refuse it.
        if not self.doctype_in_head:
            raise _StopReading(_ENTITIES_REFUSED)

    def start(self, tag, attrib):
        depth = self.depth = self.depth + 1
        if self.fields is not None:
            name = self.names.get(tag) or self._local_name(tag)
            if depth != self.entry_depth + 1:
                self._start_nested(name, attrib)
            elif name in self.leaf_names and name != "guid":
                self.field, self.text = name, ""
            else:
                self._start_field(name, attrib)
        elif depth == self.entry_depth and (self.names.get(tag) or self._local_name(tag)) == self.entry_name:
            self.fields, self.extras, self.bad = {}, None, False
        elif depth == 1:
            self._start_root(self._local_name(tag))

    def data(self, text):
        if self.field is not None:
            self.text += text
        elif self.nodes:
            self.nodes[-1].text.append(text)

    def end(self, tag):
        depth = self.depth
        self.depth = depth - 1
        if self.fields is None:
            return
        if self.field is not None:  # only a leaf at entry depth + 1 can be open here
            if self.field not in self.fields:
                self.fields[self.field] = self.text
            self.field = None
        elif depth == self.entry_depth:
            self._end_entry()
        elif depth == self.entry_depth + 1:
            self._end_extension()
        elif len(self.nodes) > 1:
            node = self.nodes.pop()
            self.nodes[-1].add(node.name, node.result())

    def close(self):
        return None

    def _local_name(self, tag):
        name = _local(tag)
        self.names[tag] = name
        return name

    def _start_root(self, name):
        plan = _PLANS.get(name)
        if plan is None:
            raise _StopReading()  # some other XML document (an error page, a feed we don't know)
        self.kind, self.entry_depth, self.entry_name, self.leaf_names, self.make = plan

    def _start_field(self, name, attrib):
        if name == "guid":
            if attrib.get("isPermaLink", "true").lower() != "false":
                self.field, self.text = name, ""
        elif name == "link":
            self._link(attrib)
        elif name in _EXTENSIONS:
            self.nodes = [_Node(name, attrib)]

    def _link(self, attrib):
        rel = attrib.get("rel", "alternate").lower()
        href = (attrib.get("href") or "").strip()
        if self.kind == Kind.ATOM:
            if rel == "alternate" and href and "href" not in self.fields:
                self.fields["href"] = href
        elif self.kind == Kind.RSS:
            self.field, self.text = "link", ""  # RSS <link> holds its URL as text
        elif rel == "alternate" and href:  # xhtml:link in a urlset: hreflang / media alternates
            alternate = {key: attrib[key] for key in ("hreflang", "href", "media") if attrib.get(key)}
            self._add_extra("alternates", alternate)

    def _start_nested(self, name, attrib):
        if self.field is not None:
            # markup inside a leaf (<loc><loc>...</loc></loc>): the value cannot be trusted
            if self.field in ("loc", "link"):
                self.bad = True
            self.field = None
        elif self.nodes:
            self.nodes.append(_Node(name, attrib))

    def _end_extension(self):
        if self.nodes:
            node = self.nodes.pop()
            self._add_extra(_EXTENSIONS[node.name], node.result())
            self.nodes = []

    def _end_entry(self):
        record = None if self.bad else self.make(self.fields, self.extras)
        if record is None:
            self.skipped += 1
        else:
            self.records.append(record)
        self.fields = self.extras = self.field = None
        self.nodes = []

    def _add_extra(self, key, value):
        if not value:
            return
        if self.extras is None:
            self.extras = {}
        self.extras.setdefault(key, []).append(value)


def _local(tag):
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2].rpartition(":")[2].lower()


class _AmpersandRepair:
    """Escape bare "&" in XML bytes, chunk by chunk (a reference may straddle two chunks).

    Inside CDATA an "&" is legal as it is, so the repair stops at the first CDATA section."""

    def __init__(self, enabled=True):
        self.enabled = enabled
        self.tail = b""

    def __call__(self, data):
        if not self.enabled:
            return data
        data = self.tail + data
        self.tail = b""
        cdata = data.find(b"<![CDATA[")
        if cdata != -1:
            self.enabled = False
            return self._repair(data[:cdata]) + data[cdata:]
        cut = data.rfind(b"&", max(0, len(data) - 40))
        if cut != -1 and b";" not in data[cut:]:
            data, self.tail = data[:cut], data[cut:]
        return self._repair(data)

    def flush(self):
        tail, self.tail = self.tail, b""
        return self._repair(tail) if self.enabled else tail

    @staticmethod
    def _repair(data):
        return _BARE_AMPERSAND.sub(b"&amp;", data) if b"&" in data else data


def _xml_message(exc):
    return str(exc).split("\n")[0][:300]


def _first_error(parser):
    # In recover mode libxml2 keeps going past damage (a broken tag, an undefined entity, bytes
    # invalid in the declared encoding); report the first error so the sitemap shows it.
    for entry in parser.feed_error_log:
        if entry.level >= etree.ErrorLevels.ERROR:
            return f"XML error at line {entry.line}: {entry.message.strip()[:250]}"
    return ""


# --- Sniffing ------------------------------------------------------------------
