"""Pieces of plain <url>s read by one regular expression (plain_urls.py) come out exactly as
lxml's tree and the target parser read them; anything else in a piece sends it to the tree."""

import random
from datetime import datetime, timezone

import pytest

from batches.sitemaps import entry_tree
from batches.sitemaps.plain_urls import plain_urls
from tests.test_parse_tree import NS, plain, read, urlset


def rows(*entries):
    return plain_urls("".join(entries).encode())


def read_three_ways(document, chunk, monkeypatch):
    """The document read by the target parser alone, by the tree with no plain pieces, and as
    the reader reads by default; the outcomes, and (pieces read as plain, pieces the tree had)."""
    by_target, _, _ = read(document, chunk, read_tree=False)
    with monkeypatch.context() as patched:
        patched.setattr(entry_tree, "plain_urls", lambda piece: None)
        by_tree, _, _ = read(document, chunk, read_tree=True)
    answers = []

    def counted(piece):
        answers.append(plain_urls(piece))
        return answers[-1]

    with monkeypatch.context() as patched:
        patched.setattr(entry_tree, "plain_urls", counted)
        by_default, _, _ = read(document, chunk, read_tree=True)
    return by_target, by_tree, by_default, (sum(answer is not None for answer in answers), len(answers))


def test_plain_entries_come_out_as_written_with_absent_fields_empty_and_locs_unspaced():
    assert rows(
        "\n<url><loc>http://a.example/1</loc><lastmod>2024-01-02</lastmod><changefreq>daily</changefreq>"
        "<priority>0.5</priority></url>\r\n",
        "<url>\n  <loc>\n    http://a.example/2?a=1&amp;b=2\n  </loc>\n  <priority>1</priority>\n</url>",
        "<url><loc>http://a.example/é</loc><lastmod></lastmod></url>\t",
    ) == [
        ("http://a.example/1", "2024-01-02", "daily", "0.5", ""),
        ("http://a.example/2?a=1&b=2", "", "", "1", ""),
        ("http://a.example/é", "", "", "", ""),
    ]


@pytest.mark.parametrize("entry", [
    "<url><loc>http://a.example/c</loc><!-- a comment --></url>",
    "<url><loc><![CDATA[http://a.example/cdata]]></loc></url>",
    '<url id="1"><loc>http://a.example/attribute</loc></url>',
    "<s:url><s:loc>http://a.example/prefixed</s:loc></s:url>",
    "<URL><LOC>http://a.example/upper</LOC></URL>",
    "<url><lastmod>2024-01-01</lastmod><loc>http://a.example/order</loc></url>",
    "<url><loc>http://a.example/1</loc><loc>http://a.example/2</loc></url>",
    "<url><loc>http://a.example/&#38;</loc></url>",
    "<url><loc>http://a.example/&lt;</loc></url>",
    "<url><loc>http://a.example/</loc><lastmod>2024&amp;</lastmod></url>",
    "<url><loc>http://a.example/]]></loc></url>",
    "<url><loc>http://a.example/\ufdd0</loc></url>",
    "<url><loc>http://a.example/" + "x" * 2048 + "</loc></url>",
    "<url><loc>http://a.example/</loc><priority>" + "1" * 257 + "</priority></url>",
    "<url><loc>http://a.example/</loc><image:image><image:loc>http://a.example/i.jpg</image:loc></image:image></url>",
    "<url><loc/></url>",
    "<url><loc>http://a.example/</loc></url >",
    "<other/>",
    # locs check_loc would change or refuse: the tree reads them and check_loc decides
    "<url><loc>HTTP://a.example/upper-scheme</loc></url>",
    "<url><loc>http://a.example/a space</loc></url>",
    "<url><loc>\xa0http://a.example/no-break-space</loc></url>",
    "<url><loc>/relative</loc></url>",
    "<url><loc>http:///no-host</loc></url>",
    "<url><loc>https://?query</loc></url>",
    "<url><loc>ftp://a.example/</loc></url>",
    "<url><loc></loc></url>",
])
def test_a_piece_with_anything_but_plain_entries_is_left_to_the_tree(entry):
    assert len(rows(plain(1), plain(2))) == 2
    assert rows(plain(1), entry, plain(2)) is None


def test_bytes_that_are_not_utf_8_are_left_to_the_tree():
    assert plain_urls(plain(1).encode() + b"<url><loc>http://a.example/\xe9</loc></url>") is None


def test_a_loc_at_its_limit_is_plain_and_text_between_entries_is_passed_over():
    loc = "http://a.example/" + "x" * (2048 - len("http://a.example/"))
    assert rows(f"<url><loc>{loc}</loc></url>", "stray text", plain(3)) == [
        (loc, "", "", "", ""), ("http://a.example/p/3", "2024-01-04", "daily", "0.3", "")]


