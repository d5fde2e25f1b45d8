from django.apps import AppConfig


class BatchesConfig(AppConfig):
    name = "batches"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django_q.signals import post_spawn

        from .reaper import ensure_schedule

        # Every qcluster worker checks, as it starts, that the reaper is scheduled.
        post_spawn.connect(ensure_schedule, dispatch_uid="batches.ensure_reaper_schedule")
