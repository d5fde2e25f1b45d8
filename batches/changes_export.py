"""Streaming the changes between two batches as CSV or JSON Lines (command, page and API alike)."""

from . import export
from .changes import batch_changes

COLUMNS = ("domain", "change", "loc", "lastmod", "previous_lastmod")


def change_rows(batch_id, since_id, only=None):
    """Yield (domain, change, loc, lastmod, previous_lastmod) with dates as ISO text ("" for none)."""
    for host, change, loc, lastmod, previous in batch_changes(batch_id, since_id, only):
        yield host, change, loc, lastmod.isoformat() if lastmod else "", previous.isoformat() if previous else ""


def csv_lines(rows):
    return export.csv_lines(map(as_record, rows), COLUMNS)


def jsonl_lines(rows):
    return export.jsonl_lines(map(as_record, rows), COLUMNS)


def as_record(row):
    record = dict(zip(COLUMNS, row))
    record["lastmod"] = record["lastmod"] or None
    record["previous_lastmod"] = record["previous_lastmod"] or None
    return record


FORMATS = {"csv": csv_lines, "jsonl": jsonl_lines}
