"""Entries read from lxml's tree (entry_tree.py) come out exactly as the target parser reads
them: every document here is read both ways, in chunks of many sizes, and compared whole."""

import pytest

from batches.sitemaps.entry_tree import PIECE_BYTES
from batches.sitemaps.parse_xml import XmlFormat
from batches.sitemaps.records import ChildSitemap

NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
IMAGE = 'xmlns:image="http://www.google.com/schemas/sitemap-image/1.1"'
XHTML = 'xmlns:xhtml="http://www.w3.org/1999/xhtml"'


def plain(number):
    return (f"<url><loc>http://a.example/p/{number}</loc><lastmod>2024-01-0{number % 9 + 1}</lastmod>"
            f"<changefreq>daily</changefreq><priority>0.{number % 10}</priority></url>\n")


def urlset(*entries, root=f'<urlset xmlns="{NS}">', end="</urlset>\n", filler=60):
    """A document long enough that the tree takes over: `filler` plain entries, then the
    entries under test, then `filler` more."""
    body = "".join(plain(n) for n in range(filler)) + "".join(entries) + "".join(plain(n) for n in range(filler, 2 * filler))
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{root}\n{body}{end}'.encode()


def read(document, chunk, read_tree):
    """(everything the reader reports, the reader, its mode halfway through the document)."""
    reader = XmlFormat("http://a.example/sitemap.xml", read_tree=read_tree)
    records, mode_halfway = [], None
    for start in range(0, len(document), chunk):
        records += reader.feed(document[start:start + chunk])
        if mode_halfway is None and start > len(document) // 2:
            mode_halfway = reader.mode
    records += reader.close()
    outcome = {"records": [comparable(record) for record in records], "kind": reader.kind,
               "skipped": reader.skipped, "reasons": reader.skipped_by_reason,
               "extras_dropped": reader.extras_dropped, "error": reader.error}
    return outcome, reader, mode_halfway


def comparable(record):
    if isinstance(record, ChildSitemap):  # no __eq__ of its own
        return ("child", record.url, record.lastmod)
    return ("url", *record)


