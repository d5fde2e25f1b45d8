# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run demo test setup migrate clean bench bench-store bench-pages bench-readers bench-scale bench-import bench-reruns

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

setup: $(VENV)/.installed

migrate: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py createcachetable
	$(PY) manage.py collectstatic --noinput -v0

# The web server and one qcluster worker on SQLite; Ctrl-C stops both.
run: migrate
	$(PY) manage.py ensure_admin
	@echo "Open http://$(HOST):$(PORT)/ (the worker runs beside the web server)"
	$(PY) manage.py runapp $(HOST):$(PORT)

# The same, plus three demo sitemap sites on 127.0.0.1 to paste (no internet needed).
demo: migrate
	$(PY) manage.py ensure_admin
	$(PY) manage.py runapp --demo $(HOST):$(PORT)

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3* test_db.sqlite3* staticfiles

# The engine against ultimate-sitemap-parser (GPL, kept in its own virtualenv .bench/venv and
# never imported by the app) on local sites of 250,000 and 1,000,000 URLs, medians of 3; needs
# PostgreSQL on 127.0.0.1 (BENCH_ARGS="--contenders usp,engine,sqlite" without it).
# See bench/engine_vs_usp.py.
.bench/venv/.installed: requirements-bench.txt
	test -x .bench/venv/bin/python || $(PYTHON) -m venv .bench/venv
	.bench/venv/bin/python -m pip install -q -r requirements-bench.txt
	touch $@

bench: setup .bench/venv/.installed
	$(PY) bench/engine_vs_usp.py --sizes 5,20 --repeat 3 $(BENCH_ARGS)

# What each part of storing URL rows costs, PostgreSQL and SQLite (bench/store_schema.py).
bench-store: setup
	$(PY) bench/store_schema.py --rows 500000 --repeat 3

# Page speed on a batch of 1,000,000 URLs, and the lastmod chart's first view (bench/pages.py).
bench-pages: setup
	$(PY) bench/pages.py --runs 30

# 50 readers on the batch page and its status JSON while a worker ingests 1,000,000 URLs (PostgreSQL).
bench-readers: setup
	$(PY) bench/pages.py --readers --clients 50 --seconds 60

# 1,000 local domains through one and two real qcluster processes, with and without 50 ms latency.
bench-scale: setup
	$(PY) bench/scale.py --domains 1000 --workers 8 --latency 0 0.05

# A 1,000,000-line import_domains on PostgreSQL.
bench-import: setup
	$(PY) bench/import_1m.py

# Re-runs of the 1,000,000-URL site: all 304, index lastmods unmoved, 1% changed (bench/reruns.py).
bench-reruns: setup
	$(PY) bench/reruns.py --files 20
