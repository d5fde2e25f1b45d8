"""What changed between two runs of a domain, or of a batch: URLs added, removed and modified
(lastmod moved), and which sitemaps appeared, vanished or started failing.

Set-based SQL over the URL table, the same on SQLite and PostgreSQL, streamed through a
server-side cursor. Rows both runs read from the same stored sitemap (a sitemap reused by the
later run, history.py) are equal by construction and never read: a re-run where every sitemap
answered 304 compares nothing at all.
"""

from contextlib import contextmanager
from datetime import timezone

from django.db import connection, transaction
from django.utils.dateparse import parse_datetime

from . import history
from .models import Domain, SitemapFile, SitemapKind, Url


class Change:
    ADDED = "added"
    REMOVED = "removed"
    MODIFIED = "modified"


# The column two runs' rows are matched on: loc_key, the normal form's 64-bit key, so two
# spellings of one URL are the same page (as the URL table's unique index has it).
MATCH = "loc_key"
FETCH_SIZE = 2000
CHANGES_WORK_MEM = "64MB"  # PostgreSQL, for the change counts' hash join


class _Side:
    """The URL rows of one run of a domain, as SELECTs of (loc, lastmod) over the URL table."""

    def __init__(self, domain_id):
        self.domain_id = domain_id
        self.reused = history.reused_sources(domain_id) if domain_id else {}
        own = SitemapFile.objects.filter(domain_id=domain_id, reused_from__isnull=True) if domain_id else None
        self.own_sitemaps = set(own.values_list("pk", flat=True)) if domain_id else set()

    @property
    def source_sitemaps(self):
        return self.own_sitemaps | {pk for ids in self.reused.values() for pk in ids}

    def every_row(self):
        """Every row of this run (None: no row)."""
        if not self.domain_id:
            return None
        selects = [f"SELECT {_COLUMNS} FROM {_TABLE} WHERE domain_id = {int(self.domain_id)}"]
        selects += [_select(d, ids) for d, ids in self.reused.items()]
        return " UNION ALL ".join(selects)

    def rows_not_in(self, common):
        """This run's rows, except those of the stored sitemaps in `common` (None: no row)."""
        if not self.domain_id:
            return None
        selects = []
        # Named positively: when every own sitemap is shared, the domain's rows are not read at
        # all (the URL table has no sitemap index: a NOT IN would scan them all to find none).
        # Every stored row names its sitemap; a row without one is only compared beside others.
        if own_rest := self.own_sitemaps - common:
            selects.append(f"SELECT {_COLUMNS} FROM {_TABLE} WHERE domain_id = {int(self.domain_id)} "
                           f"AND (sitemap_id IN ({_ints(own_rest)}) OR sitemap_id IS NULL)")
        selects += [_select(d, ids - common) for d, ids in self.reused.items() if ids - common]
        return " UNION ALL ".join(selects) or None


_TABLE = Url._meta.db_table
_COLUMNS = f"{MATCH} AS match_key, loc, lastmod"


def _select(domain_id, sitemap_ids):
    return f"SELECT {_COLUMNS} FROM {_TABLE} WHERE domain_id = {int(domain_id)} AND sitemap_id IN ({_ints(sitemap_ids)})"


def _statements(old_id, new_id):
    """{change: SQL or None (nothing to compare)} between two runs of a domain (either id may be None).

    Each side is a derived table of simple index scans joined on `MATCH`, which PostgreSQL runs
    as hash (anti) joins and SQLite through an automatic index. Rows of sitemaps both runs read
    from the same stored rows are left out: they are equal, and a run's rows repeat no loc."""
    old, new = _Side(old_id), _Side(new_id)
    common = old.source_sitemaps & new.source_sitemaps
    new_rows, old_rows = new.rows_not_in(common), old.rows_not_in(common)
    every_new, every_old = new.every_row(), old.every_row()
    statements = dict.fromkeys((Change.ADDED, Change.REMOVED, Change.MODIFIED))
    if new_rows:
        statements[Change.ADDED] = _only_left(new_rows, every_old, "n.loc, n.lastmod, NULL")
    if old_rows:
        statements[Change.REMOVED] = _only_left(old_rows, every_new, "n.loc, NULL, n.lastmod")
    if new_rows and every_old:
        statements[Change.MODIFIED] = (
            f"SELECT n.loc, n.lastmod, o.lastmod FROM ({new_rows}) n JOIN ({every_old}) o ON o.match_key = n.match_key "
            "WHERE n.lastmod <> o.lastmod OR (n.lastmod IS NULL) <> (o.lastmod IS NULL)")
    return statements


def _only_left(rows, others, columns):
    if not others:
        return f"SELECT {columns} FROM ({rows}) n"
    return f"SELECT {columns} FROM ({rows}) n LEFT JOIN ({others}) o ON o.match_key = n.match_key WHERE o.match_key IS NULL"


