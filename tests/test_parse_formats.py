"""The sitemap reader on its own: every format and quirk, fed in small chunks like a network would."""

import time

import pytest

from batches.sitemaps.parse import ChildSitemap, SitemapReader

NS = "http://www.sitemaps.org/schemas/sitemap/0.9"


def read(body, chunk=7):
    """(reader, records): the body fed `chunk` bytes at a time, to cross every boundary."""
    if isinstance(body, str):
        body = body.encode()
    reader = SitemapReader([body[i : i + chunk] for i in range(0, len(body), chunk)], "http://example.com/sitemap.xml")
    return reader, list(reader)


def locs(records):
    return [record.url if isinstance(record, ChildSitemap) else record.loc for record in records]


@pytest.mark.parametrize("root", [
    f'<urlset xmlns="{NS}">',
    '<urlset xmlns="http://www.google.com/schemas/sitemap/0.84">',  # legacy namespace
    '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9/">',  # wrong (trailing slash)
    "<urlset>",  # none
    f'<sm:urlset xmlns:sm="{NS}">',  # prefixed
])
def test_a_urlset_is_read_whatever_its_namespace(root):
    prefix = "sm:" if root.startswith("<sm:") else ""
    body = (f'<?xml version="1.0" encoding="UTF-8"?>{root}<{prefix}url><{prefix}loc>http://example.com/a</{prefix}loc>'
            f"</{prefix}url></{prefix}urlset>")
    reader, records = read(body)
    assert (reader.kind, locs(records), reader.error) == ("urlset", ["http://example.com/a"], "")


def test_a_bom_and_blank_lines_before_the_declaration_are_tolerated():
    body = b"\xef\xbb\xbf\r\n\n   " + f'<?xml version="1.0"?><urlset xmlns="{NS}"><url><loc>http://example.com/a</loc></url></urlset>'.encode()
    reader, records = read(body)
    assert (reader.kind, locs(records), reader.error) == ("urlset", ["http://example.com/a"], "")


def test_declared_encodings_other_than_utf8_are_decoded():
    latin1 = ('<?xml version="1.0" encoding="ISO-8859-1"?><urlset><url><loc>http://example.com/caf\xe9</loc></url></urlset>'
              .encode("latin-1"))
    utf16 = ('<?xml version="1.0" encoding="UTF-16"?><urlset><url><loc>http://example.com/\u65e5\u672c</loc></url></urlset>'
             .encode("utf-16"))
    assert locs(read(latin1)[1]) == ["http://example.com/caf\xe9"]
    assert locs(read(utf16, chunk=64)[1]) == ["http://example.com/\u65e5\u672c"]


def test_unknown_tags_comments_and_processing_instructions_are_ignored():
    body = (f'<?xml version="1.0"?><?xml-stylesheet href="/s.xsl"?><!-- generated --><urlset xmlns="{NS}">'
            "<extra><loc>http://example.com/not-an-entry</loc></extra>"
            "<url><!-- c --><loc>http://example.com/a</loc><custom:tag xmlns:custom='x'>1</custom:tag></url></urlset>")
    reader, records = read(body)
    assert locs(records) == ["http://example.com/a"] and reader.skipped == 0


def test_an_xml_document_that_is_not_a_sitemap_is_recorded_as_such():
    body = '<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>The key does not exist</Message></Error>'
    reader, records = read(body)
    assert (reader.kind, records, reader.error) == ("not_sitemap", [], "")


@pytest.mark.parametrize("body", [
    "<!DOCTYPE html><html><head><title>Not found</title></head><body>404</body></html>",
    '<?xml version="1.0"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Oops</title></head></html>',
    "",
    '{"error": "not found"}',
])
def test_html_empty_and_other_bodies_are_not_sitemaps_and_not_errors(body):
    reader, records = read(body)
    assert (reader.kind, records, reader.error) == ("not_sitemap", [], "")


