"""A urlset's or an index's entries read from lxml's C tree, a piece of the body at a time.

The target parser (parse_xml.py) costs a Python call per tag and per run of text: about 14
calls for a <url> with its four fields. Here libxml2 builds the entries of one piece of the
body as a tree in C and Python visits each entry once. A piece always ends just after an
entry's end tag (`last_entry_end`), so every entry in the tree is complete, and the tree is
emptied after each piece, so memory holds one piece at most.

An entry is read here only when it is plain: its children are the leaves the target collects
(loc, lastmod, ...) with text only, each within its limit. Any other entry (extensions,
alternates, nested markup, a marked reference) is replayed into the target tag by tag, so its
rules are written once, there. A piece that libxml2 reports an error in is not read here at
all: the caller hands it, and the rest of the body, to the target parser (`TreeError`).
"""

import re
import secrets

from lxml import etree

from .markup import CUT, MARK
from .plain_urls import plain_urls
from .values import SPACE

PIECE_BYTES = 256 * 1024  # the most body fed to the tree at once
_SECTION = (b"<!", b"<?")  # comments, CDATA sections, processing instructions
_MARKER = "sitemapadmin-piece-end"


class TreeError(Exception):
    """libxml2 reported an error in the piece, or the piece did not end between two entries
    after all: the target parser must read it instead."""


def reopened_root(name, namespaces):
    """The start tag that puts a new parser where the real root left off: inside the root,
    named as written (its end tag must match) with its namespace declarations in force. Its
    other attributes are left out: the target read them with the real root."""
    declarations = "".join(
        f' xmlns{":" + prefix if prefix else ""}="{_escaped(uri)}"' for prefix, uri in namespaces
    )
    return f"<{name}{declarations}>".encode()


def _escaped(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")


class EntryEnds:
    """Finds where the last complete entry of a buffer ends: just after an end tag whose local
    name is the entry's (</url>, </ns:url>, </URL >), not inside a comment or CDATA section."""

    def __init__(self, entry_name):
        name = re.escape(entry_name.encode())
        self.end_tag = re.compile(rb"</(?:[^\s<>/:]+:)?" + name + rb"\s*>", re.IGNORECASE)
        self.careful = re.compile(
            rb"<!\[CDATA\[.*?(?:\]\]>|\Z)|<!--.*?(?:-->|\Z)|<\?.*?(?:\?>|\Z)|(</(?:[^\s<>/:]+:)?" + name + rb"\s*>)",
            re.IGNORECASE | re.DOTALL,
        )

    def first(self, data):
        """The offset just after the first entry end tag in data, or 0 when none."""
        if any(section in data for section in _SECTION):
            match = next((match for match in self.careful.finditer(data) if match.group(1)), None)
        else:
            match = self.end_tag.search(data)
        return match.end() if match else 0

    def last(self, data, limit):
        """The offset just after the last entry end tag in data[:limit], or 0 when none."""
        if any(data.find(section, 0, limit) != -1 for section in _SECTION):
            return self._last_outside_sections(data, limit)
        position = limit
        while True:
            position = data.rfind(b"</", 0, position)
            if position == -1:
                return 0
            match = self.end_tag.match(data, position, limit)
            if match:
                return match.end()

    def _last_outside_sections(self, data, limit):
        end = 0
        for match in self.careful.finditer(data, 0, limit):
            if match.group(1):
                end = match.end()
        return end


class EntryTree:
    """A tree parser reading pieces that each end after an entry; `read(piece)` hands every
    entry in the piece to `target` (parse_xml._SitemapTarget) and empties the tree."""

    def __init__(self, target, root, parser_options):
        """`root` is (name as written, namespace declarations), as reopened_root takes them."""
        self.target = target
        name = root[0].rpartition(":")[2]
        self.parser = etree.XMLPullParser(events=("start",), tag="{*}" + name, **parser_options)
        self.parser.feed(reopened_root(*root))
        self.root = next(self.parser.read_events())[1]
        # Fed after each piece: it lands as the root's last child only if no element under the
        # root is still open (an end tag of a nested <x:url> looks like an entry's end). Only
        # then may the tree be emptied: freeing an element libxml2 is still filling would crash.
        self.token = secrets.token_hex(8)
        self.marker = f'<{_MARKER} token="{self.token}"/>'.encode()
        self.errors = 0
        self.names = target.names  # tag -> local name, shared with the target
        self.limits = {name: target.limit_of(name) for name in target.leaf_names}  # of the leaves read
        self.plain_first = target.entry_name == "url"  # a piece of plain <url>s needs no tree (plain_urls.py)

    def read(self, piece):
        if self.plain_first:
            rows = plain_urls(piece)
            if rows is not None:
                self.target.add_plain_urls(rows)
                return
        self.parser.feed(piece)
        self.parser.feed(self.marker)
        log = self.parser.feed_error_log
        if len(log) != self.errors:
            self.errors = len(log)
            if any(entry.level >= etree.ErrorLevels.ERROR for entry in log):
                raise TreeError()
        for _event in self.parser.read_events():
            pass  # an element named as the root, deeper down: nothing to do
        root = self.root
        if not len(root) or root[-1].get("token") != self.token:
            raise TreeError()
        target = self.target
        names, entry_name = self.names, target.entry_name
        for entry in root:
            tag = entry.tag
            if (names.get(tag) or target.local_name(tag)) == entry_name:
                fields = self._plain_fields(entry)
                if fields is None:
                    _replay(target, entry)
                else:
                    target.add_entry(fields)
        del self.root[:]

    def _plain_fields(self, entry):
        """The entry's fields as the target would collect them, or None when it is not plain."""
        names, limits, fields = self.names, self.limits, {}
        for child in entry:
            tag = child.tag
            name = names.get(tag) or self.target.local_name(tag)
            limit = limits.get(name)
            if limit is None or len(child):
                return None
            if name in fields:
                continue
            text = child.text
            if text is None:
                fields[name] = ""
                continue
            value = text.strip(SPACE)
            if len(value) > limit or MARK in value or CUT in value:
                return None
            fields[name] = value
        return fields


def _replay(target, element):
    """The element and all below it, given to the target as the target parser would."""
    if not isinstance(element.tag, str):
        return
    target.start(element.tag, element.attrib)
    if element.text:
        target.data(element.text)
    for child in element:
        _replay(target, child)
        if child.tail:
            target.data(child.tail)
    target.end(element.tag)
