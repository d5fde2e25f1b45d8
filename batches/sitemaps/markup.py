"""Broken markup made readable before libxml2 sees it, without changing a character of a URL.

libxml2 silently drops what it cannot read: the "&b" of an unescaped "?a=1&b=2", an HTML entity
such as "&eacute;" (XML knows only five), a character reference to a character XML forbids, a
control character. Each would turn a URL the site wrote into one it did not. `MarkupRepair`
rewrites the UTF-8 byte stream chunk by chunk so that nothing is dropped:

- a bare "&" becomes "&amp;": the URL keeps every character, as every browser reads it;
- a named reference XML does not define, and a character reference XML forbids, become a
  marker (U+FDD0, a noncharacter no text holds) followed by the reference's name: the target
  decodes it with HTML's table (`decode_references`) or skips the entry, and counts it;
- a control character or U+FFFE/U+FFFF becomes U+FFFD, which no kept URL may hold.

CDATA sections and comments are copied as they are: an "&" is legal inside them.
"""

import re
from html.entities import html5

MARK = "\ufdd0"
_MARK_REF = b"&#xFDD0;"
CUT = "\ufdd1"  # where markup.py cut a run of character data too long for any field
_CUT_REF = b"&#xFDD1;"
MAX_RUN = 65536  # > MAX_EXTRA_VALUE characters as 10-byte references, the longest value kept
_XML_NAMES = frozenset((b"amp", b"lt", b"gt", b"quot", b"apos"))
# Every "&" except the ones libxml2 reads right: the XML five, and character references that
# cannot be out of XML's range (the common "&#38;", "&#x2F;", "&#233;"), which never reach Python.
_REFERENCE = re.compile(
    rb"&(?!(?:amp|lt|gt|quot|apos);"
    rb"|#(?:9|10|13|3[2-9]|[4-9][0-9]|[1-9][0-9]{2,3}|[1-4][0-9]{4}|5[0-4][0-9]{3});"
    rb"|#x(?:[9aAdD]|[2-9a-fA-F][0-9a-fA-F]|[1-9a-cA-C][0-9a-fA-F]{2,3}|[1-9][0-9a-fA-F]{4}|10[0-9a-fA-F]{4});)"
    rb"(?:([A-Za-z_:][\w.:-]*);"  # 1: a named reference
    rb"|#([0-9]+);"  # 2: decimal
    rb"|#x([0-9A-Fa-f]+);)"  # 3: hexadecimal
)
_BARE_AMPERSAND = re.compile(rb"&(?![A-Za-z_:][\w.:-]*;|#[0-9]+;|#x[0-9A-Fa-f]+;)")
_FORBIDDEN = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|\xef\xbf[\xbe\xbf]")
_CONTROL_BYTES = bytes(range(0x09)) + b"\x0b\x0c" + bytes(range(0x0e, 0x20))  # as in _FORBIDDEN
_REPLACEMENT = "\ufffd".encode()
_SECTION = re.compile(rb"<!\[CDATA\[|<!--")
_SKIPPED = re.compile(rb"(?:[^<]++|<!\[CDATA\[.*?\]\]>|<!--.*?-->)*+", re.DOTALL)
_SECTION_END = {b"<![CDATA[": b"]]>", b"<!--": b"-->"}
_HELD = 64  # bytes of an unfinished reference held back for the next chunk
_MARKED = re.compile(MARK + "([^;" + MARK + "]*);")


