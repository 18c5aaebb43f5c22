"""A bounded load test with faults, and the invariants that must hold after it.

Two `sso-adapter serve` replicas on one database take complete logins (OIDC and SAML, first
and returning) for a fixed set of subjects, through a client that does what a load balancer
does: each request goes to a replica that is up, and a connection refused is tried on the
other. Meanwhile the BigCommerce emulator answers a share of Customers API calls with 429
(with reset headers) and another share with 500, and loses the answer of a share of customer
creations (the customer is made, the adapter hears 500). On top of that, the hard faults:

- a replica stopped gracefully (SIGTERM, logins in flight finish) and started again;
- a replica killed (SIGKILL, no drain) while it waits for BigCommerce to create customers,
  and started again: the browsers it was serving get no answer (a balancer's 502);
- the PostgreSQL server restarted under load (`--database postgresql`): a cluster of the
  test's own in a temporary directory, never a shared server.

Afterwards it checks, and prints, each invariant:

- every login either landed on the storefront (the emulator accepted its JWT), or was refused
  with a status the interface names and a reference id, or was cut off by the SIGKILL;
- every reference is in the audit trail, or (the database was down) its log line says
  audit_written=false;
- no subject has two links, no customer is linked twice on one connection, no customer was
  created twice, every customer created has a customer.created event; every customer created
  at BigCommerce is linked, if need be by its subject's next login, which adopts it;
- no login state is left past its expiry (login states live 60 seconds here, and the run is
  longer than that, so purging is exercised).

    .venv/bin/python bench/load_faults.py [--logins 2000] [--subjects 200] [--database postgresql]

Exits 1 when an invariant is broken.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from glob import glob
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.logins import Bench, browser_client, free_port  # noqa: E402
from tests.support.saml_idp import request_id_of  # noqa: E402

# The statuses the interface names for a refused login.
CLEAN_STATUSES = {400, 401, 403, 404, 409, 422, 429, 502, 503, 504}
STATE_TTL_SECONDS = 60
DRAIN_SECONDS = 2  # as the Kubernetes manifest's preStop pause
PURGE_INTERVAL_SECONDS = 60  # adapter/services/login_steps.py purges at most once a minute
# Short BigCommerce timeouts: the claim a killed replica leaves behind covers one create call
# (timeout + rate-limit waits + 10 s, adapter/services/resolution.py), and must lapse within
# the run for the follow-up logins to adopt what it created.
REPLICA_ENV = {
    "SSO_ADAPTER_LOGIN_STATE_TTL_SECONDS": str(STATE_TTL_SECONDS),
    "SSO_ADAPTER_HTTP_TIMEOUT_SECONDS": "3",
    "SSO_ADAPTER_RATE_LIMIT_MAX_WAIT_SECONDS": "2",
}
# While a replica is about to be killed, creations take this long at BigCommerce.
KILL_CREATE_DELAY = 0.5
# First logins sent to the replica that is killed, on top of the load's own.
KILLED_FIRST_LOGINS = 3
# A request cut off by the kill may surface this long after it.
KILL_GRACE_SECONDS = 1.0
DATABASE_DOWN_SECONDS = 1.0  # as the outage seen in production
# The follow-up logins wait out, at most this long, the claims a killed replica left.
FOLLOW_UP_SECONDS = 60.0


@dataclass
class Report:
    logins: int = 0
    landed: int = 0
    refused: Counter[int] = field(default_factory=Counter)
    refusal_reasons: Counter[str] = field(default_factory=Counter)
    references: list[str] = field(default_factory=list)
    unclean: list[str] = field(default_factory=list)
    restarts: int = 0
    kills: int = 0
    creations_in_flight_at_kill: int = 0
    cut_off: int = 0  # requests the killed replica was serving: the balancer's 502
    database_restarts: int = 0
    references_only_in_log: int = 0  # the database could not take their audit event
    follow_ups: int = 0  # next logins of subjects whose customer was left unlinked
    follow_ups_landed: int = 0
    adopted: int = 0
    faults_answered: Counter[int] = field(default_factory=Counter)
    lost_answers: int = 0
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0


class LoginRefused(Exception):
    def __init__(self, response: httpx.Response):
        super().__init__(response.status_code)
        self.response = response


class CutOff(Exception):
    """The replica serving the request was killed before it answered."""


class ThrowawayPostgres:
    """A PostgreSQL server of the load test's own: initdb in a temporary directory, its own
    port, restarted under load, removed afterwards. A shared server is never touched."""

    def __init__(self) -> None:
        found = sorted(glob("/usr/lib/postgresql/*/bin/pg_ctl")) or [shutil.which("pg_ctl")]
        if found[-1] is None:
            raise RuntimeError("no pg_ctl: PostgreSQL's server programs are not installed")
        self.bin = Path(found[-1]).parent
        self.dir = Path(tempfile.mkdtemp(prefix="sso-adapter-pg-"))
        self.port = free_port()
        if os.geteuid() == 0:  # the server will not run as root
            shutil.chown(self.dir, "postgres")
        self._run("initdb", "-D", str(self.dir / "data"), "--auth=trust", "-U", "postgres")
        self.start()
        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True
        ) as conn:
            conn.execute('CREATE DATABASE "sso_adapter_load"')
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/sso_adapter_load"

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if os.geteuid() == 0:
            command = ["su", "postgres", "-c", shlex.join(command)]
        subprocess.run(command, check=True, capture_output=True)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        data, log = str(self.dir / "data"), str(self.dir / "server.log")
        self._run("pg_ctl", "-D", data, "-o", options, "-l", log, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", mode, "-w", "stop")

    def restart(self, down_seconds: float) -> None:
        """Stop (sessions are cut, as in a fail-over), stay down a moment, start again."""
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # it may be down already
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class Replicas:
    """Two adapters on one database and one public URL; either can be restarted or killed."""

    def __init__(self, bench: Bench, database: str, log: Path, url: str | None = None):
        self.bench = bench
        self.database = database
        self.log = log
        self.env = dict(REPLICA_ENV)
        self.ports = [free_port(), free_port()]
        self.public = f"http://127.0.0.1:{self.ports[0]}"
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        self.down: set[int] = set()
        # Replicas killed a moment ago: a request cut off there is the kill's doing.
        self.dying: set[int] = set()
        # While set, the balancer sends every request to this replica.
        self.only: int | None = None
        self._turn = random.Random(0)  # noqa: S311 (spreading load, not a secret)
        self.processes[self.ports[0]], _ = bench.start_adapter(
            database, 1, url=url, port=self.ports[0], env=self.env, log=log
        )
        self.url = bench.database_url
        self._start(self.ports[1])

    def _start(self, port: int, *, migrate: bool = True) -> None:
        self.processes[port], _ = self.bench.start_adapter(
            self.database,
            1,
            url=self.url,
            port=port,
            public=self.public,
            env=self.env,
            log=self.log,
            migrate=migrate,
        )

    def bases(self) -> list[str]:
        if self.only is not None and self.only not in self.down:
            return [f"http://127.0.0.1:{self.only}"]
        up = [p for p in self.ports if p not in self.down]
        if len(up) == 2 and self._turn.random() < 0.5:
            up.reverse()
        return [f"http://127.0.0.1:{p}" for p in up]

    def _wait_for_the_other(self, port: int) -> None:
        while any(p in self.down for p in self.ports if p != port):
            time.sleep(0.1)

    def restart(self, port: int) -> None:
        """What a rolling restart does: take the replica out of the balancer, give requests
        already sent to it a moment to arrive, then SIGTERM (logins in flight finish)."""
        self._wait_for_the_other(port)
        self.down.add(port)
        time.sleep(DRAIN_SECONDS)
        process = self.processes[port]
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        self._start(port, migrate=False)
        self.down.discard(port)

    def kill(self, port: int) -> None:
        """A replica that dies (out of memory, a node lost): SIGKILL, nothing drains."""
        self.dying.add(port)
        self.down.add(port)
        process = self.processes[port]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)

    def start_again(self, port: int) -> None:
        self.dying.discard(port)
        self._start(port, migrate=False)
        self.down.discard(port)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
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
                except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
                    # Sent, and the connection died: a balancer answers 502, and must not
                    # send the request again (it may have had its effect).
                    if int(base.rsplit(":", 1)[1]) in self.replicas.dying:
                        raise CutOff(base) from exc
                    raise
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
        # Kept out of the load: their first logins go to the replica that is killed.
        self.reserved = [(f"load-kill-{i:04d}", False) for i in range(KILLED_FIRST_LOGINS)]
        for subject, _saml in self.subjects + self.reserved:
            bench.op.add_user(subject, "pw", email=f"{subject}@example.com", email_verified=True)
        self.pick = random.Random(seed)  # noqa: S311 (the load's shape, not a secret)
        self.report = Report()
        self.pg: ThrowawayPostgres | None = None

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

    async def one(self, number: int, chosen: tuple[str, bool] | None = None) -> None:
        subject, saml = chosen or self.pick.choice(self.subjects)
        login = self.saml if saml else self.oidc
        self.report.logins += 1
        async with browser_client() as browser:
            try:
                await login(browser, subject)
                self.report.landed += 1
            except LoginRefused as refused:
                self._refused(refused.response)
            except CutOff:
                self.report.cut_off += 1
            except Exception as exc:  # anything else is not a clean answer
                self.report.unclean.append(f"login {number}: {type(exc).__name__}: {exc}"[:300])

    def _refused(self, response: httpx.Response) -> None:
        status = response.status_code
        try:
            body = response.json()
            reference, reason = body["reference"], body["error"]
        except (ValueError, KeyError):
            self.report.unclean.append(f"{status} without a reference: {response.text[:200]}")
            return
        if status not in CLEAN_STATUSES:
            self.report.unclean.append(f"status {status} (reference {reference})")
        if status == 503 and not response.headers.get("retry-after"):
            self.report.unclean.append(f"503 without Retry-After (reference {reference})")
        self.report.refused[status] += 1
        self.report.refusal_reasons[reason] += 1
        self.report.references.append(reference)

    async def kill_during_creation(self) -> None:
        """SIGKILL a replica while BigCommerce is creating customers for it."""
        port = self.replicas.ports[1]
        shop = self.bench.shop
        shop.slow_down_creations(KILL_CREATE_DELAY)
        self.replicas.only = port
        # Creations the other replica had under way finish; from now on only this one asks.
        await asyncio.sleep(KILL_CREATE_DELAY + 0.1)
        first_logins = [
            asyncio.ensure_future(self.one(-1 - i, chosen))
            for i, chosen in enumerate(self.reserved)
        ]
        deadline = time.monotonic() + 5
        while shop.creations_in_flight < len(first_logins) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        self.report.creations_in_flight_at_kill = shop.creations_in_flight
        self.replicas.only = None
        await asyncio.to_thread(self.replicas.kill, port)
        self.report.kills += 1
        await asyncio.gather(*first_logins)
        shop.slow_down_creations(0)
        await asyncio.sleep(KILL_GRACE_SECONDS)
        await asyncio.to_thread(self.replicas.start_again, port)

    async def restart_gracefully(self) -> None:
        await asyncio.to_thread(self.replicas.restart, self.replicas.ports[0])
        self.report.restarts += 1

    async def restart_database(self) -> None:
        assert self.pg is not None
        await asyncio.to_thread(self.pg.restart, DATABASE_DOWN_SECONDS)
        self.report.database_restarts += 1

    async def run(
        self,
        logins: int,
        concurrency: int,
        *,
        faults: dict[float, Callable[[], Awaitable[None]]] | None = None,
    ) -> None:
        """`faults`: at which share of the logins finished to set off which fault."""
        semaphore = asyncio.Semaphore(concurrency)
        finished = 0
        due = {max(1, int(logins * share)): fault for share, fault in (faults or {}).items()}
        under_way: list[asyncio.Future[None]] = []

        async def bounded(number: int) -> None:
            nonlocal finished
            async with semaphore:
                await self.one(number)
            finished += 1
            if finished in due:
                under_way.append(asyncio.ensure_future(due.pop(finished)()))

        started = time.monotonic()
        await asyncio.gather(*(bounded(n) for n in range(logins)))
        await asyncio.gather(*under_way)
        self.report.seconds += time.monotonic() - started

    async def follow_up(self, database_url: str) -> None:
        """Every customer created at BigCommerce and left unlinked (its creation's answer
        lost, or its replica killed) must be adopted by its subject's next login."""
        by_email = {f"{s}@example.com": (s, saml) for s, saml in self.subjects + self.reserved}
        deadline = time.monotonic() + FOLLOW_UP_SECONDS
        for email in unlinked_emails(self.bench, database_url):
            subject, saml = by_email[email]
            self.report.follow_ups += 1
            while True:
                async with browser_client() as browser:
                    try:
                        await (self.saml if saml else self.oidc)(browser, subject)
                    except LoginRefused as refused:
                        answer = refused.response
                        if answer.status_code == 503 and time.monotonic() < deadline:
                            # The killed replica's claim has not lapsed yet: as told, retry.
                            await asyncio.sleep(float(answer.headers.get("retry-after", "1")))
                            continue
                        self.report.violations.append(
                            f"next login of {subject} refused: {answer.status_code} "
                            f"{answer.text[:120]}"
                        )
                    else:
                        self.report.follow_ups_landed += 1
                break


