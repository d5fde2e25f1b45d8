"""URL identity and the store's speed: URL rows unique on (domain, loc_key) instead of the loc
text, and a per-domain lastmod month histogram (LastmodMonth) kept as URLs are written.

Existing rows get their key; two spellings of one page already stored for a domain keep the
first row (counters follow); the histogram is built once from the rows.
"""

from collections import Counter
from datetime import date, timezone

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import F

from batches.sitemaps.identity import url_key

CHUNK = 5000


def key_existing_rows(apps, schema_editor):
    Url = apps.get_model("batches", "Url")
    Domain = apps.get_model("batches", "Domain")
    Batch = apps.get_model("batches", "Batch")
    LastmodMonth = apps.get_model("batches", "LastmodMonth")
    domain_ids = Url.objects.order_by().values_list("domain_id", flat=True).distinct()
    for domain_id in list(domain_ids):
        duplicates, months = _key_domain(Url, domain_id)
        LastmodMonth.objects.bulk_create(
            LastmodMonth(domain_id=domain_id, month=date(year, month, 1), urls=count)
            for (year, month), count in months.items()
        )
        if duplicates:
            Url.objects.filter(pk__in=duplicates).delete()
            domain = Domain.objects.filter(pk=domain_id).first()
            if domain is not None:
                Domain.objects.filter(pk=domain_id).update(urls_count=F("urls_count") - len(duplicates))
                Batch.objects.filter(pk=domain.batch_id).update(urls_count=F("urls_count") - len(duplicates))


def _key_domain(Url, domain_id):
    """Set loc_key on one domain's rows; returns (ids of later spellings, month counts of the rest)."""
    seen, duplicates, months, last_id = set(), [], Counter(), 0
    while True:
        rows = list(Url.objects.filter(domain_id=domain_id, pk__gt=last_id).order_by("pk")
                    .values_list("pk", "loc", "lastmod")[:CHUNK])
        if not rows:
            return duplicates, months
        updates = []
        for pk, loc, lastmod in rows:
            key = url_key(loc)
            if key in seen:
                duplicates.append(pk)
                continue
            seen.add(key)
            updates.append(Url(pk=pk, loc_key=key))
            if lastmod:
                utc = lastmod.astimezone(timezone.utc)
                months[(utc.year, utc.month)] += 1
        Url.objects.bulk_update(updates, ["loc_key"], batch_size=1000)
        last_id = rows[-1][0]


class Migration(migrations.Migration):

    dependencies = [
        ("batches", "0005_worker"),
    ]

    operations = [
        migrations.CreateModel(
            name="LastmodMonth",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("month", models.DateField(help_text="The first day of the month.")),
                ("urls", models.BigIntegerField(default=0)),
                ("domain", models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE,
                                             related_name="lastmod_months", to="batches.domain")),
            ],
            options={
                "ordering": ["domain_id", "month"],
                "constraints": [models.UniqueConstraint(fields=("domain", "month"),
                                                        name="lastmod_month_unique_per_domain")],
            },
        ),
        migrations.RemoveConstraint(
            model_name="url",
            name="url_unique_loc_per_domain",
        ),
        migrations.AddField(
            model_name="url",
            name="loc_key",
            field=models.BigIntegerField(null=True),
        ),
        migrations.RunPython(key_existing_rows, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="url",
            name="loc_key",
            field=models.BigIntegerField(
                help_text="The URL's identity (url_key of its normal form): one row per page."),
        ),
        migrations.AlterField(
            model_name="url",
            name="loc",
            field=models.CharField(help_text="The first spelling of the URL the site used.", max_length=2048),
        ),
        migrations.AddConstraint(
            model_name="url",
            constraint=models.UniqueConstraint(fields=("domain", "loc_key"), name="url_unique_key_per_domain"),
        ),
    ]
