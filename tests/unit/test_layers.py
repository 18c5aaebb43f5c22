"""The layers of the adapter, and what each may import (STYLE.md: "Where a new capability
lives", habit 1).

Every module under adapter/ is read with `ast`: `import x`, `from x import y` (relative ones
resolved, `from package import module` counted as the module), imports inside functions and
under `if TYPE_CHECKING`, and `importlib.import_module("...")` with a literal name. Each rule
below is checked against each of them, and every breach is printed with its file and line.
Two fresh interpreters then check what importing actually loads, which the static reading
cannot see through third-party packages.

The rules, in words:

1. `adapter.core` imports, of the adapter, only `adapter.core`, `adapter.clock` and
   `adapter.errors`; and none of starlette, fastapi, sqlalchemy, alembic, httpx, pydantic,
   uvicorn, saml2. It takes data in and gives data out.
2. `adapter.clock` and `adapter.errors`, which everything may import, import nothing of the
   adapter.
3. The protocol packages (`adapter.oidc`, `adapter.saml`, `adapter.scim`) import none of
   sqlalchemy, alembic, fastapi, starlette, uvicorn, and nothing from `adapter.db`,
   `adapter.web`, `adapter.services`, `adapter.sandbox`, `adapter.cli`, `adapter.demo`, nor
   the admin API's bodies (`adapter.schemas`): they read the core's policies.
4. `adapter.bigcommerce` (the BigCommerce clients) imports nothing from `adapter.db`,
   `adapter.web`, `adapter.services`, `adapter.sandbox`, `adapter.cli`, `adapter.demo`.
5. `adapter.db` imports nothing from `adapter.services`, `adapter.web`, `adapter.cli`,
   `adapter.demo`, nor `adapter.schemas` or pydantic: validation and body handling are the
   configuration service's.
6. `adapter.services` imports nothing from `adapter.web`, `adapter.cli`, `adapter.demo`.
7. `adapter.web` imports nothing from `adapter.db`, nor sqlalchemy or alembic: it talks to
   services.
8. No module imports `adapter.sandbox` (the emulators) but the sandbox's own and
   `adapter.demo`, the `sso-adapter demo` command that runs the product against them (the CLI
   reaches it only inside that command). Tests and bench/ are outside adapter/ and may.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

KERNEL = ("adapter.clock", "adapter.errors")
PROTOCOLS = ("adapter.oidc", "adapter.saml", "adapter.scim")
FRAMEWORKS = ("starlette", "fastapi", "uvicorn")
SQL = ("sqlalchemy", "alembic")
PRODUCT_TOPS = ("adapter.cli", "adapter.demo")
SANDBOX_USERS = ("adapter.sandbox", "adapter.demo")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    path: str
    line: int
    name: str  # the module imported, absolute


@dataclass(frozen=True)
class Rule:
    """Modules under one of `layers` may not import a name under one of `forbidden`; when
    `only` is set, their imports of `adapter` must fall under one of `only`."""

    text: str
    layers: tuple[str, ...]
    forbidden: tuple[str, ...] = ()
    only: tuple[str, ...] | None = None
    exempt: tuple[str, ...] = ()

    def breaks(self, found: Import) -> bool:
        if not _under(found.module, self.layers) or _under(found.module, self.exempt):
            return False
        if _under(found.name, self.forbidden):
            return True
        return (
            self.only is not None
            and _under(found.name, ("adapter",))
            and found.name != "adapter"  # the package root holds only the version
            and not _under(found.name, self.only)
        )


RULES = (
    Rule(
        "the core takes data in and gives data out",
        layers=("adapter.core",),
        forbidden=(*FRAMEWORKS, *SQL, "httpx", "pydantic", "saml2"),
        only=("adapter.core", *KERNEL),
    ),
    Rule("the kernel modules stand alone", layers=KERNEL, only=()),
    Rule(
        "a protocol package does no SQL, knows no framework and reads the core's policies",
        layers=PROTOCOLS,
        forbidden=(
            *FRAMEWORKS,
            *SQL,
            "adapter.db",
            "adapter.web",
            "adapter.services",
            "adapter.sandbox",
            "adapter.schemas",
            *PRODUCT_TOPS,
        ),
    ),
    Rule(
        "the BigCommerce clients sit below the services",
        layers=("adapter.bigcommerce",),
        forbidden=(
            "adapter.db",
            "adapter.web",
            "adapter.services",
            "adapter.sandbox",
            *PRODUCT_TOPS,
        ),
    ),
    Rule(
        "db/ does persistence only",
        layers=("adapter.db",),
        forbidden=("adapter.services", "adapter.web", "adapter.schemas", "pydantic", *PRODUCT_TOPS),
    ),
    Rule(
        "services sit below the web layer",
        layers=("adapter.services",),
        forbidden=("adapter.web", *PRODUCT_TOPS),
    ),
    Rule(
        "web/ talks to services, never to db/",
        layers=("adapter.web",),
        forbidden=("adapter.db", *SQL),
    ),
    Rule(
        "nothing in the product imports the sandbox but the demo command",
        layers=("adapter",),
        forbidden=("adapter.sandbox",),
        exempt=SANDBOX_USERS,
    ),
)


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(root: Path, name: str) -> bool:
    base = root.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_in(path: Path, root: Path) -> Iterator[Import]:
    """Every import in the file at `path`, wherever it stands in the file."""
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            names = [base]
            # `from adapter.db import audit` imports the module adapter.db.audit.
            names += [
                f"{base}.{alias.name}"
                for alias in node.names
                if _is_module(root, f"{base}.{alias.name}")
            ]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (getattr(node.func, "attr", None) or getattr(node.func, "id", None))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        for name in names:
            yield Import(module, str(path.relative_to(root)), node.lineno, name)  # type: ignore[attr-defined]


def violations(root: Path) -> list[str]:
    """One line per broken rule: where, who imports what, and the rule's reason."""
    found = set()
    for path in sorted((root / "adapter").rglob("*.py")):
        for imported in imports_in(path, root):
            for rule in RULES:
                if rule.breaks(imported):
                    found.add((imported.path, imported.line, imported.name, imported, rule.text))
    return [
        f"{path}:{line}: {imported.module} imports {name} ({reason})"
        for path, line, name, imported, reason in sorted(found, key=lambda f: f[:3])
    ]


