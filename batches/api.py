"""The JSON API: create a batch from a list of domains, then poll its status.

Authenticated by the browser session or by a per-user token in `Authorization: Bearer <key>`.
Only token requests skip the CSRF check: a token is not sent by the browser on its own, a
session cookie is.
"""

import json
from datetime import timedelta
from functools import wraps

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.http import JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from .entries import parse_lines
from .models import ApiToken, Batch
from .services import create_batch
from .views import batch_summary, batches_visible_to, export_response

DOMAINS_PER_RESPONSE = 1000
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


def _error(status, message, **extra):
    return JsonResponse({"error": message, **extra}, status=status)


def _user_from_token(request):
    """The user a Bearer token belongs to, None for no header, False for a bad token."""
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return False
    token = ApiToken.objects.select_related("user").filter(digest=ApiToken.hash(key.strip())).first()
    if token is None or not token.user.is_active:
        return False
    # Record use at most once a minute, so polling does not write on every request.
    now = timezone.now()
    ApiToken.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - TOKEN_TOUCH_INTERVAL), pk=token.pk
    ).update(last_used_at=now)
    return token.user


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
            token_user = _user_from_token(request)
            if token_user is False:
                return _error(401, "invalid API token")
            if token_user:
                request.user = token_user
            elif not request.user.is_authenticated:
                response = _error(401, "authentication required: log in or send Authorization: Bearer <token>")
                response["WWW-Authenticate"] = 'Bearer realm="api"'
                return response
            elif _csrf_failure(request):
                return _error(403, "CSRF check failed: send the csrftoken cookie's value in X-CSRFToken")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


@api_view(["GET", "POST"])
def batches(request):
    if request.method == "POST":
        return _create_batch(request)
    recent = Batch.objects.filter(owner=request.user)[:50]
    return JsonResponse({"batches": [_with_links(request, batch_summary(b)) for b in recent]})


def _create_batch(request):
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        return _error(400, "the body is not valid JSON")
    if not isinstance(body, dict) or not isinstance(body.get("domains"), list):
        return _error(400, 'send a JSON object: {"name": "...", "domains": ["example.com", ...]}')
    name = body.get("name") or ""
    if not isinstance(name, str) or len(name) > 200:
        return _error(400, "name must be a string of at most 200 characters")
    lines = [entry if isinstance(entry, str) else "" for entry in body["domains"]]
    parsed = parse_lines(lines)
    invalid = [{"index": i.line_number - 1, "entry": i.text, "reason": i.reason} for i in parsed.invalid]
    invalid += [{"index": n, "entry": entry, "reason": "not a string"}
                for n, entry in enumerate(body["domains"]) if not isinstance(entry, str)]
    if not parsed.entries:
        return _error(400, "no valid domain or URL", invalid=invalid)
    limit = settings.SITEMAPS_WEB_MAX_DOMAINS
    if len(parsed.entries) > limit:
        return _error(400, f"{len(parsed.entries)} domains is more than the {limit} one request may hold")
    with transaction.atomic():
        batch = create_batch(request.user, name, parsed.entries)
        batch.keep_skipped_lines([(f"index {i['index']}", i["reason"], i["entry"]) for i in invalid])
    body = _with_links(request, batch_summary(batch))
    body.update(invalid=invalid, duplicates=parsed.duplicates)
    response = JsonResponse(body, status=201)
    response["Location"] = body["status_url"]
    return response


@api_view(["GET"])
def batch(request, pk):
    found = batches_visible_to(request.user).filter(pk=pk).first()
    if found is None:
        return _error(404, "no such batch")
    offset = _offset(request)
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
    found = batches_visible_to(request.user).filter(pk=pk).first()
    if found is None:
        return _error(404, "no such batch")
    return export_response(found, what, fmt)


def _offset(request):
    try:
        return max(int(request.GET.get("offset", 0)), 0)
    except ValueError:
        return 0


def _domain_state(request, batch_id, row):
    return {
        "id": row["id"], "host": row["host"], "origin": row["origin"], "status": row["status"],
        "attempts": row["attempts"], "sitemaps": row["sitemaps_count"], "urls": row["urls_count"],
        "error": row["error"], "error_code": row["error_code"], "findings": row["findings_count"],
        "page_url": request.build_absolute_uri(reverse("domain_detail", args=[batch_id, row["id"]])),
    }


def _with_links(request, summary):
    pk = summary["id"]
    return summary | {
        "status_url": request.build_absolute_uri(reverse("api_batch", args=[pk])),
        "page_url": request.build_absolute_uri(reverse("batch_detail", args=[pk])),
        "csv_url": request.build_absolute_uri(reverse("batch_export", args=[pk, "csv"])),
        "exports": {
            f"{what}_{fmt}": request.build_absolute_uri(reverse("api_batch_export", args=[pk, what, fmt]))
            for what in ("urls", "domains", "findings") for fmt in ("csv", "jsonl")
        },
    }
