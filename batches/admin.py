from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from .models import ApiToken, Batch, Domain, HostSlot, SitemapFile, Url


def _changelist_link(model, label, **filters):
    query = "&".join(f"{key}={value}" for key, value in filters.items())
    url = reverse(f"admin:batches_{model}_changelist") + "?" + query
    return format_html('<a href="{}">{}</a>', url, label)


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "owner", "status", "progress_bar", "domains_total", "domains_failed",
                    "sitemaps_count", "urls_count", "created_at", "domains_link")
    list_filter = ("status",)
    search_fields = ("name", "domains__host")
    date_hierarchy = "created_at"
    list_select_related = ("owner",)
    readonly_fields = ("created_at", "started_at", "finished_at", "domains_total", "domains_done",
                       "domains_failed", "domains_cancelled", "sitemaps_count", "urls_count")
    raw_id_fields = ("owner",)

    def get_search_results(self, request, queryset, search_term):
        queryset, _ = super().get_search_results(request, queryset, search_term)
        return queryset.distinct(), False

    @admin.display(description="progress")
    def progress_bar(self, batch):
        return format_html('<progress max="100" value="{}"></progress> {}%', batch.progress, batch.progress)

    @admin.display(description="domains")
    def domains_link(self, batch):
        return _changelist_link("domain", "domains", batch__id__exact=batch.pk)


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):
    list_display = ("host", "batch", "status", "attempts", "sitemaps_count", "urls_count", "error", "heartbeat_at", "links")
    list_filter = ("status",)
    search_fields = ("host", "entry")
    list_select_related = ("batch",)
    raw_id_fields = ("batch",)
    show_full_result_count = False

    @admin.display(description="rows")
    def links(self, domain):
        return format_html("{} · {}",
                           _changelist_link("sitemapfile", "sitemaps", domain__id__exact=domain.pk),
                           _changelist_link("url", "URLs", domain__id__exact=domain.pk))


@admin.register(SitemapFile)
class SitemapFileAdmin(admin.ModelAdmin):
    list_display = ("url", "domain", "kind", "found_by", "http_status", "bytes", "response_ms", "url_count", "error")
    list_filter = ("kind", "found_by")
    search_fields = ("url",)
    list_select_related = ("domain",)
    raw_id_fields = ("domain", "parent")
    show_full_result_count = False


@admin.register(Url)
class UrlAdmin(admin.ModelAdmin):
    list_display = ("loc", "domain", "lastmod", "changefreq", "priority")
    search_fields = ("loc",)
    list_select_related = ("domain",)
    raw_id_fields = ("domain", "sitemap")
    show_full_result_count = False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "name", "user", "created_at", "last_used_at")
    readonly_fields = ("prefix", "digest", "created_at", "last_used_at")


@admin.register(HostSlot)
class HostSlotAdmin(admin.ModelAdmin):
    list_display = ("host", "next_request_at", "in_flight", "updated_at")
