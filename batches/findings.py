"""Storing a domain's audit findings and summing them up for a batch.

The audit itself runs in the worker (batches/sitemaps/audit.py); this module only sees its
Finding tuples (code, sitemap key, count, detail), so the web process never imports the engine.
"""

from django.db import transaction
from django.db.models import Count, Sum

from .models import Domain, DomainErrorCode, DomainStatus, Finding, FindingCode


def save_findings(domain, findings, sitemap_ids):
    """Replace the domain's findings with `findings` in one bulk insert; returns how many.

    `sitemap_ids` maps the engine's sitemap keys to SitemapFile ids (a key without a row, of a
    sitemap the run did not store, makes the finding domain-level rather than lost).
    """
    with transaction.atomic():
        Finding.objects.filter(domain_id=domain.pk).delete()  # an earlier attempt's
        count = add_findings(domain, findings, sitemap_ids)
        Domain.objects.filter(pk=domain.pk).update(findings_count=count)
    return count


def add_findings(domain, findings, sitemap_ids):
    """Insert `findings` for a domain that has none (the caller sets its findings_count)."""
    rows = [
        Finding(batch_id=domain.batch_id, domain_id=domain.pk, sitemap_id=sitemap_ids.get(finding.sitemap_key),
                code=finding.code, count=finding.count, detail=finding.detail[:300])
        for finding in findings
    ]
    if rows:
        Finding.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def forget_findings(domain):
    """Remove what an earlier attempt found (before the domain runs again)."""
    if domain.findings_count:
        Finding.objects.filter(domain_id=domain.pk).delete()
        Domain.objects.filter(pk=domain.pk).update(findings_count=0)


def error_code_summary(batch):
    """[(code, label, domains)] for the batch's failed domains, most frequent first: one grouped query."""
    rows = (
        Domain.objects.filter(batch=batch, status=DomainStatus.FAILED)
        .values("error_code").annotate(domains=Count("id")).order_by("-domains", "error_code")
    )
    labels = dict(DomainErrorCode.choices)
    return [(row["error_code"], labels.get(row["error_code"], "Not classified"), row["domains"]) for row in rows]


def finding_summary(batch):
    """[(code, label, domains, total count)] over the batch's findings, most widespread first."""
    rows = (
        Finding.objects.filter(batch=batch).values("code")
        .annotate(domains=Count("domain_id", distinct=True), total=Sum("count"))
        .order_by("-domains", "code")
    )
    labels = dict(FindingCode.choices)
    return [(row["code"], labels.get(row["code"], row["code"]), row["domains"], row["total"]) for row in rows]


def domains_with_finding(batch, code):
    """The batch's domains that have at least one finding with `code`."""
    return Domain.objects.filter(
        batch=batch, pk__in=Finding.objects.filter(batch=batch, code=code).values("domain_id"))
