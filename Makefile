# The two commands of the README: `make demo` and `make test`. Both set everything up first.
.PHONY: setup demo test lint

setup:
	@./scripts/bootstrap

demo: setup
	.venv/bin/sso-adapter demo

test: setup
	@./scripts/test

lint: setup
	.venv/bin/ruff check adapter tests migrations bench
	.venv/bin/ruff format --check adapter tests migrations bench
	.venv/bin/mypy