class MarkupRepair:
    """Called with each UTF-8 chunk, returns the repaired bytes; `flush()` at the end.

    It also bounds the work libxml2 and the target do for one run of character data (the
    bytes between two tags, CDATA sections and comments included): past `MAX_RUN` bytes, far
    more than any field we keep can take, the rest of the run is replaced by one CUT
    character, which tells the target the value was too long. Without it a loc of two
    million character references costs two million Python callbacks."""

    def __init__(self):
        self.tail = b""
        self.section_end = None  # b"]]>" or b"-->" while inside a CDATA section or a comment
        self.run = 0  # bytes of the current run of character data so far
        self.skipping = False  # past MAX_RUN: dropping bytes up to the next tag
        self.partial = b""  # the start of a UTF-8 sequence for U+FFFE/U+FFFF, cut by the chunk

    def __call__(self, data):
        data, self.tail = self.tail + data, b""
        out = []
        pos = 0
        while pos < len(data) and not self.tail:
            if self.skipping:
                pos = self._skip(data, pos)
            elif self.section_end is not None:
                pos = self._copy_section(data, pos, out)
            else:
                pos = self._repair_text(data, pos, out)
        return self._allowed(b"".join(out))

    def flush(self):
        tail, self.tail = self.tail, b""
        if self.skipping:
            tail = b""
        elif self.section_end is None:
            tail = _repair(tail)
        tail, self.partial = self.partial + tail, b""
        return _FORBIDDEN.sub(_REPLACEMENT, tail)

    def _allowed(self, data):
        data, self.partial = self.partial + data, b""
        if data[-1:] == b"\xef" or data[-2:-1] == b"\xef":
            cut = len(data) - (1 if data[-1:] == b"\xef" else 2)
            data, self.partial = data[:cut], data[cut:]
        if len(data.translate(None, _CONTROL_BYTES)) == len(data) and b"\xef\xbf" not in data:
            return data  # nothing to replace: a C pass over the bytes, 8x quicker than the regex
        return _FORBIDDEN.sub(_REPLACEMENT, data)

    def _copy_section(self, data, pos, out):
        end = data.find(self.section_end, pos)
        stop = len(data) if end == -1 else end + len(self.section_end)
        if self.run + stop - pos > MAX_RUN:
            return self._cut(data, pos, out, in_section=True)
        self.run += stop - pos
        if end == -1:
            keep = max(pos, len(data) - len(self.section_end) + 1)
            out.append(data[pos:keep])
            self.tail = data[keep:]
            return len(data)
        out.append(data[pos:stop])
        self.section_end = None
        return stop

    def _repair_text(self, data, pos, out):
        section = _SECTION.search(data, pos)
        end = len(data) if section is None else section.start()
        if self._too_long(data, pos, end):
            return self._cut(data, pos, out, in_section=False)
        text = data[pos:end]
        if section is None:
            cut = _unfinished(text)
            text, self.tail = text[:cut], text[cut:]
        last_tag = text.rfind(b"<")
        self.run = len(text) - last_tag if last_tag != -1 else self.run + len(text)
        out.append(_repair(text))
        if section is None:
            return len(data)
        out.append(section.group())
        self.run += len(section.group())
        self.section_end = _SECTION_END[section.group()]
        return section.end()

    def _too_long(self, data, pos, end):
        first_tag = data.find(b"<", pos, end)
        if self.run + ((first_tag if first_tag != -1 else end) - pos) > MAX_RUN:
            return True
        # outside sections every "<" starts markup, so runs between them are independent
        return end - pos > MAX_RUN and _holds_a_long_run(data, pos, end)

    def _cut(self, data, pos, out, in_section):
        """Keep the run up to MAX_RUN, end it with CUT and skip the rest of it."""
        start = pos
        if not in_section:
            tag = data.find(b"<", pos)
            while tag != -1 and self.run + tag - pos <= MAX_RUN:  # the runs before the long one fit
                self.run, pos = 0, tag
                tag = data.find(b"<", tag + 1)
        keep = _boundary(data, pos, pos + max(0, MAX_RUN - self.run), in_section)
        out.append(data[start:keep] if in_section else _repair(data[start:keep]))
        out.append((self.section_end or b"") + _CUT_REF)
        self.skipping = True
        return keep

    def _skip(self, data, pos):
        if self.section_end is not None:  # a CDATA section or comment goes, whole
            end = data.find(self.section_end, pos)
            if end == -1:
                self.tail = data[max(pos, len(data) - len(self.section_end) + 1):]
                return len(data)
            end += len(self.section_end)
            self.section_end = None
            return end
        stop = _SKIPPED.match(data, pos).end()  # text and whole sections, in one step
        if stop == len(data):
            return stop
        section = _SECTION.match(data, stop)
        if section is not None:  # a section that does not end in this chunk
            self.section_end = _SECTION_END[section.group()]
            return section.end()
        if b"<![CDATA[".startswith(data[stop:stop + 9]) or b"<!--".startswith(data[stop:stop + 4]):
            self.tail = data[stop:]  # too few bytes yet to tell a section from a tag
            return len(data)
        self.skipping, self.run = False, 0
        return stop


