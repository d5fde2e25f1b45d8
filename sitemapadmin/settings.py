"""Settings, all driven by environment variables whose defaults run on SQLite with no set-up."""

import os
from pathlib import Path

import dj_database_url

from sitemapadmin import secret_key

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name, default):
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def env_float(name, default):
    value = os.environ.get(name, "")
    return float(value) if value.strip() else default


DEBUG = env_bool("DEBUG", False)
# Production sets SECRET_KEY; `make run`/`make demo` keep a random one in SECRET_KEY_FILE; web and
# qcluster refuse the development fallback unless DEBUG=1 (sitemapadmin/secret_key.py).
SECRET_KEY_FILE = os.environ.get("SECRET_KEY_FILE") or str(BASE_DIR / ".secret_key")
SECRET_KEY, SECRET_KEY_SOURCE = secret_key.load(os.environ, SECRET_KEY_FILE)
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles and django_q: their `runserver` and `qcluster` commands are ours
    # (batches/management/commands/).
    "batches",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_q",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "sitemapadmin.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# --- HTTPS deployments --------------------------------------------------------
# HTTPS=1 behind TLS turns on secure cookies, the redirect to https and HSTS; each can be set
# on its own. Behind a proxy that terminates TLS, SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto
# says which request header carries "https". With these set, `manage.py check --deploy` is clean.
HTTPS = env_bool("HTTPS", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HTTPS)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", HTTPS)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", HTTPS)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if os.environ.get("SECURE_PROXY_SSL_HEADER"):
    _header = os.environ["SECURE_PROXY_SSL_HEADER"].strip()
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _header.upper().replace("-", "_"), "https")
# Our pages load scripts, styles and images from our own origin only (sitemapadmin/middleware.py).
CONTENT_SECURITY_POLICY = os.environ.get("CONTENT_SECURITY_POLICY") or (
    "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'self'"
)

ROOT_URLCONF = "sitemapadmin.urls"
WSGI_APPLICATION = "sitemapadmin.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("CONN_MAX_AGE", 60))}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the qcluster workers share one file: WAL lets readers run beside
    # the writer, IMMEDIATE takes the write lock at BEGIN (no deadlock-prone lock upgrade),
    # and the busy timeout makes a writer wait instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": (
            # 16 KiB pages (before WAL: set on a new file only): shallower URL indexes, fewer
            # pages written per chunk (bench/store_schema.py)
            "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
            # An 8 MB page cache and checkpoints every 40 MB of WAL. Random URL keys touch the
            # whole unique index on every chunk, so no cache that fits a worker's memory holds a
            # big domain's index: 8, 16, 32 and 64 MB stored 1,000,000 rows for 14.0, 11.9, 11.6
            # and 12.3 CPU s (bench/store_schema.py --group settings), but with the parse-ahead
            # helper parsing while SQLite writes, the whole 1,000,000-URL domain took 15.5 s with
            # 8 MB, 15.3 s with 12 MB and 15.0 s with 16 MB, for a peak of 138, 148 and 157 MB
            # (bench/engine_vs_usp.py, medians of 3): the OS page cache serves the rest.
            "PRAGMA cache_size=-8000; PRAGMA wal_autocheckpoint=2500;"
        ),
    }
    # A real qcluster process started by a test must see the test database, so it is a file
    # (one per test run, so that two runs on one machine never share it).
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / f"test_db_{os.getpid()}.sqlite3")}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
# No OPTIONS["pool"] on PostgreSQL: django-q2 forks workers, and a pool shared across a fork breaks.

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# A shared cache, so the admin sees the cluster's status written by other processes.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "sitemapadmin_cache",
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "batch_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = True  # serve straight from static/ without collectstatic in `make run`

# What one web or API request may send: a pasted list or a JSON body up to SITEMAPS_WEB_MAX_BYTES,
# an uploaded file up to 10 MB (batches/uploads.py stops reading it past that).
SITEMAPS_WEB_MAX_BYTES = env_int("SITEMAPS_WEB_MAX_BYTES", 10 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = SITEMAPS_WEB_MAX_BYTES + 64 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    "loggers": {"batches": {"level": os.environ.get("LOG_LEVEL", "INFO")}},
}

