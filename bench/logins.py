"""Complete logins against running adapters, and the cryptography a login cannot avoid.

Starts, on loopback, the sample OpenID provider and the BigCommerce emulator in a child
process, pysaml2's IdP in this one, and `sso-adapter serve` as a separate process (1 or 2
workers) on SQLite or PostgreSQL. Then, per case, runs logins the way a browser does (the IdP's part is done
here; its SAML signatures are made in a pool of threads, each running pysaml2's `xmlsec1`,
so that signing does not hold the logins back), and prints:

- logins per second,
- p50 and p99 of the adapter's own handling of each request of a login (start, callback or
  ACS + finish), read from the `Server-Timing` header it sends: network and this client's
  queueing are not in it,
- the adapter's CPU milliseconds per login (its processes' user + system time),
- failed logins (each is also printed, with the first few reasons),

for OIDC and SAML, first logins (customer created) and returning logins (link found), at
concurrency 1, 16 and 64, after two warm-up logins per worker and protocol. Also measured in the same run: verifying one RS256 ID token,
verifying one signed SAML response, minting one HS256 JWT. Writes bench/results/logins.json
and bench/results/logins.md.

    .venv/bin/python bench/logins.py [--logins N] [--databases sqlite postgresql] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import queue
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapter.clock import SystemClock  # noqa: E402
from adapter.core.login_jwt import CustomerLogin, mint_customer_login_jwt  # noqa: E402
from adapter.sandbox.bigcommerce import BigCommerceEmulator  # noqa: E402
from adapter.sandbox.oidc_provider import SandboxOidcProvider  # noqa: E402
from bench.upstreams import Upstreams  # noqa: E402
from tests.support.databases import fresh_postgres_database  # noqa: E402
from tests.support.saml_idp import ENTRA_EMAIL, SandboxSamlIdp, request_id_of  # noqa: E402
from tests.support.servers import ServerThread  # noqa: E402

ADMIN = "bench-admin-token-" + "b" * 24
SECRET = "bench-master-key-" + "k" * 32
SSO_ADAPTER = str(Path(sys.executable).parent / "sso-adapter")
SIGNERS = 8


# Every simulated browser is a new client (its own cookies); they share one TLS context,
# which httpx would otherwise build, CA bundle and all, for each of them.
_TLS = ssl.create_default_context()


def browser_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=60, verify=_TLS)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_tree_cpu(pid: int) -> float:
    """User + system seconds of a process and its children (uvicorn workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


class Bench:
    def __init__(
        self, database_name: str = "sso_adapter_bench", *, upstreams_apart: bool = True
    ) -> None:
        """`upstreams_apart`: the OP and the emulator answer from a child process (the
        benchmark's figures); otherwise from threads here, where a caller can reach into
        them (the load test reads the emulator's customers and calls)."""
        self.database_name = database_name
        self.upstreams: Upstreams | None = None
        if upstreams_apart:
            self.upstreams = Upstreams()
            self.op, self.shop = self.upstreams.op, self.upstreams.shop
        else:
            op_server = ServerThread.bind("localhost")
            shop_server = ServerThread.bind("127.0.0.1")
            self.op = SandboxOidcProvider(op_server.url, auto_login="default")
            self.shop = BigCommerceEmulator(shop_server.url)
            op_server.start(self.op.app())
            shop_server.start(self.shop.app())
        self.op.add_user("default", "pw", email="default@example.com", email_verified=True)
        # The IdP's metadata names its SSO URL; the benchmark answers for it in-process.
        self.idp = SandboxSamlIdp("http://localhost:9")
        self.client_secret = "bench-client-secret"
        self.stores = 0
        # The IdP's signing runs the xmlsec1 program: a pool of IdPs (same key) in threads.
        self.signers = ThreadPoolExecutor(max_workers=SIGNERS)
        self.idps = [SandboxSamlIdp("http://localhost:9") for _ in range(SIGNERS)]
        self.idle_idps: queue.Queue[SandboxSamlIdp] = queue.Queue()
        for idp in self.idps:
            self.idle_idps.put(idp)

    def close(self) -> None:
        self.signers.shutdown()
        if self.upstreams is not None:
            self.upstreams.close()

    def start_adapter(
        self,
        database: str,
        workers: int,
        *,
        url: str | None = None,
        port: int | None = None,
        public: str | None = None,
        env: dict[str, str] | None = None,
        log: Path | None = None,
        migrate: bool = True,
    ) -> tuple[subprocess.Popen[bytes], str]:
        """`sso-adapter serve` on a new database, or on `url` (another replica of it); its
        log lines appended to `log` if given."""
        if url is None:
            if database == "postgresql":
                url = fresh_postgres_database(self.database_name)
            else:
                url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
        self.database_url = url
        port = port or free_port()
        public = public or f"http://127.0.0.1:{port}"
        environment = {
            **os.environ,
            "SSO_ADAPTER_DATABASE_URL": url,
            "SSO_ADAPTER_SECRET_KEY": SECRET,
            "SSO_ADAPTER_ADMIN_TOKEN": ADMIN,
            "SSO_ADAPTER_PUBLIC_URL": public,
            "SSO_ADAPTER_ALLOW_INSECURE_LOOPBACK": "true",
            "SSO_ADAPTER_LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        if migrate:
            subprocess.run(
                [SSO_ADAPTER, "migrate"], env=environment, check=True, capture_output=True
            )
        output = subprocess.DEVNULL if log is None else log.open("ab")
        process = subprocess.Popen(
            [SSO_ADAPTER, "serve", "--port", str(port), "--workers", str(workers)],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        if log is not None:
            output.close()  # the child has its own copy
        here = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{here}/readyz").status_code == 200:
                    return process, public
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("adapter did not start")

    def configure(self, public: str) -> str:
        self.stores += 1
        store_hash = f"bench{self.stores}"
        emulated = self.shop.add_store(store_hash)
        admin = httpx.Client(
            base_url=f"{public}/admin/v1", headers={"Authorization": f"Bearer {ADMIN}"}
        )
        store = {
            "store_hash": store_hash,
            "client_id": emulated.client_id,
            "client_secret": emulated.client_secret,
            "api_token": emulated.api_token,
            "api_base_url": self.shop.base_url,
            "channels": [
                {
                    "channel_id": 1,
                    "kind": "hosted",
                    "storefront_url": self.shop.storefront_url(store_hash, 1),
                }
            ],
        }
        assert admin.put("/stores/bench", json=store).status_code in (200, 201)
        self.op.add_client("bench", self.client_secret, [f"{public}/sso/bench/oidc/oidc/callback"])
        oidc = {
            "protocol": "oidc",
            "issuer": self.op.issuer,
            "client_id": "bench",
            "client_secret": self.client_secret,
            "channel_ids": [1],
        }
        assert admin.put("/stores/bench/connections/oidc", json=oidc).status_code in (200, 201)
        saml = {
            "protocol": "saml",
            "idp_metadata_xml": self.idp.metadata(),
            "channel_ids": [1],
            "email_verified": True,
        }
        answer = admin.put("/stores/bench/connections/saml", json=saml)
        assert answer.status_code in (200, 201), answer.text
        sp_metadata = httpx.get(f"{public}/sso/bench/saml/saml/metadata").text
        for idp in [self.idp, *self.idps]:
            idp.trust_sp(sp_metadata)
        return store_hash

    # -- one login, the browser's way; returns the adapter's own time for each request ------

    @staticmethod
    def adapter_ms(response: httpx.Response) -> float:
        return float(response.headers["server-timing"].partition(";dur=")[2])

    async def oidc_login(self, public: str, user: str) -> list[float]:
        async with browser_client() as browser:
            start = await browser.get(f"{public}/sso/bench/oidc/login", params={"login_hint": user})
            at_op = await browser.get(start.headers["location"])
            done = await browser.get(at_op.headers["location"])
            if done.status_code != 302 or "/login/token/" not in done.headers.get("location", ""):
                raise LoginFailed(f"{done.status_code}: {done.text[:200]}")
            return [self.adapter_ms(start), self.adapter_ms(done)]

    async def saml_login(self, public: str, user: str) -> list[float]:
        acs = f"{public}/sso/bench/saml/saml/acs"
        async with browser_client() as browser:
            start = await browser.get(f"{public}/sso/bench/saml/login")
            location = start.headers["location"]
            relay = parse_qs(urlsplit(location).query)["RelayState"][0]
            xml = await asyncio.get_running_loop().run_in_executor(
                self.signers, self.sign, request_id_of(location), public, user
            )
            posted = await browser.post(
                acs,
                data={"SAMLResponse": base64.b64encode(xml.encode()).decode(), "RelayState": relay},
            )
            if posted.status_code != 303:
                raise LoginFailed(f"ACS {posted.status_code}: {posted.text[:200]}")
            done = await browser.get(posted.headers["location"])
            if done.status_code != 302 or "/login/token/" not in done.headers.get("location", ""):
                raise LoginFailed(f"{done.status_code}: {done.text[:200]}")
            return [self.adapter_ms(start), self.adapter_ms(posted), self.adapter_ms(done)]

    def sign(self, request_id: str, public: str, user: str) -> str:
        """The IdP's answer, made by whichever of the pool's IdPs is free (one per thread)."""
        idp = self.idle_idps.get()
        try:
            return idp.respond(
                request_id,
                f"{public}/sso/bench/saml/saml/acs",
                f"{public}/sso/bench/saml/saml/metadata",
                name_id=user,
                attributes={ENTRA_EMAIL: [f"{user}@example.com"]},
            )
        finally:
            self.idle_idps.put(idp)

    async def run(
        self, public: str, protocol: str, users: list[str], concurrency: int
    ) -> tuple[float, list[float], list[str]]:
        login = self.oidc_login if protocol == "oidc" else self.saml_login
        semaphore = asyncio.Semaphore(concurrency)
        durations: list[float] = []
        failures: list[str] = []

        async def one(user: str) -> None:
            async with semaphore:
                try:
                    durations.extend(await login(public, user))
                except (LoginFailed, httpx.HTTPError, KeyError) as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")

        started = time.perf_counter()
        await asyncio.gather(*(one(u) for u in users))
        return time.perf_counter() - started, durations, failures


class LoginFailed(Exception):
    pass


def crypto_floor(bench: Bench, public: str) -> dict[str, float]:
    from joserfc import jwt as jose_jwt
    from joserfc.jwk import RSAKey

    key = RSAKey.generate_key(2048, parameters={"kid": "floor"}, private=True)
    now = int(time.time())
    token = jose_jwt.encode(
        {"alg": "RS256", "kid": key.kid}, {"iss": "x", "sub": "s", "iat": now}, key
    )
    n = 300
    started = time.perf_counter()
    for _ in range(n):
        jose_jwt.decode(token, key, algorithms=["RS256"])
    rs256 = (time.perf_counter() - started) / n * 1000

    from adapter.saml.crypto import InProcessXmlSecBackend

    base = f"{public}/sso/bench/saml/saml"
    xml = bench.idp.respond(
        None,
        f"{base}/acs",
        f"{base}/metadata",
        sign_response=True,
        sign_assertion=False,
    )
    response_id = re.search(r'Response [^>]*\bID="([^"]+)"', xml).group(1)
    backend = InProcessXmlSecBackend("/usr/bin/xmlsec1")
    started = time.perf_counter()
    for _ in range(n):
        backend.validate_signature(
            xml,
            bench.idp.cert_file,
            "pem",
            "urn:oasis:names:tc:SAML:2.0:protocol:Response",
            response_id,
        )
    saml = (time.perf_counter() - started) / n * 1000

    login = CustomerLogin(store_hash="abc", customer_id=1, channel_id=1, redirect_to="/account.php")
    clock = SystemClock()
    started = time.perf_counter()
    for _ in range(n * 10):
        mint_customer_login_jwt(login, client_id="c", client_secret="s" * 32, clock=clock)
    hs256 = (time.perf_counter() - started) / (n * 10) * 1000
    return {"rs256_verify_ms": rs256, "saml_response_verify_ms": saml, "hs256_mint_ms": hs256}


class Profiler:
    """py-spy sampling the adapter (and its workers) until `finish`; then a summary beside
    the collapsed stacks. Sampling costs the adapter some CPU: a profiled case's CPU figure
    reads a little high."""

    def __init__(self, pid: int, output: Path):
        output.parent.mkdir(parents=True, exist_ok=True)
        self.output = output
        spy = Path(sys.executable).parent / "py-spy"
        command = [str(spy), "record", "--pid", str(pid), "--subprocesses", "--rate", "500"]
        self.process = subprocess.Popen(
            [*command, "--format", "raw", "--nonblocking", "--output", str(output)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)  # attached before the first login

    def finish(self) -> None:
        from bench.profile_summary import summarise

        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=60)
        summary = self.output.with_suffix(".summary.txt")
        summary.write_text(summarise(self.output.read_text(), 30))
        print(f"  profile: {self.output} (summary: {summary.name})")


def warm_up(bench: Bench, public: str, protocol: str, database: str, workers: int) -> None:
    """Two logins per worker, first and returning, before anything is measured: what a
    process does once in its life (the IdP's metadata and keys fetched, a service provider
    built, modules loaded) is no login's cost."""
    users = [f"warm-{protocol}-{database}-{workers}-{i}" for i in range(2 * workers)]
    if protocol == "oidc":
        for user in users:
            bench.op.add_user(user, "pw", email=f"{user}@example.com", email_verified=True)
    for _ in ("first", "returning"):
        _, _, failures = asyncio.run(bench.run(public, protocol, users, len(users)))
        if failures:
            raise SystemExit(f"warm-up logins failed: {sorted(set(failures))[:3]}")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return (
        f"{model}, {os.cpu_count()} cores, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=64, help="logins per case")
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--concurrency", nargs="+", type=int, default=[1, 16, 64])
    parser.add_argument("--protocols", nargs="+", default=["oidc", "saml"])
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record the adapter with py-spy during each case at concurrency 1 "
        "and write DIR/<case>.txt (collapsed stacks) and DIR/<case>.summary.txt",
    )
    args = parser.parse_args()

    bench = Bench()
    floor: dict[str, float] = {}
    rows = []
    print(f"machine: {machine()}")
    print(
        f"{'db':10} {'workers':>7} {'protocol':8} {'login':9} {'conc':>4} {'logins/s':>9} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'cpu ms/login':>12} {'errors':>6}"
    )
    for database in args.databases:
        for workers in args.workers:
            process, public = bench.start_adapter(database, workers)
            try:
                bench.configure(public)
                if not floor:
                    floor = crypto_floor(bench, public)
                    print(
                        "crypto floor (ms): " + ", ".join(f"{k} {v:.3f}" for k, v in floor.items())
                    )
                for protocol in args.protocols:
                    warm_up(bench, public, protocol, database, workers)
                    for concurrency in args.concurrency:
                        users = [
                            f"{protocol}-{database}-{workers}-{concurrency}-{i}"
                            for i in range(args.logins)
                        ]
                        if protocol == "oidc":
                            for user in users:
                                bench.op.add_user(
                                    user, "pw", email=f"{user}@example.com", email_verified=True
                                )
                        for kind in ("first", "returning"):
                            profiler = None
                            if args.profile and concurrency == 1:
                                case = f"{database}-{workers}w-{protocol}-{kind}"
                                profiler = Profiler(process.pid, args.profile / f"{case}.txt")
                            cpu_before = process_tree_cpu(process.pid)
                            elapsed, durations, failures = asyncio.run(
                                bench.run(public, protocol, users, concurrency)
                            )
                            cpu = (process_tree_cpu(process.pid) - cpu_before) * 1000 / len(users)
                            if profiler is not None:
                                profiler.finish()
                            row = {
                                "database": database,
                                "workers": workers,
                                "protocol": protocol,
                                "login": kind,
                                "concurrency": concurrency,
                                "logins_per_second": (len(users) - len(failures)) / elapsed,
                                "p50_ms": percentile(durations, 0.50),
                                "p99_ms": percentile(durations, 0.99),
                                "cpu_ms_per_login": cpu,
                                "errors": len(failures),
                            }
                            rows.append(row)
                            print(
                                f"{database:10} {workers:7} {protocol:8} {kind:9} {concurrency:4} "
                                f"{row['logins_per_second']:9.1f} {row['p50_ms']:8.2f} "
                                f"{row['p99_ms']:8.2f} {cpu:12.2f} {len(failures):6}",
                                flush=True,
                            )
                            for reason in sorted(set(failures))[:3]:
                                print(f"  failed: {reason}")
            finally:
                process.terminate()
                process.wait(timeout=30)
    bench.close()
    write_results(rows, floor, machine())


def write_results(rows: list[dict], floor: dict[str, float], where: str) -> None:
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "logins.json").write_text(
        json.dumps({"machine": where, "crypto_floor": floor, "cases": rows}, indent=2)
    )
    lines = [
        f"Machine: {where}. Crypto floor (ms): "
        + ", ".join(f"{k} {v:.3f}" for k, v in floor.items()),
        "",
        "| database | workers | protocol | login | concurrency | logins/s | adapter p50 ms "
        "| adapter p99 ms | CPU ms/login | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['database']} | {r['workers']} | {r['protocol']} | {r['login']} | "
        f"{r['concurrency']} | {r['logins_per_second']:.1f} | {r['p50_ms']:.2f} | "
        f"{r['p99_ms']:.2f} | {r['cpu_ms_per_login']:.2f} | {r['errors']} |"
        for r in rows
    ]
    (results / "logins.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {results / 'logins.json'} and {results / 'logins.md'}")


if __name__ == "__main__":
    main()
