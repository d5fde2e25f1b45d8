"""The pages of a batch's history: run it again, repeat it on a schedule, see what changed."""

import itertools

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from . import changes_export
from .changes import Change, sitemap_changes
from .access import visible_batch
from .models import Batch, Domain, Repeat
from .schedules import set_repeat
from .services import CannotRerun, rerun_batch
from .views import _get_batch_for_user

CHANGES_PER_PAGE = 100
CHANGE_FILTERS = {Change.ADDED: "Added", Change.REMOVED: "Removed", Change.MODIFIED: "Modified"}


@login_required
@require_POST
def batch_rerun(request, pk):
    batch = _get_batch_for_user(request, pk, "change")
    try:
        with transaction.atomic():
            rerun = rerun_batch(batch.pk)
    except CannotRerun as exc:
        messages.warning(request, f"{exc}.")
        return redirect(batch)
    messages.success(request, f"Running again as a new batch ({rerun.domains_total:,} domains); "
                              f"batch {batch.pk} keeps its results.")
    return redirect(rerun)


@login_required
@require_POST
def batch_repeat(request, pk):
    batch = _get_batch_for_user(request, pk, "change")
    repeat = request.POST.get("repeat", "")
    if repeat not in Repeat.values:
        messages.warning(request, "Choose daily, weekly or never.")
        return redirect(batch)
    with transaction.atomic():
        next_run = set_repeat(batch.pk, repeat)
    if next_run:
        messages.success(request, f"Runs again {Repeat(repeat).label.lower()}; next run {next_run:%Y-%m-%d %H:%M}.")
    else:
        messages.success(request, "No longer repeats.")
    return redirect(batch)


def _since(request, batch):
    """The batch to compare with: ?since=, else the batch's previous batch (404 without one)."""
    since = request.GET.get("since")
    if since and since.isdigit():
        found = visible_batch(request.user, int(since))
        if found is None:
            raise Http404("No such batch to compare with.")
        return found
    if batch.previous_id is None:
        raise Http404("This batch is not a re-run.")
    return get_object_or_404(Batch.objects.all(), pk=batch.previous_id)


@login_required
@require_GET
def batch_changes(request, pk):
    batch = _get_batch_for_user(request, pk)
    since = _since(request, batch)
    change = request.GET.get("change", "")
    change = change if change in CHANGE_FILTERS else ""
    page = max(int(request.GET["page"]) if request.GET.get("page", "").isdigit() else 1, 1)
    start = (page - 1) * CHANGES_PER_PAGE
    rows = list(itertools.islice(changes_export.change_rows(batch.pk, since.pk, change or None),
                                 start, start + CHANGES_PER_PAGE + 1))
    domains = _changed_domains(batch, since)
    return render(request, "batches/batch_changes.html", {
        "batch": batch, "since": since, "change": change, "filters": CHANGE_FILTERS.items(),
        "rows": rows[:CHANGES_PER_PAGE], "page": page, "has_next": len(rows) > CHANGES_PER_PAGE,
        "domains": domains, "formats": list(changes_export.FORMATS),
    })


def _changed_domains(batch, since, limit=50):
    """The first domains with a change, with their sitemaps that appeared, vanished or failed.
    Their stored counts are against the previous batch: none for another `since`."""
    if since.pk != batch.previous_id:
        return []
    changed = batch.domains.exclude(urls_added=0, urls_removed=0, urls_modified=0).order_by("position")[:limit]
    previous = dict(Domain.objects.filter(batch=since, host__in=[d.host for d in changed]).values_list("host", "pk"))
    for domain in changed:
        domain.sitemap_changes = sitemap_changes(previous.get(domain.host), domain.pk)
    return changed


@login_required
@require_GET
def batch_changes_export(request, pk, fmt):
    batch = _get_batch_for_user(request, pk)
    since = _since(request, batch)
    content_type = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}[fmt]
    lines = changes_export.FORMATS[fmt](changes_export.change_rows(batch.pk, since.pk))
    response = StreamingHttpResponse(lines, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="batch-{batch.pk}-changes-since-{since.pk}.{fmt}"'
    return response
