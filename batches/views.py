from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET

from .forms import NewBatchForm
from .models import Batch, BatchStatus
from .progress import summary
from .services import create_batch

DOMAINS_PER_PAGE = 100


def _get_batch_for_user(request, pk):
    """The batch if the user owns it (staff see all); another user's batch is a 404."""
    batches = Batch.objects.all() if request.user.is_staff else Batch.objects.filter(owner=request.user)
    return get_object_or_404(batches, pk=pk)


@login_required
def batch_list(request):
    batches = Batch.objects.filter(owner=request.user)
    status = request.GET.get("status", "")
    if status in BatchStatus.values:
        batches = batches.filter(status=status)
    page = Paginator(batches, 25).get_page(request.GET.get("page"))
    return render(request, "batches/batch_list.html", {"page": page, "status": status, "statuses": BatchStatus.choices})


@login_required
def batch_new(request):
    form = NewBatchForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            batch = create_batch(request.user, form.cleaned_data["name"], form.parsed.entries)
        _report_skipped_lines(request, form.parsed)
        return redirect(batch)
    return render(request, "batches/batch_new.html", {"form": form, "parsed": getattr(form, "parsed", None)})


def _report_skipped_lines(request, parsed):
    messages.success(request, f"Batch created with {len(parsed.entries)} domains.")
    if parsed.duplicates:
        messages.info(request, f"{parsed.duplicates} duplicate lines were merged.")
    for invalid in parsed.invalid[:50]:
        messages.warning(request, f"Skipped {invalid}")


@login_required
def batch_detail(request, pk):
    batch = _get_batch_for_user(request, pk)
    domains = batch.domains.order_by("position")
    page = Paginator(domains, DOMAINS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "batches/batch_detail.html", {"batch": batch, "page": page})


@login_required
@require_GET
def batch_status(request, pk):
    batch = _get_batch_for_user(request, pk)
    return JsonResponse(summary(batch) | {"finished": batch.is_finished, "status_label": batch.get_status_display()})


@login_required
def domain_detail(request, pk, domain_pk):
    batch = _get_batch_for_user(request, pk)
    domain = get_object_or_404(batch.domains, pk=domain_pk)
    sitemaps = domain.sitemaps.order_by("id")[:500]
    urls = Paginator(domain.urls.order_by("id").only("loc", "lastmod", "changefreq", "priority"), 100)
    return render(request, "batches/domain_detail.html", {
        "batch": batch, "domain": domain, "sitemaps": sitemaps, "page": urls.get_page(request.GET.get("page")),
    })
