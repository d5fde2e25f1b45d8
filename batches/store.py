"""Writing a domain's URL rows as fast as the engine parses them, counting exactly the new ones.

One page is one row: the URL table is unique on (domain, loc_key), loc_key being
identity.url_key(loc), the same for every spelling of a URL; the row keeps the first spelling
stored as its loc. A bigint key also keeps the unique index small and cheap to compare.

How a chunk is stored (DomainStore.insert):
- The worker de-duplicates it: within the chunk, and against the keys this DomainStore has
  written so far (written_keys.py: exact while few, then a Bloom filter of fixed size, so
  memory stays flat on the biggest domains). A domain started fresh (its earlier rows
  forgotten) has no rows but these, so a key the store never wrote is new without asking the
  database, and its row goes straight into the URL table: COPY on PostgreSQL,
  executemany on SQLite (one INSERT ... SELECT over a JSON array while a parse-ahead helper
  runs). No staging table, no ON CONFLICT. Only the
  keys the filter may have written (its false hits and the true duplicates) are asked about.
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
from datetime import date, timezone
from functools import partial
from operator import attrgetter, itemgetter

from django.db import IntegrityError, connection, transaction
from django.db.models import Count
from django.db.models.functions import TruncMonth

from .models import LastmodMonth, Url
from .retention import delete_in_chunks
from .sitemaps.engine import parsing_ahead
from .sitemaps.identity import url_key
from .written_keys import WrittenKeys

_COLUMNS = "domain_id, sitemap_id, loc, loc_key, lastmod, changefreq, priority, extras"
_year_month = attrgetter("year", "month")
_record, _lastmod, _zone = itemgetter(1), attrgetter("lastmod"), attrgetter("tzinfo")
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


class DomainStore:
    """Stores one domain's URL chunks for one run; `insert` returns how many rows were new.

    Call it from the worker that has claimed the domain, after forget_urls (or on a domain that
    never ran): then only the keys this store wrote exist and the fast path applies. Any other
    state is still stored exactly, only with one more query per chunk.
    """

    def __init__(self, domain_id):
        self.domain_id = domain_id
        self.written = WrittenKeys()  # keys this store has committed for the domain
        self.complete = None  # whether its writes are all the rows the domain has (None: not asked yet)

    def cleared(self):
        """The caller has just removed the domain's rows (worker.forget_previous_run): none
        are there but what this store writes, and nobody needs to ask the database."""
        self.written = WrittenKeys()
        self.complete = True

    def insert(self, sitemap_id, records):
        return self.insert_many([(sitemap_id, records)])[0]

    def insert_many(self, chunks):
        """Store [(sitemap_id, records)] or [(sitemap_id, records, prepared)] in one transaction
        (a small domain written whole), `prepared` being prepare_rows(records) made elsewhere;
        returns how many rows of each chunk were new. A page listed by two chunks is stored
        with the first."""
        if not any(chunk[1] for chunk in chunks):
            return [0] * len(chunks)
        # savepoint=False: a plain transaction when called alone, nothing extra inside the caller's
        with transaction.atomic(savepoint=False):
            if self.complete is None:
                self.complete = not Url.objects.filter(domain_id=self.domain_id).exists()
            planned = self._plan(chunks)
            try:
                with transaction.atomic():
                    for sitemap_id, rows in planned:
                        _write(self.domain_id, sitemap_id, rows)
            except IntegrityError:
                self.complete = False
                planned = [(sitemap_id, _absent(self.domain_id, rows)) for sitemap_id, rows in planned]
                for sitemap_id, rows in planned:
                    _write(self.domain_id, sitemap_id, rows)
            written = [row for _, rows in planned for row in rows]
            _count_months(self.domain_id, written)
            # Only committed keys are remembered: after a rollback they were never stored.
            transaction.on_commit(partial(self.written.add, [row[0] for row in written]))
        return [len(rows) for _, rows in planned]

    def _plan(self, chunks):
        """[(sitemap_id, new rows)]: each chunk's pages not stored yet nor in an earlier chunk."""
        planned, taken = [], set()
        for sitemap_id, records, *prepared in chunks:
            keyed = prepared[0] if prepared and prepared[0] is not None else prepare_rows(records, _copies())
            rows = [row for row in self._new_rows(keyed) if row[0] not in taken]
            taken.update(row[0] for row in rows)
            planned.append((sitemap_id, rows))
        return planned

    def _new_rows(self, rows):
        if not self.complete:
            return _absent(self.domain_id, rows)
        written = self.written.among(row[0] for row in rows)
        if not written:
            return rows
        present = written if self.written.certain else _present(self.domain_id, list(written))
        return [row for row in rows if row[0] not in present] if present else rows


def row_preparer():
    """prepare_rows for this thread's database, to be called from any thread: the engine's
    CrawlConfig.prepare_chunk, so that its parse-ahead helper does this per-URL work while
    the storing thread waits for the database."""
    return partial(prepare_rows, copy=connection.vendor == "postgresql")


