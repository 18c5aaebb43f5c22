"""A bounded load test with faults, and the invariants that must hold after it.

Two `sso-adapter serve` replicas on one database take complete logins (OIDC and SAML, first
and returning) for a fixed set of subjects, through a client that does what a load balancer
does: each request goes to a replica that is up, and a connection refused is tried on the
other. Meanwhile the BigCommerce emulator answers a share of Customers API calls with 429
(with reset headers) and another share with 500, and one replica is stopped (SIGTERM, which
lets logins in flight finish) and started again when half the logins are done.

Afterwards it checks, and prints, each invariant:

- every login either landed on the storefront (the emulator accepted its JWT) or was refused
  with a status the interface names and a reference id that an audit event carries;
- no subject has two links, no customer is linked twice on one connection, and every
  customer the adapter created is linked (none made twice, none orphaned);
- no login state is left past its expiry (login states live 60 seconds here, and the run is
  longer than that, so purging is exercised).

    .venv/bin/python bench/load_faults.py [--logins 2000] [--subjects 200] [--database postgresql]

Exits 1 when an invariant is broken.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.logins import Bench, browser_client, free_port  # noqa: E402
from tests.support.saml_idp import request_id_of  # noqa: E402

# The statuses the interface names for a refused login.
CLEAN_STATUSES = {400, 401, 403, 404, 409, 422, 429, 502, 503, 504}
STATE_TTL_SECONDS = 60
DRAIN_SECONDS = 2  # as the Kubernetes manifest's preStop pause
PURGE_INTERVAL_SECONDS = 60  # adapter/services/login.py purges at most once a minute


@dataclass
class Report:
    logins: int = 0
    landed: int = 0
    refused: Counter[int] = field(default_factory=Counter)
    references: list[str] = field(default_factory=list)
    unclean: list[str] = field(default_factory=list)
    restarts: int = 0
    faults_answered: Counter[int] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0


class LoginRefused(Exception):
    def __init__(self, response: httpx.Response):
        super().__init__(response.status_code)
        self.response = response


class Replicas:
    """Two adapters on one database and one public URL; either can be restarted."""

    def __init__(self, bench: Bench, database: str):
        self.bench = bench
        self.database = database
        self.env = {"SSO_ADAPTER_LOGIN_STATE_TTL_SECONDS": str(STATE_TTL_SECONDS)}
        self.ports = [free_port(), free_port()]
        self.public = f"http://127.0.0.1:{self.ports[0]}"
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        self.down: set[int] = set()
        self._turn = random.Random(0)  # noqa: S311 (spreading load, not a secret)
        self.processes[self.ports[0]], _ = bench.start_adapter(
            database, 1, port=self.ports[0], env=self.env
        )
        self.url = bench.database_url
        self._start(self.ports[1])

    def _start(self, port: int) -> None:
        self.processes[port], _ = self.bench.start_adapter(
            self.database, 1, url=self.url, port=port, public=self.public, env=self.env
        )

    def bases(self) -> list[str]:
        up = [p for p in self.ports if p not in self.down]
        if len(up) == 2 and self._turn.random() < 0.5:
            up.reverse()
        return [f"http://127.0.0.1:{p}" for p in up]

    def restart(self, port: int) -> None:
        """What a rolling restart does: take the replica out of the balancer, give requests
        already sent to it a moment to arrive, then SIGTERM (logins in flight finish)."""
        self.down.add(port)
        time.sleep(DRAIN_SECONDS)
        process = self.processes[port]
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        self._start(port)
        self.down.discard(port)

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
            process.wait(timeout=30)


class Balancer:
    """The load balancer's part: a request to the public URL goes to a replica that is up."""

    def __init__(self, replicas: Replicas):
        self.replicas = replicas

    async def send(
        self, browser: httpx.AsyncClient, method: str, url: str, **kwargs: object
    ) -> httpx.Response:
        path = url.removeprefix(self.replicas.public)
        last: Exception | None = None
        for _attempt in range(3):
            for base in self.replicas.bases():
                try:
                    return await browser.request(method, base + path, **kwargs)  # type: ignore[arg-type]
                except httpx.ConnectError as exc:  # nothing was sent: safe to try elsewhere
                    last = exc
            await asyncio.sleep(0.5)
        raise last or RuntimeError("no replica up")


