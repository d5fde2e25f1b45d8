from django.apps import AppConfig


class BatchesConfig(AppConfig):
    name = "batches"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django_q.signals import post_spawn

        from .reaper import worker_started

        # Every qcluster worker, as it starts, resumes what dead workers of its machine left
        # running and checks that the reaper is scheduled.
        post_spawn.connect(worker_started, dispatch_uid="batches.worker_started")
