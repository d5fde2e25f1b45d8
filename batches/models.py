"""Batches of domains, the sitemap files found for each domain and the URLs they list.

Progress counters live on the rows and move with F() expressions, so a progress page
reads a handful of integers instead of counting millions of URL rows.
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import connection, connections, models, router, transaction
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone


class BatchStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors", "Completed with errors"
    FAILED = "failed", "Failed"
    CANCELLING = "cancelling", "Cancelling…"
    CANCELLED = "cancelled", "Cancelled"


# Runnable: its domains may be claimed and fed. Active: not finished yet (a cancelling batch
# waits for its running domains to stop).
BATCH_RUNNABLE = (BatchStatus.PENDING, BatchStatus.RUNNING)
BATCH_ACTIVE = (*BATCH_RUNNABLE, BatchStatus.CANCELLING)
BATCH_FINAL = (
    BatchStatus.COMPLETED, BatchStatus.COMPLETED_WITH_ERRORS, BatchStatus.FAILED, BatchStatus.CANCELLED,
)


class DomainStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


DOMAIN_FINAL = (DomainStatus.DONE, DomainStatus.FAILED, DomainStatus.CANCELLED)

# Every status change goes through `move_to`, which only moves rows from the statuses listed
# for the target: the transitions live here and nowhere else.
BATCH_MOVES_FROM = {
    BatchStatus.PENDING: BATCH_FINAL,  # retry or run again
    BatchStatus.RUNNING: (BatchStatus.PENDING,),
    BatchStatus.COMPLETED: BATCH_RUNNABLE,
    BatchStatus.COMPLETED_WITH_ERRORS: BATCH_RUNNABLE,
    BatchStatus.FAILED: BATCH_RUNNABLE,
    BatchStatus.CANCELLING: BATCH_RUNNABLE,  # domains still run: they stop at their next chunk
    BatchStatus.CANCELLED: BATCH_ACTIVE,
}
DOMAIN_MOVES_FROM = {
    # From running only for the reaper, after the worker's heartbeat stopped.
    DomainStatus.QUEUED: (DomainStatus.RUNNING,) + DOMAIN_FINAL,
    DomainStatus.RUNNING: (DomainStatus.QUEUED, DomainStatus.RUNNING),  # running: a stale claim
    DomainStatus.DONE: (DomainStatus.RUNNING,),
    DomainStatus.FAILED: (DomainStatus.RUNNING,),
    DomainStatus.CANCELLED: (DomainStatus.RUNNING, DomainStatus.QUEUED),
}
# The batch counter that counts domains in each final status.
DOMAIN_COUNTERS = {
    DomainStatus.DONE: "domains_done",
    DomainStatus.FAILED: "domains_failed",
    DomainStatus.CANCELLED: "domains_cancelled",
}


class Repeat(models.TextChoices):
    NEVER = "", "Never"
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"


class BatchQuerySet(models.QuerySet):
    def move_to(self, status, **fields):
        """Conditional UPDATE to `status`; returns how many rows were allowed to move."""
        return self.filter(status__in=BATCH_MOVES_FROM[status]).update(status=status, **fields)


class BatchManager(models.Manager.from_queryset(BatchQuerySet)):
    """Batches people can see: a deleted batch is hidden at once and purged in the background."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)