ODD_BUT_PLAIN = [  # read by the regular expression; each outcome must still be the parsers'
    "<url><loc>  http://a.example/space  </loc><lastmod>not a date</lastmod></url>\n",
    "<url><loc>http://a.example/x</loc><priority>nan</priority><changefreq>sometimes</changefreq></url>\n",
    "<url><loc>http://a.example/?q=1&amp;r=&amp;amp;</loc><lastmod>Tue, 10 Jun 2003 04:00:00 GMT</lastmod></url>\n",
    "<url><loc>http://a.example/\x01control</loc></url>\n",  # the repair makes it U+FFFD first
    "<url><loc>\r\nhttp://a.example/cr\r\n</loc><lastmod>\r2024-01-01T10:00:00\r\n</lastmod><priority>0.5\r</priority></url>\n",
    "<url><loc>http://a.example/\u3000ideographic-space</loc></url>\n",  # not printable: check_loc refuses it
    "<url><loc>http://a.example/changefreq</loc><changefreq> WEEKLY </changefreq><priority> 0.50 </priority></url>\n",
]
ODD_LOCS = [  # locs check_loc changes or refuses: not plain, their pieces go to the tree
    "<url><loc></loc></url>\n",
    "<url><loc>mailto:someone@a.example</loc></url>\n",
    "<url><loc>http://a.example/a b</loc></url>\n",
    "<url><loc>HTTP://A.example/upper</loc></url>\n",
    "<url><loc>http://a.example/\u00a0nbsp\u00a0</loc><lastmod> 2024-02-30 </lastmod></url>\n",
    "<url><loc>\u3000http://a.example/ideographic\u3000</loc><lastmod>2024-01-01T10:00:00+02:00</lastmod></url>\n",
    "<url><loc>https://</loc></url>\n",
    "<url><loc>http://a.example/tab\there</loc></url>\n",
    "<url><loc>http://a.example/inner\rcr</loc></url>\n",
]


@pytest.mark.parametrize("chunk", [97, 4096, 65536])
def test_odd_plain_entries_are_read_as_the_parsers_read_them(chunk, monkeypatch):
    document = urlset(*ODD_BUT_PLAIN * 40, filler=600)
    by_target, by_tree, by_default, plain_pieces = read_three_ways(document, chunk, monkeypatch)
    assert by_default == by_tree == by_target
    assert plain_pieces[0] >= 1
    assert by_default["skipped"] == 2 * 40  # per copy: the control character, the ideographic space
    assert by_default["reasons"] == {"invalid_loc": 2 * 40, "invalid_lastmod": 40}  # "not a date"
    assert ("url", "http://a.example/?q=1&r=&amp;", datetime(2003, 6, 10, 4, tzinfo=timezone.utc), "", None, None) in by_default["records"]
    assert ("url", "http://a.example/changefreq", None, "weekly", 0.5, None) in by_default["records"]


@pytest.mark.parametrize("chunk", [97, 65536])
def test_odd_locs_among_plain_entries_are_read_as_the_parsers_read_them(chunk, monkeypatch):
    document = urlset(*[entry for odd in ODD_LOCS for entry in (odd, plain(1))] * 20, filler=600)
    by_target, by_tree, by_default, _ = read_three_ways(document, chunk, monkeypatch)
    assert by_default == by_tree == by_target
    # per copy: no loc, mailto, no host, a tab, a no-break space and a CR inside
    assert by_default["skipped"] == 6 * 20
    assert by_default["reasons"] == {"invalid_loc": 6 * 20}
    records = {record[1] for record in by_default["records"]}
    assert {"http://a.example/a%20b", "HTTP://A.example/upper", "http://a.example/ideographic"} < records


def _fuzzed_entry(rng, number, markup):
    """A <url> that is plain, with odd values; with `markup`, sometimes one that is not."""
    space = lambda: rng.choice(["", "", " ", "\n  ", "\r\n", "\t"])  # noqa: E731
    locs = [f"http://a.example/f/{number}", f"https://a.example/f?{number}&amp;x=é", f" http://a.example/f/{number} ",
            f"http://a.example/{number}\x01", f"\nhttps://a.example/{number}\ufffd"]
    if markup:  # and locs check_loc changes or refuses
        locs += ["", f"ftp://a.example/{number}", f"http://a.example/{number}\u00a0", f"http://a.example/{number}\u00a0x",
                 f"http://a.example/{number} x", f"HTTP://a.example/{number}",
                 f"http://a.example/<b>{number}</b>", f"http://a.example/&#x41;{number}",
                 f"<![CDATA[http://a.example/f/{number}]]>"]
    fields = [f"<loc>{rng.choice(locs)}</loc>"]
    for name, values in (("lastmod", ["2024-03-04", "2024-03-04T05:06:07Z", "yesterday", "", "2024-13-01"]),
                         ("changefreq", ["daily", "Weekly", "often", ""]),
                         ("priority", ["0.8", "2", "0.25", "", "x"])):
        if rng.random() < 0.7:
            fields.append(f"<{name}>{space()}{rng.choice(values)}{space()}</{name}>")
    if markup and rng.random() < 0.05:
        rng.shuffle(fields)
    if markup and rng.random() < 0.03:
        fields.append("<!-- note -->")
    return "<url>" + space() + space().join(fields) + space() + "</url>" + space() + "\n"


@pytest.mark.parametrize("markup", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_fuzzed_entries_are_read_as_the_parsers_read_them(seed, markup, monkeypatch):
    rng = random.Random(seed)
    entries = [_fuzzed_entry(rng, number, markup) for number in range(4000)]
    document = urlset(*entries, root=f'<urlset xmlns="{NS}">', filler=100)
    by_target, by_tree, by_default, plain_pieces = read_three_ways(document, rng.choice([997, 8192, 65536]), monkeypatch)
    assert by_default == by_tree == by_target
    assert len(by_default["records"]) > 2000
    assert 0 < by_default["skipped"] < 2000
    if not markup:  # every piece after the head
        assert plain_pieces[0] == plain_pieces[1] >= 1


def test_a_plain_urlset_is_read_by_the_regular_expression_past_its_head(monkeypatch):
    document = urlset(filler=5000)
    by_target, by_tree, by_default, plain_pieces = read_three_ways(document, 65536, monkeypatch)
    assert by_default == by_tree == by_target
    assert len(by_default["records"]) == 10_000
    assert plain_pieces[0] == plain_pieces[1] >= 2