def test_a_plain_text_sitemap_keeps_url_lines_and_skips_the_rest():
    body = b"\xef\xbb\xbfhttp://example.com/a\r\n\r\n  https://example.com/b  \n# a comment\n/relative\nftp://example.com/c\nhttp://example.com/d"
    reader, records = read(body)
    assert reader.kind == "text"
    assert locs(records) == ["http://example.com/a", "https://example.com/b", "http://example.com/d"]
    assert reader.skipped == 3


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_a_plain_text_sitemap_ends_lines_at_a_lone_cr_too(chunk):
    body = b"http://example.com/a\rhttp://example.com/b\r\nhttp://example.com/c\r\rhttp://example.com/d\r"
    reader, records = read(body, chunk)
    assert (reader.kind, locs(records), reader.skipped) == (
        "text", ["http://example.com/a", "http://example.com/b", "http://example.com/c", "http://example.com/d"], 0)


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1_000_000])
def test_a_root_whose_entries_are_the_other_kind_is_read_as_they_say(chunk):
    urlset_of_sitemaps = (f'<?xml version="1.0"?><urlset xmlns="{NS}"><sitemap><loc>http://example.com/s1.xml</loc>'
                          "<lastmod>2024-05-01</lastmod></sitemap><sitemap><loc>http://example.com/s2.xml</loc></sitemap>"
                          "<url><loc>http://example.com/ignored</loc></url></urlset>")
    reader, records = read(urlset_of_sitemaps, chunk)
    assert (reader.kind, locs(records), [str(record.lastmod) for record in records]) == (
        "index", ["http://example.com/s1.xml", "http://example.com/s2.xml"], ["2024-05-01 00:00:00+00:00", "None"])
    assert (reader.error, reader.error_code) == (
        "XML error: the <urlset> root lists <sitemap> entries: read as a sitemap index", "xml_error")

    index_of_urls = (f'<sitemapindex xmlns="{NS}"><url><loc>http://example.com/a</loc><priority>0.5</priority></url>'
                     "<url><loc>http://example.com/b</loc></url></sitemapindex>")
    reader, records = read(index_of_urls, chunk)
    assert (reader.kind, locs(records), [record.priority for record in records]) == (
        "urlset", ["http://example.com/a", "http://example.com/b"], [0.5, None])
    assert reader.error == "XML error: the <sitemapindex> root lists <url> entries: read as a urlset"


def test_a_root_whose_first_entry_is_its_own_kind_ignores_the_others_as_before():
    body = (f'<urlset xmlns="{NS}"><url><loc>http://example.com/a</loc></url>'
            "<sitemap><loc>http://example.com/s1.xml</loc></sitemap></urlset>")
    reader, records = read(body)
    assert (reader.kind, locs(records), reader.error) == ("urlset", ["http://example.com/a"], "")


def test_a_plain_text_sitemap_printed_through_an_html_template_loses_its_line_break_tags():
    body = b"http://example.com/a<br>\nhttp://example.com/b<BR />\r\nhttp://example.com/c <br/><br>\nhttp://example.com/d<b>\n"
    reader, records = read(body)
    # only line-break tags come off: any other markup stays part of the line, as the site wrote it
    assert (locs(records), reader.skipped_by_reason) == (
        ["http://example.com/a", "http://example.com/b", "http://example.com/c", "http://example.com/d<b>"], {})


def test_an_rss_feed_gives_its_item_links_and_dates():
    body = ('<?xml version="1.0"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
            "<title>Blog</title><link>http://example.com/</link>"
            "<item><title>One</title><link>http://example.com/one</link><pubDate>Tue, 10 Jun 2003 04:00:00 GMT</pubDate></item>"
            "<item><guid>http://example.com/two</guid><dc:date>2003-06-11T00:00:00Z</dc:date></item>"
            '<item><guid isPermaLink="false">tag:example.com,2003:3</guid></item>'
            "</channel></rss>")
    reader, records = read(body)
    assert reader.kind == "rss"
    assert locs(records) == ["http://example.com/one", "http://example.com/two"]
    assert [r.lastmod.isoformat() for r in records] == ["2003-06-10T04:00:00+00:00", "2003-06-11T00:00:00+00:00"]
    assert reader.skipped == 1