class LoadTest:
    def __init__(
        self, bench: Bench, replicas: Replicas, subjects: int, saml_share: float, seed: int
    ):
        self.bench = bench
        self.replicas = replicas
        self.balancer = Balancer(replicas)
        # Each subject signs in through one connection: SAML for a share of them, OIDC for
        # the rest (one e-mail on two connections would be refused as in use, rightly).
        saml_subjects = round(subjects * saml_share)
        self.subjects = [
            (f"load-{'saml' if i < saml_subjects else 'oidc'}-{i:04d}", i < saml_subjects)
            for i in range(subjects)
        ]
        for subject, _saml in self.subjects:
            bench.op.add_user(subject, "pw", email=f"{subject}@example.com", email_verified=True)
        self.pick = random.Random(seed)  # noqa: S311 (the load's shape, not a secret)
        self.report = Report()

    async def adapter(self, browser: httpx.AsyncClient, method: str, url: str, **kw: object):  # type: ignore[no-untyped-def]
        # A new connection per request, as a proxy may open to its upstreams: a replica that
        # is stopping then has no idle keep-alive connection to close under a request.
        headers = {"Accept": "application/json", "Connection": "close"}
        response = await self.balancer.send(browser, method, url, headers=headers, **kw)
        if response.status_code >= 400:
            raise LoginRefused(response)
        return response

    async def land(self, browser: httpx.AsyncClient, done: httpx.Response) -> None:
        location = done.headers.get("location", "")
        if done.status_code != 302 or "/login/token/" not in location:
            raise AssertionError(f"adapter answered {done.status_code} {location[:80]}")
        storefront = await browser.get(location)
        if storefront.status_code != 302 or "login.php" in storefront.headers.get("location", ""):
            raise AssertionError(f"storefront refused the JWT: {storefront.headers}")

    async def oidc(self, browser: httpx.AsyncClient, subject: str) -> None:
        public = self.replicas.public
        start = await self.adapter(
            browser, "GET", f"{public}/sso/bench/oidc/login", params={"login_hint": subject}
        )
        at_op = await browser.get(start.headers["location"])
        done = await self.adapter(browser, "GET", at_op.headers["location"])
        await self.land(browser, done)

    async def saml(self, browser: httpx.AsyncClient, subject: str) -> None:
        public = self.replicas.public
        start = await self.adapter(browser, "GET", f"{public}/sso/bench/saml/login")
        location = start.headers["location"]
        relay = parse_qs(urlsplit(location).query)["RelayState"][0]
        xml = await asyncio.get_running_loop().run_in_executor(
            self.bench.signers, self.bench.sign, request_id_of(location), public, subject
        )
        posted = await self.adapter(
            browser,
            "POST",
            f"{public}/sso/bench/saml/saml/acs",
            data={"SAMLResponse": base64.b64encode(xml.encode()).decode(), "RelayState": relay},
        )
        done = await self.adapter(browser, "GET", posted.headers["location"])
        await self.land(browser, done)

    async def one(self, number: int) -> None:
        subject, saml = self.pick.choice(self.subjects)
        login = self.saml if saml else self.oidc
        self.report.logins += 1
        async with browser_client() as browser:
            try:
                await login(browser, subject)
                self.report.landed += 1
            except LoginRefused as refused:
                self._refused(refused.response)
            except Exception as exc:  # anything else is not a clean answer
                self.report.unclean.append(f"login {number}: {type(exc).__name__}: {exc}"[:300])

    def _refused(self, response: httpx.Response) -> None:
        status = response.status_code
        try:
            reference = response.json()["reference"]
        except (ValueError, KeyError):
            self.report.unclean.append(f"{status} without a reference: {response.text[:200]}")
            return
        if status not in CLEAN_STATUSES:
            self.report.unclean.append(f"status {status} (reference {reference})")
        self.report.refused[status] += 1
        self.report.references.append(reference)

    async def run(self, logins: int, concurrency: int, *, restart_midway: bool = False) -> None:
        semaphore = asyncio.Semaphore(concurrency)
        finished = 0
        restart: asyncio.Future[None] | None = None

        async def bounded(number: int) -> None:
            nonlocal finished, restart
            async with semaphore:
                await self.one(number)
            finished += 1
            if restart_midway and finished == logins // 2:
                # Midway: stop one replica gracefully and bring it back, under load.
                port = self.replicas.ports[1]
                restart = asyncio.ensure_future(asyncio.to_thread(self.replicas.restart, port))

        started = time.monotonic()
        await asyncio.gather(*(bounded(n) for n in range(logins)))
        if restart is not None:
            await restart
            self.report.restarts += 1
        self.report.seconds += time.monotonic() - started


