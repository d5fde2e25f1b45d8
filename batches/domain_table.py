"""The batch page's domain table: status tabs with counts, host search, filters by cause, sorting.

Tab counts come from the batch's counter columns; only "running" is counted, on the
(batch, status) index over the few running rows, and "queued" is what remains. A search or a
filter by error code or finding is a COUNT of its own (bounded by the batch's domains).
"""

from dataclasses import dataclass

from django.core.paginator import Paginator

from .findings import domains_with_finding
from .models import DomainErrorCode, DomainStatus, FindingCode
from .paging import CountedPaginator

DOMAINS_PER_PAGE = 100
TABS = {  # ?show= value: (label, status)
    "failed": ("Failed", DomainStatus.FAILED),
    "running": ("Running", DomainStatus.RUNNING),
    "queued": ("Queued", DomainStatus.QUEUED),
    "done": ("Done", DomainStatus.DONE),
    "cancelled": ("Cancelled", DomainStatus.CANCELLED),
}
SORTS = {  # ?sort= value: (label, ordering)
    "": ("Input order", ("position",)),
    "host": ("Host", ("host",)),
    "urls": ("Most URLs", ("-urls_count", "position")),
    "sitemaps": ("Most sitemaps", ("-sitemaps_count", "position")),
    "findings": ("Most findings", ("-findings_count", "position")),
}


@dataclass
class DomainTable:
    show: str  # a TABS key or ""
    q: str
    sort: str
    error: str  # a DomainErrorCode value or ""
    finding: str  # a FindingCode value or ""

    @classmethod
    def from_request(cls, params):
        def pick(name, allowed):
            value = params.get(name, "")
            return value if value in allowed else ""

        return cls(
            show=pick("show", TABS), q=params.get("q", "").strip()[:100], sort=pick("sort", SORTS),
            error=pick("error", DomainErrorCode.values), finding=pick("finding", FindingCode.values),
        )

    @property
    def narrowed(self):
        """Whether a search or a cause filter applies (the tab counts then say nothing of the rows)."""
        return bool(self.q or self.error or self.finding)

    def tabs(self, batch, running):
        """[(key, label, count)] with the "All" tab first."""
        counts = tab_counts(batch, running)
        return [("", "All", counts[""])] + [(key, label, counts[key]) for key, (label, _) in TABS.items()]

    def paginator(self, batch, running):
        domains = domains_with_finding(batch, self.finding) if self.finding else batch.domains.all()
        if self.show:
            domains = domains.filter(status=TABS[self.show][1])
        if self.error:
            domains = domains.filter(error_code=self.error)
        if self.q:
            domains = domains.filter(host__icontains=self.q.lower())
        domains = domains.order_by(*SORTS[self.sort][1])
        if self.narrowed:
            return Paginator(domains, DOMAINS_PER_PAGE)
        # Every tab's total comes from the counters (queued: what is neither finished nor running),
        # so paging a million queued domains counts nothing.
        return CountedPaginator(domains, DOMAINS_PER_PAGE, tab_counts(batch, running)[self.show])


def tab_counts(batch, running):
    return {
        "": batch.domains_total, "failed": batch.domains_failed, "done": batch.domains_done,
        "cancelled": batch.domains_cancelled, "running": running,
        "queued": max(batch.domains_total - batch.domains_finished - running, 0),
    }


def running_count(batch):
    return batch.domains.filter(status=DomainStatus.RUNNING).count() if not batch.is_finished else 0