def test_an_atom_feed_gives_its_entry_alternate_links():
    body = ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            '<link href="http://example.com/"/><entry><title>A</title><link rel="edit" href="http://example.com/edit/a"/>'
            '<link rel="alternate" href="http://example.com/a"/><updated>2003-12-13T18:30:02Z</updated></entry>'
            '<entry><link href="http://example.com/b"/><published>2003-12-14T10:00:00+01:00</published></entry></feed>')
    reader, records = read(body)
    assert reader.kind == "atom"
    assert locs(records) == ["http://example.com/a", "http://example.com/b"]
    assert [r.lastmod.isoformat() for r in records] == ["2003-12-13T18:30:02+00:00", "2003-12-14T09:00:00+00:00"]


def test_an_index_gives_its_children_with_their_lastmod():
    body = (f'<sitemapindex xmlns="{NS}"><sitemap><loc> http://example.com/a.xml </loc><lastmod>2024-01-02</lastmod></sitemap>'
            "<sitemap><loc>/relative.xml</loc></sitemap><sitemap><loc>http://example.com/b.xml</loc></sitemap></sitemapindex>")
    reader, records = read(body)
    assert reader.kind == "index"
    assert [(c.url, c.lastmod and c.lastmod.date().isoformat()) for c in records] == [
        ("http://example.com/a.xml", "2024-01-02"), ("http://example.com/b.xml", None)]
    assert reader.skipped == 1


def test_it_skips_an_empty_loc_and_keeps_parsing():
    body = (f'<urlset xmlns="{NS}"><url><loc></loc><lastmod>2020-01-01</lastmod></url>'
            "<url><loc>http://example.com/b</loc></url></urlset>")
    reader, records = read(body)
    assert locs(records) == ["http://example.com/b"] and records[0].lastmod is None
    assert reader.skipped == 1 and reader.error == ""


def test_bad_entries_are_skipped_without_leaking_their_fields_into_the_next():
    body = (f'<urlset xmlns="{NS}">'
            "<url><loc>/relative/page</loc><priority>0.9</priority><changefreq>daily</changefreq></url>"
            "<url><lastmod>2020-01-01</lastmod><priority>0.1</priority></url>"  # no loc at all
            "<url><loc><loc>http://example.com/nested</loc></loc><priority>0.2</priority></url>"
            "<url><loc>mailto:someone@example.com</loc></url>"
            "<url><loc>javascript:alert(1)</loc></url>"
            "<url><loc>http://</loc></url>"
            "<url><loc>http://example.com/good</loc></url></urlset>")
    reader, records = read(body)
    assert records == [records[0]] and records[0].loc == "http://example.com/good"
    assert (records[0].lastmod, records[0].priority, records[0].changefreq) == (None, None, "")
    assert reader.skipped == 6


def test_entities_cdata_and_white_space_around_locs_are_handled():
    body = (f'<urlset xmlns="{NS}">'
            "<url><loc>\n   http://example.com/?a=1&amp;b=2&#38;c=&#x33;\n  </loc></url>"
            "<url><loc><![CDATA[http://example.com/cdata?x=1&y=2]]></loc></url>"
            "<url><loc>  http://example.com/with space  </loc></url></urlset>")
    assert locs(read(body)[1]) == [
        "http://example.com/?a=1&b=2&c=3", "http://example.com/cdata?x=1&y=2", "http://example.com/with%20space"]


def test_an_unescaped_ampersand_in_a_loc_is_kept_as_written():
    body = f'<urlset xmlns="{NS}"><url><loc>http://example.com/?a=1&b=2&c</loc></url><url><loc>http://example.com/n</loc></url></urlset>'
    reader, records = read(body, chunk=3)
    assert locs(records) == ["http://example.com/?a=1&b=2&c", "http://example.com/n"]
    assert reader.error == ""