def check_invariants(test: LoadTest, database_url: str) -> None:
    report = test.report
    shop = test.bench.shop
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as db:
        failure_references = set(
            db.scalars(
                sa.text("SELECT reference FROM audit_events WHERE outcome = 'failure'")
            ).all()
        )
        successes = db.scalar(
            sa.text(
                "SELECT count(*) FROM audit_events WHERE kind = 'login' AND outcome = 'success'"
            )
        )
        twice = db.execute(
            sa.text(
                "SELECT connection_id, subject, count(*) FROM links "
                "GROUP BY connection_id, subject HAVING count(*) > 1"
            )
        ).all()
        shared = db.execute(
            sa.text(
                "SELECT connection_id, customer_id, count(*) FROM links "
                "GROUP BY connection_id, customer_id HAVING count(*) > 1"
            )
        ).all()
        linked_customers = set(db.scalars(sa.text("SELECT customer_id FROM links")).all())
        states = db.execute(sa.text("SELECT expires_at FROM login_states")).scalars().all()
    engine.dispose()

    missing = [r for r in report.references if r not in failure_references]
    if missing:
        report.violations.append(f"{len(missing)} refusals without an audit event: {missing[:5]}")
    if successes != report.landed:
        report.violations.append(f"{report.landed} logins landed, {successes} success events")
    if report.unclean:
        report.violations.append(f"{len(report.unclean)} logins not answered cleanly")
    if twice:
        report.violations.append(f"subjects with two links: {twice[:5]}")
    if shared:
        report.violations.append(f"customers linked twice on one connection: {shared[:5]}")
    store = next(iter(shop.stores.values()))
    emails = Counter(c["email"] for c in store.customers.values())
    doubled = [e for e, n in emails.items() if n > 1]
    if doubled:
        report.violations.append(f"customers created twice: {doubled[:5]}")
    orphans = [c for c in store.customers if c not in linked_customers]
    if orphans:
        report.violations.append(f"{len(orphans)} customers created but never linked")
    now = time.time()
    stale = [s for s in states if _epoch(s) < now - PURGE_INTERVAL_SECONDS]
    if stale:
        report.violations.append(f"{len(stale)} login states left past their expiry")
    report.faults_answered = Counter(
        status for _m, _p, status in shop.api_calls if status in (429, 500)
    )


def _epoch(value: datetime | str) -> float:
    """A stored time as seconds (SQLite hands back text, PostgreSQL a datetime; both UTC)."""
    stamp = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


def run_load(
    *,
    logins: int,
    subjects: int,
    database: str,
    concurrency: int = 32,
    saml_share: float = 0.3,
    share_429: float = 0.1,
    share_500: float = 0.05,
    min_seconds: float = 0.0,
    seed: int = 7,
    database_name: str = "sso_adapter_load",
) -> Report:
    bench = Bench(database_name)
    replicas = Replicas(bench, database)
    try:
        bench.configure(replicas.public)
        bench.shop.fail_at_random(share_429=share_429, share_500=share_500, seed=seed)
        test = LoadTest(bench, replicas, subjects, saml_share, seed)
        asyncio.run(test.run(logins, concurrency, restart_midway=True))
        # States of logins that never came back must be purged once they expire: keep a
        # replica busy until a purge has been due (the purge rides on a login's write).
        deadline = time.monotonic() + max(0.0, min_seconds - test.report.seconds)
        while time.monotonic() < deadline:
            time.sleep(1)
        if min_seconds:
            bench.shop.fail_at_random(share_429=0, share_500=0)
            asyncio.run(test.run(2, 1))
        check_invariants(test, replicas.url)
        return test.report
    finally:
        replicas.stop()
        bench.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=2000)
    parser.add_argument("--subjects", type=int, default=200)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--saml-share", type=float, default=0.3)
    parser.add_argument("--share-429", type=float, default=0.1)
    parser.add_argument("--share-500", type=float, default=0.05)
    args = parser.parse_args()
    print(
        f"{args.logins} logins, {args.subjects} subjects, {args.database}, two replicas, "
        f"concurrency {args.concurrency}, SAML {args.saml_share:.0%}, BigCommerce 429 "
        f"{args.share_429:.0%} / 500 {args.share_500:.0%}, one replica restarted midway"
    )
    report = run_load(
        logins=args.logins,
        subjects=args.subjects,
        database=args.database,
        concurrency=args.concurrency,
        saml_share=args.saml_share,
        share_429=args.share_429,
        share_500=args.share_500,
        min_seconds=STATE_TTL_SECONDS + PURGE_INTERVAL_SECONDS,
    )
    print(
        f"{report.logins} logins in {report.seconds:.0f} s: {report.landed} landed, "
        f"{sum(report.refused.values())} refused cleanly {dict(report.refused)}, "
        f"{len(report.unclean)} not clean; replica restarts: {report.restarts}; "
        f"faults answered by BigCommerce: {dict(report.faults_answered)}"
    )
    for line in report.unclean[:10]:
        print(f"  not clean: {line}")
    for line in report.violations:
        print(f"VIOLATION: {line}")
    if not report.violations:
        print("all invariants hold")
    sys.exit(1 if report.violations else 0)


if __name__ == "__main__":
    main()
