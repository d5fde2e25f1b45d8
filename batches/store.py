"""Writing a domain's URL rows as fast as the engine parses them, counting exactly the new ones.

One page is one row: the URL table is unique on (domain, loc_key), loc_key being
identity.url_key(loc), the same for every spelling of a URL; the row keeps the first spelling
stored as its loc. A bigint key also keeps the unique index small and cheap to compare.

How a chunk is stored:
- `DomainStore.prepare`, where the chunk was parsed (the engine's parse-ahead helper, through
  CrawlConfig.prepare_chunk): each page's key, the chunk's pages not seen earlier in the run
  (seen_keys.py: exact while few, then a Bloom filter of fixed size, so memory stays flat on
  the biggest domains), their COPY text and their lastmod months. The storing thread, which
  waits for the database, does no per-URL work on the common path.
- `DomainStore.insert_many`: a domain started fresh (its earlier rows forgotten) has no rows
  but this run's, so a page the run has not seen is new without asking the database, and its
  row goes straight into the URL table: COPY on PostgreSQL, executemany on SQLite (one
  INSERT ... SELECT over a JSON array while a parse-ahead helper runs). No staging table, no
  ON CONFLICT. Only the keys the filter may have seen (its false hits) are asked about.
- For a domain that had rows already, one indexed query first asks which of the chunk's keys
  the domain has.
- The unique index stays the guard: a chunk that conflicts all the same (rows the worker could
  not know about, such as a late write of an earlier attempt) rolls back to its savepoint and is
  stored again after asking the database.
- The domain's lastmod month histogram (LastmodMonth) moves by the new rows, in the same
  transaction, so it is as exact as the rows are.
"""

import json
from collections import Counter
from dataclasses import dataclass
from datetime import date, timezone
from operator import attrgetter, itemgetter

from django.db import IntegrityError, connection, transaction
from django.db.models import Count
from django.db.models.functions import TruncMonth

from .models import LastmodMonth, Url
from .retention import delete_in_chunks
from .seen_keys import SeenKeys
from .sitemaps.engine import parsing_ahead
from .sitemaps.identity import url_key

_COLUMNS = "domain_id, sitemap_id, loc, loc_key, lastmod, changefreq, priority, extras"
_loc, _lastmod = itemgetter(0), itemgetter(1)  # of a UrlRecord
_year_month, _zone = attrgetter("year", "month"), attrgetter("tzinfo")
_NULL = "\\N"  # COPY's text format


def insert_urls(domain_id, sitemap_id, records):
    """Store UrlRecords for a domain that may have rows already; returns how many were new."""
    return DomainStore(domain_id).insert(sitemap_id, records)


def forget_urls(domain_id):
    """Delete a domain's URL rows (in chunks: a domain of millions must not hold one long delete)
    and its lastmod histogram, before the domain runs again."""
    delete_in_chunks(Url.objects.filter(domain_id=domain_id))
    LastmodMonth.objects.filter(domain_id=domain_id).delete()


def recount_months(domain_id, urls):
    """Set the domain's lastmod histogram from `urls` (its rows wherever they are: a re-run's
    reused sitemaps keep their rows in an earlier batch, which the store never counted here)."""
    months = (urls.filter(lastmod__isnull=False).annotate(month=TruncMonth("lastmod", tzinfo=timezone.utc))
              .values_list("month").annotate(n=Count("*")).order_by())
    with transaction.atomic():
        LastmodMonth.objects.filter(domain_id=domain_id).delete()
        LastmodMonth.objects.bulk_create(
            LastmodMonth(domain_id=domain_id, month=month.date(), urls=n) for month, n in months)


@dataclass
class PreparedRows:
    """A chunk's rows as the store writes them (DomainStore.prepare)."""

    rows: dict  # key -> UrlRecord: the chunk's pages not seen earlier in the run, first spelling, site order
    maybe: set  # keys of `rows` the run's filter may have seen before: the store asks the database
    # the rows' COPY text after their domain and sitemap, a line each (PostgreSQL), or their
    # JSON array for one INSERT ... SELECT (SQLite while a parse-ahead helper runs), or None
    text: str | None
    months: Counter  # (year, month) in UTC -> how many of `rows` have a lastmod then