def test_a_truncated_file_keeps_the_urls_before_the_damage_and_says_so():
    body = f'<urlset xmlns="{NS}"><url><loc>http://example.com/a</loc></url><url><loc>http://example.com/b</loc></url><url><loc>http://exa'
    reader, records = read(body)
    assert locs(records) == ["http://example.com/a", "http://example.com/b"]
    assert reader.error == "XML error: the document ends before its closing tags (truncated file?)"


def test_malformed_xml_keeps_the_urls_and_reports_the_first_error():
    body = (f'<urlset xmlns="{NS}"><url><loc>http://example.com/a</loc></url>'
            "<url><loc>http://example.com/b</lco></url><url><loc>http://example.com/c</loc></url></urlset>")
    reader, records = read(body)
    assert "http://example.com/a" in locs(records) and "http://example.com/c" in locs(records)
    assert reader.error == "XML error at line 1: Opening and ending tag mismatch: loc line 1 and lco"


PHP_WARNING = ("<br />\n<b>Warning</b>:  Undefined array key \"page\" in <b>/var/www/wp-content/plugins/x/x.php"
               "</b> on line <b>42</b><br />\n")


@pytest.mark.parametrize("junk, preview", [
    (PHP_WARNING, '<br /> <b>Warning</b>: Undefined array key "page" in <b>/var/www/wp-content/p...'),
    ("Notice: Undefined variable: x in /srv/map.php on line 3\n\n", "Notice: Undefined variable: x in /srv/map.php on line 3"),
    ("\xef\xbb\xbf\n  hello\n", "hello"),
])
def test_junk_printed_before_the_xml_declaration_is_skipped_and_reported(junk, preview):
    body = (junk + f'<?xml version="1.0" encoding="ISO-8859-1"?><urlset xmlns="{NS}"><url><loc>http://example.com/caf\xe9</loc>'
            "</url><url><loc>http://example.com/b</loc></url></urlset>").encode("latin-1")
    for chunk in (1, 7, 4096):
        reader, records = read(body, chunk)
        skipped = len(junk.encode("latin-1")) - len(junk.encode("latin-1").lstrip(b"\xef\xbb\xbf \t\r\n"))
        assert (reader.kind, locs(records), reader.error_code, reader.encoding) == (
            "urlset", ["http://example.com/caf\xe9", "http://example.com/b"], "xml_error", "cp1252")
        assert reader.error == (f"XML error: {len(junk.encode('latin-1')) - skipped:,} bytes before the XML declaration "
                                f"were skipped ({preview})")


def test_an_index_behind_junk_gives_its_children():
    body = (PHP_WARNING + f'<?xml version="1.0"?><sitemapindex xmlns="{NS}"><sitemap><loc>http://example.com/s1.xml</loc>'
            "</sitemap></sitemapindex>")
    reader, records = read(body)
    assert (reader.kind, locs(records), reader.error_code) == ("index", ["http://example.com/s1.xml"], "xml_error")


@pytest.mark.parametrize("body, error", [
    # no declaration at all: cut before the root
    (PHP_WARNING + f'<urlset xmlns="{NS}"><url><loc>http://example.com/a</loc></url></urlset>',
     '121 bytes before the root element were skipped (<br /> <b>Warning</b>: Undefined array key "page" in '
     "<b>/var/www/wp-content/p...)"),
    # between the declaration and the root: the declaration is kept, and with it the encoding
    ('<?xml version="1.0" encoding="ISO-8859-1"?>\nDeprecated: Function x() is deprecated in /a.php on line 9\n'
     f'<sm:urlset xmlns:sm="{NS}"><sm:url><sm:loc>http://example.com/a</sm:loc></sm:url></sm:urlset>',
     "60 bytes before the root element were skipped (Deprecated: Function x() is deprecated in /a.php on line 9)"),
    # before a declaration even a comment is out of place
    ('<!-- cached 12:00 --><?xml version="1.0"?><urlset><url><loc>http://example.com/a</loc></url></urlset>',
     "21 bytes before the XML declaration were skipped (<!-- cached 12:00 -->)"),
])
def test_junk_before_the_root_element_is_skipped_too(body, error):
    reader, records = read(body)
    assert (reader.kind, locs(records), reader.error) == ("urlset", ["http://example.com/a"], "XML error: " + error)


