"""The pages: batches, one batch, one domain, the actions on a batch, exports and API tokens.

Every page runs a fixed number of queries whatever the batch holds: totals come from the
counter columns, URL pages are keyset pages, and the one aggregate (the lastmod chart) is a
separate, cached image.
"""

from datetime import datetime, time, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.utils import timezone
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_POST

from . import actions, charts
from .export import FORMATS, iter_url_rows
from .forms import NewBatchForm, TokenForm, UrlFilterForm
from .history import urls_of
from .models import ApiToken, Batch, BatchStatus, Domain, DomainStatus, FoundBy
from .paging import CountedPaginator, keyset_page
from .services import create_batch

BATCHES_PER_PAGE = 25
DOMAINS_PER_PAGE = 100
URLS_PER_PAGE = 100
SITEMAPS_SHOWN = 1000
# A filtered URL page reads at most this many of the domain's rows, then offers to search on.
URL_SEARCH_STRETCH = 50_000
DOMAIN_FILTERS = {
    "failed": ("Failed", DomainStatus.FAILED),
    "running": ("Running", DomainStatus.RUNNING),
    "queued": ("Queued", DomainStatus.QUEUED),
    "done": ("Done", DomainStatus.DONE),
}


def batches_visible_to(user):
    """A user's own batches; staff see every batch (the admin's "view on site" links lead here)."""
    return Batch.objects.all() if user.is_staff else Batch.objects.filter(owner=user)


def _get_batch_for_user(request, pk):
    """The batch if the user may see it; another user's batch answers 404, as an unknown id does."""
    return get_object_or_404(batches_visible_to(request.user), pk=pk)


def _int_param(request, name):
    try:
        return int(request.GET[name])
    except (KeyError, ValueError):
        return None


@login_required
@require_GET
def batch_list(request):
    batches = Batch.objects.filter(owner=request.user)
    status = request.GET.get("status", "")
    if status in BatchStatus.values:
        batches = batches.filter(status=status)
    else:
        status = ""
    page = Paginator(batches, BATCHES_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "batches/batch_list.html", {
        "page": page, "status": status, "statuses": BatchStatus.choices,
    })


@login_required
def batch_new(request):
    form = NewBatchForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            batch = create_batch(request.user, form.cleaned_data["name"], form.parsed.entries)
        _report_skipped_lines(request, form)
        return redirect(batch)
    return render(request, "batches/batch_new.html", {
        "form": form, "parsed": form.parsed, "max_domains": settings.SITEMAPS_WEB_MAX_DOMAINS,
    })


def _report_skipped_lines(request, form):
    parsed = form.parsed
    valid, invalid = len(parsed.entries), len(form.invalid_lines)
    notes = []
    if parsed.duplicates:
        notes.append(f"{parsed.duplicates:,} duplicate line{pluralize(parsed.duplicates)} merged")
    if invalid:
        notes.append(f"{invalid:,} invalid line{pluralize(invalid)} skipped")
    summary = f"Batch created with {valid:,} domain{pluralize(valid)}"
    messages.success(request, f"{summary}: {', '.join(notes)}." if notes else f"{summary}.")
    for where, line in form.invalid_lines[:20]:
        messages.warning(request, f"Skipped {where.lower()} {line.line_number}: {line.reason}: {line.text[:120]}")
    if invalid > 20:
        messages.warning(request, f"…and {invalid - 20:,} more invalid lines.")


@login_required
@require_GET
def batch_detail(request, pk):
    batch = _get_batch_for_user(request, pk)
    show = request.GET.get("show", "")
    show = show if show in DOMAIN_FILTERS else ""
    paginator = _domain_paginator(batch, show)
    return render(request, "batches/batch_detail.html", {
        "batch": batch, "page": paginator.get_page(request.GET.get("page")), "show": show,
        "domain_filters": [(key, label) for key, (label, _) in DOMAIN_FILTERS.items()],
        "formats": list(FORMATS),
    })