class DomainStore:
    """Stores one domain's URL chunks for one run; `insert_many` returns how many rows were new.

    Call it from the worker that has claimed the domain, after forget_urls (or on a domain that
    never ran): then only this run's rows exist and the fast path applies. Any other state is
    still stored exactly, only with one more query per chunk.

    Every chunk is prepared once (`prepare`), then stored before the next chunk is, again with
    the same PreparedRows when a write is retried, or the run ends (seen_keys.py says why).
    """

    def __init__(self, domain_id):
        self.domain_id = domain_id
        self.seen = SeenKeys()  # every key this run has prepared
        self.complete = None  # whether this run's rows are all the rows the domain has (None: not asked yet)

    def cleared(self):
        """The caller has just removed the domain's rows (worker.forget_previous_run): none
        are there but what this run writes, and nobody needs to ask the database."""
        self.seen = SeenKeys()
        self.complete = True

    def prepare(self, records):
        """The chunk's PreparedRows; from any thread (no database), one chunk at a time, in the
        order the chunks will be stored. It is the per-URL work the worker does most (about
        1,000,000 times for a big domain): no Python loop over the rows but the filter's."""
        keys = list(map(url_key, map(_loc, records)))
        rows = dict(zip(keys, records))
        if len(rows) < len(records):  # a page listed twice: its first spelling is the row
            rows = {}
            for key, record in zip(keys, records):
                rows.setdefault(key, record)
        maybe = self.seen.sort_out(rows)
        return PreparedRows(rows, maybe, self._text(rows), _months(rows.values()))

    def _text(self, rows):
        if _copies():
            return _copy_body(rows)
        # SQLite: the JSON array only when a parse-ahead helper runs (store._write says why)
        return _json_rows(rows) if parsing_ahead() else None

    def insert(self, sitemap_id, records):
        """Prepare and store one chunk (once: a second call with the same records stores none)."""
        return self.insert_many([(sitemap_id, self.prepare(records))])[0]

    def insert_many(self, chunks):
        """Store [(sitemap_id, PreparedRows)] in one transaction (a small domain written whole);
        returns how many rows of each chunk were new."""
        if not any(prepared.rows for _, prepared in chunks):
            return [0] * len(chunks)
        # savepoint=False: a plain transaction when called alone, nothing extra inside the caller's
        with transaction.atomic(savepoint=False):
            if self.complete is None:
                self.complete = not Url.objects.filter(domain_id=self.domain_id).exists()
            try:
                with transaction.atomic():
                    written = [self._write_new(sitemap_id, prepared) for sitemap_id, prepared in chunks]
            except IntegrityError:
                self.complete = False
                written = [self._write_new(sitemap_id, prepared) for sitemap_id, prepared in chunks]
            _count_months(self.domain_id, sum((months for _, months in written), Counter()))
        return [count for count, _ in written]

    def _write_new(self, sitemap_id, prepared):
        """Write the chunk's rows the domain does not have; returns their count and months. One
        chunk after the other: the database then answers for the earlier chunks' rows too."""
        ask = prepared.maybe if self.complete else prepared.rows.keys()
        present = _present(self.domain_id, list(ask)) if ask else None
        if present:
            rows = {key: record for key, record in prepared.rows.items() if key not in present}
            text, months = self._text(rows), _months(rows.values())
        else:
            rows, text, months = prepared.rows, prepared.text, prepared.months
        if rows:
            _write(self.domain_id, sitemap_id, rows, text)
        return len(rows), months


def _present(domain_id, keys):
    """Those of `keys` the domain has rows for (one indexed lookup)."""
    table = Url._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SELECT loc_key FROM {table} WHERE domain_id = %s AND loc_key = ANY(%s::bigint[])",
                           [domain_id, keys])
        else:
            cursor.execute(f"SELECT loc_key FROM {table} WHERE domain_id = %s "
                           "AND loc_key IN (SELECT value FROM json_each(%s))", [domain_id, json.dumps(keys)])
        return {key for (key,) in cursor.fetchall()}


def _months(records):
    """Counter of (year, month) in UTC over the records' lastmods."""
    lastmods = list(filter(None, map(_lastmod, records)))
    if not set(map(_zone, lastmods)) <= {timezone.utc}:  # the engine's are; no call a row when so
        lastmods = map(_utc, lastmods)
    return Counter(map(_year_month, lastmods))


def _write(domain_id, sitemap_id, rows, text):
    """`rows` ({key: record}) into the URL table, `text` being what DomainStore._text made of them."""
    if _copies():
        _copy(domain_id, sitemap_id, text)
    elif text is not None or parsing_ahead():
        _insert_select(domain_id, sitemap_id, text or _json_rows(rows))
    else:
        _insert_many(domain_id, sitemap_id, rows)


def _copies():
    return connection.vendor == "postgresql"


def _copy(domain_id, sitemap_id, body):
    # The rows in COPY's text format in one string: psycopg's write_row adapts each value of
    # each row in turn, about 4 us a row. The lines hold no line break but their ends (see
    # _copy_line), so each gets its domain and sitemap in one replace.
    prefix = f"{domain_id}\t{_NULL if sitemap_id is None else sitemap_id}\t"
    table = Url._meta.db_table
    with connection.cursor() as cursor, connection.wrap_database_errors:
        # A crashed worker's domain is crawled again, so waiting for the WAL flush buys nothing.
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
        with cursor.cursor.copy(f"COPY {table} ({_COLUMNS}) FROM STDIN") as copy:
            copy.write(prefix + body.replace("\n", "\n" + prefix) + "\n")


