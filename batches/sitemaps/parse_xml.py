"""XML sitemaps, indexes and feeds through lxml's push parser with a target object (SAX style).

No tree is built, so memory stays flat whatever a file holds, and each chunk's entries are
handed on as soon as it is parsed. The bytes arrive in UTF-8 (charsets.py) and repaired
(markup.py). Entities are never expanded beyond XML's own five, DTDs are never loaded, the
network is never touched, and a document whose DOCTYPE declares entities is refused (that is
where entity bombs and external entities live); a DOCTYPE that declares none is read.
"""

from collections import Counter
from urllib.parse import urljoin

from lxml import etree

from .entry_tree import PIECE_BYTES, EntryEnds, EntryTree, TreeError, reopened_root
from .markup import CUT, MARK, MarkupRepair, decode_references, without_marks
from .records import ChildSitemap, Kind, SkipReason, UrlRecord
from .values import MAX_FIELD_LENGTH, MAX_LOC_LENGTH, SPACE, check_loc, parse_changefreq, parse_lastmod, parse_priority

MAX_EXTRA_VALUE = 4096  # characters of one extension value (a caption, a title): longer ones are dropped
MAX_EXTRAS_SIZE = 100_000  # characters of extension values kept for one URL
MAX_EXTRA_DEPTH = 8  # levels of elements kept inside an extension (video:price is 2)
_XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"
_IANA_ALTERNATE = "http://www.iana.org/assignments/relation/alternate"
_PARSER_OPTIONS = dict(
    resolve_entities=False, no_network=True, load_dtd=False, recover=True, huge_tree=False,
    remove_comments=True, remove_pis=True,
)
ENTITIES_REFUSED = "refused: the XML declares a DTD of its own (entities are never expanded)"


