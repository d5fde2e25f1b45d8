"""The admin, for staff inspecting every user's batches.

Domains, sitemap files and URLs have changelists of their own, reached from a batch with the
filter already set; nothing is an inline, because a batch may hold millions of URL rows.
Big changelists never count a whole table: they order by primary key and count at most
CAPPED_COUNT rows.
"""

from django.conf import settings
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db import transaction
from django.shortcuts import redirect
from django.template.defaultfilters import pluralize
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join

from . import schedules, services
from .logins import ThrottledAdminAuthenticationForm
from .models import ApiToken, Batch, Domain, Finding, FindingCode, HostSlot, SitemapFile, Url

CAPPED_COUNT = 100_000

admin.site.site_header = "Sitemap Batch Admin"
admin.site.site_title = "Sitemap Batch Admin"
admin.site.index_title = "Inspect every user's batches"
admin.site.login_form = ThrottledAdminAuthenticationForm


class CappedCountPaginator(Paginator):
    """Counts at most CAPPED_COUNT + 1 rows (a LIMIT inside the COUNT), so a page of a
    10-million-row table costs what a page of a small one does."""

    @cached_property
    def count(self):
        return self.object_list[: CAPPED_COUNT + 1].count()


class BigTableAdmin(admin.ModelAdmin):
    paginator = CappedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # a count per filter choice is a scan of the table
    ordering = ("-pk",)
    list_per_page = 100
    # Filters set by links from a batch or a domain; they cross a relation, which the admin
    # accepts only for list_filter entries, and a list_filter on them would list every batch.
    preset_lookups = ()

    def lookup_allowed(self, lookup, value, request=None):
        return lookup in self.preset_lookups or super().lookup_allowed(lookup, value, request)

    # Crawl results and internal tables are written by the worker alone: staff read them here.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # rows go with their batch: delete the batch


