"""Where a profiled process spent its time: a summary of a py-spy "raw" (collapsed) profile.

    .venv/bin/python bench/profile_summary.py PROFILE.txt [--top N]

Prints the share of samples by the library a sample's innermost frame is in ("self"), and by
the adapter's own functions anywhere on the stack ("inclusive"), so a step of a login
(keeping state, the token request, resolution, landing) can be read off directly.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^()]*):\d+\)$")
LIBRARIES = (
    "sqlalchemy",
    "asyncpg",
    "psycopg",
    "aiosqlite",
    "sqlite3",
    "uvicorn",
    "uvloop",
    "httptools",
    "starlette",
    "fastapi",
    "pydantic",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "authlib",
    "joserfc",
    "jwt",
    "cryptography",
    "saml2",
    "xmlsec",
    "lxml",
    "structlog",
    "prometheus_client",
    "asyncio",
    "concurrent",
    "json",
    "logging",
    "ssl",
    "urllib",
)


def own_module(path: str) -> str | None:
    """The adapter's module a frame is in (py-spy names it relative, or by its full path)."""
    if path.startswith("adapter/"):
        return path[len("adapter/") :]
    if "/adapter/" in path and "site-packages" not in path:
        return path.rsplit("/adapter/", 1)[1]
    return None


def library(path: str) -> str:
    if own_module(path) is not None:
        return "adapter (own code)"
    parts = re.split(r"[/\\]", path)
    for name in LIBRARIES:
        if name in parts or f"{name}.py" in parts:
            return name
    return "other: " + (parts[-1] or path)


def summarise(raw: str, top: int) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [FRAME.match(f) for f in stack.split(";")]
        innermost = frames[-1]
        own[library(innermost.group("path")) if innermost else "other"] += samples
        seen: set[str] = set()
        for frame in frames:
            module = own_module(frame.group("path")) if frame else None
            if frame and module is not None:
                name = f"{module}:{frame.group('function')}"
                if name not in seen:
                    seen.add(name)
                    inclusive[name] += samples
    if not total:
        return "no samples\n"
    lines = [f"{total} samples", "", "self time by library:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines += ["", "inclusive time of the adapter's functions:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    print(summarise(args.profile.read_text(), args.top), end="")


if __name__ == "__main__":
    main()
