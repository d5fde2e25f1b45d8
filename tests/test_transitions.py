"""What a batch and its domains show as they move: cancelling, retry and run again (issue 14, 7-8)."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from batches import services
from batches.entries import parse_text
from batches.models import Batch, BatchStatus, Domain, DomainStatus, SitemapFile
from batches.sitemaps import UrlRecord
from batches.store import insert_urls
from batches.worker import DomainWriter, claim_domain

pytestmark = pytest.mark.django_db(transaction=True)


def make_batch(owner, hosts):
    with transaction.atomic():
        return services.create_batch(owner, "b", parse_text("\n".join(hosts)).entries, enqueue=False)


def finish(domain_id, status, urls=0, sitemaps=0):
    """Claim and end a domain as a worker would, with `urls` and `sitemaps` rows stored."""
    domain = claim_domain(domain_id)
    files = SitemapFile.objects.bulk_create(
        SitemapFile(domain=domain, url=f"https://{domain.host}/s{n}.xml", found_by="robots") for n in range(sitemaps))
    if urls:
        insert_urls(domain.pk, files[0].pk, [UrlRecord(f"https://{domain.host}/p/{n}") for n in range(urls)])
    DomainWriter(domain).finish(status)


def test_it_reads_cancelling_while_a_domain_still_runs_then_cancelled(owner, owner_client):
    batch = make_batch(owner, ["a.example", "b.example", "c.example"])
    running = claim_domain(Domain.objects.get(host="a.example").pk)

    with transaction.atomic():
        assert services.cancel_batch(batch.pk)

    batch.refresh_from_db()
    assert (batch.status, batch.domains_cancelled, batch.is_finished, batch.finished_at) == (
        BatchStatus.CANCELLING, 2, False, None)
    assert "Cancelling…" in owner_client.get(batch.get_absolute_url()).content.decode()
    with transaction.atomic():
        assert not services.cancel_batch(batch.pk)  # cancelling already
        assert services.retry_failed(batch.pk) == 0  # not finished: nothing to retry yet

    DomainWriter(running).finish(DomainStatus.CANCELLED)

    batch.refresh_from_db()
    assert (batch.status, batch.domains_cancelled, batch.progress) == (BatchStatus.CANCELLED, 3, 100)
    assert batch.finished_at is not None


def test_it_is_cancelled_at_once_when_nothing_runs(owner):
    batch = make_batch(owner, ["a.example", "b.example"])

    with transaction.atomic():
        assert services.cancel_batch(batch.pk)

    batch.refresh_from_db()
    assert (batch.status, batch.domains_cancelled) == (BatchStatus.CANCELLED, 2)
    assert batch.finished_at is not None


def test_run_again_shows_no_stale_counts_or_times(owner):
    batch = make_batch(owner, ["a.example", "b.example"])
    finish(Domain.objects.get(host="a.example").pk, DomainStatus.DONE, urls=2267, sitemaps=6)
    finish(Domain.objects.get(host="b.example").pk, DomainStatus.FAILED)
    batch.refresh_from_db()
    assert (batch.status, batch.urls_count, batch.sitemaps_count) == (BatchStatus.COMPLETED_WITH_ERRORS, 2267, 6)

    # Running again makes a new batch (issue 13): it starts from zero, the earlier one keeps its results.
    with transaction.atomic():
        rerun = services.rerun_batch(batch.pk)

    rerun.refresh_from_db()
    assert (rerun.previous_id, rerun.domains_total) == (batch.pk, 2)
    assert (rerun.status, rerun.urls_count, rerun.sitemaps_count, rerun.domains_done, rerun.domains_failed) == (
        BatchStatus.PENDING, 0, 0, 0, 0)
    assert (rerun.started_at, rerun.finished_at, rerun.duration) == (None, None, None)
    for domain in Domain.objects.filter(batch=rerun):
        assert (domain.status, domain.urls_count, domain.sitemaps_count, domain.attempts) == (
            DomainStatus.QUEUED, 0, 0, 0)
        assert (domain.started_at, domain.finished_at, domain.duration, domain.error) == (None, None, None, "")
    batch.refresh_from_db()
    assert (batch.status, batch.urls_count, batch.sitemaps_count) == (BatchStatus.COMPLETED_WITH_ERRORS, 2267, 6)


def test_a_retry_keeps_the_first_start_so_the_duration_covers_every_run(owner):
    batch = make_batch(owner, ["a.example", "b.example"])
    finish(Domain.objects.get(host="a.example").pk, DomainStatus.DONE, urls=5, sitemaps=1)
    failed = Domain.objects.get(host="b.example")
    finish(failed.pk, DomainStatus.FAILED)
    first_start = timezone.now() - timedelta(seconds=60)
    Batch.objects.filter(pk=batch.pk).update(started_at=first_start)

    with transaction.atomic():
        assert services.retry_failed(batch.pk) == 1
    batch.refresh_from_db()
    assert (batch.status, batch.started_at, batch.domains_failed, batch.urls_count) == (
        BatchStatus.PENDING, first_start, 0, 5)
    assert Domain.objects.get(pk=failed.pk).started_at is None

    finish(failed.pk, DomainStatus.DONE)

    batch.refresh_from_db()
    assert (batch.status, batch.started_at, batch.domains_done) == (BatchStatus.COMPLETED, first_start, 2)
    assert batch.duration >= timedelta(seconds=60)