@pytest.mark.parametrize("body, kind, found, error", [
    # entries before a second declaration are not junk: the first error wins, nothing is cut
    (f'<urlset xmlns="{NS}"><url><loc>http://example.com/a</loc></url></urlset><?xml version="1.0"?><urlset>'
     "<url><loc>http://example.com/b</loc></url></urlset>", "urlset", ["http://example.com/a"],
     "XML error at line 1: XML declaration allowed only at the start of the document"),
    # an HTML page is still one, whatever it quotes after its DOCTYPE
    ('<!DOCTYPE html><html><body><?xml version="1.0"?><urlset><url><loc>http://example.com/a</loc></url></urlset>'
     "</body></html>", "not_sitemap", [], ""),
    ('<html><body>Warning<urlset><url><loc>http://example.com/a</loc></url></urlset></body></html>', "not_sitemap", [], ""),
    # a prolog of comments and processing instructions is read as it is, with or without a declaration
    ('<?xml version="1.0"?>\n<?xml-stylesheet href="/s.xsl"?>\n<!-- by x -->\n<urlset><url><loc>http://example.com/a'
     "</loc></url></urlset>", "urlset", ["http://example.com/a"], ""),
    ('<?xml-stylesheet href="/s.xsl"?><!-- by x --><urlset><url><loc>http://example.com/a</loc></url></urlset>',
     "urlset", ["http://example.com/a"], ""),
    # no start to cut at
    (PHP_WARNING + "<ul><li>http://example.com/a</li></ul>", "not_sitemap", [], ""),
])
def test_only_junk_before_a_declaration_or_a_root_is_cut(body, kind, found, error):
    reader, records = read(body)
    assert (reader.kind, locs(records), reader.error) == (kind, found, error)


def test_bytes_invalid_in_the_declared_encoding_skip_only_that_url():
    body = f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="{NS}"><url><loc>http://example.com/caf\xe9</loc></url><url><loc>http://example.com/ok</loc></url></urlset>'
    reader, records = read(body.encode("latin-1"))
    assert locs(records) == ["http://example.com/ok"]
    assert reader.skipped == 1
    assert reader.error == "XML error at line 1: Invalid bytes in character encoding"


def test_only_absolute_http_locs_are_kept_and_overlong_ones_are_skipped():
    long_loc = "http://example.com/" + "a" * 2100
    body = f'<urlset xmlns="{NS}"><url><loc>HTTPS://Example.com/A</loc></url><url><loc>{long_loc}</loc></url></urlset>'
    reader, records = read(body, chunk=512)
    assert locs(records) == ["HTTPS://Example.com/A"] and reader.skipped == 1


def test_fields_are_normalized_and_bad_values_become_null():
    body = (f'<urlset xmlns="{NS}">'
            "<url><loc>http://example.com/1</loc><lastmod>2024-02-03T04:05:06.789+01:00</lastmod>"
            "<changefreq> Weekly </changefreq><priority> 0.8 </priority></url>"
            "<url><loc>http://example.com/2</loc><lastmod>2024-13-45</lastmod><changefreq>sometimes</changefreq>"
            "<priority>1.5</priority></url>"
            "<url><loc>http://example.com/3</loc><lastmod>not a date</lastmod><priority>high</priority></url></urlset>")
    records = read(body)[1]
    assert [(r.lastmod and r.lastmod.isoformat(), r.changefreq, r.priority) for r in records] == [
        ("2024-02-03T03:05:06.789000+00:00", "weekly", 0.8),
        (None, "", None),
        (None, "", None),
    ]