def _changelist_link(model, label, **filters):
    query = "&".join(f"{key}={value}" for key, value in filters.items())
    url = reverse(f"admin:batches_{model}_changelist") + "?" + query
    return format_html('<a href="{}">{}</a>', url, label)


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "status", "progress_bar", "domains_column", "url_total", "created_at", "rows")
    list_filter = ("status",)
    search_fields = ("name", "domains__host")
    search_help_text = "Search by batch name or by a domain's host."
    date_hierarchy = "created_at"
    list_select_related = ("owner",)
    readonly_fields = ("status", "created_at", "started_at", "finished_at", "domains_total", "domains_done",
                       "domains_failed", "domains_cancelled", "sitemaps_count", "urls_count", "rows")
    history_fields = ("previous", "next_run_at", "urls_added", "urls_removed", "urls_modified", "sitemaps_unchanged")
    fields = ("name", "owner", "repeat", "rows") + readonly_fields[:-1] + history_fields
    readonly_fields += history_fields
    raw_id_fields = ("owner",)
    readonly_fields = ("owner",) + readonly_fields
    actions = ("retry_failed_domains", "cancel_batches", "rerun_batches")

    class Media:
        css = {"all": ["batches/admin.css"]}

    def add_view(self, request, form_url="", extra_context=None):
        """A batch is made by the service that parses and queues its domains: the New batch page.
        (A batch added here had no domain and stayed Pending forever.)"""
        return redirect("batch_new")

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        return (queryset.distinct() if may_have_duplicates else queryset), False

    # Deleting goes through services.delete_batch, like the batch page's delete button; the
    # admin's own confirmation page would first load every related row, millions of URLs.
    def get_deleted_objects(self, batches, request):
        summary = [f"{batch} ({batch.domains_total:,} domains, {batch.urls_count:,} URLs)" for batch in batches]
        return summary, {"batches": len(summary)}, set(), []

    def delete_model(self, request, batch):
        with transaction.atomic():
            services.delete_batch(batch.pk)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for pk in queryset.values_list("pk", flat=True):
                services.delete_batch(pk)

    @admin.display(description="progress")
    def progress_bar(self, batch):
        return format_html(
            '<span class="sba-progress"><span style="width:{}%"></span></span> {}%', batch.progress, batch.progress)

    @admin.display(description="URLs", ordering="urls_count")
    def url_total(self, batch):
        return f"{batch.urls_count:,}"

    @admin.display(description="done / failed / total")
    def domains_column(self, batch):
        return f"{batch.domains_done:,} / {batch.domains_failed:,} / {batch.domains_total:,}"

    @admin.display(description="rows")
    def rows(self, batch):
        if not batch.pk:
            return "–"
        links = [
            ("domain", "domains", {"batch__id__exact": batch.pk}),
            ("domain", "failed domains", {"batch__id__exact": batch.pk, "status__exact": "failed"}),
            ("sitemapfile", "sitemap files", {"domain__batch__id__exact": batch.pk}),
            ("url", "URLs", {"domain__batch__id__exact": batch.pk}),
        ]
        return format_html_join(" · ", "{}", ((_changelist_link(model, label, **f),) for model, label, f in links))

    @admin.action(description="Retry the failed domains of the selected batches")
    def retry_failed_domains(self, request, queryset):
        with transaction.atomic():
            queued = sum(services.retry_failed(pk) for pk in queryset.values_list("pk", flat=True))
        self.message_user(request, f"{queued} failed domain{pluralize(queued)} queued again.", messages.SUCCESS)

    def save_model(self, request, batch, form, change):
        super().save_model(request, batch, form, change)
        if "repeat" in form.changed_data:  # the django-q2 schedule follows the field (schedules.py)
            with transaction.atomic():
                schedules.set_repeat(batch.pk, batch.repeat)

    @admin.action(description="Run the selected batches again (each as a new batch)")
    def rerun_batches(self, request, queryset):
        created, refused = [], []
        for pk in queryset.values_list("pk", flat=True):
            try:
                with transaction.atomic():
                    created.append(services.rerun_batch(pk).pk)
            except services.CannotRerun as exc:
                refused.append(str(exc))
        if created:
            self.message_user(request, f"New batches: {', '.join(map(str, created))}.", messages.SUCCESS)
        for reason in refused:
            self.message_user(request, reason, messages.WARNING)

    @admin.action(description="Cancel the selected batches")
    def cancel_batches(self, request, queryset):
        with transaction.atomic():
            cancelled = sum(bool(services.cancel_batch(pk)) for pk in queryset.values_list("pk", flat=True))
        self.message_user(request, f"{cancelled} batch{pluralize(cancelled, 'es')} cancelled.", messages.SUCCESS)