def _domain_paginator(batch, show):
    """The batch's domains, by status when asked; the total comes from a counter where one exists."""
    domains = batch.domains.order_by("position")
    if not show:
        return CountedPaginator(domains, DOMAINS_PER_PAGE, batch.domains_total)
    domains = domains.filter(status=DOMAIN_FILTERS[show][1])
    known = {"failed": batch.domains_failed, "done": batch.domains_done}.get(show)
    if known is None:
        # Running and queued have no counter: a COUNT over the (batch, status) index.
        return Paginator(domains, DOMAINS_PER_PAGE)
    return CountedPaginator(domains, DOMAINS_PER_PAGE, known)


@login_required
@require_GET
def batch_status(request, pk):
    """The small JSON the batch page polls while the batch runs."""
    batch = _get_batch_for_user(request, pk)
    return JsonResponse(batch_summary(batch))


def batch_summary(batch):
    return {
        "id": batch.pk,
        "name": batch.name,
        "status": batch.status,
        "status_label": batch.get_status_display(),
        "finished": batch.is_finished,
        "progress": batch.progress,
        "domains": batch.domains_total,
        "domains_done": batch.domains_done,
        "domains_failed": batch.domains_failed,
        "domains_cancelled": batch.domains_cancelled,
        "domains_finished": batch.domains_finished,
        "sitemaps": batch.sitemaps_count,
        "urls": batch.urls_count,
        "created_at": batch.created_at.isoformat(),
        "started_at": batch.started_at.isoformat() if batch.started_at else None,
        "finished_at": batch.finished_at.isoformat() if batch.finished_at else None,
    }


# action: (function in actions.py, message when it did something, message when it did nothing)
BATCH_ACTIONS = {
    "cancel": (actions.cancel_batch, "Batch cancelled: queued domains will not run.",
               "The batch had already finished."),
    "retry": (actions.retry_failed, "Failed and cancelled domains queued again: {}.",
              "No failed domain to retry, or the batch is still running."),
    "rerun": (actions.rerun_batch, "Running the batch again ({} domains).", "The batch is still running."),
}


@login_required
@require_POST
def batch_action(request, pk, action):
    batch = _get_batch_for_user(request, pk)
    run, done, nothing = BATCH_ACTIONS[action]
    with transaction.atomic():
        result = run(batch.pk)
    if result:
        messages.success(request, done.format(result))
    else:
        messages.warning(request, nothing)
    return redirect(batch)


@login_required
def batch_delete(request, pk):
    """GET asks for confirmation (works without JavaScript); POST deletes."""
    batch = _get_batch_for_user(request, pk)
    if request.method == "POST":
        with transaction.atomic():
            actions.delete_batch(batch.pk)
        messages.success(request, f"Batch “{batch.name}” deleted.")
        return redirect("batch_list")
    return render(request, "batches/batch_delete.html", {"batch": batch})