def test_image_video_news_and_alternates_are_kept_in_extras():
    body = ('<?xml version="1.0" encoding="UTF-8"?>'
            f'<urlset xmlns="{NS}" xmlns:image="http://www.google.com/schemas/sitemap-image/1.1" '
            'xmlns:video="http://www.google.com/schemas/sitemap-video/1.1" '
            'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9" xmlns:xhtml="http://www.w3.org/1999/xhtml">'
            "<url><loc>http://example.com/a</loc>"
            '<xhtml:link rel="alternate" hreflang="de" href="http://example.com/de/a"/>'
            '<xhtml:link rel="alternate" hreflang="x-default" href="http://example.com/a"/>'
            '<xhtml:link rel="alternate" media="only screen and (max-width: 640px)" href="http://m.example.com/a"/>'
            "<image:image><image:loc>http://example.com/1.jpg</image:loc><image:caption>One &amp; two</image:caption></image:image>"
            "<image:image><image:loc>http://example.com/2.jpg</image:loc></image:image>"
            "<video:video><video:thumbnail_loc>http://example.com/t.jpg</video:thumbnail_loc><video:title>Grill</video:title>"
            '<video:player_loc allow_embed="yes">http://example.com/player</video:player_loc>'
            '<video:price currency="EUR">1.99</video:price><video:tag>steak</video:tag><video:tag>meat</video:tag></video:video>'
            "<news:news><news:publication><news:name>The Times</news:name><news:language>en</news:language></news:publication>"
            "<news:publication_date>2008-12-23</news:publication_date><news:title>Companies A, B in Merger</news:title></news:news>"
            "</url><url><loc>http://example.com/plain</loc></url></urlset>")
    records = read(body, chunk=50)[1]
    assert records[0].extras == {
        "alternates": [
            {"hreflang": "de", "href": "http://example.com/de/a"},
            {"hreflang": "x-default", "href": "http://example.com/a"},
            {"href": "http://m.example.com/a", "media": "only screen and (max-width: 640px)"},
        ],
        "images": [{"loc": "http://example.com/1.jpg", "caption": "One & two"}, {"loc": "http://example.com/2.jpg"}],
        "videos": [{
            "thumbnail_loc": "http://example.com/t.jpg", "title": "Grill",
            "player_loc": {"allow_embed": "yes", "value": "http://example.com/player"},
            "price": {"currency": "EUR", "value": "1.99"}, "tag": ["steak", "meat"],
        }],
        "news": [{
            "publication": {"name": "The Times", "language": "en"},
            "publication_date": "2008-12-23", "title": "Companies A, B in Merger",
        }],
    }
    assert records[1].extras is None


def test_mrss_media_content_is_kept_as_a_video():
    body = ('<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><item><link>http://example.com/v</link>'
            '<media:content url="http://example.com/v.mp4" duration="120"><media:title>Clip</media:title>'
            '<media:thumbnail url="http://example.com/v.jpg"/></media:content></item></channel></rss>')
    records = read(body)[1]
    assert records[0].extras == {"videos": [{
        "url": "http://example.com/v.mp4", "duration": "120", "title": "Clip", "thumbnail": {"url": "http://example.com/v.jpg"},
    }]}


def test_an_entity_expansion_bomb_is_refused_promptly():
    lol = '<!ENTITY lol0 "lol">' + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    body = f'<?xml version="1.0"?><!DOCTYPE urlset [{lol}]><urlset xmlns="{NS}"><url><loc>http://example.com/&lol9;</loc></url></urlset>'
    started = time.monotonic()
    reader, records = read(body, chunk=4096)
    assert time.monotonic() - started < 1
    assert records == []
    assert reader.error == "refused: the XML declares a DTD of its own (entities are never expanded)"


