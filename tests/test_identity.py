"""URL identity: which spellings are one URL (RFC 3986 6.2.2, RFC 3987) and which are not."""

import pytest

from batches.sitemaps.identity import normal_form, url_key


@pytest.mark.parametrize("spellings", [
    ("http://example.com/a", "HTTP://EXAMPLE.COM/a", "http://Example.Com/a"),  # scheme and host case
    ("http://example.com/a", "http://example.com:80/a", "http://example.com:/a", "http://example.com:0080/a"),
    ("https://example.com/a", "https://example.com:443/a"),
    ("http://example.com/", "http://example.com"),  # empty path
    ("http://example.com/a%2Fb", "http://example.com/a%2fb"),  # escape case
    ("http://example.com/~a-b_c.d", "http://example.com/%7Ea%2Db%5Fc%2Ed", "http://example.com/%7ea%2db%5fc%2ed"),
    ("http://example.com/%41", "http://example.com/A"),  # escaped unreserved letters
    ("http://example.com/a/c", "http://example.com/a/./b/../c", "http://example.com/a/b/%2E%2E/c", "http://example.com/../a/c"),
    ("http://example.com/a/", "http://example.com/a/b/.."),
    ("http://example.com/a?x=1", "http://example.com/a?x=1#top", "http://example.com/a?x=1#"),  # fragments
    ("http://xn--caf-dma.example/", "http://café.example/", "http://CAFÉ.example/", "http://caf%C3%A9.example/"),  # IDN
    ("http://example.com/caf%C3%A9", "http://example.com/café", "http://example.com/caf%c3%a9"),  # IRI path
    ("http://example.com/?q=caf%C3%A9", "http://example.com/?q=café"),  # IRI query
    ("http://example.com/a%20b", "http://example.com/a b"),
    ("http://[::1]/x", "http://[::1]:80/x"),
    ("http://user@example.com/x", "http://user@EXAMPLE.com:80/x"),
])
def test_it_gives_spellings_of_one_url_one_normal_form_and_one_key(spellings):
    assert {normal_form(url) for url in spellings} == {normal_form(spellings[0])}
    assert len({url_key(url) for url in spellings}) == 1


@pytest.mark.parametrize("first, second", [
    ("http://example.com/a%2Fb", "http://example.com/a/b"),  # an escaped reserved character is data
    ("http://example.com/?a=1&b=2", "http://example.com/?b=2&a=1"),  # query order
    ("http://example.com/a", "http://example.com/a/"),  # trailing slash
    ("http://example.com/?q=a+b", "http://example.com/?q=a%20b"),  # "+" is not a space outside forms
    ("http://example.com/?q=a%2Bb", "http://example.com/?q=a+b"),
    ("http://example.com/a", "http://example.com/a?"),  # an empty query is still a query
    ("http://example.com/a", "http://example.com/A"),  # path case
    ("http://example.com/", "https://example.com/"),  # scheme
    ("http://example.com/", "http://example.com:8080/"),
    ("http://example.com/", "http://www.example.com/"),
    ("http://example.com/", "http://example.com./"),  # a trailing dot is another DNS name
    ("http://example.com/a//b", "http://example.com/a/b"),  # empty segments are segments
    ("http://example.com/%25", "http://example.com/%"),
    ("http://faß.example/", "http://fass.example/"),  # IDNA 2008: "ß" is not "ss"
    ("http://example.com/caf%C3%A9", "http://example.com/cafe%CC%81"),  # no Unicode normalization of paths
])
def test_it_keeps_urls_that_a_server_may_tell_apart_distinct(first, second):
    assert normal_form(first) != normal_form(second)
    assert url_key(first) != url_key(second)


def test_it_returns_an_already_normal_url_as_it_is():
    url = "https://www.example.com/blog/2024/05/a-post/?page=2&sort=new"
    assert normal_form(url) is url


def test_it_writes_the_normal_form_in_ascii_with_upper_case_escapes():
    assert normal_form("HTTP://Bücher.Example:80/caf%c3%a9/./x/../Ünïcode?q=ä#f") == (
        "http://xn--bcher-kva.example/caf%C3%A9/%C3%9Cn%C3%AFcode?q=%C3%A4")


def test_it_leaves_a_relative_or_odd_url_as_written_less_its_fragment():
    assert normal_form("/relative/path#x") == "/relative/path"
    assert normal_form("mailto:Someone@Example.com") == "mailto:Someone@Example.com"


def test_it_compares_an_invalid_idn_host_as_written_without_failing():
    assert normal_form("http://xn--zz.example/") == "http://xn--zz.example/"
    assert normal_form("http://a_b.Example/") == "http://a_b.example/"
    assert normal_form("http://\u2603\u200d.example/") != normal_form("http://\u2603.example/")


def test_it_keeps_the_key_a_signed_64_bit_integer():
    key = url_key("http://example.com/a")
    assert -(2**63) <= key < 2**63 and key == url_key("HTTP://example.com:80/a#x")


def test_a_url_with_an_explicit_port_keeps_it_unless_it_is_the_default():
    # the already-normal fast path takes non-default ports (benchmarks and staging sites use them)
    assert normal_form("http://h.example:8080/a?b=1") == "http://h.example:8080/a?b=1"
    assert url_key("http://H.example:08080/a") == url_key("http://h.example:8080/a")
    assert normal_form("http://h.example:80/a") == "http://h.example/a"
    assert normal_form("https://h.example:443/a") == "https://h.example/a"
    assert normal_form("http://h.example:443/a") == "http://h.example:443/a"
    assert url_key("http://h.example:8080/a") != url_key("http://h.example/a")
