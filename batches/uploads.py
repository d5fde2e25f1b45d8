"""Reading an uploaded domain list without ever holding or spooling more than its limit.

Django's own handlers keep a small upload in memory and write a big one to a temporary file
in full before any form sees its size: a 1 GB post wrote 1 GB. This handler sits in front of
them and stops passing data on once a file is past MAX_UPLOAD_BYTES; the rest of that file is
read and dropped, and the form says the file was too large.
"""

from django.core.files.uploadhandler import FileUploadHandler, SkipFile

MAX_UPLOAD_BYTES = 10 * 1024 * 1024


class CappedUploadHandler(FileUploadHandler):
    def __init__(self, request=None, limit=MAX_UPLOAD_BYTES):
        super().__init__(request)
        self.limit = limit
        self.received = 0
        self.too_large = []  # field names of the files that were dropped

    def new_file(self, field_name, *args, **kwargs):
        super().new_file(field_name, *args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self.too_large.append(self.field_name)
            raise SkipFile
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handler (memory or temporary file) builds the file
