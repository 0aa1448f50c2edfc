.PHONY: demo test lint serve migrate

demo:  ## install and run the demo (SQLite, ~8,000 synthetic hospitals)
	python3 -m pip install -q -e . && datahealth demo

test:  ## install test dependencies (system and Python) and run the whole suite
	bash scripts/test.sh

lint:
	ruff check src tests benchmarks && mypy src

serve:
	datahealth serve

migrate:
	datahealth db upgrade
