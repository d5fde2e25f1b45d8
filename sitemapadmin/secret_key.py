"""Where SECRET_KEY comes from, and the refusal to serve or run tasks on the published one.

django-q2 signs the pickled task payloads with SECRET_KEY: with the development key anyone who
can write to the broker runs code on the workers. So a deployment sets SECRET_KEY; `make run`
and `make demo` (the runapp command) keep a random key of their own in a local file; the
development key is only a fallback for commands such as `migrate`, and the web server and
qcluster refuse to start on it unless DEBUG=1.
"""

import os
import secrets
from pathlib import Path

from django.conf import settings as live_settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

DEVELOPMENT_KEY = "dev-only-insecure-key-set-SECRET_KEY-in-production"
REFUSAL = (
    "SECRET_KEY is not set and DEBUG is off: refusing to start with the published development key "
    "(django-q2 signs task payloads with it). Set SECRET_KEY to a long random value, e.g. "
    "SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(50))'); "
    "`make run` and `make demo` keep a local one in {path}."
)


def load(environ, key_file):
    """(key, source): SECRET_KEY from the environment, else the local key file, else the
    development key; source is "environment", "file" or "development"."""
    if environ.get("SECRET_KEY"):
        return environ["SECRET_KEY"], "environment"
    try:
        key = Path(key_file).read_text().strip()
    except OSError:
        key = ""
    return (key, "file") if key else (DEVELOPMENT_KEY, "development")


def ensure_local_key(key_file):
    """Create the local key file (owner-only) unless it exists; return the key in it."""
    path = Path(key_file)
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as stream:
            stream.write(secrets.token_urlsafe(50) + "\n")
    return path.read_text().strip()


def refuse_development_key(settings):
    """Raise ImproperlyConfigured when a server process would run on the development key."""
    if settings.SECRET_KEY_SOURCE == "development" and not settings.DEBUG:
        raise ImproperlyConfigured(REFUSAL.format(path=settings.SECRET_KEY_FILE))


@checks.register(checks.Tags.security, deploy=True)
def check_secret_key(app_configs, **kwargs):
    """`check --deploy` names the development key (Django's own check accepts its length)."""
    if live_settings.SECRET_KEY_SOURCE != "development":
        return []
    return [checks.Error(REFUSAL.format(path=live_settings.SECRET_KEY_FILE), id="sitemapadmin.E001")]