class XmlFormat:
    """An XML document pushed in UTF-8 chunks; `feed` and `close` return the entries read.

    It starts with the target parser. Once a urlset or an index is under way, the entries
    are read from lxml's tree a piece at a time (entry_tree.py), at about half the cost; the
    target parser takes over again for what the tree cannot read as the target would (a
    piece libxml2 finds an error in, an entry larger than a piece) and for the body's end,
    where its closing tags are checked. Each takeover starts a new target parser just inside
    the root, at an entry boundary, so no entry is read twice or lost.
    """

    def __init__(self, url="", read_tree=True):
        self.target = _SitemapTarget(url)
        self.read_tree = read_tree  # False: the target parser reads everything (tests compare)
        self.prolog = _PrologCheck()
        self.error = ""
        self.done = False
        self.parser = etree.XMLParser(target=self.target, encoding="utf-8", **_PARSER_OPTIONS)
        self.parsers = [(self.parser, 0)]  # every target parser, with the lines before its first byte
        self.repair = MarkupRepair()
        self.mode = _TARGET
        self.ends = None  # EntryEnds once the entries may be read from the tree
        self.tree = None
        self.pending = b""  # bytes after the last entry read, while the tree reads
        self.look_at = 0  # length of pending worth searching for an entry's end again (doubles)
        self.lines = 0  # newlines in the bytes parsed so far, for the error lines of a takeover

    @property
    def kind(self):
        return self.target.kind

    @property
    def skipped(self):
        return self.target.skipped

    @property
    def skipped_by_reason(self):
        return dict(self.target.reasons)

    @property
    def extras_dropped(self):
        return self.target.extras_dropped

    def feed(self, data):
        data = self.repair(data)
        if self.mode == _TARGET:
            self._give_target(data)
            self._consider_tree()
        else:
            self._read_pieces(data)
        return self.target.take()

    def close(self):
        tail = self.repair.flush()
        if self.mode != _TARGET:
            self._read_pieces(tail, closing=True)
            tail, self.pending = self.pending, b""
            if self.mode == _TREE:
                self._take_over()
        self._give_target(tail)
        if not self.done:
            self._parse(self.parser.close)
        self.done = True
        if self.target.doctype_seen and not self.target.doctype_cleared:
            self.error = self.error or ENTITIES_REFUSED  # the DOCTYPE never ended: it cannot be cleared
        self.error = self.error or self.target.unfinished() or _first_error(self.parsers) or self.target.misnamed
        return self.target.take()

    def _give_target(self, data):
        self._parse(self.parser.feed, data)
        self.lines += data.count(b"\n")

    def _consider_tree(self):
        """After a chunk read by the first target parser: may the tree read what follows?"""
        repair, target = self.repair, self.target
        if not self.read_tree or self.done or self.prolog is not None:
            return
        if target.kind not in (Kind.URLSET, Kind.INDEX):
            return
        if repair.section_end is None and not repair.tail and not repair.skipping:
            # the next chunk starts outside any comment or CDATA section: its end tags are tags
            self.ends = EntryEnds(target.entry_name)
            self.mode = _HANDOVER

    def _read_pieces(self, data, closing=False):
        self.pending += data
        if len(self.pending) < self.look_at and not closing:
            return  # searched already: wait for twice as much, so tiny chunks cost linear time
        if self.mode == _HANDOVER and not self._hand_over():
            return
        while self.mode == _TREE:
            end = self.ends.last(self.pending, PIECE_BYTES)
            if not end:
                if len(self.pending) > PIECE_BYTES:  # an entry larger than a piece
                    self._take_over()
                self.look_at = 2 * len(self.pending)
                return
            self.look_at = 0
            piece, self.pending = self.pending[:end], self.pending[end:]
            try:
                self.tree.read(piece)
            except TreeError:
                self.pending = piece + self.pending
                self._take_over()
                return
            self.lines += piece.count(b"\n")
            if len(self.pending) <= PIECE_BYTES:
                return

    def _hand_over(self):
        """The first target parser reads on to the end of the entry it may be in; then the
        tree takes over, if the target parser agrees it stands between two entries."""
        end = self.ends.first(self.pending)
        if not end:
            if len(self.pending) > PIECE_BYTES:
                self._stay_with_target()
            self.look_at = 2 * len(self.pending)
            return False
        self.look_at = 0
        piece, self.pending = self.pending[:end], self.pending[end:]
        self._give_target(piece)
        if self.done or not self.target.between_entries() or self.target.misnamed:
            # a misnamed root's entries end with another tag than the one looked for: no tree
            self._stay_with_target()
            return False
        self.tree = EntryTree(self.target, self.target.reopening_tag(), _PARSER_OPTIONS)
        self.mode = _TREE
        return True

    def _stay_with_target(self):
        pending, self.pending = self.pending, b""
        self.mode = _TARGET_ONLY
        self._give_target(pending)

    def _take_over(self):
        """A new target parser, just inside the root, reads the rest of the body."""
        self.tree = None
        self.parser = etree.XMLParser(target=self.target, encoding="utf-8", **_PARSER_OPTIONS)
        self.parsers.append((self.parser, self.lines))
        self.target.reopening = True
        self._parse(self.parser.feed, reopened_root(*self.target.reopening_tag()))
        self._stay_with_target()

    def _parse(self, step, *data):
        if self.done:
            return
        if self.prolog is not None and data:
            verdict = self.prolog.feed(data[0])
            if verdict is not None:
                self.prolog = None
                self.target.doctype_cleared = not verdict
                if verdict:
                    self.error, self.done = verdict, True
                    return
        try:
            step(*data)
        except _StopReading as stop:
            self.error, self.done = stop.reason, True
        except etree.XMLSyntaxError as exc:
            self.error, self.done = f"XML error: {_xml_message(exc)}", True


# How XmlFormat reads: the target parser alone until a urlset or index is under way, then the
# target parser to the end of an entry, then the tree; the target parser for good after that.
_TARGET, _HANDOVER, _TREE, _TARGET_ONLY = "target", "handover", "tree", "target only"


