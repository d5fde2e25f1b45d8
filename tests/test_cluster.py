"""A real qcluster process picks up a committed batch and finishes it."""

import pytest
from django.db import transaction

from batches.entries import parse_text
from batches.models import Batch, BatchStatus, Url
from batches.services import create_batch
from tests.cluster import start_cluster, stop_cluster, wait_until
from tests.sites import urlset

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.cluster]


def test_a_real_cluster_processes_a_committed_batch(site_factory, owner):
    sites = [site_factory() for _ in range(3)]
    for number, site in enumerate(sites):
        site.add("/sitemap.xml", urlset([site.url(f"/page/{number}/{i}") for i in range(10)]))
    with transaction.atomic():
        batch = create_batch(owner, "cluster", parse_text("\n".join(s.host for s in sites)).entries)

    cluster = start_cluster()
    try:
        finished = wait_until(lambda: Batch.objects.get(pk=batch.pk).is_finished, timeout=90)
    finally:
        output = stop_cluster(cluster)
    assert finished, output[-3000:]

    batch.refresh_from_db()
    assert (batch.status, batch.domains_done, batch.urls_count) == (BatchStatus.COMPLETED, 3, 30)
    assert set(Url.objects.filter(domain__batch=batch).values_list("loc", flat=True)) == {
        site.url(f"/page/{n}/{i}") for n, site in enumerate(sites) for i in range(10)}
