"""django-q2 entry points: they take ids, never model instances, and delegate to their modules.

Only worker processes import this module (django-q2 finds the functions by their dotted paths,
queue.py names them as strings), so the web process never loads the engine through it.
"""

from django_q.conf import Conf

from . import reaper, retention, worker


def crawl_domains(domain_ids):
    """The queue's task: a group of domains for this process's crawler, which keeps up to
    SITEMAPS_DOMAINS_PER_WORKER in flight; returns once they are accepted (or handed back)."""
    if Conf.SYNC:  # no long-lived worker process: each domain runs here and now
        return [worker.process_domain(domain_id) for domain_id in domain_ids]
    return worker.crawler().accept(domain_ids)


def process_domain(domain_id):
    """One domain, processed in the calling thread (messages of earlier versions, tests)."""
    return worker.process_domain(domain_id)


def purge_batch(batch_id):
    return retention.purge_batch(batch_id)


def reap():
    """Run by the django-q2 schedule created in migration 0003 (every minute)."""
    return reaper.reap()
