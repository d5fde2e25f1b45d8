"""The JSON API: create a batch from a list of domains, then poll its status.

Authenticated by the browser session or by a per-user token in `Authorization: Bearer <key>`.
Only token requests skip the CSRF check: a token is not sent by the browser on its own, a
session cookie is.
"""

"""The JSON API: create a batch, list and read batches, cancel, retry or delete one.

Authenticated by the browser session or by a per-user token in `Authorization: Bearer <key>`.
Only token requests skip the CSRF check: a token is not sent by the browser on its own, a
session cookie is. Every answer is JSON, errors included (an unknown /api/ path, a bad id).
Access follows access.py: the owner, or a user with the model permission for the act.
"""

import json
from functools import wraps

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db import transaction
from django.http import HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from . import services
from .access import may, token_401, user_from_token, visible_batch
from .entries import parse_lines
from .export import FORMATS
from .models import Batch
from .services import create_batch
from .views import batch_summary, export_response

DOMAINS_PER_RESPONSE = 1000
BATCHES_PER_PAGE = 50
# An offset beyond any real batch: larger values are refused, not handed to the database.
MAX_OFFSET = 10**9
# The `invalid` list of an answer holds at most this many entries; `invalid_count` has them all.
INVALID_SHOWN = 100


def _error(status, message, **extra):
    return JsonResponse({"error": message, **extra}, status=status)


def _csrf_failure(request):
    check = CsrfViewMiddleware(lambda request: None)
    check.process_request(request)
    return check.process_view(request, None, (), {})


