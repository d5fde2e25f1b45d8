"""Field values as generators write them: W3C datetimes, priorities, change frequencies."""

import random
from datetime import datetime, timedelta, timezone

import pytest

from batches.sitemaps import values
from batches.sitemaps.values import lastmod_text, parse_changefreq, parse_lastmod, parse_priority


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


def test_a_lastmods_text_is_its_isoformat_whatever_form_the_sitemap_wrote(monkeypatch):
    monkeypatch.setattr(values, "TEXT_MEMO", 500)  # the memo's generations turn over many times
    monkeypatch.setattr(values, "_texts_wanted", True)
    rng = random.Random(11)
    start = datetime(1990, 1, 1, tzinfo=timezone.utc)
    forms = ["%Y-%m-%dT%H:%M:%S+00:00", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S+02:00",
             "%Y-%m-%dT%H:%M:%S.%f+00:00", "%Y-%m-%dT%H:%MZ", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dt%H:%M:%Sz",
             " %Y-%m-%dT%H:%M:%S+00:00\n", "%Y-%m-%dT%H:%M:%S-00:00", "%Y-%m"]
    parsed = []
    for _ in range(6_000):
        moment = start + timedelta(seconds=rng.randrange(40 * 365 * 86400), microseconds=rng.randrange(2) * 250)
        parsed.append(parse_lastmod(moment.strftime(rng.choice(forms))))
    assert None not in parsed
    assert [lastmod_text(value) for value in parsed] == [value.isoformat() for value in parsed]
    # a datetime parse_lastmod did not make, even one equal to a value it made, is formatted
    parse_lastmod("2024-05-06T07:08:09Z")
    paris = datetime(2024, 5, 6, 9, 8, 9, tzinfo=timezone(timedelta(hours=2)))
    assert lastmod_text(paris) == "2024-05-06T09:08:09+02:00"
    assert lastmod_text(datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)) == "2024-05-06T07:08:09+00:00"


def test_the_text_is_remembered_only_once_a_text_was_asked_for(monkeypatch):
    monkeypatch.setattr(values, "_texts", {})
    monkeypatch.setattr(values, "_texts_before", {})
    monkeypatch.setattr(values, "_texts_wanted", False)
    quiet = parse_lastmod("2023-02-03T04:05:06+00:00")
    assert values._texts == {}  # a process storing in SQLite never asks: nothing is kept
    assert lastmod_text(quiet) == "2023-02-03T04:05:06+00:00"
    kept = [parse_lastmod(text) for text in ("2023-02-03T04:05:07+00:00", "2023-02-04T04:05:06Z", "2023-02-05")]
    assert [values._texts[id(value)] for value in kept] == [
        (kept[0], "2023-02-03T04:05:07+00:00"), (kept[1], "2023-02-04T04:05:06+00:00"),
        (kept[2], "2023-02-05T00:00:00+00:00")]


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