# -- the adapter itself ---------------------------------------------------------------------


def test_every_module_of_the_adapter_keeps_to_its_layer() -> None:
    found = violations(REPO_ROOT)
    assert not found, "layer rules broken:\n" + "\n".join(found)


def test_the_walk_sees_the_modules_and_imports_it_is_meant_to_judge() -> None:
    # Guards the walk itself: reading nothing would make the test above pass vacuously.
    seen = {
        (i.module, i.name)
        for path in (REPO_ROOT / "adapter").rglob("*.py")
        for i in imports_in(path, REPO_ROOT)
    }
    assert ("adapter.services.configuration", "adapter.db.config") in seen
    assert ("adapter.web.sso", "adapter.services.login") in seen
    assert ("adapter.demo", "adapter.sandbox.bigcommerce") in seen
    # A function-level import, the CLI's lazy one of the demo.
    assert ("adapter.cli", "adapter.demo") in seen


# -- the checker, against planted breaches ---------------------------------------------------


PLANTED = {
    # A function-level import, by name from the package.
    "adapter/core/bad.py": "def f():\n    from adapter.db import models\n",
    # A relative import.
    "adapter/web/bad.py": "from ..db.audit import AuditLog\n",
    # Under TYPE_CHECKING, still an import.
    "adapter/saml/bad.py": (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import sqlalchemy\n"
    ),
    # A protocol package that does not exist yet is judged all the same.
    "adapter/scim/filters.py": "from adapter.services import admin\n",
    "adapter/db/bad.py": "import importlib\nimportlib.import_module('adapter.web.app')\n",
    "adapter/services/bad.py": "from adapter.sandbox.bigcommerce import BigCommerceEmulator\n",
    "adapter/clock.py": "from adapter.core import records\n",
    # Allowed: the demo command may run the sandbox; the core may use itself and the kernel.
    "adapter/demo.py": "from adapter.sandbox import bigcommerce\n",
    "adapter/core/good.py": (
        "from adapter.core.records import StoreRecord\nfrom adapter.errors import NotFound\n"
    ),
}
# Empty modules the planted ones name, so that `from package import module` resolves.
STUBS = (
    "adapter/db/models.py",
    "adapter/db/audit.py",
    "adapter/services/admin.py",
    "adapter/core/records.py",
    "adapter/sandbox/bigcommerce.py",
    "adapter/errors.py",
)