def test_external_entities_are_never_resolved():
    body = ('<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'
            f'<urlset xmlns="{NS}"><url><loc>http://example.com/&secret;</loc></url></urlset>')
    reader, records = read(body)
    assert records == [] and reader.error == "refused: the XML declares a DTD of its own (entities are never expanded)"


def test_a_doctype_hidden_after_the_first_kilobytes_is_refused_too():
    body = ('<?xml version="1.0"?>' + "<!-- padding -->" * 400 + '<!DOCTYPE urlset [<!ENTITY a "aa">]>'
            f'<urlset xmlns="{NS}"><url><loc>http://example.com/&a;</loc></url></urlset>')
    reader, records = read(body, chunk=1024)
    assert records == [] and reader.error == "refused: the XML declares a DTD of its own (entities are never expanded)"


def test_a_plain_doctype_without_declarations_is_harmless():
    body = f'<?xml version="1.0"?><!DOCTYPE urlset SYSTEM "http://127.0.0.1:9/never.dtd"><urlset xmlns="{NS}"><url><loc>http://example.com/a</loc></url></urlset>'
    reader, records = read(body)
    assert locs(records) == ["http://example.com/a"] and reader.error == ""


def test_a_loc_with_a_tab_or_line_break_inside_is_skipped():
    body = f'<urlset xmlns="{NS}"><url><loc>http://example.com/a\tb</loc></url><url><loc>http://example.com/c\nd</loc></url></urlset>'
    reader, records = read(body)
    assert records == [] and reader.skipped == 2


ATOM = "http://www.w3.org/2005/Atom"


def read_feed(body, url="http://example.com/blog/feed.atom"):
    reader = SitemapReader([body.encode()[i : i + 7] for i in range(0, len(body.encode()), 7)], url)
    return reader, locs(list(reader))


def test_it_resolves_atom_relative_hrefs_against_nested_xml_base_and_the_feed_url():
    body = (f'<feed xmlns="{ATOM}" xml:base="/posts/">'
            '<entry xml:base="2024/"><link href="one"/></entry>'
            '<entry><link href="../two?x=1"/></entry>'
            '<entry xml:base="http://other.example/a/"><link xml:base="b/" href="../c"/></entry>'
            '<entry><link href="http://example.com/Absolute/./As/Written"/></entry>'
            "</feed>")
    reader, found = read_feed(body)
    assert found == ["http://example.com/posts/2024/one", "http://example.com/two?x=1", "http://other.example/a/c",
                     "http://example.com/Absolute/./As/Written"]


def test_it_resolves_atom_hrefs_against_the_feed_url_without_xml_base():
    body = f'<feed xmlns="{ATOM}"><entry><link href="post.html"/></entry><entry><link href="/root"/></entry></feed>'
    assert read_feed(body)[1] == ["http://example.com/blog/post.html", "http://example.com/root"]


def test_it_treats_the_iana_long_form_relation_as_alternate_and_ignores_self_and_enclosures():
    body = (f'<feed xmlns="{ATOM}">'
            '<entry><link rel="self" href="http://example.com/self/1"/>'
            '<link rel="enclosure" href="http://example.com/a.mp3"/>'
            '<link rel="http://www.iana.org/assignments/relation/alternate" href="http://example.com/1"/></entry>'
            '<entry><link rel="self" href="http://example.com/self/2"/><link rel="enclosure" href="http://example.com/b.mp3"/></entry>'
            '<entry><link rel=" alternate " type="text/html" href="http://example.com/3"/></entry></feed>')
    reader, found = read_feed(body)
    assert found == ["http://example.com/1", "http://example.com/3"]
    assert reader.skipped_by_reason == {"invalid_loc": 1}


def test_a_doctype_whose_internal_subset_declares_no_entities_is_read():
    body = ('<?xml version="1.0"?><!DOCTYPE urlset [<!-- a comment with > and ]> inside -->'
            '<!ELEMENT urlset ANY><!ATTLIST urlset note CDATA "a > b"><?pi x?>]>'
            f'<urlset xmlns="{NS}"><url><loc>http://example.com/a</loc></url></urlset>')
    reader, records = read(body)
    assert locs(records) == ["http://example.com/a"] and reader.error == ""


