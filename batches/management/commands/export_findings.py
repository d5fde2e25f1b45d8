from batches.management.export_command import ExportCommand


class Command(ExportCommand):
    help = "Write one row per sitemap audit finding of a batch as CSV or JSON Lines."
    what = "findings"