def _copy_body(rows):
    """The COPY text of `rows` ({key: record}), a line each, without their domain and sitemap."""
    return "\n".join(map(_copy_line, rows.keys(), rows.values()))


def _copy_line(key, record):
    """A row's COPY text after its domain and sitemap. A loc cannot hold a tab or a line break
    (check_loc), a changefreq is one of seven words and JSON escapes its own control
    characters, so only backslashes need COPY's escaping."""
    loc, lastmod, changefreq, priority, extras = record
    if "\\" in loc:
        loc = _copy_escaped(loc)
    return (
        f"{loc}\t{key}\t{lastmod.isoformat() if lastmod else _NULL}\t"
        f"{changefreq}\t{_PRIORITY_TEXT.get(priority) or priority}\t"
        f"{_copy_escaped(json.dumps(extras)) if extras else _NULL}"
    )


# The priorities most sites write, as text: a look-up costs a fifth of formatting a float.
# (-0.0 finds 0.0's text: the same number.)
_PRIORITY_TEXT = {None: _NULL, **{value / 10: repr(value / 10) for value in range(11)}}


def _copy_escaped(text):
    return text.replace("\\", "\\\\") if "\\" in text else text


def _insert_many(domain_id, sitemap_id, rows):
    # Parsing serially, executemany costs the least CPU per row (sqlite3 binds each row in C;
    # 1,000,000 URLs through the worker: 40.3 CPU s against 44.7 with the JSON array).
    table = Url._meta.db_table
    adapt = _datetime_adapter()
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [(domain_id, sitemap_id, record.loc, key, adapt(record.lastmod) if record.lastmod else None,
              record.changefreq, record.priority, json.dumps(record.extras) if record.extras else None)
             for key, record in rows.items()],
        )


def _insert_select(domain_id, sitemap_id, payload):
    # With a parse-ahead helper: one statement over a JSON array instead of executemany, so
    # SQLite inserts the whole chunk in one call that releases the GIL and the helper parses on
    # beside it (executemany gives the GIL back and takes it again on every row: 1,000,000 URLs
    # through the worker took 53.9 CPU s that way, 38.8 with the JSON array).
    table = Url._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({_COLUMNS}) SELECT %s, %s, value ->> 0, value ->> 1, "
            "coalesce(datetime(value ->> 3, 'unixepoch'), value ->> 2), value ->> 4, value ->> 5, value ->> 6 "
            "FROM json_each(%s)",
            [domain_id, sitemap_id, payload],
        )


def _json_rows(rows):
    """`rows` ({key: record}) as the JSON array _insert_select reads; no database."""
    adapt = _datetime_adapter()
    return json.dumps([
        (loc, key, *_sqlite_lastmod(lastmod, adapt), changefreq, priority, json.dumps(extras) if extras else None)
        for key, (loc, lastmod, changefreq, priority, extras) in rows.items()
    ])


def _sqlite_lastmod(lastmod, adapt):
    """(text, None), or (None, seconds since the epoch) for a whole second in UTC, which
    SQLite's datetime() turns into the text Django writes ("YYYY-MM-DD HH:MM:SS"): in C, while
    the GIL is free for the parse-ahead helper, where formatting it here cost 0.8 µs a row."""
    if lastmod is None:
        return None, None
    if lastmod.microsecond or lastmod.tzinfo is not timezone.utc:
        return adapt(lastmod), None
    return None, int(lastmod.timestamp())


def _count_months(domain_id, months):
    """Add the new rows' months (a Counter of (year, month)) to the domain's lastmod histogram: one upsert."""
    if not months:
        return
    table = LastmodMonth._meta.db_table
    adapt = connection.ops.adapt_datefield_value
    params = []
    for (year, month), count in months.items():
        params += [domain_id, adapt(date(year, month, 1)), count]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (domain_id, month, urls) VALUES {', '.join(['(%s, %s, %s)'] * len(months))} "
            f"ON CONFLICT (domain_id, month) DO UPDATE SET urls = {table}.urls + excluded.urls",
            params,
        )


def _utc(moment):
    return moment if moment.tzinfo is timezone.utc else moment.astimezone(timezone.utc)


def _datetime_adapter():
    adapt = connection.ops.adapt_datetimefield_value
    if connection.vendor != "sqlite":
        return adapt

    def adapt_utc(value):
        # What Django's SQLite backend stores is naive UTC text; the engine's datetimes are
        # in UTC already, so cutting "+00:00" off is the whole conversion.
        return value.isoformat(" ")[:-6] if value.tzinfo is timezone.utc else adapt(value)

    return adapt_utc
