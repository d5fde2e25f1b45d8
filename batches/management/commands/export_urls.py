from batches.management.export_command import ExportCommand


class Command(ExportCommand):
    help = "Write every stored URL of a batch (with its extras) as CSV or JSON Lines, streamed in constant memory."
    what = "urls"
