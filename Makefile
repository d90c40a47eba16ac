# Breachline: `make run` to try it, `make test` to check it. See README.md.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: run test bench lint clean worker beat

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when requirements.txt changes.
$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

run: $(VENV)/.installed
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo ""
	@echo "Demo users (development only), password 'breachline-demo':"
	@echo "  admin (administrator), lead (incident lead), responder, exec (executive), vendor (vendor collaborator), counsel (responder with the counsel permission)"
	@echo "Open http://127.0.0.1:$(PORT)/ — API docs at http://127.0.0.1:$(PORT)/api/v1/docs/"
	@echo "admin, lead and vendor sign in with a second factor: the code is printed by"
	@echo "  $(BIN)/python manage.py demo_totp lead   (or admin, vendor)"
	@echo "Escalations: run_sweeper pages due steps every 15 s beside the server (no broker needed)."
	@echo ""
	$(BIN)/python manage.py run_sweeper & sweeper=$$!; \
	trap 'kill $$sweeper 2>/dev/null' EXIT INT TERM; \
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

# Real Celery processes against CELERY_BROKER_URL (Redis): deliveries and beat's sweep.
worker: $(VENV)/.installed
	$(BIN)/celery -A config worker --loglevel=info

beat: $(VENV)/.installed
	$(BIN)/celery -A config beat --loglevel=info

# Style, then security: bandit over the app code (skips explained in pyproject.toml), then the
# dependencies' known vulnerabilities (offline, that is reported and does not fail the run).
lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/bandit -c pyproject.toml -r accounts config incidents intake notifications timeline -q
	$(BIN)/python -m config.audit_dependencies requirements.txt

test: lint
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python -m pytest

# Wipes and reseeds the bench databases (their names must contain "bench"); see benchmarks/README.md.
# The first bench to need the 100k data set generates it (benchmarks/generate.py); the others reuse it.
# Each bench runs even if an earlier one missed a target; make fails if any did. The summary
# (benchmarks/results/SUMMARY.md) is written in any case.
BENCHES = incidents dashboard load evidence timeline intake escalation
bench: $(VENV)/.installed
	@status=0; \
	for bench in $(BENCHES); do \
		echo "== benchmarks/$$bench.py"; \
		DATABASE_URL="$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/breachline_bench}" \
			$(BIN)/python benchmarks/$$bench.py || status=1; \
	done; \
	$(BIN)/python benchmarks/summary.py > /dev/null; \
	echo "== benchmarks/results/SUMMARY.md written; exit status $$status"; \
	exit $$status

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .ruff_cache
