"""Pages over tables too big to count.

Batch and domain rows carry their own counters, so a page of domains takes its total from
them instead of COUNT(*). URLs are paged by keyset (id > last seen id), which costs the same
on the first page and the ten-thousandth; a filtered URL page scans a bounded stretch of ids,
so a search that matches nothing never reads a million rows in one request.
"""

from dataclasses import dataclass

from django.core.paginator import Paginator
from django.utils.functional import cached_property


class CountedPaginator(Paginator):
    """A Paginator told its total by the caller (a counter column), so it never runs COUNT(*)."""

    def __init__(self, object_list, per_page, count, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.known_count = count

    @cached_property
    def count(self):
        return self.known_count


@dataclass
class KeysetPage:
    rows: list
    after: int | None  # the id to continue from ("next"), None on the last page
    before: int | None  # the id to go back from ("previous"), None on the first page
    scanned_to: int | None = None  # a filtered page that ran out of its stretch before filling up

    @property
    def has_next(self):
        return self.after is not None

    @property
    def has_previous(self):
        return self.before is not None


def keyset_page(rows_queryset, all_ids_queryset, after=None, before=None, per_page=100, scan=None):
    """One page of `rows_queryset` ordered by id, forward from `after` or backward from `before`.

    `all_ids_queryset` is the same table without the user's filters; with `scan` set, only the
    next `scan` ids of it are searched for matches, and the page says where the search stopped.
    """
    backward = before is not None and after is None
    bound = before if backward else after
    rows = rows_queryset
    window_end = None
    if scan:
        window_end = _window_end(all_ids_queryset, bound, scan, backward)
        if window_end is not None:
            rows = rows.filter(pk__gte=window_end) if backward else rows.filter(pk__lte=window_end)
    if backward:
        found = list(rows.filter(pk__lt=bound).order_by("-pk")[: per_page + 1])
        more = len(found) > per_page
        found = list(reversed(found[:per_page]))
    else:
        if bound is not None:
            rows = rows.filter(pk__gt=bound)
        found = list(rows.order_by("pk")[: per_page + 1])
        more = len(found) > per_page
        found = found[:per_page]
    return _page(found, more, backward, bound, window_end)


def _window_end(all_ids_queryset, bound, scan, backward):
    ids = all_ids_queryset.values_list("pk", flat=True)
    if backward:
        ids = ids.filter(pk__lt=bound).order_by("-pk")
    else:
        ids = ids.filter(pk__gt=bound) if bound is not None else ids
        ids = ids.order_by("pk")
    # The scan-th id ends the stretch only if there is an id after it; otherwise read to the end.
    edge = list(ids[scan - 1 : scan + 1])
    return edge[0] if len(edge) == 2 else None


def _page(found, more, backward, bound, window_end):
    """Links for a page: continue past a full page, or past the end of a searched stretch."""
    stopped = window_end if window_end is not None and not more else None
    if backward:
        earlier = found[0].pk if more else stopped
        later = found[-1].pk if found else bound - 1
        return KeysetPage(found, after=later, before=earlier, scanned_to=stopped)
    later = found[-1].pk if more else stopped
    if bound is None:
        earlier = None
    else:
        earlier = found[0].pk if found else bound + 1
    return KeysetPage(found, after=later, before=earlier, scanned_to=stopped)
