from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("batches", "0004_url_table_for_speed")]

    operations = [
        migrations.AddField(
            model_name="domain",
            name="claimed_by",
            field=models.CharField(
                blank=True, db_default="", max_length=300,
                help_text="The worker process running it: host, pid and start time."),
        ),
        migrations.AlterField(
            model_name="batch",
            name="status",
            field=models.CharField(
                choices=[("pending", "Pending"), ("running", "Running"), ("completed", "Completed"),
                         ("completed_with_errors", "Completed with errors"), ("failed", "Failed"),
                         ("cancelling", "Cancelling…"), ("cancelled", "Cancelled")],
                db_index=True, default="pending", max_length=32),
        ),
    ]