@login_required
@require_GET
def batch_export(request, pk, fmt):
    """Every URL of the batch as CSV or JSON Lines, streamed in constant memory."""
    batch = _get_batch_for_user(request, pk)
    content_type = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}[fmt]
    response = StreamingHttpResponse(FORMATS[fmt](iter_url_rows(batch.pk)), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="batch-{batch.pk}-urls.{fmt}"'
    return response


@login_required
@require_GET
def domain_detail(request, pk, domain_pk):
    batch = _get_batch_for_user(request, pk)
    domain = get_object_or_404(Domain.objects.filter(batch=batch), pk=domain_pk)
    sitemaps = list(domain.sitemaps.order_by("id")[: SITEMAPS_SHOWN + 1])
    filters = UrlFilterForm(request.GET, sitemaps)
    page = _url_page(request, domain, filters)
    sitemap_urls = {sitemap.pk: sitemap.url for sitemap in sitemaps}
    for url in page.rows:
        url.sitemap_url = sitemap_urls.get(url.sitemap_id, "")
    return render(request, "batches/domain_detail.html", {
        "batch": batch, "domain": domain, "tree": sitemap_tree(sitemaps[:SITEMAPS_SHOWN]),
        "more_sitemaps": len(sitemaps) > SITEMAPS_SHOWN, "filters": filters, "page": page,
        "search_stretch": URL_SEARCH_STRETCH,
    })


def _url_page(request, domain, filters):
    all_urls = urls_of(domain.pk)  # re-runs: reused sitemaps' rows included (history.py)
    urls = all_urls.only("id", "loc", "lastmod", "changefreq", "priority", "sitemap_id")
    scan = None
    if filters.active:
        urls = _filter_urls(urls, filters.cleaned_data)
        scan = URL_SEARCH_STRETCH
    return keyset_page(urls, all_urls, after=_int_param(request, "after"), before=_int_param(request, "before"),
                       per_page=URLS_PER_PAGE, scan=scan)


def _filter_urls(urls, cleaned):
    if cleaned["q"]:
        urls = urls.filter(loc__icontains=cleaned["q"])
    if cleaned["sitemap"]:
        urls = urls.filter(sitemap_id=cleaned["sitemap"])
    zone = timezone.get_current_timezone()
    if cleaned["lastmod_from"]:
        urls = urls.filter(lastmod__gte=datetime.combine(cleaned["lastmod_from"], time.min, zone))
    if cleaned["lastmod_to"]:
        urls = urls.filter(lastmod__lt=datetime.combine(cleaned["lastmod_to"] + timedelta(days=1), time.min, zone))
    return urls


def sitemap_tree(sitemaps):
    """The sitemap files depth-first as discovered, each with its `depth`.

    Files named in robots.txt sit one level below a robots.txt row, which the first of them
    announces with `under_robots`; the others (well-known paths, home page links) are roots.
    """
    children = {}
    for sitemap in sitemaps:
        children.setdefault(sitemap.parent_id, []).append(sitemap)
    known = {sitemap.pk for sitemap in sitemaps}
    roots = [s for s in sitemaps if s.parent_id is None or s.parent_id not in known]
    from_robots = [s for s in roots if s.found_by == FoundBy.ROBOTS]
    ordered = []
    stack = [(root, 0) for root in reversed(roots) if root not in from_robots]
    stack += [(root, 1) for root in reversed(from_robots)]
    while stack:
        sitemap, depth = stack.pop()
        sitemap.depth = depth
        sitemap.under_robots = bool(from_robots) and sitemap is from_robots[0]
        ordered.append(sitemap)
        stack.extend((child, depth + 1) for child in reversed(children.get(sitemap.pk, [])))
    return ordered


@login_required
@require_GET
@xframe_options_sameorigin  # the domain page embeds it as an <object>, which X-Frame-Options governs
def domain_chart(request, pk, domain_pk):
    """URLs by lastmod month as SVG: loaded as an image, so the domain page never aggregates."""
    batch = _get_batch_for_user(request, pk)
    domain = get_object_or_404(Domain.objects.filter(batch=batch), pk=domain_pk)
    months = charts.lastmod_months(domain)
    undated = max(domain.urls_count - sum(months.values()), 0)
    svg = charts.render_svg(charts.buckets(months), undated=undated)
    response = HttpResponse(svg, content_type="image/svg+xml")
    response["Cache-Control"] = "private, max-age=60"
    return response


@login_required
def account(request):
    """The user's API tokens: create one (its key is shown once, here) or revoke one."""
    form = TokenForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        _, new_key = ApiToken.issue(request.user, form.cleaned_data["name"])
        form = TokenForm()
    tokens = request.user.api_tokens.order_by("-created_at")
    return render(request, "batches/account.html", {"form": form, "tokens": tokens, "new_key": new_key})


@login_required
@require_POST
def token_revoke(request, token_pk):
    token = get_object_or_404(ApiToken.objects.filter(user=request.user), pk=token_pk)
    token.delete()
    messages.success(request, f"Token {token.prefix}… revoked.")
    return redirect("account")
