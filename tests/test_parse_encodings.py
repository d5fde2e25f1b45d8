"""Declared encodings, in XML-on-HTTP's order of authority (RFC 7303 section 3.2):
a byte order mark, then the HTTP charset parameter, then the XML declaration, then UTF-8."""

import pytest

from batches.sitemaps.charsets import choose_encoding, codec_name
from batches.sitemaps.parse import SitemapReader

NS = "http://www.sitemaps.org/schemas/sitemap/0.9"


def body(locs, declared=None):
    declaration = f'<?xml version="1.0" encoding="{declared}"?>' if declared else '<?xml version="1.0"?>'
    return declaration + f'<urlset xmlns="{NS}">' + "".join(f"<url><loc>{loc}</loc></url>" for loc in locs) + "</urlset>"


def read(data, charset=None, chunk=5):
    reader = SitemapReader([data[i : i + chunk] for i in range(0, len(data), chunk)], "http://example.com/s.xml", charset=charset)
    return reader, [record.loc for record in reader]


@pytest.mark.parametrize("declared, codec, loc", [
    ("windows-1252", "cp1252", "http://example.com/caf\u00e9-\u20ac"),
    ("ISO-8859-1", "cp1252", "http://example.com/caf\u00e9"),
    ("iso-8859-2", "iso8859_2", "http://example.com/\u0159\u00edjen"),
    ("iso-8859-15", "iso8859_15", "http://example.com/\u20ac"),
    ("koi8-r", "koi8_r", "http://example.com/\u043c\u0438\u0440"),
    ("Shift_JIS", "cp932", "http://example.com/\u65e5\u672c\u8a9e"),
    ("EUC-JP", "euc_jp", "http://example.com/\u65e5\u672c"),
    ("euc-kr", "cp949", "http://example.com/\ud55c\uad6d\uc5b4"),
    ("gb2312", "gbk", "http://example.com/\u4e2d\u6587"),
    ("GBK", "gbk", "http://example.com/\u4e2d\u6587"),
    ("big5", "big5hkscs", "http://example.com/\u4e2d\u6587"),
])
def test_it_decodes_a_legacy_encoding_the_xml_declaration_names(declared, codec, loc):
    reader, locs = read(body([loc, "http://example.com/plain"], declared).encode(codec))
    assert locs == [loc, "http://example.com/plain"] and reader.error == ""
    assert reader.encoding == codec


def test_it_lets_the_http_charset_win_over_the_xml_declaration():
    data = body(["http://example.com/caf\u00e9"], "utf-8").encode("cp1252")
    assert read(data, charset="windows-1252")[1] == ["http://example.com/caf\u00e9"]
    data = body(["http://example.com/\u65e5"], "iso-8859-1").encode("utf-8")
    assert read(data, charset="utf-8")[1] == ["http://example.com/\u65e5"]


def test_it_lets_the_byte_order_mark_win_over_the_http_charset():
    data = b"\xef\xbb\xbf" + body(["http://example.com/\u65e5"], "shift_jis").encode("utf-8")
    assert read(data, charset="iso-8859-1")[1] == ["http://example.com/\u65e5"]
    utf16 = body(["http://example.com/\u00e9"], "utf-16").encode("utf-16")  # with its mark
    assert read(utf16, charset="windows-1252", chunk=64)[1] == ["http://example.com/\u00e9"]


def test_it_reads_utf8_when_nothing_is_declared_and_ignores_an_unknown_charset():
    data = body(["http://example.com/\u00e9"]).encode("utf-8")
    assert read(data)[1] == ["http://example.com/\u00e9"]
    assert read(data, charset="x-no-such-charset")[1] == ["http://example.com/\u00e9"]
    assert read(body(["http://example.com/\u65e5"], "shift_jis").encode("cp932"), charset="bogus")[1] == [
        "http://example.com/\u65e5"]


def test_it_reads_utf16_without_a_byte_order_mark():
    data = body(["http://example.com/\u00e9"], "UTF-16").encode("utf-16-le")
    assert read(data, chunk=64)[1] == ["http://example.com/\u00e9"]


def test_a_stray_invalid_byte_costs_only_its_own_entry_in_a_legacy_encoding():
    data = body(["http://example.com/BAD", "http://example.com/\u65e5", "http://example.com/ok"], "shift_jis").encode("cp932")
    reader, locs = read(data.replace(b"BAD", b"\x81\x20x"))  # a lead byte without a trail byte
    assert locs == ["http://example.com/\u65e5", "http://example.com/ok"]
    assert reader.skipped_by_reason == {"invalid_loc": 1}


def test_a_stray_invalid_byte_costs_only_its_own_entry_in_utf8():
    data = body(["http://example.com/BAD", "http://example.com/\u00e9"]).encode("utf-8").replace(b"BAD", b"\xff")
    reader, locs = read(data)
    assert locs == ["http://example.com/\u00e9"] and reader.skipped == 1


def test_it_decodes_a_multibyte_character_cut_between_two_chunks():
    data = body(["http://example.com/\ud55c\uad6d"] * 3, "euc-kr").encode("cp949")
    assert read(data, chunk=1)[1] == ["http://example.com/\ud55c\uad6d"] * 3


def test_it_decodes_a_plain_text_sitemap_in_the_http_charset():
    data = "http://example.com/caf\u00e9\nhttp://example.com/b\n".encode("cp1252")
    reader, locs = read(data, charset="windows-1252")
    assert (reader.kind, locs) == ("text", ["http://example.com/caf\u00e9", "http://example.com/b"])


@pytest.mark.parametrize("head, charset, expected", [
    (b"\xff\xfe<\x00", "utf-8", ("utf-16-le", 2)),
    (b"\xef\xbb\xbf<?xml", "latin-1", ("utf-8", 3)),
    (b'<?xml version="1.0" encoding="latin1"?>', "gbk", ("gbk", 0)),
    (b'<?xml version="1.0" encoding="latin1"?>', "", ("cp1252", 0)),
    (b"<?xml version='1.0' encoding='Shift_JIS' standalone='yes'?>", None, ("cp932", 0)),
    (b"<urlset>", "", ("utf-8", 0)),
])
def test_it_chooses_the_encoding_in_rfc_7303_order(head, charset, expected):
    assert choose_encoding(head, charset) == expected


@pytest.mark.parametrize("label", ["base64", "rot13", "zlib", "", "nonsense"])
def test_it_never_takes_a_codec_that_is_not_a_character_encoding(label):
    assert codec_name(label) == ""