class DomainQuerySet(models.QuerySet):
    def move_to(self, status, **fields):
        """Conditional UPDATE to `status`; returns how many rows were allowed to move."""
        return self.filter(status__in=DOMAIN_MOVES_FROM[status]).update(status=status, **fields)

    def claim(self, pk, worker):
        """Take the domain for `worker` (a process identity: host, pid, start time), or None.

        A conditional UPDATE is the claim: of two deliveries of the same task (the ORM broker
        delivers at least once) or two clusters, exactly one sees a row count of 1. A running
        domain whose heartbeat stopped (its worker was killed) may be claimed again. The domain
        comes back with `batch_previous_id` (the batch a re-run repeats) and `has_sitemap_rows`
        (an earlier attempt left rows) set.

        One statement for the claim, in SQL, and it returns the row: the ORM's three (batch,
        update, row) and then a read of the row cost a tenth of a small domain's CPU. The batch
        condition is a subquery; the conditions PostgreSQL re-checks on the row a concurrent
        claim just wrote are on the domain row, so the loser of a race sees 0 rows.
        """
        now = timezone.now()
        stale = now - timedelta(seconds=settings.SITEMAPS_STALE_AFTER)
        adapt = connection.ops.adapt_datetimefield_value
        domains, batches = Domain._meta.db_table, Batch._meta.db_table
        columns = ", ".join(connection.ops.quote_name(field.column) for field in Domain._meta.concrete_fields)
        # raw(): the row is read into a Domain through the backend's converters (SQLite's text
        # datetimes, booleans); the three extra columns become attributes of that instance.
        claimed = list(Domain.objects.raw(
            f"UPDATE {domains} SET status = %s, attempts = attempts + 1, started_at = %s, heartbeat_at = %s, "
            "finished_at = NULL, error = '', error_code = '', notes = '', claimed_by = %s "
            "WHERE id = %s AND (status = %s OR (status = %s AND heartbeat_at < %s)) "
            f"AND batch_id IN (SELECT id FROM {batches} WHERE status IN (%s, %s) AND deleted_at IS NULL) "
            f"RETURNING {columns}, (SELECT status FROM {batches} WHERE id = {domains}.batch_id) AS claimed_batch_status, "
            f"(SELECT previous_id FROM {batches} WHERE id = {domains}.batch_id) AS batch_previous_id, "
            f"EXISTS (SELECT 1 FROM {SitemapFile._meta.db_table} WHERE domain_id = {domains}.id) AS has_sitemap_rows",
            [DomainStatus.RUNNING, adapt(now), adapt(now), worker, pk, DomainStatus.QUEUED, DomainStatus.RUNNING,
             adapt(stale), *BATCH_RUNNABLE],
        ))
        if not claimed:
            return None  # not claimable, or its batch is not runnable (a later cancel is seen at the first chunk)
        domain = claimed[0]
        if domain.claimed_batch_status == BatchStatus.PENDING:
            Batch.mark_started(domain.batch_id)
        domain.has_sitemap_rows = bool(domain.has_sitemap_rows)  # an earlier attempt left rows (worker.forget_previous_run)
        return domain

    def requeue(self, lock=True, **fields):
        """Queue these domains again (a retry, a run again, a run whose worker died).

        What they counted leaves the batch's counters at once, so a queued domain shows no
        stale numbers; its rows are removed by the worker that claims it next. The rows are
        locked first (`lock`), so two reapers taking back one run subtract its counts once;
        Batch.requeue holds the batch row instead, for a whole batch's domains.
        """
        with transaction.atomic():
            movable = self.filter(status__in=DOMAIN_MOVES_FROM[DomainStatus.QUEUED])
            if lock:
                ids = list(movable.select_for_update().values_list("pk", flat=True))
                movable = Domain.objects.filter(pk__in=ids, status__in=DOMAIN_MOVES_FROM[DomainStatus.QUEUED])
            totals = list(movable.values("batch_id", "status").order_by().annotate(
                domains=Count("pk"), urls=Sum("urls_count"), sitemaps=Sum("sitemaps_count")))
            moved = movable.move_to(
                DomainStatus.QUEUED, started_at=None, finished_at=None, heartbeat_at=None, claimed_by="",
                error="", error_code="", notes="", sitemaps_count=0, sitemaps_failed=0, urls_count=0, urls_skipped=0, **fields)
            for total in totals:
                changes = {"urls_count": F("urls_count") - total["urls"],
                           "sitemaps_count": F("sitemaps_count") - total["sitemaps"]}
                counter = DOMAIN_COUNTERS.get(total["status"])
                if counter:
                    changes[counter] = F(counter) - total["domains"]
                Batch.all_objects.filter(pk=total["batch_id"]).update(**changes)
        return moved

    def finish(self, status, counts=None, **fields):
        """End the run these conditions select (one row) as `status`; returns 1 when it moved.

        The domain's URL and sitemap counters are recounted from its rows, so they are exact
        even when a commit's outcome was lost to a database outage and a write was repeated;
        the batch's counters move by the same amounts, and the batch ends with its last domain.
        `counts`, when given, are counters the caller counted (before this locking transaction:
        they may take seconds): `urls_count` and `sitemaps_count` then replace the recounts (a
        re-run's reused URLs are not rows of its own: reuse.finish_counts; a small domain written
        whole in one transaction knows what it wrote), and every other one is set on the domain
        with the batch's moving by the difference.
        """
        counts = dict(counts or {})
        # savepoint=False: inside a writer's transaction (a small domain written whole) this is
        # part of it, and a failure here rolls all of it back
        with transaction.atomic(savepoint=False):
            current = self.filter(status=DomainStatus.RUNNING).select_for_update().first()
            if current is None:
                return 0
            urls = counts.pop("urls_count", None)
            if urls is None:
                urls = Url.objects.filter(domain_id=current.pk).count()
            sitemaps = counts.pop("sitemaps_count", None)
            if sitemaps is None:
                sitemaps = SitemapFile.objects.filter(domain_id=current.pk).count()
            now = timezone.now()
            Domain.objects.filter(pk=current.pk).move_to(
                status, urls_count=urls, sitemaps_count=sitemaps, finished_at=now, **counts, **fields)
            moved = {name: value - getattr(current, name) for name, value in counts.items()}
            remaining = Batch.count_domain_end(current.batch_id, status, now, urls_count=urls - current.urls_count,
                                              sitemaps_count=sitemaps - current.sitemaps_count, **moved)
        if remaining is not None and remaining <= 0:
            Batch.finish_if_complete(current.batch_id)
        return 1

    def finish_whole(self, pk, attempt, batch_id, status, urls_count, sitemaps_count, **fields):
        """`finish` for run `attempt` of domain `pk`, written whole by the caller's transaction:
        its counters were zero before (nothing of the run was written earlier), so nothing is
        read or recounted. Two statements in SQL (the ORM's four cost more CPU than the rows)."""
        now = timezone.now()
        values = {"status": status, "urls_count": urls_count, "sitemaps_count": sitemaps_count,
                  "finished_at": now, **fields}
        assignments = ", ".join(f"{Domain._meta.get_field(name).column} = %s" for name in values)
        params = [Domain._meta.get_field(name).get_db_prep_save(value, connection) for name, value in values.items()]
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {Domain._meta.db_table} SET {assignments} "
                           "WHERE id = %s AND attempts = %s AND status = %s",
                           [*params, pk, attempt, DomainStatus.RUNNING])
            if cursor.rowcount != 1:
                return 0
        remaining = Batch.count_domain_end(batch_id, status, now, urls_count=urls_count, sitemaps_count=sitemaps_count)
        if remaining is not None and remaining <= 0:
            Batch.finish_if_complete(batch_id)
        return 1

    def stale(self, seconds=None):
        """Running domains whose worker has not sent a heartbeat for `seconds` (default
        SITEMAPS_STALE_AFTER): their worker died or hangs."""
        seconds = settings.SITEMAPS_STALE_AFTER if seconds is None else seconds
        return self.filter(status=DomainStatus.RUNNING, heartbeat_at__lt=timezone.now() - timedelta(seconds=seconds))

    def stuck(self, seconds=None):
        """Domains an operator should look at: running without a heartbeat for `seconds`, or
        running for longer than that (default SITEMAPS_STUCK_AFTER), or queued that long in
        an active batch."""
        seconds = settings.SITEMAPS_STUCK_AFTER if seconds is None else seconds
        before = timezone.now() - timedelta(seconds=seconds)
        running = Q(status=DomainStatus.RUNNING) & (Q(heartbeat_at__lt=before) | Q(started_at__lt=before))
        queued = Q(status=DomainStatus.QUEUED, batch__status__in=BATCH_RUNNABLE, batch__created_at__lt=before)
        return self.filter(running | queued)