DOCUMENTS = {
    "plain": urlset(),
    "images and alternates": urlset(
        '<url><loc>http://a.example/i</loc><image:image><image:loc>http://a.example/i.jpg</image:loc>'
        '<image:caption>A &amp; B &eacute;</image:caption></image:image>'
        '<xhtml:link rel="alternate" hreflang="de" href="http://a.example/de/i"/></url>\n',
        root=f'<urlset xmlns="{NS}" {IMAGE} {XHTML}>'),
    "entities, cdata and comments": urlset(
        "<url><loc>http://a.example/?a=1&b=2&amp;c=&eacute;</loc></url>\n",
        "<url><loc><![CDATA[http://a.example/cdata?x=1&y]]></loc><!-- </url> --></url>\n",
        "<!-- a comment between entries with </url> inside -->\n",
        "<url><loc>http://a.example/com<!-- x -->ment</loc></url>\n",
        "<![CDATA[ </url> ]]>\n",
        "<url><loc>http://a.example/&bogus;</loc></url>\n",
        "<url><loc>http://a.example/&#1;</loc></url>\n"),
    "odd names and namespaces": urlset(
        "<URL><LOC>http://a.example/upper</LOC></URL >\n",
        '<url xmlns="http://other.example/ns"><loc>http://a.example/other-ns</loc></url>\n',
        '<s:url xmlns:s="http://www.sitemaps.org/schemas/sitemap/0.9"><s:loc>http://a.example/prefixed</s:loc></s:url>\n'),
    "prefixed root": urlset(
        "<s:url><s:loc>http://a.example/s</s:loc></s:url>\n",
        root=f'<s:urlset xmlns:s="{NS}" xml:base="http://a.example/base/">', end="</s:urlset>\n"),
    "no namespace": urlset(root="<urlset>"),
    "fields odd": urlset(
        "<url><loc>  http://a.example/space  </loc><lastmod>not a date</lastmod></url>\n",
        "<url><lastmod>2024-01-01</lastmod></url>\n",
        "<url><loc></loc></url>\n",
        "<url><loc/></url>\n",
        "<url><loc>http://a.example/first</loc><loc>http://a.example/second</loc></url>\n",
        "<url><loc><b>http://a.example/nested</b></loc></url>\n",
        "<url><loc>http://a.example/" + "x" * 3000 + "</loc></url>\n",
        "<url><loc>http://a.example/long-priority</loc><priority>" + "1" * 300 + "</priority></url>\n",
        "<url><loc>http://a.example/a b</loc><changefreq>WEEKLY</changefreq></url>\n",
        "<other><loc>http://a.example/not-an-entry</loc></other>\n"),
    "broken tag": urlset("<url><loc>http://a.example/broken</loc><lastmod>2024</lastmod</url>\n"),
    "deep extension": urlset(
        f'<url><loc>http://a.example/deep</loc><image:image>{"<image:x>" * 300}v{"</image:x>" * 300}</image:image></url>\n',
        root=f'<urlset xmlns="{NS}" {IMAGE}>'),
    "entry larger than a piece": urlset(
        "<url><loc>http://a.example/big</loc>" +
        "".join(f"<image:image><image:loc>http://a.example/{n}.jpg</image:loc></image:image>" for n in range(PIECE_BYTES // 60))
        + "</url>\n", root=f'<urlset xmlns="{NS}" {IMAGE}>'),
    "truncated": urlset()[:-4000],
    "truncated in a tag": urlset()[:-4003],
    "junk after the root": urlset(end="</urlset>\n<url><loc>http://a.example/after</loc></url>\n"),
    "index": (f'<sitemapindex xmlns="{NS}">' + "".join(
        f"<sitemap><loc>http://a.example/s{n}.xml</loc><lastmod>2024-02-0{n % 9 + 1}</lastmod></sitemap>\n" for n in range(500))
        + "</sitemapindex>").encode(),
    # misnamed roots: read as their first entry says (and a later entry of the root's own kind ignored)
    "urlset of sitemaps": (f'<urlset xmlns="{NS}">' + "".join(
        f"<sitemap><loc>http://a.example/s{n}.xml</loc><lastmod>2024-02-0{n % 9 + 1}</lastmod></sitemap>\n" for n in range(4000))
        + plain(1) + "</urlset>").encode(),
    "index of urls": (f'<sitemapindex xmlns="{NS}">' + "".join(plain(n) for n in range(3000))
                      + "<sitemap><loc>http://a.example/s.xml</loc></sitemap></sitemapindex>").encode(),
}


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
@pytest.mark.parametrize("chunk", [1, 97, 4096, 65536, 300_000])
def test_the_tree_reads_every_document_as_the_target_parser_does(name, chunk):
    document = DOCUMENTS[name]
    if chunk == 1 and len(document) > 50_000:
        chunk = 7  # a byte at a time through a megabyte is slow, not more thorough
    expected, _, _ = read(document, chunk, read_tree=False)
    assert expected["records"]  # every document has entries to compare
    actual, _, _ = read(document, chunk, read_tree=True)
    assert actual == expected


@pytest.mark.parametrize("chunk", [97, 4096])
def test_a_plain_urlset_is_read_from_the_tree_past_its_first_chunk(chunk):
    _, _, mode_halfway = read(DOCUMENTS["plain"], chunk, read_tree=True)
    assert mode_halfway == "tree"


def test_an_error_in_a_piece_hands_the_rest_to_the_target_parser_with_the_right_line():
    actual, reader, _ = read(DOCUMENTS["broken tag"], 4096, read_tree=True)
    assert reader.mode == "target only"
    assert actual["error"] == "XML error at line 63: expected '>'"
    assert len(actual["records"]) == 121


def test_an_entry_end_tag_deeper_down_is_not_taken_for_an_entry_end():
    # </news:url> ends a piece as the tree sees it, while the <url> around it is still open
    entry = ('<url><x:url xmlns:x="http://x.example/">inner</x:url>'
             + "<x:pad xmlns:x=\"http://x.example/\">" + "p" * 5000 + "</x:pad><loc>http://a.example/outer</loc></url>\n")
    document = urlset(entry, entry)
    for chunk in (97, 4096, 5200):
        expected, _, _ = read(document, chunk, read_tree=False)
        actual, _, _ = read(document, chunk, read_tree=True)
        assert actual == expected
        assert [record[1] for record in actual["records"]].count("http://a.example/outer") == 2