def prepare_rows(records, copy):
    """The chunk's rows as the store writes them: (key, record, line) per distinct key, the
    first spelling of each in the order the site listed them (ids follow it, and the domain
    page shows it), the line being the row's COPY text after its domain and sitemap (which
    only the store knows) with `copy`, else None. Pure computation: no database."""
    # One pass, the per-URL work the worker does most of (about 1,000,000 times a big domain).
    rows, seen = [], set()
    keep, see = rows.append, seen.add
    for record in records:
        key = url_key(record.loc)
        if key not in seen:
            see(key)
            keep((key, record, _copy_line(key, *record) if copy else None))
    return rows


def _absent(domain_id, rows):
    """The rows whose keys the domain does not have in the table (one indexed lookup)."""
    if not rows:
        return rows
    present = _present(domain_id, [row[0] for row in rows])
    return [row for row in rows if row[0] not in present] if present else rows


def _present(domain_id, keys):
    """Those of `keys` the domain has rows for."""
    table = Url._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SELECT loc_key FROM {table} WHERE domain_id = %s AND loc_key = ANY(%s::bigint[])",
                           [domain_id, keys])
        else:
            cursor.execute(f"SELECT loc_key FROM {table} WHERE domain_id = %s "
                           "AND loc_key IN (SELECT value FROM json_each(%s))", [domain_id, json.dumps(keys)])
        return {key for (key,) in cursor.fetchall()}


def _copies():
    return connection.vendor == "postgresql"


def _write(domain_id, sitemap_id, rows):
    if not rows:
        return
    if _copies():
        _copy(domain_id, sitemap_id, rows)
    elif parsing_ahead():
        _insert_select(domain_id, sitemap_id, rows)
    else:
        _insert_many(domain_id, sitemap_id, rows)


def _copy(domain_id, sitemap_id, rows):
    table = Url._meta.db_table
    with connection.cursor() as cursor, connection.wrap_database_errors:
        # A crashed worker's domain is crawled again, so waiting for the WAL flush buys nothing.
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
        with cursor.cursor.copy(f"COPY {table} ({_COLUMNS}) FROM STDIN") as copy:
            copy.write(_copy_text(domain_id, sitemap_id, rows))


def _copy_text(domain_id, sitemap_id, rows):
    """The rows in COPY's text format, written here in one string: psycopg's write_row adapts
    each value of each row in turn, about 4 us a row."""
    prefix = f"{domain_id}\t{_NULL if sitemap_id is None else sitemap_id}\t"
    return prefix + f"\n{prefix}".join(line for _, _, line in rows) + "\n"


def _copy_line(key, loc, lastmod, changefreq, priority, extras):
    """A row's COPY text after its domain and sitemap. A loc cannot hold a tab or a line break
    (check_loc), a changefreq is one of seven words and JSON escapes its own control
    characters, so only backslashes need COPY's escaping."""
    return (
        f"{_copy_escaped(loc)}\t{key}\t{lastmod.isoformat() if lastmod else _NULL}\t"
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
             for key, record, _ in rows],
        )


def _insert_select(domain_id, sitemap_id, rows):
    # With a parse-ahead helper: one statement over a JSON array instead of executemany, so
    # SQLite inserts the whole chunk in one call that releases the GIL and the helper parses on
    # beside it (executemany gives the GIL back and takes it again on every row: 1,000,000 URLs
    # through the worker took 53.9 CPU s that way, 38.8 with the JSON array).
    table = Url._meta.db_table
    adapt = _datetime_adapter()
    payload = json.dumps([
        (loc, key, *_sqlite_lastmod(lastmod, adapt), changefreq, priority, json.dumps(extras) if extras else None)
        for key, (loc, lastmod, changefreq, priority, extras), _ in rows
    ])
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({_COLUMNS}) SELECT %s, %s, value ->> 0, value ->> 1, "
            "coalesce(datetime(value ->> 3, 'unixepoch'), value ->> 2), value ->> 4, value ->> 5, value ->> 6 "
            "FROM json_each(%s)",
            [domain_id, sitemap_id, payload],
        )


def _sqlite_lastmod(lastmod, adapt):
    """(text, None), or (None, seconds since the epoch) for a whole second in UTC, which
    SQLite's datetime() turns into the text Django writes ("YYYY-MM-DD HH:MM:SS"): in C, while
    the GIL is free for the parse-ahead helper, where formatting it here cost 0.8 µs a row."""
    if lastmod is None:
        return None, None
    if lastmod.microsecond or lastmod.tzinfo is not timezone.utc:
        return adapt(lastmod), None
    return None, int(lastmod.timestamp())


def _count_months(domain_id, rows):
    """Add the new rows to the domain's lastmod histogram (UTC months): one upsert."""
    lastmods = list(filter(None, map(_lastmod, map(_record, rows))))
    if not set(map(_zone, lastmods)) <= {timezone.utc}:  # the engine's are; no call a row when so
        lastmods = map(_utc, lastmods)
    months = Counter(map(_year_month, lastmods))
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