class Batch(models.Model):
    name = models.CharField(max_length=200)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="batches")
    status = models.CharField(max_length=32, choices=BatchStatus.choices, default=BatchStatus.PENDING, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    domains_total = models.PositiveIntegerField(default=0)
    domains_done = models.PositiveIntegerField(default=0)
    domains_failed = models.PositiveIntegerField(default=0)
    domains_cancelled = models.PositiveIntegerField(default=0)
    sitemaps_count = models.PositiveIntegerField(default=0)
    urls_count = models.BigIntegerField(default=0)
    enqueued_position = models.PositiveIntegerField(
        default=0, help_text="Domains up to this position have been handed to the task queue.")
    progressed_at = models.DateTimeField(null=True, blank=True, help_text="When a domain last finished.")
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="Deleted: hidden, purged in the background.")
    # The pasted or uploaded lines that were not domains: the first SKIPPED_LINES_KEPT as
    # [line number, reason, text], and how many more there were.
    skipped_lines = models.JSONField(default=list, blank=True)
    skipped_lines_more = models.PositiveIntegerField(default=0)
    # Re-runs (reruns.py, changes.py): a re-run is a new batch that points at the one it repeats.
    previous = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns",
                                 help_text="The batch this one runs again.")
    repeat = models.CharField(max_length=8, choices=Repeat.choices, default=Repeat.NEVER, blank=True,
                              help_text="Run again on this schedule (each run is a new batch).")
    next_run_at = models.DateTimeField(null=True, blank=True, help_text="When the schedule runs it again.")
    urls_added = models.BigIntegerField(default=0, help_text="Since the previous batch.")
    urls_removed = models.BigIntegerField(default=0, help_text="Since the previous batch.")
    urls_modified = models.BigIntegerField(default=0, help_text="Since the previous batch: lastmod moved.")
    sitemaps_unchanged = models.PositiveIntegerField(default=0, help_text="Reused from the previous batch.")

    objects = BatchManager()
    all_objects = BatchQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "batches"
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self):
        return self.name or f"Batch {self.pk}"

    def get_absolute_url(self):
        return reverse("batch_detail", args=[self.pk])

    @property
    def repeat_choices(self):
        return Repeat.choices

    @property
    def domains_finished(self):
        return self.domains_done + self.domains_failed + self.domains_cancelled

    @property
    def progress(self):
        """Percent of domains finished, 0-100 (an empty batch counts as finished)."""
        if not self.domains_total:
            return 100 if self.is_finished else 0
        return int(100 * self.domains_finished / self.domains_total)

    @property
    def is_finished(self):
        return self.status not in BATCH_ACTIVE

    @property
    def duration(self):
        if not self.started_at:
            return None
        return (self.finished_at or timezone.now()) - self.started_at

    def final_status(self):
        if self.status in (BatchStatus.CANCELLING, BatchStatus.CANCELLED):
            return BatchStatus.CANCELLED
        if self.domains_total and self.domains_failed == self.domains_total:
            return BatchStatus.FAILED
        if self.domains_failed:
            return BatchStatus.COMPLETED_WITH_ERRORS
        return BatchStatus.COMPLETED

    @classmethod
    def count_domain_end(cls, pk, status, now, **moved):
        """Move batch `pk`'s counters for one domain that ended as `status` (its counter + 1,
        each of `moved` by its amount); returns how many of its domains have not ended, or None
        when the batch is gone. The one batch update of both `finish` and `finish_whole`, in SQL:
        the ORM's F() update cost more CPU than the statement."""
        counter = DOMAIN_COUNTERS[status]
        assignments = [f"{counter} = {counter} + 1", "progressed_at = %s"]
        assignments += [f"{cls._meta.get_field(name).column} = {cls._meta.get_field(name).column} + %s" for name in moved]
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {cls._meta.db_table} SET {', '.join(assignments)} WHERE id = %s "
                "RETURNING domains_total - domains_done - domains_failed - domains_cancelled",
                [connection.ops.adapt_datetimefield_value(now), *moved.values(), pk])
            remaining = cursor.fetchone()
        return None if remaining is None else remaining[0]

    @classmethod
    def mark_started(cls, pk):
        # A retry keeps the first start: the duration runs from the first start to the last
        # finish (Run again clears it, as it starts over).
        cls.all_objects.filter(pk=pk).move_to(BatchStatus.RUNNING, started_at=Coalesce("started_at", timezone.now()))

    @classmethod
    def cancel(cls, pk):
        """Stop a runnable batch: its queued domains are cancelled now, running ones at their next
        chunk. The batch reads Cancelling until none runs, then Cancelled. Returns whether it moved."""
        with transaction.atomic():
            if not cls.objects.filter(pk=pk).move_to(BatchStatus.CANCELLING):
                return False
            cancelled = Domain.objects.filter(batch_id=pk, status=DomainStatus.QUEUED).move_to(
                DomainStatus.CANCELLED, finished_at=timezone.now())
            cls.all_objects.filter(pk=pk).update(domains_cancelled=F("domains_cancelled") + cancelled)
        cls.finish_if_complete(pk)
        return True

    def requeue(self, domains, **fields):
        """Queue `domains` of this finished batch again; returns how many (0: it is not finished)."""
        with transaction.atomic():
            batch = Batch.objects.select_for_update().get(pk=self.pk)
            if not batch.is_finished:
                return 0
            requeued = domains.requeue(lock=False, **fields)
            if requeued:
                Batch.objects.filter(pk=self.pk).move_to(BatchStatus.PENDING, finished_at=None, progressed_at=None)
        return requeued

    @classmethod
    def finish_if_complete(cls, pk):
        """Give the batch its final status once every domain has ended; safe to call repeatedly.

        Returns the batch once it has ended, else None."""
        counts = cls.all_objects.filter(pk=pk).values_list(
            "domains_total", "domains_done", "domains_failed", "domains_cancelled").first()
        if counts is None or sum(counts[1:]) < counts[0]:
            return None  # the common case, read without a lock
        with transaction.atomic():
            batch = cls.all_objects.select_for_update().filter(pk=pk).first()
            if batch is None or batch.domains_finished < batch.domains_total:
                return batch
            if batch.is_finished and batch.finished_at:
                return batch
            now = timezone.now()
            status = batch.final_status()
            if status != batch.status:
                cls.all_objects.filter(pk=pk).move_to(status)
            cls.all_objects.filter(pk=pk).update(finished_at=now, started_at=batch.started_at or now)
            batch.refresh_from_db()
            return batch

    def keep_skipped_lines(self, skipped, total=None):
        """Store the input lines that were not domains: (where, reason, text) for the first
        SKIPPED_LINES_KEPT, and how many more there were (of `total`, default len(skipped))."""
        if not skipped:
            return
        self.skipped_lines = [[where, reason, text[:200]] for where, reason, text in skipped[:SKIPPED_LINES_KEPT]]
        self.skipped_lines_more = max((len(skipped) if total is None else total) - len(self.skipped_lines), 0)
        Batch.all_objects.filter(pk=self.pk).update(
            skipped_lines=self.skipped_lines, skipped_lines_more=self.skipped_lines_more)


