# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run demo test setup migrate clean

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
