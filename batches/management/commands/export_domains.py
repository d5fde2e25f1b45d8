from batches.management.export_command import ExportCommand


class Command(ExportCommand):
    help = "Write one row per domain of a batch (status, counts, error code and text) as CSV or JSON Lines."
    what = "domains"
