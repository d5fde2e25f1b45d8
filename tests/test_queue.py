"""The queue module: what a crawl message asks of django-q2."""

import uuid

import pytest
from django.db import transaction
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Failure, OrmQ, Success
from django_q.monitor import save_task

from batches import services
from batches.entries import parse_text
from batches.queue import enqueue_domains

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_keeps_the_result_of_a_failed_handover_but_not_of_a_successful_one(owner):
    with transaction.atomic():
        batch = services.create_batch(owner, "b", parse_text("a.example\nb.example").entries, enqueue=False)
    ids = list(batch.domains.order_by("pk").values_list("pk", flat=True))
    enqueue_domains(ids, batch.pk)
    task = OrmQ.objects.get().task
    ended = {"started": timezone.now(), "stopped": timezone.now()}

    # django-q2's own monitor decides what to save from the message
    save_task({**task, **ended, "success": True, "result": None}, get_broker())
    save_task({**task, **ended, "id": uuid.uuid4().hex, "success": False, "result": "boom"}, get_broker())

    assert Success.objects.count() == 0
    assert list(Failure.objects.values_list("func", "result")) == [("batches.tasks.crawl_domains", "boom")]
