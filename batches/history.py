"""Where a domain's URL rows are, now that a re-run may reuse an earlier run's rows.

A sitemap that did not change since the previous run (it answered 304, or its index lastmod did
not move) stores no URL rows of its own: its SitemapFile row points (`reused_from`) at the row
that first stored them, in an earlier batch, and the URLs are read from there. A re-run of a
million unchanged URLs therefore writes a few sitemap rows, not a million URL rows.

A domain's URLs are thus its own rows (domain_id = the domain) plus, per reused sitemap, the
rows of the source sitemap (domain_id = the source's domain, sitemap_id = the source). Its own
rows never repeat a loc of a reused source: `drop_reused_duplicates` removes them at the end.
"""

from collections import defaultdict

from django.db import connection, transaction
from django.db.models import Count, Q

from .models import SitemapFile, Url


def url_sources(domain_id):
    """[(domain_id, sitemap ids or None)]: where the domain's URL rows are; None means all of
    that domain's rows (its own), a list means only those sitemaps' rows of that domain."""
    sources = [(domain_id, None)]
    for source_domain, sitemap_ids in reused_sources(domain_id).items():
        sources.append((source_domain, sorted(sitemap_ids)))
    return sources


def reused_sources(domain_id):
    """{source domain id: {source sitemap id}} for the domain's reused sitemaps."""
    rows = SitemapFile.objects.filter(domain_id=domain_id, reused_from__isnull=False).values_list(
        "reused_from_id", "reused_from__domain_id")
    found = defaultdict(set)
    for sitemap_id, source_domain in rows:
        if source_domain is not None:
            found[source_domain].add(sitemap_id)
    return found


def source_queryset(source):
    domain_id, sitemap_ids = source
    urls = Url.objects.filter(domain_id=domain_id)
    return urls if sitemap_ids is None else urls.filter(sitemap_id__in=sitemap_ids)


def urls_of(domain_id):
    """The domain's URL rows, reused ones included, as one queryset (for pages)."""
    condition = Q()
    for domain, sitemap_ids in url_sources(domain_id):
        condition |= Q(domain_id=domain) if sitemap_ids is None else Q(domain_id=domain, sitemap_id__in=sitemap_ids)
    return Url.objects.filter(condition)


def count_urls(domain_id):
    """How many URLs the domain has, reused ones included. Records each of its own sitemaps'
    row count (SitemapFile.urls_stored) on the way, so the runs that reuse them need not count."""
    own = dict(Url.objects.filter(domain_id=domain_id).values_list("sitemap_id").annotate(n=Count("*")).order_by())
    sitemaps = list(SitemapFile.objects.filter(domain_id=domain_id, reused_from__isnull=True).only("pk"))
    for sitemap in sitemaps:
        sitemap.urls_stored = own.get(sitemap.pk, 0)
    SitemapFile.objects.bulk_update(sitemaps, ["urls_stored"], batch_size=500)
    total = sum(own.values())
    for source_domain, sitemap_ids in reused_sources(domain_id).items():
        stored = dict(SitemapFile.objects.filter(pk__in=sitemap_ids).values_list("pk", "urls_stored"))
        total += sum(count for count in stored.values() if count is not None)
        unknown = [pk for pk, count in stored.items() if count is None]
        if unknown:
            total += Url.objects.filter(domain_id=source_domain, sitemap_id__in=unknown).count()
    return total


def drop_reused_duplicates(domain_id):
    """Delete the domain's own rows whose page (loc_key) a reused sitemap already lists (the
    domain's URLs stay one row per page, as the unique (domain, loc_key) index keeps them
    within a domain)."""
    sources = url_sources(domain_id)[1:]
    if not sources or not Url.objects.filter(domain_id=domain_id).exists():
        return 0
    table = Url._meta.db_table
    reused = " OR ".join(f"(r.domain_id = {int(d)} AND r.sitemap_id IN ({_ints(ids)}))" for d, ids in sources)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT u.id FROM {table} u WHERE u.domain_id = %s AND EXISTS "
            f"(SELECT 1 FROM {table} r WHERE r.loc_key = u.loc_key AND ({reused}))", [domain_id])
        ids = [row[0] for row in cursor.fetchall()]
    for start in range(0, len(ids), 10_000):
        Url.objects.filter(pk__in=ids[start : start + 10_000]).delete()
    return len(ids)


def hand_over_reused(domain_ids):
    """Before the rows of `domain_ids` are deleted, give every sitemap that later runs reuse
    its URL rows: the earliest reusing sitemap becomes their owner, the others point to it."""
    sources = SitemapFile.objects.filter(domain_id__in=domain_ids, reused_by__isnull=False).distinct()
    for source in sources.values("pk", "domain_id", "urls_stored"):
        heirs = SitemapFile.objects.filter(reused_from_id=source["pk"]).exclude(domain_id__in=domain_ids)
        heir = heirs.order_by("pk").values("pk", "domain_id").first()
        if heir is None:
            continue
        # Rows first: while they move, the heir reads them both where they were and, as its
        # own rows, where they arrive.
        rows = Url.objects.filter(domain_id=source["domain_id"], sitemap_id=source["pk"])
        _move_in_chunks(rows, heir["domain_id"], heir["pk"])
        with transaction.atomic():
            heirs.exclude(pk=heir["pk"]).update(reused_from_id=heir["pk"])
            SitemapFile.objects.filter(pk=heir["pk"]).update(reused_from=None, urls_stored=source["urls_stored"])


def _move_in_chunks(urls, domain_id, sitemap_id, size=10_000):
    while ids := list(urls.order_by("pk").values_list("pk", flat=True)[:size]):
        with transaction.atomic():
            Url.objects.filter(pk__in=ids).update(domain_id=domain_id, sitemap_id=sitemap_id)


def _ints(values):
    return ", ".join(str(int(value)) for value in values) or "NULL"

