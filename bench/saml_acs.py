"""What verifying one SAML response costs the adapter, and where the time goes.

Builds a service provider exactly as a SAML connection does, has pysaml2's IdP sign
responses to it, and times `ServiceProvider.verify` (everything the ACS does to a response
before identity resolution). Prints the mean and p50/p99 per response, and the share spent
in the `xmlsec1` subprocess that pysaml2's default crypto backend runs per signature check.

    .venv/bin/python bench/saml_acs.py [--responses N]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapter.saml.keys import self_signed_pair
from adapter.saml.service_provider import ServiceProvider, ServiceProviderSettings
from tests.support.saml_idp import SandboxSamlIdp

SP_ENTITY = "https://sso.example.com/sso/acme/entra/saml/metadata"
ACS = "https://sso.example.com/sso/acme/entra/saml/acs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=60)
    args = parser.parse_args()

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
        ),
        tempfile.mkdtemp(),
    )
    idp.trust_sp(provider.metadata())
    import base64

    responses = []
    for _ in range(args.responses):
        request_id, _url = provider.authn_request(relay_state="bench")
        xml = idp.respond(request_id, ACS, SP_ENTITY, sign_response=True, sign_assertion=True)
        responses.append((request_id, base64.b64encode(xml.encode()).decode()))

    provider.verify(responses[0][1], responses[0][0])  # warm caches
    timings = []
    profile = cProfile.Profile()
    for request_id, encoded in responses:
        started = time.perf_counter()
        profile.enable()
        provider.verify(encoded, request_id)
        profile.disable()
        timings.append((time.perf_counter() - started) * 1000)
    stats = pstats.Stats(profile)
    # Cumulative time inside Popen.communicate: waiting for xmlsec1 to start, verify, exit.
    subprocess_time = sum(v[3] for k, v in stats.stats.items() if k[2] == "communicate")
    calls = sum(v[1] for k, v in stats.stats.items() if k[2] == "communicate")
    whole = sum(timings) / 1000
    timings.sort()
    print(f"responses verified: {len(timings)} (response and assertion both signed, RSA-SHA256)")
    print(f"mean  {statistics.mean(timings):7.2f} ms per response")
    print(f"p50   {timings[len(timings) // 2]:7.2f} ms")
    print(f"p99   {timings[min(len(timings) - 1, int(len(timings) * 0.99))]:7.2f} ms")
    print(
        f"in the xmlsec1 subprocess: {subprocess_time / whole:5.1%} of the time, "
        f"{calls / len(timings):.1f} runs per response"
    )
    provider.close()


if __name__ == "__main__":
    main()