def _plant(root: Path) -> None:
    for name, source in [*((stub, "") for stub in STUBS), *PLANTED.items()]:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        for package in path.relative_to(root).parents:
            if package != Path("."):
                (root / package / "__init__.py").touch()
        path.write_text(textwrap.dedent(source))


def test_the_checker_reports_each_planted_breach_and_nothing_else(tmp_path: Path) -> None:
    _plant(tmp_path)
    found = violations(tmp_path)
    print("\n".join(found))
    expected = [
        "adapter/clock.py:1: adapter.clock imports adapter.core",
        "adapter/clock.py:1: adapter.clock imports adapter.core.records",
        "adapter/core/bad.py:2: adapter.core.bad imports adapter.db",
        "adapter/core/bad.py:2: adapter.core.bad imports adapter.db.models",
        "adapter/db/bad.py:2: adapter.db.bad imports adapter.web.app",
        "adapter/saml/bad.py:3: adapter.saml.bad imports sqlalchemy",
        "adapter/scim/filters.py:1: adapter.scim.filters imports adapter.services",
        "adapter/scim/filters.py:1: adapter.scim.filters imports adapter.services.admin",
        "adapter/services/bad.py:1: adapter.services.bad imports adapter.sandbox.bigcommerce",
        "adapter/web/bad.py:1: adapter.web.bad imports adapter.db.audit",
    ]
    assert [line.partition(" (")[0] for line in found] == expected
    assert all(line.endswith(")") for line in found)  # each names the rule it breaks


# -- what importing actually loads ------------------------------------------------------------


def _loaded_after_importing(modules: list[str], watched: tuple[str, ...]) -> list[str]:
    """Which of `watched` a fresh interpreter holds after importing `modules`: this test
    process has long imported all of them."""
    script = (
        "import importlib, json, pkgutil, sys\n"
        f"for name in {modules!r}:\n"
        "    module = importlib.import_module(name)\n"
        "    for info in pkgutil.walk_packages(getattr(module, '__path__', []), name + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "print(json.dumps(sorted(m for m in sys.modules\n"
        f"    if any(m == w or m.startswith(w + '.') for w in {watched!r}))))\n"
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
    return json.loads(done.stdout)


def test_core_and_id_token_checks_load_no_framework_database_http_client_or_schema_library() -> (
    None
):
    modules = ["adapter.core", "adapter.oidc.id_token", "adapter.oidc.keys"]
    assert _loaded_after_importing(modules, (*FRAMEWORKS, *SQL, "httpx", "pydantic")) == []


def test_protocol_packages_load_no_framework_or_database_library() -> None:
    present = [p for p in PROTOCOLS if _is_module(REPO_ROOT, p)]
    assert {"adapter.oidc", "adapter.saml"} <= set(present)
    assert _loaded_after_importing(present, (*FRAMEWORKS, *SQL)) == []


def test_the_served_application_loads_no_sandbox() -> None:
    assert _loaded_after_importing(["adapter.web.asgi"], ("adapter.sandbox",)) == []