SKIPPED_LINES_KEPT = 100


class DomainErrorCode(models.TextChoices):
    """Why a domain failed (README "Error codes"); mirrors batches.sitemaps.records.DomainError."""

    DNS = "dns", "Name does not resolve"
    REFUSED = "refused", "Connection refused"
    TIMEOUT = "timeout", "Timed out"
    TLS = "tls", "TLS failed"
    BLOCKED = "blocked", "Address blocked"
    HTTP_ERROR = "http_error", "HTTP errors only"
    NO_READABLE_SITEMAP = "no_readable_sitemap", "No readable sitemap"
    DEADLINE = "deadline", "Time limit"
    INTERNAL = "internal", "Internal error"


class Domain(models.Model):
    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="domains", db_index=False)
    position = models.PositiveIntegerField(default=0)
    line_number = models.PositiveIntegerField(default=0)
    entry = models.CharField(max_length=2048, help_text="The line as it was given.")
    host = models.CharField(max_length=300, help_text="Lower-case host (punycode) with a port when one was given.")
    scheme = models.CharField(max_length=8, blank=True, help_text="Empty: try https, then http.")
    origin = models.CharField(max_length=350, blank=True, help_text="The origin that answered.")
    status = models.CharField(max_length=16, choices=DomainStatus.choices, default=DomainStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True, help_text="Why the domain failed.")
    notes = models.TextField(blank=True, help_text="Limits reached and other remarks on a finished domain.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # db_default: rows inserted by raw SQL (imports, re-runs) get it too.
    claimed_by = models.CharField(
        max_length=300, blank=True, db_default="", help_text="The worker process running it: host, pid and start time.")
    sitemaps_count = models.PositiveIntegerField(default=0)
    sitemaps_failed = models.PositiveIntegerField(default=0)
    urls_count = models.BigIntegerField(default=0)
    urls_skipped = models.BigIntegerField(default=0)
    # Database defaults: services.insert_domains writes rows with raw SQL that names its columns.
    error_code = models.CharField(max_length=32, blank=True, choices=DomainErrorCode.choices, db_default="")
    findings_count = models.PositiveIntegerField(default=0, db_default=0)
    robots_status = models.PositiveSmallIntegerField(null=True, blank=True, help_text="robots.txt's HTTP status.")
    robots_bytes = models.PositiveIntegerField(default=0, db_default=0)
    # Against the same host in the batch's previous batch (reruns); set when the domain ends.
    # Database defaults: domains are inserted in bulk by raw SQL that names only its columns.
    urls_added = models.BigIntegerField(default=0, db_default=0)
    urls_removed = models.BigIntegerField(default=0, db_default=0)
    urls_modified = models.BigIntegerField(default=0, db_default=0)
    sitemaps_unchanged = models.PositiveIntegerField(default=0, db_default=0)

    objects = DomainQuerySet.as_manager()

    class Meta:
        ordering = ["batch", "position"]
        constraints = [models.UniqueConstraint(fields=["batch", "host"], name="domain_unique_host_per_batch")]
        # Every index leads with the batch, so the foreign key needs none of its own. (batch,
        # status, position) feeds the queue in order; (batch, position) pages the batch; the
        # partial heartbeat index covers only the few running rows, for the reaper.
        indexes = [
            models.Index(fields=["batch", "status", "position"], name="domain_batch_status_pos"),
            models.Index(fields=["batch", "position"], name="domain_batch_position"),
            models.Index(fields=["heartbeat_at"], name="domain_running_heartbeat",
                         condition=Q(status="running")),
            models.Index(fields=["batch", "error_code", "position"], name="domain_batch_error_pos",
                         condition=~Q(error_code="")),
        ]

    def __str__(self):
        return self.host

    def get_absolute_url(self):
        return reverse("domain_detail", args=[self.batch_id, self.pk])

    @property
    def start_url(self):
        return f"{self.scheme or 'https'}://{self.host}/"

    @property
    def duration(self):
        if not self.started_at:
            return None
        return (self.finished_at or timezone.now()) - self.started_at

    @property
    def is_stuck(self):
        """Running without a heartbeat, or running at all, for longer than SITEMAPS_STUCK_AFTER."""
        if self.status != DomainStatus.RUNNING:
            return False
        before = timezone.now() - timedelta(seconds=settings.SITEMAPS_STUCK_AFTER)
        return any(moment and moment < before for moment in (self.heartbeat_at, self.started_at))


class SitemapKind(models.TextChoices):
    UNKNOWN = "unknown", "Not read"
    INDEX = "index", "Sitemap index"
    URLSET = "urlset", "URL set"
    TEXT = "text", "Plain text"
    RSS = "rss", "RSS feed"
    ATOM = "atom", "Atom feed"
    NOT_SITEMAP = "not_sitemap", "Not a sitemap"


class FoundBy(models.TextChoices):
    ROBOTS = "robots", "robots.txt"
    WELL_KNOWN = "well_known", "Well-known path"
    INDEX = "index", "Sitemap index"
    HOME_PAGE = "home_page", "Home page link"


class SitemapFileQuerySet(models.QuerySet):
    def insert(self, **values):
        """INSERT one row with these field values (the others at their defaults); returns its id.

        One statement with the fields' own conversions: create()'s instance, signals and
        freshly compiled SQL cost more CPU than the statement, once per sitemap of a domain."""
        fields = [field for field in self.model._meta.concrete_fields if not field.primary_key]
        unknown = set(values) - {field.attname for field in fields}
        if unknown:
            raise TypeError(f"not a column of {self.model.__name__}: {', '.join(sorted(unknown))}")
        db = connections[router.db_for_write(self.model)]
        row = [field.get_db_prep_save(values[field.attname] if field.attname in values else field.get_default(), db)
               for field in fields]
        quote = db.ops.quote_name
        with db.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {quote(self.model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
                f"VALUES ({', '.join(['%s'] * len(fields))}) RETURNING {quote(self.model._meta.pk.column)}", row)
            return cursor.fetchone()[0]


class SitemapFile(models.Model):
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="sitemaps")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    url = models.TextField()
    found_by = models.CharField(max_length=16, choices=FoundBy.choices)
    kind = models.CharField(max_length=16, choices=SitemapKind.choices, default=SitemapKind.UNKNOWN)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=200, blank=True)
    compressed = models.BooleanField(default=False)
    bytes = models.BigIntegerField(default=0, help_text="Bytes after decompression.")
    response_ms = models.PositiveIntegerField(null=True, blank=True)
    url_count = models.PositiveIntegerField(default=0)
    lastmod = models.DateTimeField(null=True, blank=True, help_text="As given by the parent index.")
    generator = models.CharField(max_length=100, blank=True)
    error = models.TextField(blank=True)
    fetched_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=32, blank=True, help_text="Why it could not be (fully) read.")
    etag = models.CharField(max_length=200, blank=True, help_text="Validators sent back on a re-run.")
    last_modified = models.CharField(max_length=64, blank=True)
    # A sitemap unchanged since the previous run (304, or an index lastmod that did not move)
    # stores no URL rows: it reads those of the sitemap row that first stored them, in an
    # earlier batch. No constraint and no cascade: that row is handed over, not deleted, when
    # its batch goes (history.hand_over_reused).
    reused_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="reused_by",
        help_text="The earlier sitemap row whose URLs this one reuses.")
    # Rows stored for this sitemap (set when its domain ends): a re-run that reuses it adds
    # this instead of counting a million rows again. None: not known, count them.
    urls_stored = models.PositiveIntegerField(null=True, blank=True)

    objects = SitemapFileQuerySet.as_manager()

    class Meta:
        ordering = ["domain_id", "id"]

    def __str__(self):
        return self.url

    @property
    def url_source_id(self):
        """The sitemap row that holds this sitemap's URL rows."""
        return self.reused_from_id or self.pk


