"""Which character encoding a sitemap is in, and turning it into UTF-8 for the parsers.

The order of authority is XML-on-HTTP's (RFC 7303 section 3.2): a byte order mark, then the
HTTP `charset` parameter, then the XML declaration, then UTF-8. Everything that is not UTF-8
is decoded here, with Python's codecs, so a byte invalid in the declared encoding becomes one
U+FFFD (which no kept URL may hold) and costs only the entry it sits in; libxml2 would stop
at the first such byte of a legacy encoding and lose the rest of the file.
"""

import codecs
import re

UTF8 = "utf-8"
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16's: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, UTF8),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# XML 1.0 appendix F: "<?" in UTF-16 without a mark still says which byte order it is.
_UNMARKED = ((b"<\x00?\x00", "utf-16-le"), (b"\x00<\x00?", "utf-16-be"))
_DECLARATION = re.compile(rb"""\s*<\?xml\s[^>]*?\bencoding\s*=\s*["']([A-Za-z][A-Za-z0-9._:-]{0,39})["']""")
# Labels browsers read as a superset (WHATWG Encoding): bytes a site meant are never lost to
# a stricter table (0x80 in "iso-8859-1" is the euro sign on every page that uses it).
_SUPERSETS = {
    "iso8859_1": "cp1252", "ascii": "cp1252", "iso8859_9": "cp1254", "iso8859_11": "cp874",
    "gb2312": "gbk", "shift_jis": "cp932", "euc_kr": "cp949", "big5": "big5hkscs",
}


def choose_encoding(head, charset=""):
    """(Python codec name, length of the byte order mark) for a body starting with `head`."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name, len(bom)
    name = codec_name(charset)
    if name:
        return name, 0
    for start, name in _UNMARKED:
        if head.startswith(start):
            return name, 0
    declared = _DECLARATION.match(head)
    return (codec_name(declared.group(1).decode("ascii")) if declared else "") or UTF8, 0


def codec_name(label):
    """Python's codec for an encoding label, "" when Python has none or it is not a text encoding."""
    label = (label or "").strip().strip("\"'").lower()
    if not label:
        return ""
    label = _ALIASES.get(label, label)
    try:
        info = codecs.lookup(label)
    except LookupError:
        return ""
    if not getattr(info, "_is_text_encoding", True):
        return ""  # "base64", "rot13", "zlib": codecs, but not character encodings
    name = info.name.replace("-", "_")
    name = _SUPERSETS.get(name, name)
    return UTF8 if name in ("utf_8", "utf_8_sig") else name


_ALIASES = {"x-sjis": "shift_jis", "x-euc-jp": "euc_jp", "x-gbk": "gbk", "windows-31j": "cp932"}


class Transcoder:
    """Bytes in `encoding` in, UTF-8 bytes out, chunk by chunk (a character may straddle two)."""

    def __init__(self, encoding):
        self.decoder = codecs.getincrementaldecoder(encoding)(errors="replace")

    def __call__(self, data):
        return self.decoder.decode(data).encode(UTF8, "surrogatepass")

    def flush(self):
        return self.decoder.decode(b"", final=True).encode(UTF8, "surrogatepass")
