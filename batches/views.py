"""The pages: batches, one batch, one domain, the actions on a batch, exports and API tokens.

Every page runs a fixed number of queries whatever the batch holds: totals come from the
counter columns, URL pages are keyset pages, and the one aggregate (the lastmod chart) is a
separate, cached image.
"""

from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import F
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.utils import timezone
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from . import charts, services
from .access import login_or_token_required, may, visible_batch
from .domain_table import SORTS, DomainTable, running_count
from .export import CONTENT_TYPES, FORMATS, export_lines
from .findings import error_code_summary, finding_summary
from .forms import NewBatchForm, TokenForm, UrlFilterForm
from .history import urls_of
from .models import ApiToken, Batch, BatchStatus, Domain, FoundBy
from .paging import CountedPaginator, keyset_page
from .services import create_batch
from .uploads import MAX_UPLOAD_BYTES, CappedUploadHandler

BATCHES_PER_PAGE = 25
URLS_PER_PAGE = 100
SITEMAPS_SHOWN = 1000
FINDINGS_SHOWN = 500
SKIPPED_LINES_SHOWN = 20
# A filtered URL page reads at most this many of the domain's rows, then offers to search on.
URL_SEARCH_STRETCH = 50_000


def _get_batch_for_user(request, pk, act="view"):
    """The batch if the user may `act` on it (access.py); a batch they may not even see is 404,
    as an unknown id is; one they may see but not change or delete is 403."""
    batch = visible_batch(request.user, pk)
    if batch is None:
        raise Http404("No such batch.")
    if not may(request.user, batch, act):
        raise PermissionDenied(f"You may not {act} this batch.")
    return batch


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
@csrf_exempt  # checked below, once the upload handler is in place: the CSRF check reads the body
def batch_new(request):
    if _content_length(request) > MAX_UPLOAD_BYTES + settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        # Refused before a byte of the body is read.
        messages.error(request, "That post is larger than a 10 MB file and a pasted list together; "
                                "use the import_domains command.")
        return render(request, "batches/batch_new.html", _new_batch_context(NewBatchForm()), status=413)
    capped = CappedUploadHandler(request)
    request.upload_handlers.insert(0, capped)
    return _batch_new(request, capped)


def _content_length(request):
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


@csrf_protect
def _batch_new(request, capped):
    posted = request.method == "POST"  # a post whose only field was a dropped file is still a post
    form = NewBatchForm(request.POST if posted else None, request.FILES if posted else None,
                        file_too_large=bool(capped.too_large))
    if posted and form.is_valid():
        with transaction.atomic():
            batch = create_batch(request.user, form.cleaned_data["name"], form.parsed.entries)
            batch.keep_skipped_lines([(f"{where} {line.line_number}", line.reason, line.text)
                                      for where, line in form.invalid_lines])
        _report_skipped_lines(request, form)
        return redirect(batch)
    return render(request, "batches/batch_new.html", _new_batch_context(form))


def _new_batch_context(form):
    return {
        "form": form, "parsed": form.parsed, "max_domains": settings.SITEMAPS_WEB_MAX_DOMAINS,
        "header_note": _header_note(form.csv_header) if form.csv_header else "",
        "probe_well_known": settings.SITEMAPS_PROBE_WELL_KNOWN,
    }


def _report_skipped_lines(request, form):
    parsed = form.parsed
    valid, invalid = len(parsed.entries), parsed.invalid_count
    notes = []
    if parsed.duplicates:
        notes.append(f"{parsed.duplicates:,} duplicate line{pluralize(parsed.duplicates)} merged")
    if invalid:
        notes.append(f"{invalid:,} invalid line{pluralize(invalid)} skipped")
    summary = f"Batch created with {valid:,} domain{pluralize(valid)}"
    messages.success(request, f"{summary}: {', '.join(notes)}." if notes else f"{summary}.")
    if form.csv_header:
        messages.info(request, _header_note(form.csv_header))
    for where, line in form.invalid_lines[:SKIPPED_LINES_SHOWN]:
        messages.warning(request, f"Skipped {where.lower()} {line.line_number}: {line.reason}: {line.text[:120]}")
    if invalid > SKIPPED_LINES_SHOWN:
        messages.warning(request, f"…and {invalid - SKIPPED_LINES_SHOWN:,} more invalid lines.")


def _header_note(header):
    number, text = header
    return f"File line {number}, “{text[:60]}”, is the CSV's header row: read as a column name, not a domain."


@login_or_token_required
@require_GET
def batch_detail(request, pk):
    batch = _get_batch_for_user(request, pk)
    table = DomainTable.from_request(request.GET)
    running = running_count(batch)
    return render(request, "batches/batch_detail.html", {
        "batch": batch, "page": table.paginator(batch, running).get_page(request.GET.get("page")),
        "show": table.show, "table": table, "tabs": table.tabs(batch, running),
        "sorts": [(key, label) for key, (label, _) in SORTS.items()],
        "error_summary": error_code_summary(batch) if batch.domains_failed else [],
        "finding_summary": finding_summary(batch),
        "formats": list(FORMATS),
        "may_change": may(request.user, batch, "change"), "may_delete": may(request.user, batch, "delete"),
    })


@login_or_token_required
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


# action: (function in services.py, message when it did something, message when it did nothing)
BATCH_ACTIONS = {
    "cancel": (services.cancel_batch, "Batch cancelled: queued domains will not run.",
               "The batch had already finished."),
    "retry": (services.retry_failed, "{n:,} failed or cancelled domain{s} queued again.",
              "No failed domain to retry, or the batch is still running."),
}  # running again makes a new batch: views_history.batch_rerun


