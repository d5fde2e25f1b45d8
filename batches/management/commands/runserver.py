"""`runserver` (and so `make run`) with TCP_NODELAY on every connection.

Django's development server writes a response's headers and its body in two send() calls. With
Nagle's algorithm on, a body smaller than a segment then waits for the client to acknowledge the
headers, and clients delay that acknowledgement by up to 40 ms on Linux: every small answer (the
status JSON the batch page polls, a health check) took 40 ms more than it cost. With 50 readers
during an ingest the status JSON's median fell from 47 to a few ms (bench/pages.py --readers).

Listed before django.contrib.staticfiles in INSTALLED_APPS, so this command is the one that runs;
it is staticfiles' own, with another server class.
"""

import socket

from django.contrib.staticfiles.management.commands.runserver import Command as StaticfilesRunserver
from django.core.servers.basehttp import WSGIServer


class NoDelayWSGIServer(WSGIServer):
    def get_request(self):
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address


class Command(StaticfilesRunserver):
    server_cls = NoDelayWSGIServer
