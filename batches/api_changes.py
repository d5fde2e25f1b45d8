"""The JSON API of a batch's history: run it again, and what changed since an earlier batch (paged)."""

import itertools

from django.db import transaction
from django.http import JsonResponse
from django.urls import reverse

from . import changes_export
from .api import _error, _offset, _with_links, api_view
from .changes import Change, matched_domains, sitemap_changes
from .models import Batch
from .reruns import CannotRerun, create_rerun
from .views import batch_summary, batches_visible_to

CHANGES_PER_RESPONSE = 1000
SITEMAP_CHANGES_DOMAINS = 1000  # per-domain sitemap changes only for batches up to this size


def history_summary(batch):
    return batch_summary(batch) | {
        "previous_batch_id": batch.previous_id, "repeat": batch.repeat or None,
        "next_run_at": batch.next_run_at.isoformat() if batch.next_run_at else None,
        "urls_added": batch.urls_added, "urls_removed": batch.urls_removed, "urls_modified": batch.urls_modified,
        "sitemaps_unchanged": batch.sitemaps_unchanged,
    }


@api_view(["POST"])
def rerun(request, pk):
    batch = batches_visible_to(request.user).filter(pk=pk).first()
    if batch is None:
        return _error(404, "no such batch")
    try:
        with transaction.atomic():
            created = create_rerun(batch.pk)
    except CannotRerun as exc:
        return _error(409, str(exc))
    body = _with_links(request, history_summary(Batch.objects.get(pk=created.pk)))
    body["changes_url"] = request.build_absolute_uri(reverse("api_batch_changes", args=[created.pk]))
    response = JsonResponse(body, status=201)
    response["Location"] = body["status_url"]
    return response


@api_view(["GET"])
def changes(request, pk):
    """?since=<batch id> (default: the previous batch), ?change=added|removed|modified, ?offset=."""
    batch = batches_visible_to(request.user).filter(pk=pk).first()
    if batch is None:
        return _error(404, "no such batch")
    since_id = request.GET.get("since", "")
    if since_id:
        since = batches_visible_to(request.user).filter(pk=since_id).first() if since_id.isdigit() else None
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
