"""django-q2's qcluster, refusing to start on the published development SECRET_KEY.

This app is listed before django_q in INSTALLED_APPS, so `manage.py qcluster` is this command.
It loads the task modules (the engine, the worker) before django-q2 forks its worker
processes: each then starts with them in memory it shares, instead of importing them again on
its first task (about a CPU-second per process), and puts them out of the garbage collector's
sight (heap.py).
"""

from django.conf import settings
from django_q.management.commands.qcluster import Command as QclusterCommand

from batches import tasks  # noqa: F401  (loaded before the fork, see above)
from batches.heap import freeze_loaded
from sitemapadmin.secret_key import refuse_development_key


class Command(QclusterCommand):
    def handle(self, *args, **options):
        refuse_development_key(settings)
        freeze_loaded()  # what is loaded now stays out of every worker's garbage collections
        return super().handle(*args, **options)
