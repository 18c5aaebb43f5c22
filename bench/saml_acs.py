"""What verifying one SAML response costs the adapter, and where the time goes.

Builds a service provider exactly as a SAML connection does, has pysaml2's IdP sign
responses to it, and times `ServiceProvider.verify` (everything the ACS does to a response
before identity resolution: every check of the profile included) three ways, in the same
run, on the same responses:

- `pysaml2`: pysaml2's stock path: its response parser, the `xmlsec1` program per signature
  check and its pure-Python `xmlschema` validator per signed element;
- `previous`: pysaml2's response parser with the adapter's in-process python-xmlsec backend
  and the compiled schema (SSO_ADAPTER_SAML_RESPONSE_READER=pysaml2);
- `single_parse`: the adapter's default reader: one lxml parse, python-xmlsec on that tree,
  the facts read from the verified elements (adapter/saml/response_reader.py).

Prints, per way, the mean, p50 and p99 per response, this process's CPU per response,
responses per second, the `xmlsec1` runs per response and the share of the time spent
waiting for them, and the throughput of each against pysaml2's defaults.

    .venv/bin/python bench/saml_acs.py [--responses N]
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapter.saml import schema
from adapter.saml.keys import self_signed_pair
from adapter.saml.service_provider import ServiceProvider, ServiceProviderSettings
from tests.support.saml_idp import SandboxSamlIdp

SP_ENTITY = "https://sso.example.com/sso/acme/entra/saml/metadata"
ACS = "https://sso.example.com/sso/acme/entra/saml/acs"


WAYS = {  # way: (reader, pysaml2's crypto backend)
    "pysaml2": ("pysaml2", "xmlsec1"),
    "previous": ("pysaml2", "inprocess"),
    "single_parse": ("single_parse", "inprocess"),
}


def measure(way: str, count: int) -> dict[str, float]:
    reader, backend = WAYS[way]
    if way == "pysaml2":
        with schema.pysaml2_default():
            return _measure(reader, backend, count)
    return _measure(reader, backend, count)


def _measure(reader: str, backend: str, count: int) -> dict[str, float]:
    idp = SandboxSamlIdp("https://idp.example.com")
    key, cert = self_signed_pair("bench sp")
    provider = ServiceProvider(
        ServiceProviderSettings(
            entity_id=SP_ENTITY,
            acs_url=ACS,
            idp_entity_id=idp.entity_id,
            idp_metadata_xml=idp.metadata(),
            private_key_pem=key,
            certificate_pem=cert,
            sign_requests=False,
            allow_idp_initiated=False,
            allow_sha1=False,
            clock_skew_seconds=60,
            response_reader=reader,
            crypto_backend=backend,
        ),
        tempfile.mkdtemp(),
    )
    idp.trust_sp(provider.metadata())
    responses = []
    for _ in range(count + 1):
        request_id, _url = provider.authn_request(relay_state="bench")
        xml = idp.respond(request_id, ACS, SP_ENTITY, sign_response=True, sign_assertion=True)
        responses.append((request_id, base64.b64encode(xml.encode()).decode()))
    provider.verify(responses[0][1], responses[0][0])  # warm caches
    timings = []
    cpu_started = time.process_time()
    for request_id, encoded in responses[1:]:
        started = time.perf_counter()
        provider.verify(encoded, request_id)
        timings.append((time.perf_counter() - started) * 1000)
    cpu_ms = (time.process_time() - cpu_started) * 1000 / count
    # A second pass under the profiler only to count xmlsec1 runs and their share: the
    # profiler's own overhead stays out of the figures above.
    profile = cProfile.Profile()
    replayed = time.perf_counter()
    for request_id, encoded in responses[1:]:
        profile.enable()
        provider.verify(encoded, request_id)
        profile.disable()
    profiled_s = time.perf_counter() - replayed
    stats = pstats.Stats(profile)
    # Cumulative time inside Popen.communicate: xmlsec1 starting, verifying, exiting.
    subprocess_s = sum(v[3] for k, v in stats.stats.items() if k[2] == "communicate")
    runs = sum(v[1] for k, v in stats.stats.items() if k[2] == "communicate")
    provider.close()
    timings.sort()
    return {
        "mean_ms": statistics.mean(timings),
        "p50_ms": timings[len(timings) // 2],
        "p99_ms": timings[min(len(timings) - 1, int(len(timings) * 0.99))],
        "process_cpu_ms": cpu_ms,
        "subprocess_share": subprocess_s / profiled_s,
        "xmlsec1_runs": runs / count,
        "per_second": 1000 / statistics.mean(timings),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=60)
    args = parser.parse_args()
    print(f"{args.responses} signed responses (response and assertion signed, RSA-SHA256)")
    print(
        f"{'way':13} {'mean ms':>8} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms':>8} "
        f"{'per s':>7} {'xmlsec1 runs':>13} {'in subprocess':>14}"
    )
    results = {}
    for way in WAYS:
        r = results[way] = measure(way, args.responses)
        print(
            f"{way:13} {r['mean_ms']:8.2f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
            f"{r['process_cpu_ms']:8.2f} {r['per_second']:7.1f} {r['xmlsec1_runs']:13.1f} "
            f"{r['subprocess_share']:14.1%}"
        )
    base = results["pysaml2"]["per_second"]
    for way in ("previous", "single_parse"):
        print(
            f"{way} verifies {results[way]['per_second'] / base:.1f}x as many responses per second as pysaml2's defaults"
        )


if __name__ == "__main__":
    main()