@login_required
@require_POST
def batch_action(request, pk, action):
    batch = _get_batch_for_user(request, pk, "change")
    run, done, nothing = BATCH_ACTIONS[action]
    with transaction.atomic():
        result = run(batch.pk)
    if result:
        messages.success(request, done.format(n=result, s=pluralize(result)))
    else:
        messages.warning(request, nothing)
    return redirect(batch)


@login_required
def batch_delete(request, pk):
    """GET asks for confirmation (works without JavaScript); POST deletes."""
    batch = _get_batch_for_user(request, pk, "delete")
    if request.method == "POST":
        with transaction.atomic():
            services.delete_batch(batch.pk)
        messages.success(request, f"Batch “{batch.name}” deleted.")
        return redirect("batch_list")
    return render(request, "batches/batch_delete.html", {"batch": batch})


@login_or_token_required
@require_GET
def batch_export(request, pk, fmt, what="urls"):
    """The batch's URLs, domains or findings as CSV or JSON Lines, streamed in constant memory."""
    batch = _get_batch_for_user(request, pk)
    return export_response(batch, what, fmt)


def export_response(batch, what, fmt):
    response = StreamingHttpResponse(export_lines(what, fmt, batch.pk), content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="batch-{batch.pk}-{what}.{fmt}"'
    return response


# The URL table's orders besides sitemap order (by id: the order the sitemaps listed them).
# Sorted pages are numbered; loc is served by the (domain, loc) unique index, lastmod by a sort
# of the domain's rows, which on a domain of millions of URLs takes a second or more.
URL_ORDERS = {
    "loc": ("URL A–Z", (F("loc").asc(), "id")),
    "-loc": ("URL Z–A", (F("loc").desc(), "-id")),
    "-lastmod": ("Newest lastmod", (F("lastmod").desc(nulls_last=True), "id")),
    "lastmod": ("Oldest lastmod", (F("lastmod").asc(nulls_last=True), "id")),
}


@login_or_token_required
@require_GET
def domain_detail(request, pk, domain_pk):
    batch = _get_batch_for_user(request, pk)
    domain = get_object_or_404(Domain.objects.filter(batch=batch), pk=domain_pk)
    sitemaps = list(domain.sitemaps.order_by("id")[: SITEMAPS_SHOWN + 1])
    filters = UrlFilterForm(request.GET, sitemaps)
    order = request.GET.get("order", "")
    order = order if order in URL_ORDERS else ""
    page, match_count = _url_page(request, domain, filters, order)
    sitemap_urls = {sitemap.pk: sitemap.url for sitemap in sitemaps}
    for url in page.rows:
        url.sitemap_url = sitemap_urls.get(url.sitemap_id, "")
    return render(request, "batches/domain_detail.html", {
        "batch": batch, "domain": domain, "tree": sitemap_tree(sitemaps[:SITEMAPS_SHOWN]),
        "more_sitemaps": len(sitemaps) > SITEMAPS_SHOWN, "filters": filters, "page": page,
        "search_stretch": URL_SEARCH_STRETCH, "match_count": match_count, "order": order,
        "orders": [("", "Sitemap order")] + [(key, label) for key, (label, _) in URL_ORDERS.items()],
        "last_id": LAST_ID,
        "findings": list(domain.findings.select_related("sitemap").order_by("id")[:FINDINGS_SHOWN]),
    })


# `before` for the last keyset page: every id is below it.
LAST_ID = 2**63 - 1


def _url_page(request, domain, filters, order):
    """(page, match count): the count when a filter is set and counting it is bounded, else None."""
    all_urls = urls_of(domain.pk)  # re-runs: reused sitemaps' rows included (history.py)
    urls = all_urls.only("id", "loc", "lastmod", "changefreq", "priority", "sitemap_id")
    if filters.active:
        urls = _filter_urls(urls, filters.cleaned_data)
    if order:
        return _numbered_url_page(request, domain, urls, filters, order)
    match_count = urls.count() if filters.active and domain.urls_count <= URL_SEARCH_STRETCH else None
    page = keyset_page(urls, all_urls, after=_int_param(request, "after"), before=_int_param(request, "before"),
                       per_page=URLS_PER_PAGE, scan=URL_SEARCH_STRETCH if filters.active else None)
    return page, match_count


def _numbered_url_page(request, domain, urls, filters, order):
    urls = urls.order_by(*URL_ORDERS[order][1])
    if filters.active:
        paginator = Paginator(urls, URLS_PER_PAGE)
    else:
        paginator = CountedPaginator(urls, URLS_PER_PAGE, domain.urls_count)
    numbered = paginator.get_page(request.GET.get("page"))
    numbered.rows = list(numbered.object_list)
    numbered.numbered = True
    return numbered, paginator.count if filters.active else None


def _filter_urls(urls, cleaned):
    if cleaned["q"]:
        urls = urls.filter(loc__icontains=cleaned["q"])
    if cleaned["sitemap"]:
        urls = urls.filter(sitemap_id=cleaned["sitemap"])
    zone = timezone.get_current_timezone()
    # The first and last days a date field can hold bound nothing, and their neighbours do not exist.
    if cleaned["lastmod_from"] and cleaned["lastmod_from"] > date.min:
        urls = urls.filter(lastmod__gte=datetime.combine(cleaned["lastmod_from"], time.min, zone))
    if cleaned["lastmod_to"] and cleaned["lastmod_to"] < date.max:
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


@login_or_token_required
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
