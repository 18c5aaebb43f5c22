"""The core takes data in and gives data out: it must not pull in a web framework, a database
library or an HTTP client (STYLE.md, habit 1). Checked in a fresh interpreter, since this test
process has long imported all of them."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import adapter.core

FORBIDDEN = ("starlette", "fastapi", "sqlalchemy", "httpx")
EXTRA_MODULES = ("adapter.oidc.id_token", "adapter.oidc.keys")
REPO_ROOT = Path(__file__).resolve().parents[2]


def core_modules() -> list[str]:
    return [
        info.name
        for info in pkgutil.walk_packages(adapter.core.__path__, prefix="adapter.core.")
        if not info.ispkg
    ]


def test_core_package_has_the_modules_this_test_expects() -> None:
    # Guards the walk itself: an empty list would make the next test pass vacuously.
    modules = core_modules()
    assert {"adapter.core.redirects", "adapter.core.secretbox", "adapter.core.login_jwt"} <= set(
        modules
    )


def test_core_and_id_token_checks_import_no_framework_database_or_http_client() -> None:
    modules = ["adapter.core", *core_modules(), *EXTRA_MODULES]
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in {FORBIDDEN!r} if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