class FindingCode(models.TextChoices):
    """What the sitemap audit reports (README "Findings"); mirrors batches.sitemaps.audit.FindingCode."""

    HTTP_ERROR = "http_error", "HTTP error"
    NOT_A_SITEMAP = "not_a_sitemap", "Not a sitemap"
    XML_ERROR = "xml_error", "XML error"
    COMPRESSION_ERROR = "compression_error", "Compression error"
    EMPTY_SITEMAP = "empty_sitemap", "Empty sitemap"
    TOO_MANY_URLS = "too_many_urls", "Over 50,000 URLs"
    TOO_LARGE = "too_large", "Over 50 MB"
    INVALID_LASTMOD = "invalid_lastmod", "Invalid lastmod"
    FUTURE_LASTMOD = "future_lastmod", "Lastmod in the future"
    INVALID_LOC = "invalid_loc", "Invalid loc"
    LOC_TOO_LONG = "loc_too_long", "Loc too long"
    CROSS_HOST_URL = "cross_host_url", "URL on another host"
    SCHEME_MISMATCH = "scheme_mismatch", "Scheme mismatch"
    OUTSIDE_SCOPE = "outside_scope", "Outside the sitemap's directory"
    DUPLICATE_URL = "duplicate_url", "Duplicate URL"
    INDEX_NESTED = "index_nested", "Nested index"
    REDIRECTED = "redirected", "Redirected"
    NO_SITEMAP = "no_sitemap", "No sitemap"
    ROBOTS_MISSING = "robots_missing", "No robots.txt"
    ROBOTS_ERROR = "robots_error", "robots.txt error"
    NOT_IN_ROBOTS = "not_in_robots", "Not in robots.txt"


