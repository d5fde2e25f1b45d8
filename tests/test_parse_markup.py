"""Broken markup recovered, never invented: every exported loc is one the site wrote."""

import unicodedata

import pytest

from batches.sitemaps.markup import MarkupRepair
from batches.sitemaps.parse import SitemapReader
from batches.sitemaps.values import LOC_SPACE, SPACE

NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
CHUNKS = [1, 3, 7, 64, 100_000]


def read(body, chunk=7):
    if isinstance(body, str):
        body = body.encode()
    reader = SitemapReader([body[i : i + chunk] for i in range(0, len(body), chunk)], "http://example.com/sitemap.xml")
    return reader, [record.loc for record in reader]


def urlset(*locs, extra=""):
    return f'<urlset xmlns="{NS}">' + "".join(f"<url><loc>{loc}</loc>{extra}</url>" for loc in locs) + "</urlset>"


@pytest.mark.parametrize("chunk", CHUNKS)
def test_it_joins_a_loc_split_over_cdata_references_and_comments_exactly(chunk):
    body = urlset("http://example.com/<![CDATA[a&b]]>/c<!-- note -->d&#47;e&#x2F;f&amp;g<![CDATA[]]>h")
    reader, locs = read(body, chunk)
    assert locs == ["http://example.com/a&b/cd/e/f&gh"] and reader.skipped == 0


@pytest.mark.parametrize("chunk", CHUNKS)
def test_it_keeps_every_character_of_a_bare_ampersand_in_text_and_after_cdata(chunk):
    body = urlset(
        "http://example.com/?a=1&b=2&c",
        "http://example.com/<![CDATA[x?y=1]]>&z=2&",
        "http://example.com/<!-- c -->?q&r=&#38;s",
        "http://example.com/?copy&copy=1&amp=2",  # legacy HTML names without ";" are not references
    )
    reader, locs = read(body, chunk)
    assert locs == [
        "http://example.com/?a=1&b=2&c",
        "http://example.com/x?y=1&z=2&",
        "http://example.com/?q&r=&s",
        "http://example.com/?copy&copy=1&amp=2",
    ]
    assert reader.error == ""


@pytest.mark.parametrize("chunk", CHUNKS)
def test_it_decodes_html_named_entities_in_a_loc_as_html_would(chunk):
    body = urlset("http://example.com/caf&eacute;", "http://example.com/a&ndash;b", "http://example.com/&Uuml;ber&AMP;x")
    reader, locs = read(body, chunk)
    assert locs == ["http://example.com/caf\u00e9", "http://example.com/a\u2013b", "http://example.com/\u00dcber&x"]
    assert reader.skipped == 0


def test_it_skips_and_counts_a_loc_whose_entity_has_no_meaning_instead_of_dropping_it():
    body = urlset("http://example.com/a&bogus;b", "http://example.com/?x=1&y;z", "http://example.com/ok")
    reader, locs = read(body)
    assert locs == ["http://example.com/ok"]
    assert reader.skipped == 2 and reader.skipped_by_reason == {"html_entity": 2}


def test_it_skips_a_loc_whose_entity_decodes_to_a_character_no_url_may_hold():
    body = urlset("http://example.com/&nbsp;b", "http://example.com/a&ensp;b", "http://example.com/ok")
    reader, locs = read(body)
    assert locs == ["http://example.com/ok"]
    assert reader.skipped_by_reason == {"html_entity": 2}


def test_unicode_space_around_a_loc_is_trimmed_as_the_peers_trim_it_but_a_control_character_is_not():
    body = urlset("http://example.com/a&nbsp;", "&nbsp; http://example.com/b", "\u3000http://example.com/c\u2009\u00a0",
                  "http://example.com/d\x85", "\x1fhttp://example.com/e", "\u200bhttp://example.com/f")
    reader, locs = read(body)
    assert locs == ["http://example.com/a", "http://example.com/b", "http://example.com/c"]
    # NEL and a unit separator are controls, a zero-width space is no space: each costs its entry
    assert reader.skipped_by_reason == {"invalid_loc": 3}


def test_the_space_trimmed_around_a_loc_is_unicodes_separators_exactly():
    separators = {chr(code) for code in range(0x110000) if unicodedata.category(chr(code)) in ("Zs", "Zl", "Zp")}
    assert set(LOC_SPACE) == separators | set(SPACE)


def test_it_skips_a_loc_with_a_character_reference_xml_forbids_rather_than_drop_the_character():
    body = urlset("http://example.com/a&#0;b", "http://example.com/a&#x1;b", "http://example.com/a&#xFFFF;b",
                  "http://example.com/a&#1114112;b", "http://example.com/ok&#065;")
    reader, locs = read(body)
    assert locs == ["http://example.com/okA"]
    assert reader.skipped_by_reason == {"html_entity": 4}


def test_it_skips_a_loc_holding_a_control_character_rather_than_drop_the_character():
    body = urlset("http://example.com/a\x01b", "http://example.com/a\x7fb", "http://example.com/ok")
    reader, locs = read(body)
    assert locs == ["http://example.com/ok"] and reader.skipped == 2


def test_it_decodes_html_entities_in_extension_values_and_keeps_unknown_ones_as_written():
    body = (f'<urlset xmlns="{NS}" xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">'
            "<url><loc>http://example.com/a</loc><image:image><image:loc>http://example.com/i.jpg</image:loc>"
            "<image:caption>Caf&eacute; &amp; bar &bogus; &lt;3</image:caption></image:image></url></urlset>")
    records = list(SitemapReader([body.encode()]))
    assert records[0].extras == {"images": [{"loc": "http://example.com/i.jpg", "caption": "Caf\u00e9 & bar &bogus; <3"}]}


def test_it_leaves_cdata_sections_and_comments_untouched():
    repair = MarkupRepair()
    body = b"<a><![CDATA[&x; &eacute; &#0;]]><!-- & &bogus; --></a>"
    assert repair(body) + repair.flush() == body


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 8])
def test_it_repairs_the_same_way_whatever_the_chunk_boundaries(chunk):
    body = ("<a>&b &eacute;<![CDATA[&c]]>&d&#0;<!-- &e -->&#65;\x01\uffff&amp;&f"
            "<![CDATA[x]]]]><![CDATA[>]]>&g</a>").encode()
    whole = MarkupRepair()
    expected = whole(body) + whole.flush()
    repair = MarkupRepair()
    assert b"".join(repair(body[i : i + chunk]) for i in range(0, len(body), chunk)) + repair.flush() == expected
    assert expected == (b"<a>&amp;b &#xFDD0;eacute;<![CDATA[&c]]>&amp;d&#xFDD0;#0;<!-- &e -->&#65;\xef\xbf\xbd\xef\xbf\xbd"
                        b"&amp;&amp;f<![CDATA[x]]]]><![CDATA[>]]>&amp;g</a>")