@pytest.mark.parametrize("doctype", [
    '<!DOCTYPE urlset SYSTEM "x>y" [<!ENTITY a "aa">]>',  # a quoted ">" used to hide the subset
    "<!DOCTYPE urlset PUBLIC '-//x>//EN' 'y' [<!ENTITY a 'aa'>]>",
    '<!DOCTYPE urlset [<!-- ]> --><!ENTITY a "aa">]>',
    '<!DOCTYPE urlset [<!ENTITY % p "<!ENTITY a \'aa\'>"> %p;]>',  # a parameter entity
    '<!DOCTYPE urlset [<!ATTLIST urlset x CDATA "]>"><!ENTITY a SYSTEM "file:///etc/passwd">]>',
])
def test_a_doctype_that_declares_entities_is_refused_however_it_is_disguised(doctype):
    body = f'<?xml version="1.0"?>{doctype}<urlset xmlns="{NS}"><url><loc>http://example.com/&a;</loc></url></urlset>'
    reader, records = read(body)
    assert records == []
    assert (reader.error, reader.error_code) == (
        "refused: the XML declares a DTD of its own (entities are never expanded)", "xml_error")


def test_it_counts_skipped_entries_by_reason_and_kept_entries_without_their_lastmod():
    body = (f'<urlset xmlns="{NS}">'
            "<url><loc>/relative</loc></url>"
            f"<url><loc>http://example.com/{'a' * 2100}</loc></url>"
            "<url><loc>http://example.com/&bogus;</loc></url>"
            "<url><loc>http://example.com/1</loc><lastmod>yesterday</lastmod></url>"
            f"<url><loc>http://example.com/2</loc><lastmod>{'9' * 300}</lastmod></url>"
            "<url><loc>http://example.com/3</loc><lastmod></lastmod></url></urlset>")
    reader, records = read(body)
    assert locs(records) == ["http://example.com/1", "http://example.com/2", "http://example.com/3"]
    assert reader.skipped == 3
    assert reader.skipped_by_reason == {"invalid_loc": 1, "loc_too_long": 1, "html_entity": 1, "invalid_lastmod": 2}


def test_it_gives_an_error_code_for_damaged_xml_and_for_documents_that_are_not_sitemaps():
    damaged = read(f'<urlset xmlns="{NS}"><url><loc>http://example.com/a</loc></url><url><loc>http://exa')[0]
    html = read("<!DOCTYPE html><html><body>Not found</body></html>")[0]
    other_xml = read('<?xml version="1.0"?><Error><Code>NoSuchKey</Code></Error>')[0]
    fine = read(f'<urlset xmlns="{NS}"><url><loc>http://example.com/a</loc></url></urlset>')[0]
    assert (damaged.error_code, html.error_code, other_xml.error_code, fine.error_code) == (
        "xml_error", "not_a_sitemap", "not_a_sitemap", "")


def test_a_text_sitemap_counts_its_skipped_lines_by_reason():
    body = "http://example.com/a\n/relative\nhttp://example.com/" + "b" * 2100 + "\n"
    reader, records = read(body)
    assert locs(records) == ["http://example.com/a"]
    assert reader.skipped_by_reason == {"invalid_loc": 1, "loc_too_long": 1}


def test_a_text_sitemap_counts_an_endless_line_once_and_reads_the_lines_after_it():
    body = b"http://example.com/a\nhttp://example.com/" + b"x" * 50_000 + b"\nhttp://example.com/b\n"
    reader = SitemapReader([body[i : i + 1000] for i in range(0, len(body), 1000)])
    assert locs(list(reader)) == ["http://example.com/a", "http://example.com/b"]
    assert reader.skipped_by_reason == {"loc_too_long": 1}
