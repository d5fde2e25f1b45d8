"""django-q2's qcluster, refusing to start on the published development SECRET_KEY.

This app is listed before django_q in INSTALLED_APPS, so `manage.py qcluster` is this command.
"""

from django.conf import settings
from django_q.management.commands.qcluster import Command as QclusterCommand

from sitemapadmin.secret_key import refuse_development_key


class Command(QclusterCommand):
    def handle(self, *args, **options):
        refuse_development_key(settings)
        return super().handle(*args, **options)