class _PrologCheck:
    """Reads the document up to its root element with lxml's own tree parser, to see what its
    DOCTYPE declares as libxml2 understood it (quotes, comments and all), then steps aside."""

    def __init__(self):
        self.parser = etree.XMLPullParser(events=("start",), **_PARSER_OPTIONS)

    def feed(self, data):
        """None while the root has not started, then "" (harmless) or the refusal."""
        try:
            self.parser.feed(data)
        except etree.XMLSyntaxError:
            return None
        for _event, root in self.parser.read_events():
            dtd = root.getroottree().docinfo.internalDTD
            return ENTITIES_REFUSED if dtd is not None and any(True for _ in dtd.iterentities()) else ""
        return None


class _StopReading(Exception):
    def __init__(self, reason=""):
        super().__init__(reason)
        self.reason = reason


class _Text:
    """The character data of one field, which libxml2 hands over in many pieces (one per
    reference, CDATA section or comment gap): kept as a list and joined once, so the work is
    linear, and given up as soon as its length, white space around it aside, passes `limit`."""

    __slots__ = ("parts", "size", "limit")

    def __init__(self, limit):
        self.parts = []
        self.size = 0
        self.limit = limit

    def add(self, text):
        self.parts.append(text)
        self.size += len(text)
        if self.size > self.limit:
            self._trim()

    def value(self):
        if self.parts is _GIVEN_UP:
            return TOO_LONG
        value = "".join(self.parts).strip(SPACE)
        return TOO_LONG if len(value) > self.limit else value

    def _trim(self):
        # Over the limit counting white space: keep it only if it is mostly white space.
        if self.parts is _GIVEN_UP:
            return
        text = "".join(self.parts).lstrip(SPACE)
        if CUT in text or len(text.rstrip(SPACE)) > self.limit:
            self.parts = _GIVEN_UP
        else:
            self.parts, self.size = [text], len(text)


class _GivenUp:
    """Where the pieces of a value that passed its limit go: nowhere."""

    def append(self, text):
        pass


_GIVEN_UP = _GivenUp()
TOO_LONG = object()  # a field's value when it passed its limit


# --- The parser target: one object per document, called by libxml2 for every tag ----------
# What each root holds: (kind, depth of its entries, entry tag, leaf fields read as text,
# the function that turns an entry's fields into (record, skip reason)).
def _url_record(target, fields, extras):
    loc, reason = target.loc(fields.get("loc"))
    if loc is None:
        return None, reason
    return UrlRecord(
        loc, target.lastmod(fields.get("lastmod")), parse_changefreq(_value(fields.get("changefreq"))),
        parse_priority(_value(fields.get("priority"))), extras,
    ), ""


def _child_record(target, fields, extras):
    loc, reason = target.loc(fields.get("loc"))
    return (ChildSitemap(loc, target.lastmod(fields.get("lastmod"))), "") if loc else (None, reason)


def _feed_record(target, fields, extras):
    loc, reason = target.loc(fields.get("link") or fields.get("guid") or fields.get("href"))
    if loc is None:
        return None, reason
    lastmod = fields.get("updated") or fields.get("pubdate") or fields.get("date") or fields.get("published")
    return UrlRecord(loc, target.lastmod(lastmod), "", None, extras), ""


def _value(text):
    return None if text is TOO_LONG else text


