from batches.entries import CsvFirstColumn, parse_text


def hosts(parsed):
    return [(entry.scheme, entry.host) for entry in parsed.entries]


def test_it_reduces_every_form_to_an_origin():
    parsed = parse_text(
        "example.com\n"
        "HTTPS://WWW.Example.org/some/page?x=1#top\n"
        "http://shop.example.net:8080/\n"
        "https://secure.example.com:443/\n"
        "blog.example.com:8443\n"
    )
    assert hosts(parsed) == [
        ("", "example.com"),
        ("https", "www.example.org"),
        ("http", "shop.example.net:8080"),
        ("https", "secure.example.com"),
        ("", "blog.example.com:8443"),
    ]
    assert parsed.invalid == []


def test_it_ignores_blank_lines_comments_and_merges_duplicates_case_insensitively():
    parsed = parse_text("\n# my list\nexample.com\n  \nEXAMPLE.com\nhttps://example.com/about\n")
    assert hosts(parsed) == [("", "example.com")]
    assert parsed.duplicates == 2
    assert parsed.invalid == []


def test_it_turns_international_names_into_punycode():
    parsed = parse_text("bücher.de\nhttps://пример.рф/путь\n")
    assert hosts(parsed) == [("", "xn--bcher-kva.de"), ("https", "xn--e1afmkfd.xn--p1ai")]


def test_it_reports_each_invalid_line_with_its_number_and_reason():
    parsed = parse_text(
        "good.example.com\n"
        "ftp://files.example.com/\n"
        "not a domain\n"
        "localhost-only\n"
        "https://user:pw@example.com/\n"
        "example.com:99999\n"
        "-bad-.example.com\n"
    )
    assert hosts(parsed) == [("", "good.example.com")]
    assert [(line.line_number, line.reason) for line in parsed.invalid] == [
        (2, "unsupported scheme 'ftp' (only http and https)"),
        (3, "contains white space"),
        (4, "not a valid host name (no dot)"),
        (5, "credentials in a URL are not accepted"),
        (6, "invalid port"),
        (7, "not a valid host name"),
    ]
    assert str(parsed.invalid[0]) == "line 2: unsupported scheme 'ftp' (only http and https): 'ftp://files.example.com/'"


def test_it_keeps_ip_literals_for_the_worker_guard_to_judge():
    parsed = parse_text("127.0.0.1:8000\nhttp://[::1]:9000/\n10.0.0.1\n")
    assert hosts(parsed) == [("", "127.0.0.1:8000"), ("http", "[::1]:9000"), ("", "10.0.0.1")]


def test_a_byte_order_mark_on_the_first_line_is_not_part_of_the_host():
    assert hosts(parse_text("\ufeffexample.com\n")) == [("", "example.com")]


def test_each_broken_host_name_rule_is_named():
    long_label = "a" * 64
    parsed = parse_text(f"a..b.com\n{long_label}.example.com\n{'a.' * 130}com\n")
    assert [line.reason for line in parsed.invalid] == [
        "not a valid host name (empty label: two dots in a row)",
        "not a valid host name (label of 64 characters; at most 63)",
        "not a valid host name (longer than 253 characters)",
    ]


def test_a_bare_ipv6_address_is_an_address_not_an_invalid_port():
    assert hosts(parse_text("::1\n2001:db8::1\n")) == [("", "[::1]"), ("", "[2001:db8::1]")]


def test_it_keeps_the_first_hundred_invalid_lines_and_counts_them_all():
    parsed = parse_text("bad!\n" * 250)
    assert (len(parsed.invalid), parsed.invalid_count, parsed.invalid[-1].line_number) == (100, 250, 100)


def test_a_csv_first_column_skips_a_header_row_and_survives_a_huge_field():
    column = CsvFirstColumn()
    cells = [column.cell(n, line) for n, line in enumerate(
        ["\n", "Domain,notes\n", '"a.example.com","x, y"\n', "x" * 200_000 + ",z\n", "domain\n"], start=1)]
    assert cells[:3] == ["", "", "a.example.com"] and len(cells[3]) > 2048 and cells[4] == "domain"
    assert column.header == (2, "Domain")