class StuckFilter(admin.SimpleListFilter):
    """Domains an operator should look at: no progress for longer than SITEMAPS_STUCK_AFTER."""

    title = "stuck"
    parameter_name = "stuck"

    def lookups(self, request, model_admin):
        return [("yes", f"Stuck for more than {settings.SITEMAPS_STUCK_AFTER // 60} minutes")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset & Domain.objects.stuck()
        return queryset


@admin.register(Domain)
class DomainAdmin(BigTableAdmin):
    list_display = ("host", "batch", "status", "attempts", "sitemap_total", "url_total", "error_code", "short_error",
                    "rows")
    list_filter = ("status", "error_code", StuckFilter)
    search_fields = ("host", "entry")
    list_select_related = ("batch",)
    raw_id_fields = ("batch",)
    readonly_fields = ("rows",)
    preset_lookups = ("batch__id__exact",)

    @admin.display(description="sitemaps", ordering="sitemaps_count")
    def sitemap_total(self, domain):
        return f"{domain.sitemaps_count:,}"

    @admin.display(description="URLs", ordering="urls_count")
    def url_total(self, domain):
        return f"{domain.urls_count:,}"

    @admin.display(description="error")
    def short_error(self, domain):
        return domain.error[:120]

    @admin.display(description="rows")
    def rows(self, domain):
        if not domain.pk:
            return "–"
        return format_html("{} · {}",
                           _changelist_link("sitemapfile", "sitemap files", domain__id__exact=domain.pk),
                           _changelist_link("url", "URLs", domain__id__exact=domain.pk))


class HttpStatusFilter(admin.SimpleListFilter):
    """By class of HTTP status: fixed choices, so the filter never scans for distinct values."""

    title = "HTTP status"
    parameter_name = "http"
    CLASSES = {"2xx": (200, 299), "3xx": (300, 399), "4xx": (400, 499), "5xx": (500, 599)}

    def lookups(self, request, model_admin):
        return [(key, key) for key in self.CLASSES] + [("none", "No answer")]

    def queryset(self, request, queryset):
        if self.value() == "none":
            return queryset.filter(http_status__isnull=True)
        if self.value() in self.CLASSES:
            return queryset.filter(http_status__range=self.CLASSES[self.value()])
        return queryset


class FindingFilter(admin.SimpleListFilter):
    """Sitemap files with at least one finding of a code."""

    title = "finding"
    parameter_name = "finding"

    def lookups(self, request, model_admin):
        return FindingCode.choices

    def queryset(self, request, queryset):
        if self.value() in FindingCode.values:
            return queryset.filter(pk__in=Finding.objects.filter(code=self.value()).values("sitemap_id"))
        return queryset


@admin.register(SitemapFile)
class SitemapFileAdmin(BigTableAdmin):
    list_display = ("url", "domain", "kind", "found_by", "http_status", "bytes", "response_ms", "url_count", "error")
    list_filter = ("kind", "found_by", HttpStatusFilter, FindingFilter)
    search_fields = ("url",)
    list_select_related = ("domain",)
    raw_id_fields = ("domain", "parent")
    preset_lookups = ("domain__id__exact", "domain__batch__id__exact")

    def view_on_site(self, sitemap):
        return reverse("domain_detail", args=[sitemap.domain.batch_id, sitemap.domain_id])


@admin.register(Finding)
class FindingAdmin(BigTableAdmin):
    list_display = ("code", "domain", "sitemap", "count", "detail")
    list_filter = ("code",)
    list_select_related = ("domain", "sitemap")
    raw_id_fields = ("batch", "domain", "sitemap")
    preset_lookups = ("batch__id__exact", "domain__id__exact")


@admin.register(Url)
class UrlAdmin(BigTableAdmin):
    list_display = ("loc", "domain", "lastmod", "changefreq", "priority")
    search_fields = ("loc",)
    search_help_text = "URL contains (open the URLs of one domain first on big batches)."
    list_select_related = ("domain",)
    raw_id_fields = ("domain", "sitemap")
    preset_lookups = ("domain__id__exact", "domain__batch__id__exact", "sitemap__id__exact")

    def view_on_site(self, url):
        return reverse("domain_detail", args=[url.domain.batch_id, url.domain_id])


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Creating a token shows its key once; deleting a token revokes it."""

    list_display = ("prefix", "name", "user", "created_at", "last_used_at")
    search_fields = ("name", "prefix", "user__username")
    list_select_related = ("user",)
    raw_id_fields = ("user",)

    def get_fields(self, request, token=None):
        return ("user", "name") if token is None else ("user", "name", "prefix", "created_at", "last_used_at")

    def get_readonly_fields(self, request, token=None):
        return () if token is None else ("user", "prefix", "created_at", "last_used_at")

    def save_model(self, request, token, form, change):
        if change:
            return super().save_model(request, token, form, change)
        issued, raw_key = ApiToken.issue(token.user, token.name)
        token.pk, token.prefix, token.digest = issued.pk, issued.prefix, issued.digest
        request.api_token_key = raw_key

    def response_add(self, request, token, post_url_continue=None):
        return TemplateResponse(request, "admin/batches/apitoken/issued.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "token": token,
            "raw_key": request.api_token_key, "title": "API token created",
        })


@admin.register(HostSlot)
class HostSlotAdmin(admin.ModelAdmin):
    """The politeness gate's bookkeeping: shown for diagnosis, never edited by hand."""

    list_display = ("host", "next_request_at", "in_flight", "updated_at")
    search_fields = ("host",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