def _database(database_url: str) -> sa.Engine:
    return sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))


def unlinked_emails(bench: Bench, database_url: str) -> list[str]:
    engine = _database(database_url)
    with engine.connect() as db:
        linked = set(db.scalars(sa.text("SELECT customer_id FROM links")).all())
    engine.dispose()
    store = next(iter(bench.shop.stores.values()))
    return sorted(c["email"] for c in store.customers.values() if c["id"] not in linked)


def flagged_references(log: Path) -> set[str]:
    """References of failures whose audit event the database could not take: the log line
    says so (audit_written=false)."""
    flagged = set()
    for line in log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if (
            isinstance(record, dict)
            and record.get("event") == "login_failed"
            and record.get("audit_written") is False
        ):
            flagged.add(record.get("reference"))
    return flagged


def check_invariants(test: LoadTest, database_url: str, log: Path) -> None:
    report = test.report
    shop = test.bench.shop
    engine = _database(database_url)
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
        created_events = db.execute(
            sa.text("SELECT customer_id, reason FROM audit_events WHERE kind = 'customer.created'")
        ).all()
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

    flagged = flagged_references(log)
    unaudited = [r for r in report.references if r not in failure_references]
    report.references_only_in_log = sum(1 for r in unaudited if r in flagged)
    missing = [r for r in unaudited if r not in flagged]
    if missing:
        report.violations.append(
            f"{len(missing)} refusals neither in the audit trail nor flagged in the log: "
            f"{missing[:5]}"
        )
    # A login whose answer the kill cut off may have finished (and been audited) all the same.
    landed = report.landed + report.follow_ups_landed
    if not landed <= successes <= landed + report.cut_off:
        report.violations.append(
            f"{landed} logins landed ({report.cut_off} cut off), {successes} success events"
        )
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
    audited = {customer_id for customer_id, _reason in created_events}
    unrecorded = [c for c in store.customers if c not in audited]
    if unrecorded:
        report.violations.append(
            f"{len(unrecorded)} customers created without a customer.created event"
        )
    report.adopted = sum(1 for _c, reason in created_events if reason == "adopted")
    now = time.time()
    stale = [s for s in states if _epoch(s) < now - PURGE_INTERVAL_SECONDS]
    if stale:
        report.violations.append(f"{len(stale)} login states left past their expiry")
    report.faults_answered = Counter(
        status for _m, _p, status in shop.api_calls if status in (429, 500)
    )
    report.lost_answers = len(shop.lost_answers)


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
    share_lost: float = 0.02,
    min_seconds: float = 0.0,
    seed: int = 7,
    database_name: str = "sso_adapter_load",
    restart_database: bool | None = None,
) -> Report:
    """`restart_database` (by default: on PostgreSQL) runs the load on a PostgreSQL server of
    its own and restarts it three quarters of the way through."""
    restart_database = database == "postgresql" if restart_database is None else restart_database
    pg = ThrowawayPostgres() if restart_database else None
    log = Path(tempfile.mkdtemp(prefix="sso-adapter-load-")) / "replicas.log"
    bench = Bench(database_name)
    replicas: Replicas | None = None
    try:
        replicas = Replicas(bench, database, log, url=pg.url if pg else None)
        bench.configure(replicas.public)
        bench.shop.fail_at_random(
            share_429=share_429, share_500=share_500, share_lost=share_lost, seed=seed
        )
        test = LoadTest(bench, replicas, subjects, saml_share, seed)
        test.pg = pg
        faults: dict[float, Callable[[], Awaitable[None]]] = {
            0.15: test.kill_during_creation,
            0.5: test.restart_gracefully,
        }
        if pg is not None:
            faults[0.75] = test.restart_database
        asyncio.run(test.run(logins, concurrency, faults=faults))
        bench.shop.fail_at_random(share_429=0, share_500=0)
        asyncio.run(test.follow_up(replicas.url))
        # States of logins that never came back must be purged once they expire: keep a
        # replica busy until a purge has been due (the purge rides on a login's write).
        deadline = time.monotonic() + max(0.0, min_seconds - test.report.seconds)
        while time.monotonic() < deadline:
            time.sleep(1)
        if min_seconds:
            asyncio.run(test.run(2, 1))
        check_invariants(test, replicas.url, log)
        return test.report
    finally:
        if replicas is not None:
            replicas.stop()
        bench.close()
        if pg is not None:
            pg.close()
        shutil.rmtree(log.parent, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=2000)
    parser.add_argument("--subjects", type=int, default=200)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--saml-share", type=float, default=0.3)
    parser.add_argument("--share-429", type=float, default=0.1)
    parser.add_argument("--share-500", type=float, default=0.05)
    parser.add_argument("--share-lost", type=float, default=0.02)
    args = parser.parse_args()
    print(
        f"{args.logins} logins, {args.subjects} subjects, {args.database}, two replicas, "
        f"concurrency {args.concurrency}, SAML {args.saml_share:.0%}, BigCommerce 429 "
        f"{args.share_429:.0%} / 500 {args.share_500:.0%} / answer lost after creating "
        f"{args.share_lost:.0%}; a replica killed during creations at 15%, one restarted "
        "at 50%" + (", PostgreSQL restarted at 75%" if args.database == "postgresql" else "")
    )
    report = run_load(
        logins=args.logins,
        subjects=args.subjects,
        database=args.database,
        concurrency=args.concurrency,
        saml_share=args.saml_share,
        share_429=args.share_429,
        share_500=args.share_500,
        share_lost=args.share_lost,
        min_seconds=STATE_TTL_SECONDS + PURGE_INTERVAL_SECONDS,
    )
    print(
        f"{report.logins} logins in {report.seconds:.0f} s: {report.landed} landed, "
        f"{sum(report.refused.values())} refused cleanly {dict(report.refused)}, "
        f"{report.cut_off} cut off by the kill, {len(report.unclean)} not clean"
    )
    print(f"  refusals by reason: {dict(report.refusal_reasons)}")
    print(
        f"  replica restarts: {report.restarts}; kills: {report.kills} (creations in flight "
        f"at BigCommerce: {report.creations_in_flight_at_kill}); PostgreSQL restarts: "
        f"{report.database_restarts}"
    )
    print(
        f"  faults answered by BigCommerce: {dict(report.faults_answered)}, creation answers "
        f"lost: {report.lost_answers}"
    )
    print(
        f"  customers adopted: {report.adopted}; follow-up logins of subjects left unlinked: "
        f"{report.follow_ups} ({report.follow_ups_landed} landed); references only in the "
        f"log (database down): {report.references_only_in_log}"
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
