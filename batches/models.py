"""Batches of domains, the sitemap files found for each domain and the URLs they list.

Progress counters live on the rows and move with F() expressions, so a progress page
reads a handful of integers instead of counting millions of URL rows.
"""

import hashlib
import secrets

from django.conf import settings
from django.db import models, transaction
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


class DomainStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


DOMAIN_FINAL = (DomainStatus.DONE, DomainStatus.FAILED, DomainStatus.CANCELLED)


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

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "batches"
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self):
        return self.name or f"Batch {self.pk}"

    def get_absolute_url(self):
        return reverse("batch_detail", args=[self.pk])

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
        cls.objects.filter(pk=pk, status=BatchStatus.PENDING).update(
            status=BatchStatus.RUNNING, started_at=timezone.now()
        )

    @classmethod
    def finish_if_complete(cls, pk):
        """Give the batch its final status once every domain has ended; safe to call repeatedly."""
        with transaction.atomic():
            batch = cls.objects.select_for_update().get(pk=pk)
            if batch.domains_finished < batch.domains_total:
                return batch
            if batch.is_finished and batch.finished_at:
                return batch
            batch.status = batch.final_status()
            batch.finished_at = timezone.now()
            batch.started_at = batch.started_at or batch.finished_at
            batch.save(update_fields=["status", "finished_at", "started_at"])
            return batch


class Domain(models.Model):
    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="domains")
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

    class Meta:
        ordering = ["batch", "position"]
        constraints = [models.UniqueConstraint(fields=["batch", "host"], name="domain_unique_host_per_batch")]
        indexes = [
            models.Index(fields=["batch", "status"]),
            models.Index(fields=["status", "heartbeat_at"]),
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

    class Meta:
        ordering = ["domain", "id"]

    def __str__(self):
        return self.url


class Url(models.Model):
    # No separate index on domain: the unique (domain, loc) and the (domain, id) indexes lead with it.
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="urls", db_index=False)
    sitemap = models.ForeignKey(SitemapFile, null=True, on_delete=models.SET_NULL, related_name="urls")
    loc = models.CharField(max_length=2048)
    lastmod = models.DateTimeField(null=True, blank=True)
    changefreq = models.CharField(max_length=8, blank=True)
    priority = models.FloatField(null=True, blank=True)
    extras = models.JSONField(null=True, blank=True, help_text="Images, videos, news and alternates.")

    class Meta:
        ordering = ["domain", "id"]
        verbose_name = "URL"
        constraints = [models.UniqueConstraint(fields=["domain", "loc"], name="url_unique_loc_per_domain")]
        indexes = [models.Index(fields=["domain", "id"]), models.Index(fields=["domain", "lastmod"])]

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
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return self.host