class Url(models.Model):
    # The URL table is written at 100,000+ rows a second, and every index or foreign-key check
    # costs a share of that (bench/store_schema.py). So: no database constraints (rows are only
    # written by the store, for a domain the worker has claimed, and deleted before their domain
    # and sitemaps are), one unique index on a bigint key instead of the loc text (a fifth of
    # the size, compared without collation), no separate domain index (both indexes lead with
    # it), and no sitemap index (pages filter by sitemap within a bounded keyset scan).
    domain = models.ForeignKey(
        Domain, on_delete=models.CASCADE, related_name="urls", db_index=False, db_constraint=False
    )
    sitemap = models.ForeignKey(
        SitemapFile, null=True, on_delete=models.DO_NOTHING, related_name="urls", db_index=False, db_constraint=False
    )
    loc = models.CharField(max_length=2048, help_text="The first spelling of the URL the site used.")
    loc_key = models.BigIntegerField(help_text="The URL's identity (url_key of its normal form): one row per page.")
    lastmod = models.DateTimeField(null=True, blank=True)
    changefreq = models.CharField(max_length=8, blank=True)
    priority = models.FloatField(null=True, blank=True)
    extras = models.JSONField(null=True, blank=True, help_text="Images, videos, news and alternates.")

    class Meta:
        ordering = ["domain_id", "id"]  # the column, not Domain's own ordering (no join)
        verbose_name = "URL"
        constraints = [models.UniqueConstraint(fields=["domain", "loc_key"], name="url_unique_key_per_domain")]
        indexes = [models.Index(fields=["domain", "id"])]

    def __str__(self):
        return self.loc


