"""Hostile sitemaps: bounded time, bounded memory, and nothing else lost.

Time and memory are measured in a child process (a generous wall bound, its own peak RSS), so
a slow machine cannot make these flaky and a regression cannot hang the suite."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from batches.sitemaps.parse import SitemapReader
from batches.sitemaps.parse_xml import MAX_EXTRA_DEPTH, MAX_EXTRA_VALUE, MAX_EXTRAS_SIZE

NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
ROOT = Path(__file__).resolve().parent.parent


def run_child(body_expression, limit_seconds=10):
    """Stream `body_expression` (Python yielding byte chunks) through a reader in a child
    process; returns its locs, counters, error and peak RSS in MB."""
    code = textwrap.dedent(f"""
        import json
        def peak_mb():
            # VmHWM, not ru_maxrss: the latter keeps the forking parent's peak across exec
            with open("/proc/self/status") as status:
                line = next(line for line in status if line.startswith("VmHWM:"))
            return int(line.split()[1]) // 1024
        from batches.sitemaps.parse import SitemapReader
        NS = {NS!r}
        def chunks():
            {body_expression}
        reader = SitemapReader(chunks(), "http://a.example/sitemap.xml")
        locs = [record.loc for record in reader]
        print(json.dumps({{"locs": locs, "skipped_by_reason": reader.skipped_by_reason, "error": reader.error,
                          "extras_dropped": reader.extras_dropped,
                          "peak_mb": peak_mb()}}))
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=limit_seconds)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_it_reads_a_loc_of_two_million_character_references_in_linear_time_and_skips_it():
    # issue 9: 58 KB gzipped, 30 MB of "xxxxxxxxxx&#65;" in one loc, once 23 minutes of CPU
    result = run_child("""
            yield ('<urlset xmlns="' + NS + '"><url><loc>http://a.example/').encode()
            for _ in range(500):
                yield b"xxxxxxxxxx&#65;" * 4000
            yield b"</loc></url><url><loc>http://a.example/next</loc></url></urlset>"
    """)
    assert result["locs"] == ["http://a.example/next"]
    assert result["skipped_by_reason"] == {"loc_too_long": 1} and result["error"] == ""


def test_a_text_sitemap_of_lines_full_of_line_break_tags_is_read_in_linear_time():
    # 20 MB of 8 KB lines, each 2,000 <br> tags and one other tag at the end (too long to be URLs):
    # an end-anchored regular expression tried every start, 0.1 s a line, minutes for the file
    result = run_child("""
            yield b"http://a.example/first<br>\\n"
            for _ in range(2500):
                yield b"http://a.example/" + b"<br>" * 2000 + b"<b>\\n"
            yield b"http://a.example/last<br />\\n"
    """)
    assert result["locs"] == ["http://a.example/first", "http://a.example/last"]
    assert result["skipped_by_reason"] == {"loc_too_long": 2500} and result["error"] == ""


def test_it_gives_up_a_huge_loc_without_holding_it():
    result = run_child("""
            yield ('<urlset xmlns="' + NS + '"><url><loc>http://a.example/').encode()
            for _ in range(3000):
                yield b"x" * 100_000
            yield b"</loc></url><url><loc>http://a.example/next</loc></url></urlset>"
    """)
    assert result["locs"] == ["http://a.example/next"] and result["skipped_by_reason"] == {"loc_too_long": 1}
    assert result["peak_mb"] < 150  # 300 MB of loc went by


def test_it_bounds_a_loc_split_into_a_million_cdata_sections_or_comments():
    for piece in ("<![CDATA[x]]>", "<!---->x"):
        result = run_child(f"""
            yield ('<urlset xmlns="' + NS + '"><url><loc>http://a.example/').encode()
            for _ in range(100):
                yield {piece!r}.encode() * 10_000
            yield b"</loc></url><url><loc>http://a.example/next</loc></url></urlset>"
        """)
        assert result["locs"] == ["http://a.example/next"] and result["skipped_by_reason"] == {"loc_too_long": 1}


def test_a_100000_deep_extension_keeps_its_url_and_the_rest_of_the_file():
    result = run_child("""
            yield ('<urlset xmlns="' + NS + '" xmlns:video="v"><url><loc>http://a.example/deep</loc><video:video>').encode()
            yield b"<video:x>" * 100_000 + b"1" + b"</video:x>" * 100_000
            yield b"</video:video></url><url><loc>http://a.example/next</loc></url></urlset>"
    """)
    assert result["locs"] == ["http://a.example/deep", "http://a.example/next"] and result["error"] == ""
    assert result["extras_dropped"] == 100_000 - MAX_EXTRA_DEPTH + 1


def test_it_keeps_deep_extension_values_shallow_enough_to_encode_as_json():
    inner = "<video:x>" * 50 + "1" + "</video:x>" * 50
    body = (f'<urlset xmlns="{NS}" xmlns:video="v"><url><loc>http://a.example/a</loc>'
            f"<video:video>{inner}</video:video></url></urlset>")
    records = list(SitemapReader([body.encode()]))
    value, levels = records[0].extras["videos"][0], 1
    while isinstance(value, dict):
        value, levels = value.get("x"), levels + 1
    assert levels == MAX_EXTRA_DEPTH and json.dumps(records[0].extras)


def test_it_caps_each_extension_value_and_each_urls_extras():
    huge = "v" * (MAX_EXTRA_VALUE + 1)
    images = "".join(f"<image:image><image:loc>http://a.example/{i}-{'p' * 1000}.jpg</image:loc></image:image>"
                     for i in range(300))
    body = (f'<urlset xmlns="{NS}" xmlns:image="i" xmlns:video="v">'
            f'<url><loc>http://a.example/a</loc><video:video title="{huge}" id="7"><video:d>{huge}</video:d>'
            "<video:e>kept</video:e></video:video></url>"
            f"<url><loc>http://a.example/b</loc>{images}</url></urlset>")
    reader = SitemapReader([body.encode()])
    first, second = list(reader)
    assert first.extras == {"videos": [{"id": "7", "e": "kept"}]}
    assert len(json.dumps(second.extras)) < MAX_EXTRAS_SIZE + 10_000 and len(second.extras["images"]) < 300
    assert reader.extras_dropped == 2 + 300 - len(second.extras["images"])


def test_an_entity_expansion_bomb_hidden_in_an_attribute_is_refused_promptly():
    result = run_child("""
            lol = '<!ENTITY lol0 "lol">' + "".join(f'<!ENTITY lol{i} "{"&lol%d;" % (i - 1) * 10}">' for i in range(1, 10))
            yield f'<?xml version="1.0"?><!DOCTYPE urlset [{lol}]><urlset a="&lol9;" xmlns="{NS}">'.encode()
            yield b"<url><loc>http://a.example/&lol9;</loc></url></urlset>"
    """)
    assert result["locs"] == []
    assert result["error"] == "refused: the XML declares a DTD of its own (entities are never expanded)"
