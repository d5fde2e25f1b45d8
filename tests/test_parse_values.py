"""Field values as generators write them: W3C datetimes, priorities, change frequencies."""

import pytest

from batches.sitemaps.values import parse_changefreq, parse_lastmod, parse_priority


@pytest.mark.parametrize("text, expected", [
    ("2024", "2024-01-01T00:00:00+00:00"),
    ("2024-05", "2024-05-01T00:00:00+00:00"),
    ("2024-05-06", "2024-05-06T00:00:00+00:00"),
    ("2024-05-06T07:08Z", "2024-05-06T07:08:00+00:00"),
    ("2024-05-06T07:08+02:00", "2024-05-06T05:08:00+00:00"),
    ("2024-05-06T07:08:09Z", "2024-05-06T07:08:09+00:00"),
    ("2024-05-06T07:08:09-05:00", "2024-05-06T12:08:09+00:00"),
    ("2024-05-06T07:08:09.5+00:00", "2024-05-06T07:08:09.500000+00:00"),
    ("2024-05-06T07:08:09.123456789Z", "2024-05-06T07:08:09.123456+00:00"),
    ("2024-05-06T07:08:09+0200", "2024-05-06T05:08:09+00:00"),
    ("2024-05-06 07:08:09", "2024-05-06T07:08:09+00:00"),
    ("  2024-05-06T07:08:09Z\n", "2024-05-06T07:08:09+00:00"),
    ("Tue, 10 Jun 2003 04:00:00 GMT", "2003-06-10T04:00:00+00:00"),
])
def test_lastmod_is_read_in_every_w3c_form_and_stored_in_utc(text, expected):
    assert parse_lastmod(text).isoformat() == expected


@pytest.mark.parametrize("text", ["", None, "yesterday", "2024-13-01", "2024-02-30", "0000-00-00",
                                  "2024-05-06T25:00:00Z", "2024-W01", "20240506", "2024-05-06T07:08:09+25:00"])
def test_an_unparseable_lastmod_is_null(text):
    assert parse_lastmod(text) is None


@pytest.mark.parametrize("text, expected", [
    ("0.5", 0.5), (" 1.0 ", 1.0), ("0", 0.0), ("1", 1.0), ("1.1", None), ("-0.1", None),
    ("high", None), ("", None), (None, None), ("nan", None), ("inf", None),
])
def test_priority_is_kept_only_between_0_and_1(text, expected):
    assert parse_priority(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("daily", "daily"), (" Weekly ", "weekly"), ("NEVER", "never"), ("fortnightly", ""), ("", ""), (None, ""),
])
def test_changefreq_is_normalized(text, expected):
    assert parse_changefreq(text) == expected