_PLANS = {
    "urlset": (Kind.URLSET, 2, "url", frozenset(("loc", "lastmod", "changefreq", "priority")), _url_record),
    "sitemapindex": (Kind.INDEX, 2, "sitemap", frozenset(("loc", "lastmod")), _child_record),
    "rss": (Kind.RSS, 3, "item", frozenset(("link", "guid", "pubdate", "date", "updated")), _feed_record),
    "rdf": (Kind.RSS, 2, "item", frozenset(("link", "date")), _feed_record),  # RSS 1.0
    "feed": (Kind.ATOM, 2, "entry", frozenset(("updated", "published")), _feed_record),
}
# A root whose first entry is the other kind's (a <urlset> of <sitemap> entries, a
# <sitemapindex> of <url> ones: generators write both) is read as what its entries say.
_MISNAMED = {  # (kind of the root, first entry's name) -> (the root's name, the plan to read with, as what)
    (Kind.URLSET, "sitemap"): ("urlset", "sitemapindex", "a sitemap index"),
    (Kind.INDEX, "url"): ("sitemapindex", "urlset", "a urlset"),
}
_URL_FIELDS = frozenset(("loc", "link", "guid"))
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

    def __init__(self, name, value):
        self.name = name
        self.value = value
        self.text = _Text(MAX_EXTRA_VALUE)

    def result(self, text):
        text = without_marks(text) if MARK in text else text
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
    def __init__(self, url):
        self.url = url
        self.records = []
        self.kind = Kind.NOT_SITEMAP
        self.skipped = 0
        self.reasons = Counter()
        self.extras_dropped = 0  # extension values over their caps, or nested too deep
        self.doctype_seen = False
        self.doctype_cleared = False
        self.depth = 0
        self.entry_depth = -1
        self.entry_name = None
        self.leaf_names = frozenset()
        self.make = None
        self.fields = None  # the entry being read, None between entries
        self.extras = None
        self.extras_size = 0
        self.field = None  # the leaf whose text is being collected
        self.text = None
        self.nodes = []  # the extension element being read, outermost first
        self.ignored = 0  # depth of elements being skipped inside an extension
        self.bases = []  # (depth, xml:base in force below it), innermost last
        self.bad = False
        self.entries = 0  # entries started so far (by this target; the tree reads later ones)
        self.misnamed = ""  # the error text when the root was read as its entries said
        self.names = {}
        self.root_tag = ""  # as lxml names it: {namespace}local
        self.namespaces = []  # (prefix, uri) declared on the root
        self.reopening = False  # a new parser's stand-in for the root is next: not an element

    def take(self):
        records, self.records = self.records, []
        return records

    def unfinished(self):
        if self.depth > 0 and self.kind != Kind.NOT_SITEMAP:
            return "XML error: the document ends before its closing tags (truncated file?)"
        return ""

    def doctype(self, name, public_id, system_id):
        self.doctype_seen = True

    def start_ns(self, prefix, uri):
        if self.depth == 0:
            self.namespaces.append((prefix, uri))

    def start(self, tag, attrib):
        if self.reopening:
            self.reopening = False
            return
        depth = self.depth = self.depth + 1
        if _XML_BASE in attrib:
            self.bases.append((depth, urljoin(self.base(), attrib[_XML_BASE].strip(SPACE))))
        if self.fields is not None:
            name = self.names.get(tag) or self.local_name(tag)
            if depth != self.entry_depth + 1:
                self._start_nested(name, attrib)
            elif name in self.leaf_names and name != "guid":
                self._collect(name)
            else:
                self._start_field(name, attrib)
        elif depth == self.entry_depth and self._is_entry(self.names.get(tag) or self.local_name(tag)):
            self.fields, self.extras, self.extras_size, self.bad = {}, None, 0, False
            self.entries += 1
        elif depth == 1:
            self.root_tag = tag
            self._start_root(self.local_name(tag))

    def data(self, text):
        if self.field is not None:
            self.text.add(text)
        elif self.nodes and not self.ignored:
            self.nodes[-1].text.add(text)

    def end(self, tag):
        depth = self.depth
        self.depth = depth - 1
        if self.bases and self.bases[-1][0] == depth:
            self.bases.pop()
        if self.fields is None:
            return
        if self.field is not None:  # only a leaf at entry depth + 1 can be open here
            if self.field not in self.fields:
                self.fields[self.field] = self.text.value()
            self.field = None
        elif self.ignored:
            self.ignored -= 1
        elif depth == self.entry_depth:
            self._end_entry()
        elif depth == self.entry_depth + 1:
            self._end_extension()
        elif len(self.nodes) > 1:
            node = self.nodes.pop()
            value = self._finish(node)
            if value is not None:
                self.nodes[-1].add(node.name, value)

    def close(self):
        return None

    def base(self):
        return self.bases[-1][1] if self.bases else self.url

    def loc(self, text):
        """(loc, "") or (None, SkipReason) for a loc, link or href as read."""
        if text is TOO_LONG:
            return None, SkipReason.LOC_TOO_LONG
        if not text or MARK not in text:
            return check_loc(text)
        text, decoded = decode_references(text)
        if not decoded:
            return None, SkipReason.HTML_ENTITY
        loc, reason = check_loc(text)
        if loc is None and reason == SkipReason.INVALID_LOC:
            reason = SkipReason.HTML_ENTITY  # it decoded to something no URL may hold (a no-break space)
        return loc, reason

    def lastmod(self, text):
        """The lastmod of a kept entry; one that is there but unreadable is counted."""
        if text is None:
            return None
        lastmod = None if text is TOO_LONG else parse_lastmod(text)
        if lastmod is None and (text is TOO_LONG or text.strip()):
            self.reasons[SkipReason.INVALID_LASTMOD] += 1
        return lastmod

    def local_name(self, tag):
        name = _local(tag)
        self.names[tag] = name
        return name

    def limit_of(self, name):
        return MAX_LOC_LENGTH if name in _URL_FIELDS else MAX_FIELD_LENGTH

    def between_entries(self):
        return self.depth == 1 and self.fields is None

    def reopening_tag(self):
        """(the root's name as written, its namespace declarations), for reopened_root."""
        namespace, _, local = self.root_tag[1:].rpartition("}") if self.root_tag.startswith("{") else ("", "", self.root_tag)
        prefixes = [prefix for prefix, uri in self.namespaces if uri == namespace]
        prefix = None if None in prefixes or "" in prefixes or not prefixes else prefixes[0]
        return (f"{prefix}:{local}" if prefix else local), self.namespaces

    def _is_entry(self, name):
        if name == self.entry_name:
            return True
        misnamed = _MISNAMED.get((self.kind, name)) if not self.entries else None
        if misnamed is None:
            return False
        root, plan, kind = misnamed
        self.misnamed = f"XML error: the <{root}> root lists <{name}> entries: read as {kind}"
        self.kind, self.entry_depth, self.entry_name, self.leaf_names, self.make = _PLANS[plan]
        return True

    def _start_root(self, name):
        if self.doctype_seen and not self.doctype_cleared:
            raise _StopReading(ENTITIES_REFUSED)  # the DOCTYPE could not be read to its end
        plan = _PLANS.get(name)
        if plan is None:
            raise _StopReading()  # some other XML document (an error page, a feed we don't know)
        self.kind, self.entry_depth, self.entry_name, self.leaf_names, self.make = plan

    def _collect(self, name):
        self.field, self.text = name, _Text(self.limit_of(name))

    def _start_field(self, name, attrib):
        if name == "guid":
            if attrib.get("isPermaLink", "true").lower() != "false":
                self._collect(name)
        elif name == "link":
            self._link(attrib)
        elif name in _EXTENSIONS:
            self.nodes = [_Node(name, self._attributes(attrib))]

    def _link(self, attrib):
        rel = attrib.get("rel", "alternate").strip(SPACE).lower()
        href = (attrib.get("href") or "").strip(SPACE)
        if self.kind == Kind.ATOM:
            # RFC 4287 4.2.7.2: no rel is "alternate", and a bare name is short for the IANA IRI
            if rel in ("alternate", _IANA_ALTERNATE) and href and "href" not in self.fields:
                self.fields["href"] = self._absolute(href)
        elif self.kind == Kind.RSS:
            self._collect("link")  # RSS <link> holds its URL as text
        elif rel == "alternate" and href:  # xhtml:link in a urlset: hreflang / media alternates
            alternate = self._attributes({key: attrib[key] for key in ("hreflang", "href", "media") if attrib.get(key)})
            self._add_extra("alternates", alternate)

    def _absolute(self, href):
        # Atom's relative references resolve against xml:base, then the feed's own URL (RFC 4287 1.3)
        if href[:8].lower().startswith(("http://", "https://")):
            return href
        return urljoin(self.base(), href)

    def _attributes(self, attrib):
        if not attrib:
            return {}
        value = {}
        for key, text in attrib.items():
            if len(text) > MAX_EXTRA_VALUE or self.extras_size + len(text) > MAX_EXTRAS_SIZE:
                self.extras_dropped += 1
                continue
            self.extras_size += len(text)
            value[_local(key)] = without_marks(text) if MARK in text else text
        return value

    def _start_nested(self, name, attrib):
        if self.field is not None:
            # markup inside a leaf (<loc><loc>...</loc></loc>): the value cannot be trusted
            if self.field in ("loc", "link"):
                self.bad = True
            self.field = None
        elif self.nodes:
            if self.ignored or len(self.nodes) >= MAX_EXTRA_DEPTH or self.extras_size >= MAX_EXTRAS_SIZE:
                self.ignored += 1
                self.extras_dropped += 1
            else:
                self.nodes.append(_Node(name, self._attributes(attrib)))

    def _end_extension(self):
        if self.nodes:
            node = self.nodes.pop()
            self._add_extra(_EXTENSIONS[node.name], self._finish(node))
            self.nodes = []

    def _finish(self, node):
        """The node's value, None when its text was dropped and nothing else is left."""
        text = node.text.value()
        if text is TOO_LONG or self.extras_size + len(text) > MAX_EXTRAS_SIZE:
            self.extras_dropped += 1
            return node.result("") if node.value else None
        self.extras_size += len(text)
        return node.result(text)

    def _end_entry(self):
        self.add_entry(self.fields, self.extras, self.bad)
        self.fields = self.extras = self.field = None
        self.nodes = []
        self.ignored = 0

    def add_entry(self, fields, extras=None, bad=False):
        """An entry read to its end: kept as a record, or counted as skipped with its reason."""
        record, reason = (None, SkipReason.INVALID_LOC) if bad else self.make(self, fields, extras)
        if record is None:
            self.skipped += 1
            self.reasons[reason or SkipReason.INVALID_LOC] += 1
        else:
            self.records.append(record)

    def add_plain_urls(self, rows):
        """The <url> entries of plain_urls.py (its rows end with an empty group), kept or skipped as _url_record and add_entry
        would keep them: a field not there is "", which each parser reads as it reads None."""
        keep, reasons, lastmod = self.records.append, self.reasons, self.lastmod
        for loc, when, changefreq, priority, _ in rows:
            # plain_urls checked all check_loc checks but the characters' (the cost of a call)
            if not loc.isprintable() or "\ufffd" in loc:
                loc, reason = check_loc(loc)  # what loc() does for a text with no marker
            if loc is None:
                self.skipped += 1
                reasons[reason] += 1
            else:
                keep(UrlRecord(
                    loc, lastmod(when) if when else None, parse_changefreq(changefreq) if changefreq else "",
                    parse_priority(priority) if priority else None,
                ))

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


def _xml_message(exc):
    return str(exc).split("\n")[0][:300]


def _first_error(parsers):
    # In recover mode libxml2 keeps going past damage (a broken tag, an undefined entity, bytes
    # invalid in the declared encoding); report the first error so the sitemap shows it. A
    # parser that took over mid-body counts its lines from there (its stand-in root has none).
    for parser, lines_before in parsers:
        for entry in parser.feed_error_log:
            if entry.level >= etree.ErrorLevels.ERROR:
                return f"XML error at line {entry.line + lines_before}: {entry.message.strip()[:250]}"
    return ""
