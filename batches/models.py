"""Batches of domains, the sitemap files found for each domain and the URLs they list.

Progress counters live on the rows and move with F() expressions, so a progress page
reads a handful of integers instead of counting millions of URL rows.
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone


class BatchStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors", "Completed with errors"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


BATCH_ACTIVE = (BatchStatus.PENDING, BatchStatus.RUNNING)
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
    BatchStatus.COMPLETED: BATCH_ACTIVE,
    BatchStatus.COMPLETED_WITH_ERRORS: BATCH_ACTIVE,
    BatchStatus.FAILED: BATCH_ACTIVE,
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
        queued = Q(status=DomainStatus.QUEUED, batch__status__in=BATCH_ACTIVE, batch__created_at__lt=before)
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
        if self.status == BatchStatus.CANCELLED:
            return BatchStatus.CANCELLED
        if self.domains_total and self.domains_failed == self.domains_total:
            return BatchStatus.FAILED
        if self.domains_failed:
            return BatchStatus.COMPLETED_WITH_ERRORS
        return BatchStatus.COMPLETED

    @classmethod
    def mark_started(cls, pk):
        cls.all_objects.filter(pk=pk).move_to(BatchStatus.RUNNING, started_at=timezone.now())

    @classmethod
    def finish_if_complete(cls, pk):
        """Give the batch its final status once every domain has ended; safe to call repeatedly."""
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
    sitemaps_count = models.PositiveIntegerField(default=0)
    sitemaps_failed = models.PositiveIntegerField(default=0)
    urls_count = models.BigIntegerField(default=0)
    urls_skipped = models.BigIntegerField(default=0)
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

    class Meta:
        ordering = ["domain_id", "id"]

    def __str__(self):
        return self.url

    @property
    def url_source_id(self):
        """The sitemap row that holds this sitemap's URL rows."""
        return self.reused_from_id or self.pk


class Url(models.Model):
    # The URL table is written at 100,000+ rows a second, and every index or foreign-key check
    # costs a share of that (bench/store_schema.py: 40k rows/s with both keys and three indexes,
    # 125k with the unique index alone). So: no database constraints (rows are only written by
    # processing, for a domain it has claimed, and deleted before their domain and sitemaps are),
    # no separate domain index (unique (domain, loc) and (domain, id) lead with it), and no
    # sitemap index (pages filter by sitemap within a bounded keyset scan of one domain).
    domain = models.ForeignKey(
        Domain, on_delete=models.CASCADE, related_name="urls", db_index=False, db_constraint=False
    )
    sitemap = models.ForeignKey(
        SitemapFile, null=True, on_delete=models.DO_NOTHING, related_name="urls", db_index=False, db_constraint=False
    )
    loc = models.CharField(max_length=2048)
    lastmod = models.DateTimeField(null=True, blank=True)
    changefreq = models.CharField(max_length=8, blank=True)
    priority = models.FloatField(null=True, blank=True)
    extras = models.JSONField(null=True, blank=True, help_text="Images, videos, news and alternates.")

    class Meta:
        ordering = ["domain_id", "id"]  # the column, not Domain's own ordering (no join)
        verbose_name = "URL"
        constraints = [models.UniqueConstraint(fields=["domain", "loc"], name="url_unique_loc_per_domain")]
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