def count_domain_changes(old_id, new_id):
    """(added, removed, modified) between two runs of a domain."""
    if connection.vendor == "postgresql":
        return _count_in_one_join(old_id, new_id)
    counts = []
    with connection.cursor() as cursor:
        for sql in _statements(old_id, new_id).values():
            if sql is None:
                counts.append(0)
                continue
            cursor.execute(f"SELECT COUNT(*) FROM ({sql}) AS changed")
            counts.append(cursor.fetchone()[0])
    return tuple(counts)


def _count_in_one_join(old_id, new_id):
    # One hash full join of the two runs' own rows instead of three joins; neither side's rows
    # match a shared sitemap's, so they are all either side needs. Hash tables of a million
    # locs spill to disk in batches with the default 4 MB work_mem: give this one more.
    old, new = _Side(old_id), _Side(new_id)
    common = old.source_sitemaps & new.source_sitemaps
    new_rows, old_rows = new.rows_not_in(common), old.rows_not_in(common)
    if not (new_rows and old_rows):
        return _count(new_rows), _count(old_rows), 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{CHANGES_WORK_MEM}'")
        cursor.execute(
            "SELECT COUNT(*) FILTER (WHERE o.match_key IS NULL), COUNT(*) FILTER (WHERE n.match_key IS NULL), "
            "COUNT(*) FILTER (WHERE n.match_key IS NOT NULL AND o.match_key IS NOT NULL "
            "AND n.lastmod IS DISTINCT FROM o.lastmod) "
            f"FROM ({new_rows}) n FULL JOIN ({old_rows}) o ON o.match_key = n.match_key")
        return tuple(cursor.fetchone())


def _count(rows):
    if not rows:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({rows}) AS side")
        return cursor.fetchone()[0]


def domain_changes(old_id, new_id, only=None):
    """Yield (change, loc, lastmod, previous_lastmod) between two runs of a domain: added,
    then removed, then modified, each by loc. `only` limits it to one kind of change."""
    for change, sql in _statements(old_id, new_id).items():
        if sql is None or (only and change != only):
            continue
        with _planned_for_every_row(), connection.chunked_cursor() as cursor:
            cursor.execute(sql + " ORDER BY 1")
            while rows := cursor.fetchmany(FETCH_SIZE):
                for loc, lastmod, previous_lastmod in rows:
                    yield change, loc, _as_datetime(lastmod), _as_datetime(previous_lastmod)


@contextmanager
def _planned_for_every_row():
    """PostgreSQL plans a cursor for its first 10% of rows (cursor_tuple_fraction): a nested
    loop of index probes, minutes on a million rows where the hash join takes seconds. The
    stream reads every row, so plan for every row while it runs."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET cursor_tuple_fraction TO 1")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET cursor_tuple_fraction")


def matched_domains(batch_id, since_id):
    """[(host, old domain id or None, new domain id or None)]: the batch's domains in order,
    each with the same host in `since_id`, then the hosts only `since_id` had."""
    old = dict(Domain.objects.filter(batch_id=since_id).values_list("host", "pk"))
    pairs = []
    for host, pk in Domain.objects.filter(batch_id=batch_id).order_by("position").values_list("host", "pk"):
        pairs.append((host, old.pop(host, None), pk))
    gone = Domain.objects.filter(batch_id=since_id, pk__in=old.values()).order_by("position")
    pairs += [(host, pk, None) for host, pk in gone.values_list("host", "pk")]
    return pairs


def batch_changes(batch_id, since_id, only=None):
    """Yield (host, change, loc, lastmod, previous_lastmod) for every domain of two batches."""
    for host, old_id, new_id in matched_domains(batch_id, since_id):
        for row in domain_changes(old_id, new_id, only):
            yield (host, *row)


def sitemap_changes(old_id, new_id):
    """{"appeared": [url], "vanished": [url], "started_failing": [url]} between two runs."""
    def by_url(domain_id):
        rows = SitemapFile.objects.filter(domain_id=domain_id).values_list("url", "kind", "error", "url_count")
        return {url: bool(error) and not count and kind != SitemapKind.INDEX for url, kind, error, count in rows}

    old = by_url(old_id) if old_id else {}
    new = by_url(new_id) if new_id else {}
    return {
        "appeared": sorted(set(new) - set(old)),
        "vanished": sorted(set(old) - set(new)),
        "started_failing": sorted(url for url, failed in new.items() if failed and old.get(url) is False),
    }


def _as_datetime(value):
    # Raw SQL: PostgreSQL gives aware datetimes, SQLite naive UTC (as text or datetime).
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def _ints(values):
    return ", ".join(str(int(value)) for value in sorted(values)) or "NULL"