# --- Task queue -------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
SITEMAPS_TASK_TIMEOUT = env_int("SITEMAPS_TASK_TIMEOUT", 1800)
Q_CLUSTER = {
    "name": os.environ.get("Q_CLUSTER_NAME", "sitemapadmin"),
    "workers": env_int("SITEMAPS_WORKERS", 4),
    # A domain is processed by one call; the timeout bounds it, and retry must stay well above it,
    # or the broker would hand the same domain to a second worker while the first still runs.
    "timeout": SITEMAPS_TASK_TIMEOUT,
    "retry": SITEMAPS_TASK_TIMEOUT * 2 + 60,
    "max_attempts": 3,
    # A task hands its domains to the worker's crawler and returns: recycling a worker process
    # would interrupt the domains it has in flight, so it is rare (memory is bounded anyway).
    "recycle": env_int("Q_RECYCLE", 100_000),
    "save_limit": env_int("Q_SAVE_LIMIT", 500),
    # Few tasks prefetched per cluster: a killed cluster strands only these (the reaper feeds
    # their domains again), and the batch feeder's window stays ahead of every worker.
    "queue_limit": env_int("SITEMAPS_WORKERS", 4) * 2,
    "ack_failures": True,
    "catch_up": False,
    "poll": 0.5,
    "label": "Task queue",
    "sync": env_bool("Q_SYNC", False),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    # Explicit: without a broker key django-q2 silently falls back to Redis on localhost.
    Q_CLUSTER["orm"] = "default"

# --- Sitemap engine knobs ---------------------------------------------------
SITEMAPS_USER_AGENT = os.environ.get(
    "SITEMAPS_USER_AGENT", "SitemapBatchAdmin/1.0 (+https://github.com/sitemap-batch-admin)"
)
SITEMAPS_ALLOW_PRIVATE_HOSTS = env_bool("SITEMAPS_ALLOW_PRIVATE_HOSTS", False)
SITEMAPS_CONNECT_TIMEOUT = env_float("SITEMAPS_CONNECT_TIMEOUT", 10.0)
SITEMAPS_READ_TIMEOUT = env_float("SITEMAPS_READ_TIMEOUT", 30.0)
SITEMAPS_REQUEST_DEADLINE = env_float("SITEMAPS_REQUEST_DEADLINE", 120.0)
SITEMAPS_DOMAIN_DEADLINE = env_float("SITEMAPS_DOMAIN_DEADLINE", 1200.0)
SITEMAPS_MAX_SITEMAP_BYTES = env_int("SITEMAPS_MAX_SITEMAP_BYTES", 200 * 1024 * 1024)
SITEMAPS_MAX_ROBOTS_BYTES = env_int("SITEMAPS_MAX_ROBOTS_BYTES", 1024 * 1024)
SITEMAPS_MAX_DEPTH = env_int("SITEMAPS_MAX_DEPTH", 5)
SITEMAPS_MAX_SITEMAPS = env_int("SITEMAPS_MAX_SITEMAPS", 5000)
SITEMAPS_MAX_URLS = env_int("SITEMAPS_MAX_URLS", 10_000_000)
SITEMAPS_MAX_REDIRECTS = env_int("SITEMAPS_MAX_REDIRECTS", 10)
SITEMAPS_CONCURRENCY = env_int("SITEMAPS_CONCURRENCY", 4)
SITEMAPS_RETRIES = env_int("SITEMAPS_RETRIES", 2)
SITEMAPS_WEB_MAX_DOMAINS = env_int("SITEMAPS_WEB_MAX_DOMAINS", 10_000)
# Lines (or API list entries) one web request reads at most, valid or not: bounded work per post.
SITEMAPS_WEB_MAX_LINES = env_int("SITEMAPS_WEB_MAX_LINES", 100_000)
SITEMAPS_RETRY_BACKOFF = env_float("SITEMAPS_RETRY_BACKOFF", 1.0)
SITEMAPS_MAX_RETRY_AFTER = env_float("SITEMAPS_MAX_RETRY_AFTER", 30.0)
SITEMAPS_MAX_HOME_PAGE_BYTES = env_int("SITEMAPS_MAX_HOME_PAGE_BYTES", 512 * 1024)
SITEMAPS_CHUNK_SIZE = env_int("SITEMAPS_CHUNK_SIZE", 10_000)
SITEMAPS_PROBE_WELL_KNOWN = env_bool("SITEMAPS_PROBE_WELL_KNOWN", True)
# Re-runs: an index child whose <lastmod> did not move since the previous run is not downloaded;
# its previous URLs are kept (turn off for sites whose index lastmod cannot be trusted).
SITEMAPS_TRUST_INDEX_LASTMOD = env_bool("SITEMAPS_TRUST_INDEX_LASTMOD", True)
# Non-public addresses an operator trusts (an intranet server), comma-separated.
SITEMAPS_ALLOWED_ADDRESSES = tuple(a.strip() for a in os.environ.get("SITEMAPS_ALLOWED_ADDRESSES", "").split(",") if a.strip())
# Parse on a second thread while the worker stores a chunk (the database's work then runs beside
# the parsing; bench/engine_vs_usp.py). Off by default for now: with dozens of domains in flight
# per worker it lost URL chunks (1,000 small domains: 9,400 of 100,000 URLs stored); the engine
# bug is fixed and tested (tests/test_engine_parse_ahead.py), the many-domain benchmark with it
# on is still to be run before it is turned on again (README).
SITEMAPS_PARSE_AHEAD = env_bool("SITEMAPS_PARSE_AHEAD", True)
# Domains a worker process crawls at once (threads: latency is what they hide), and domains per
# queue message (the queue's own cost is paid per message).
SITEMAPS_DOMAINS_PER_WORKER = env_int("SITEMAPS_DOMAINS_PER_WORKER", 32)
SITEMAPS_DOMAINS_PER_TASK = env_int("SITEMAPS_DOMAINS_PER_TASK", 8)
# Reliability: each worker process stamps all its running domains every SITEMAPS_HEARTBEAT
# seconds; after SITEMAPS_STALE_AFTER seconds without one the reaper queues a domain again (or
# fails it once it has been tried SITEMAPS_MAX_ATTEMPTS times). A starting worker takes back at
# once what dead processes of its machine left running. The admin flags domains stuck for
# SITEMAPS_STUCK_AFTER. A batch whose queued domains seem forgotten by the queue is fed again
# after SITEMAPS_STALE_AFTER when no worker is busy, else after SITEMAPS_REFEED_AFTER.
SITEMAPS_STALE_AFTER = env_int("SITEMAPS_STALE_AFTER", 20)
SITEMAPS_HEARTBEAT = env_float("SITEMAPS_HEARTBEAT", 5.0)
SITEMAPS_STUCK_AFTER = env_int("SITEMAPS_STUCK_AFTER", 1800)
SITEMAPS_REAP_INTERVAL = env_float("SITEMAPS_REAP_INTERVAL", 10.0)
SITEMAPS_REFEED_AFTER = env_int("SITEMAPS_REFEED_AFTER", 300)
# How long a worker keeps retrying its database writes while the database is unreachable.
SITEMAPS_DB_OUTAGE = env_float("SITEMAPS_DB_OUTAGE", 120.0)
# Domains handed to the task queue ahead of the workers, per batch (the rest wait in the table).
SITEMAPS_QUEUE_WINDOW = env_int("SITEMAPS_QUEUE_WINDOW", 500)
# Politeness, per "host:port", across every worker process: at most SITEMAPS_HOST_CONCURRENCY
# requests at once, started at least SITEMAPS_HOST_DELAY seconds apart. 0 turns the gate off.
SITEMAPS_HOST_CONCURRENCY = env_int("SITEMAPS_HOST_CONCURRENCY", 4)
SITEMAPS_HOST_DELAY = env_float("SITEMAPS_HOST_DELAY", 0.05)
# Stored django-q2 failures older than this are pruned by the reaper (successes: Q_SAVE_LIMIT).
Q_FAILURE_DAYS = env_int("Q_FAILURE_DAYS", 7)
# /healthz: a cluster counts as seen if its status was saved this recently.
HEALTH_CLUSTER_SECONDS = env_int("HEALTH_CLUSTER_SECONDS", 60)
SITEMAPS_MAX_ATTEMPTS = env_int("SITEMAPS_MAX_ATTEMPTS", 3)
