"""Streaming the changes between two batches as CSV or JSON Lines (command, page and API alike)."""

import csv
import io
import json

from .changes import batch_changes

COLUMNS = ("domain", "change", "loc", "lastmod", "previous_lastmod")
FLUSH_BYTES = 64 * 1024


def change_rows(batch_id, since_id, only=None):
    """Yield (domain, change, loc, lastmod, previous_lastmod) with dates as ISO text ("" for none)."""
    for host, change, loc, lastmod, previous in batch_changes(batch_id, since_id, only):
        yield host, change, loc, lastmod.isoformat() if lastmod else "", previous.isoformat() if previous else ""


def csv_lines(rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(row)
        if buffer.tell() > FLUSH_BYTES:
            yield _take(buffer)
    yield _take(buffer)


def jsonl_lines(rows):
    buffer = io.StringIO()
    for row in rows:
        buffer.write(json.dumps(as_record(row), ensure_ascii=False) + "\n")
        if buffer.tell() > FLUSH_BYTES:
            yield _take(buffer)
    yield _take(buffer)


def as_record(row):
    record = dict(zip(COLUMNS, row))
    record["lastmod"] = record["lastmod"] or None
    record["previous_lastmod"] = record["previous_lastmod"] or None
    return record


def _take(buffer):
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


FORMATS = {"csv": csv_lines, "jsonl": jsonl_lines}
