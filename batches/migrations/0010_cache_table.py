"""The database cache's table (settings.CACHES), created by `migrate` itself.

Login throttling (logins.py) and django-q2's cluster status keep their counters in that cache.
`make run` ran `createcachetable` after `migrate`, but a deployment that only runs `migrate`
(the usual step of a container or a platform) had no table: a wrong password answered 500 and
/healthz reported the cluster as failing. `createcachetable` skips a table that exists.
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("batches", "0009_reruns")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
