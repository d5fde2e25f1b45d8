"""The JSON API of a batch's history: what changed since an earlier batch (paged). Running it
again is api.batch_action's "rerun"."""

import itertools

from django.http import JsonResponse
from django.urls import reverse

from . import changes_export
from .access import visible_batch
from .api import _error, _offset, _visible_batch, api_view, history_summary
from .changes import Change, matched_domains, sitemap_changes
from .models import Batch

CHANGES_PER_RESPONSE = 1000
SITEMAP_CHANGES_DOMAINS = 1000  # per-domain sitemap changes only for batches up to this size


@api_view(["GET"])
def changes(request, pk):
    """?since=<batch id> (default: the previous batch), ?change=added|removed|modified, ?offset=."""
    batch, problem = _visible_batch(request, pk)
    if problem:
        return problem
    since_id = request.GET.get("since", "")
    if since_id:
        since = visible_batch(request.user, int(since_id)) if since_id.isdigit() else None
        if since is None:
            return _error(404, "no such batch to compare with")
    elif batch.previous_id is None:
        return _error(400, "this batch is not a re-run: give ?since=<batch id>")
    else:
        since = Batch.objects.filter(pk=batch.previous_id).first()
    change = request.GET.get("change") or None
    if change not in (None, Change.ADDED, Change.REMOVED, Change.MODIFIED):
        return _error(400, "change must be added, removed or modified")
    offset = _offset(request)
    rows = list(itertools.islice(changes_export.change_rows(batch.pk, since.pk, change),
                                 offset, offset + CHANGES_PER_RESPONSE + 1))
    body = history_summary(batch) | {"since_batch_id": since.pk, "offset": offset, "next": None}
    body["changes"] = [changes_export.as_record(row) for row in rows[:CHANGES_PER_RESPONSE]]
    if len(rows) > CHANGES_PER_RESPONSE:
        query = f"?offset={offset + CHANGES_PER_RESPONSE}&since={since.pk}" + (f"&change={change}" if change else "")
        body["next"] = request.build_absolute_uri(reverse("api_batch_changes", args=[batch.pk]) + query)
    if offset == 0 and batch.domains_total <= SITEMAP_CHANGES_DOMAINS:
        body["sitemaps"] = [{"domain": host, **sitemap_changes(old, new)}
                            for host, old, new in matched_domains(batch.pk, since.pk)]
    return JsonResponse(body)
