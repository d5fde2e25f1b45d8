"""A piece of a urlset read with one regular expression, when it holds nothing but plain <url>s.

Most of a big urlset is the same four lines again and again:
<url><loc>...</loc><lastmod>...</lastmod><changefreq>...</changefreq><priority>...</priority></url>.
libxml2's tree costs about 2 µs a URL to build and visit from Python; one regular expression
over the decoded piece costs a fraction of that. It is tried on every piece the tree would
read (entry_tree.py) and answers only when it can answer exactly as the tree would: the piece
is, from its first byte to its last, plain <url> entries and white space between them, with
the fields in the protocol's order, each within its limit, and nothing libxml2 would object to.
Anything else (an extension, a comment, CDATA, an attribute, a prefix, another order, a
character reference, a field too long) and the tree reads the piece, as before.
"""

import re
from operator import itemgetter

from .markup import CUT, MARK
from .values import MAX_FIELD_LENGTH, MAX_LOC_LENGTH

_WS = "[ \t\n\r]*+"  # XML's white space


# A loc check_loc (values.py) would keep as it is but for its characters, which the reader
# still checks: http(s), a host, no XML white space in it (the white space around it is not
# part of it), within MAX_LOC_LENGTH. Any other loc (an upper-case scheme, a space to escape, a relative URL) is not
# plain: the tree reads its piece and check_loc has the last word.
_LOC = "|".join(rf"{scheme}[^ \t\n\r</?#][^ \t\n\r<]{{0,{MAX_LOC_LENGTH - len(scheme) - 1}}}"
                for scheme in ("https://", "http://"))


def _entry():
    """A plain <url> with its fields' texts as groups (a field not there matches "")."""
    def field(name, longest):
        # No "&" in a field but the loc: libxml2 would read it otherwise than its text.
        return f"(?:<{name}>([^<&]{{0,{longest}}})</{name}>{_WS})?"

    return (
        f"<url>{_WS}<loc>{_WS}({_LOC}){_WS}</loc>{_WS}"
        + field("lastmod", MAX_FIELD_LENGTH) + field("changefreq", MAX_FIELD_LENGTH)
        + field("priority", MAX_FIELD_LENGTH) + "</url>"
    )


# Each plain entry, or any other "<" (the last group): one pass finds the entries and tells
# whether anything else is there. Text between entries is not read (the tree skips it too).
_ENTRIES = re.compile(_entry() + "|(<)")
_OTHER_MARKUP = itemgetter(4)


def plain_urls(piece):
    """[(loc, lastmod, changefreq, priority, "")] as written (a field not there is ""), with a
    loc's "&amp;" read as "&" and without the white space around it; or None when the piece
    is anything but plain <url> entries (_LOC says what a plain loc is).

    The piece comes from MarkupRepair (markup.py): control characters and U+FFFE/U+FFFF are
    already U+FFFD, and every "&" starts a reference. So what libxml2 would still object to,
    or read otherwise than the text says, is a "&" other than "&amp;" (the other references),
    a "]]>", or the repair's markers written as characters (U+FDD0, U+FDD1). A carriage
    return libxml2 would turn into a line feed may stay: around a value it is stripped like
    one, and inside a value either costs the entry or is read as the same white space.
    """
    try:
        text = piece.decode("utf-8")
    except UnicodeDecodeError:
        return None
    ampersands = text.count("&")
    if ampersands != text.count("&amp;") or "]]>" in text or MARK in text or CUT in text:
        return None
    rows = _ENTRIES.findall(text)
    if any(map(_OTHER_MARKUP, rows)):
        return None
    if ampersands:
        return [(loc.replace("&amp;", "&"), *rest) for loc, *rest in rows]
    return rows