def _holds_a_long_run(data, start, end):
    """Whether data[start:end] holds more than MAX_RUN bytes without a "<". Such a run covers
    a whole block of half that length, so only a "<"-free block needs a closer look."""
    block = (MAX_RUN + 1 + 1) // 2
    for block_start in range(start, end - block + 1, block):
        if data.find(b"<", block_start, block_start + block) == -1:
            before = data.rfind(b"<", start, block_start) + 1 or start
            after = data.find(b"<", block_start + block, end)
            if (end if after == -1 else after) - max(before, start) > MAX_RUN:
                return True
    return False


def _boundary(data, start, cut, in_section):
    """`cut` moved back so it splits neither a reference nor a UTF-8 sequence."""
    cut = min(cut, len(data))
    if not in_section:
        amp = data.rfind(b"&", max(start, cut - _HELD), cut)
        if amp != -1 and b";" not in data[amp:cut]:
            cut = amp
    while start < cut < len(data) and 0x80 <= data[cut] <= 0xBF:
        cut -= 1
    return cut


def _unfinished(text):
    """Where a reference or a section opening cut by the chunk's end starts."""
    cut = len(text)
    amp = text.rfind(b"&", max(0, cut - _HELD))
    if amp != -1 and b";" not in text[amp:]:
        cut = amp
    lt = text.rfind(b"<", max(0, len(text) - 8))
    if lt != -1 and lt < cut and (b"<![CDATA["[: len(text) - lt] == text[lt:] or b"<!--".startswith(text[lt:])):
        cut = lt
    return cut


def _repair(data):
    if b"&" not in data:
        return data
    data = _BARE_AMPERSAND.sub(b"&amp;", data)  # no Python call per match: the common repair
    return _REFERENCE.sub(_repaired_reference, data)


def _repaired_reference(match):
    name, decimal, hexadecimal = match.groups()
    if name is not None:
        return match.group() if name in _XML_NAMES else _MARK_REF + name + b";"
    value = int(decimal, 10) if decimal is not None else int(hexadecimal, 16)
    if _allowed_in_xml(value):
        return match.group()
    return _MARK_REF + match.group()[1:]  # "#0;": undecodable, the target says so


def _allowed_in_xml(value):
    return value in (0x9, 0xA, 0xD) or 0x20 <= value <= 0xD7FF or 0xE000 <= value <= 0xFFFD or 0x10000 <= value <= 0x10FFFF


def decode_references(text):
    """(text, ok): the marked references decoded as HTML would; ok is False when one has no
    meaning in HTML either (an unknown name, a forbidden character), left marked in the text."""
    ok = True

    def decoded(match):
        nonlocal ok
        value = html5.get(match.group(1) + ";")
        if value is None:
            ok = False
            return match.group()
        return value

    return _MARKED.sub(decoded, text), ok


def without_marks(text):
    """An extension value as HTML would show it: known entities decoded, others as written."""
    text, ok = decode_references(text)
    return text if ok else _MARKED.sub(lambda match: "&" + match.group(1) + ";", text)
