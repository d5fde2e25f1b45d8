"""The reaper runs every minute on whichever cluster picks up the django-q2 schedule."""

from django.db import migrations

NAME = "batches: reap stale domains"  # reaper.SCHEDULE_NAME


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    if not Schedule.objects.filter(name=NAME).exists():
        Schedule.objects.create(
            name=NAME, func="batches.tasks.reap", schedule_type="I", minutes=1, repeats=-1,
        )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("batches", "0002_reliability"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