def api_view(methods):
    """Authenticate (token or session), enforce CSRF for sessions, answer JSON errors."""

    def decorator(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                response = _error(405, f"method {request.method} not allowed")
                response["Allow"] = ", ".join(methods)
                return response
            token_user = user_from_token(request)
            if token_user is False:
                return token_401()
            if token_user:
                request.user = token_user
            elif not request.user.is_authenticated:
                return token_401("authentication required: log in or send Authorization: Bearer <token>", error="")
            elif _csrf_failure(request):
                return _error(403, "CSRF check failed: send the csrftoken cookie's value in X-CSRFToken")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def not_found(request, *args, **kwargs):
    """Any /api/ path no route matches (`/api/batches/abc/`): a JSON 404, never the HTML page."""
    return _error(404, f"no API endpoint at {request.path}")


@api_view(["GET", "POST"])
def batches(request):
    if request.method == "POST":
        return _create_batch(request)
    page_number = request.GET.get("page", "1")
    try:
        page = Paginator(Batch.objects.filter(owner=request.user), BATCHES_PER_PAGE).page(page_number)
    except (EmptyPage, PageNotAnInteger):
        return _error(400, f"no page {page_number[:20]!r}: pages are numbered from 1")
    return JsonResponse({
        "batches": [_with_links(request, batch_summary(b)) for b in page.object_list],
        "count": page.paginator.count,
        "page": page.number,
        "next": _page_url(request, page.next_page_number()) if page.has_next() else None,
        "previous": _page_url(request, page.previous_page_number()) if page.has_previous() else None,
    })


def _page_url(request, number):
    return request.build_absolute_uri(reverse("api_batches") + f"?page={number}")


def _create_batch(request):
    body, problem = _json_body(request)
    if problem:
        return problem
    if not isinstance(body, dict) or not isinstance(body.get("domains"), list):
        return _error(400, 'send a JSON object: {"name": "...", "domains": ["example.com", ...]}')
    name = body.get("name") or ""
    if not isinstance(name, str) or len(name) > 200:
        return _error(400, "name must be a string of at most 200 characters")
    if len(body["domains"]) > settings.SITEMAPS_WEB_MAX_LINES:
        return _error(400, f"{len(body['domains']):,} entries is more than the "
                           f"{settings.SITEMAPS_WEB_MAX_LINES:,} one request may hold")
    parsed = parse_lines(entry if isinstance(entry, str) else "" for entry in body["domains"])
    invalid, invalid_count = _invalid_entries(parsed, body["domains"])
    if not parsed.entries:
        return _error(400, "no valid domain or URL", invalid=invalid, invalid_count=invalid_count)
    limit = settings.SITEMAPS_WEB_MAX_DOMAINS
    if len(parsed.entries) > limit:
        return _error(400, f"{len(parsed.entries)} domains is more than the {limit} one request may hold")
    with transaction.atomic():
        batch = create_batch(request.user, name, parsed.entries)
        batch.keep_skipped_lines([(f"index {i['index']}", i["reason"], i["entry"]) for i in invalid])
    body = _with_links(request, batch_summary(batch))
    body.update(invalid=invalid, invalid_count=invalid_count, duplicates=parsed.duplicates)
    response = JsonResponse(body, status=201)
    response["Location"] = body["status_url"]
    return response


def _json_body(request):
    """The decoded body and None, or None and the error answer (too big, not JSON, too deep)."""
    limit = settings.SITEMAPS_WEB_MAX_BYTES
    try:
        if int(request.headers.get("Content-Length") or 0) > limit:
            raise RequestDataTooBig
        raw = request.body
    except (RequestDataTooBig, ValueError):
        return None, _error(413, f"the body is larger than {limit:,} bytes")
    try:
        return json.loads(raw or b"null"), None
    except (ValueError, UnicodeDecodeError):
        return None, _error(400, "the body is not valid JSON")
    except RecursionError:
        return None, _error(400, "the body is not valid JSON: nested too deeply")


def _invalid_entries(parsed, entries):
    """The first INVALID_SHOWN refused entries, in list order, and how many there were."""
    invalid = [{"index": i.line_number - 1, "entry": i.text, "reason": i.reason} for i in parsed.invalid]
    not_strings = [n for n, entry in enumerate(entries) if not isinstance(entry, str)]
    invalid += [{"index": n, "entry": entries[n], "reason": "not a string"} for n in not_strings[:INVALID_SHOWN]]
    invalid.sort(key=lambda entry: entry["index"])
    return invalid[:INVALID_SHOWN], parsed.invalid_count + len(not_strings)


def _visible_batch(request, pk, act="view"):
    """The batch and None, or None and a JSON 404 (not visible) or 403 (visible, not allowed)."""
    found = visible_batch(request.user, pk)
    if found is None:
        return None, _error(404, "no such batch")
    if not may(request.user, found, act):
        return None, _error(403, f"you may not {act} this batch")
    return found, None


@api_view(["GET", "DELETE"])
def batch(request, pk):
    if request.method == "DELETE":
        return _delete_batch(request, pk)
    found, problem = _visible_batch(request, pk)
    if problem:
        return problem
    offset = _offset(request)
    if offset is None:
        return _error(400, f"offset must be a whole number from 0 to {MAX_OFFSET:,}")
    domains = list(
        found.domains.order_by("position")
        .values("id", "host", "origin", "status", "attempts", "sitemaps_count", "urls_count", "error",
                "error_code", "findings_count")
        [offset : offset + DOMAINS_PER_RESPONSE + 1]
    )
    body = _with_links(request, batch_summary(found))
    body["domain_states"] = [_domain_state(request, found.pk, row) for row in domains[:DOMAINS_PER_RESPONSE]]
    body["domain_states_next"] = None
    if len(domains) > DOMAINS_PER_RESPONSE:
        next_url = reverse("api_batch", args=[found.pk]) + f"?offset={offset + DOMAINS_PER_RESPONSE}"
        body["domain_states_next"] = request.build_absolute_uri(next_url)
    return JsonResponse(body)


@api_view(["GET"])
def batch_export(request, pk, what, fmt):
    """The batch's URLs, domains or findings, streamed as the page's downloads are."""
    found, problem = _visible_batch(request, pk)
    if problem:
        return problem
    return export_response(found, what, fmt)


def _offset(request):
    """The `offset` parameter: 0 when absent, None when it is not a whole number in range."""
    text = request.GET.get("offset", "0")
    if not (text.isascii() and text.isdigit() and len(text) <= 10):
        return None
    offset = int(text)
    return offset if offset <= MAX_OFFSET else None


def _delete_batch(request, pk):
    found, problem = _visible_batch(request, pk, "delete")
    if problem:
        return problem
    with transaction.atomic():
        services.delete_batch(found.pk)
    return HttpResponse(status=204)


# action: (function in services.py, key of its result in the answer, error when it did nothing)
BATCH_ACTIONS = {
    "cancel": (services.cancel_batch, "cancelled", "the batch has already finished"),
    "retry": (services.retry_failed, "queued", "no failed or cancelled domain to retry, or the batch is still running"),
}


@api_view(["POST"])
def batch_action(request, pk, action):
    """POST /api/batches/<id>/cancel/ or /retry/: the batch's summary after the act, or 409
    when there was nothing to do. /rerun/: 201 with the new batch that runs it again."""
    found, problem = _visible_batch(request, pk, "change")
    if problem:
        return problem
    if action == "rerun":
        return _rerun(request, found)
    run, key, nothing = BATCH_ACTIONS[action]
    with transaction.atomic():
        result = run(found.pk)
    if not result:
        return _error(409, nothing)
    body = _with_links(request, batch_summary(Batch.objects.get(pk=found.pk)))
    body[key] = result
    return JsonResponse(body)


def _rerun(request, batch):
    try:
        with transaction.atomic():
            created = services.rerun_batch(batch.pk)
    except services.CannotRerun as exc:
        return _error(409, str(exc))
    body = _with_links(request, history_summary(Batch.objects.get(pk=created.pk)))
    body["changes_url"] = request.build_absolute_uri(reverse("api_batch_changes", args=[created.pk]))
    response = JsonResponse(body, status=201)
    response["Location"] = body["status_url"]
    return response


def history_summary(batch):
    """A batch's summary with its place in a series of re-runs and what changed since the previous."""
    return batch_summary(batch) | {
        "previous_batch_id": batch.previous_id, "repeat": batch.repeat or None,
        "next_run_at": batch.next_run_at.isoformat() if batch.next_run_at else None,
        "urls_added": batch.urls_added, "urls_removed": batch.urls_removed, "urls_modified": batch.urls_modified,
        "sitemaps_unchanged": batch.sitemaps_unchanged,
    }


def _domain_state(request, batch_id, row):
    return {
        "id": row["id"], "host": row["host"], "origin": row["origin"], "status": row["status"],
        "attempts": row["attempts"], "sitemaps": row["sitemaps_count"], "urls": row["urls_count"],
        "error": row["error"], "error_code": row["error_code"], "findings": row["findings_count"],
        "page_url": request.build_absolute_uri(reverse("domain_detail", args=[batch_id, row["id"]])),
    }


def _with_links(request, summary):
    """The summary with every URL a client follows; each accepts the same token."""
    pk = summary["id"]
    links = {
        "status_url": request.build_absolute_uri(reverse("api_batch", args=[pk])),
        "page_url": request.build_absolute_uri(reverse("batch_detail", args=[pk])),
        "cancel_url": request.build_absolute_uri(reverse("api_batch_action", args=[pk, "cancel"])),
        "retry_url": request.build_absolute_uri(reverse("api_batch_action", args=[pk, "retry"])),
        "rerun_url": request.build_absolute_uri(reverse("api_batch_action", args=[pk, "rerun"])),
        "exports": {
            f"{what}_{fmt}": request.build_absolute_uri(reverse("api_batch_export", args=[pk, what, fmt]))
            for what in ("urls", "domains", "findings") for fmt in ("csv", "jsonl")
        },
    }
    for fmt in FORMATS:
        links[f"{fmt}_url"] = request.build_absolute_uri(reverse("batch_export", args=[pk, fmt]))
    return summary | links
