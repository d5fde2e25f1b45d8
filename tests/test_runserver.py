"""`runserver`, the web server of `make run`: ours, with TCP_NODELAY on every connection."""

import socket
import threading
import urllib.request

from django.core.management import get_commands, load_command_class
from django.core.servers.basehttp import WSGIRequestHandler

from batches.management.commands.runserver import NoDelayWSGIServer


def test_runserver_is_this_apps_command_with_the_no_delay_server():
    assert get_commands()["runserver"] == "batches"
    command = load_command_class("batches", "runserver")
    assert command.server_cls is NoDelayWSGIServer
    assert "--nostatic" in command.create_parser("manage.py", "runserver").format_help()  # staticfiles' own options


def test_every_accepted_connection_sends_without_waiting_for_acknowledgements():
    server = NoDelayWSGIServer(("127.0.0.1", 0), WSGIRequestHandler)
    try:
        with socket.create_connection(server.server_address, timeout=5):
            connection, _ = server.get_request()
            with connection:
                assert connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        server.server_close()


def test_the_no_delay_server_answers_a_request():
    def application(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "11")])
        return [b'{"ok": true']

    server = NoDelayWSGIServer(("127.0.0.1", 0), WSGIRequestHandler)
    server.set_app(application)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_address[1]}/status.json", timeout=5) as answer:
            assert (answer.status, answer.read()) == (200, b'{"ok": true')
    finally:
        thread.join(5)
        server.server_close()