class ApiToken(models.Model):
    """A per-user key for the JSON API; only its SHA-256 is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12, db_index=True)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.prefix}… ({self.name or self.user})"

    @staticmethod
    def hash(raw):
        return hashlib.sha256(raw.encode()).hexdigest()

    @classmethod
    def issue(cls, user, name=""):
        """Create a token and return (token, raw key); the raw key is shown once and never stored."""
        raw = "sba_" + secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name, prefix=raw[:12], digest=cls.hash(raw))
        return token, raw


class HostSlot(models.Model):
    """Politeness bookkeeping shared by every worker process: when a host may next be asked."""

    host = models.CharField(max_length=300, unique=True)
    next_request_at = models.DateTimeField(default=timezone.now)
    in_flight = models.PositiveIntegerField(default=0)
    # A worker killed inside a request never gives its slot back: once every lease has run
    # out (no request can last longer), the in-flight count is known to be stale.
    lease_until = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return self.host


class Finding(models.Model):
    """One thing the sitemap audit found wrong on a domain, or on one of its sitemap files."""

    # The batch is repeated here so the batch page counts findings by code on one index.
    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="findings", db_index=False)
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="findings")
    sitemap = models.ForeignKey(SitemapFile, null=True, blank=True, on_delete=models.CASCADE, related_name="findings")
    code = models.CharField(max_length=32, choices=FindingCode.choices)
    count = models.PositiveIntegerField(default=1)
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["domain_id", "id"]
        indexes = [models.Index(fields=["batch", "code", "domain"], name="finding_batch_code_domain")]

    def __str__(self):
        return f"{self.code} ({self.count})"
class LastmodMonth(models.Model):
    """How many of a domain's URLs have a lastmod in a month (UTC): the domain's lastmod chart.

    Moved by the store in the same transaction as the URL rows it counts, so the chart never
    aggregates the URL table; forgotten with the domain's URLs when it runs again.
    """

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="lastmod_months", db_index=False)
    month = models.DateField(help_text="The first day of the month.")
    urls = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["domain_id", "month"]
        constraints = [models.UniqueConstraint(fields=["domain", "month"], name="lastmod_month_unique_per_domain")]

    def __str__(self):
        return f"{self.month:%Y-%m}: {self.urls}"
