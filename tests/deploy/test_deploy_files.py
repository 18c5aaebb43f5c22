"""The deployment files parse and keep the promises the README makes about them. (No
container engine runs here, so the image itself is built elsewhere.)"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
KUBERNETES_VERSION = "1.30"  # the oldest release the manifests are written for


def test_image_runs_as_non_root_with_xmlsec1() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "USER 10001" in dockerfile and "xmlsec1" in dockerfile
    assert 'ENTRYPOINT ["sso-adapter"]' in dockerfile


def test_compose_runs_postgres_migrations_two_replicas_and_a_proxy() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "migrate", "adapter-1", "adapter-2", "proxy"} <= set(services)
    assert services["migrate"]["command"] == ["migrate"]
    assert (
        services["adapter-1"]["depends_on"]["migrate"]["condition"]
        == "service_completed_successfully"
    )


def test_kubernetes_has_job_deployment_with_probes_service_and_autoscaler() -> None:
    documents = list(yaml.safe_load_all((DEPLOY / "kubernetes" / "sso-adapter.yaml").read_text()))
    kinds = {d["kind"]: d for d in documents}
    assert set(kinds) == {"Job", "Deployment", "Service", "HorizontalPodAutoscaler"}
    container = kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"]
    secret_refs = [e for e in container["env"] if "valueFrom" in e]
    assert {e["name"] for e in secret_refs} >= {
        "SSO_ADAPTER_DATABASE_URL",
        "SSO_ADAPTER_SECRET_KEY",
    }
    assert kinds["Deployment"]["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]
    pause = container["lifecycle"]["preStop"]["exec"]["command"]
    grace = kinds["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace >= int(pause[-1]) + 30, "the pause and a 30 s graceful shutdown must fit"


def _manifests() -> list[dict]:
    text = (DEPLOY / "kubernetes" / "sso-adapter.yaml").read_text()
    return [d for d in yaml.safe_load_all(text) if d]


def test_kubernetes_manifests_validate_against_the_kubernetes_schemas() -> None:
    for document in _manifests():
        # Strict: a misspelled or misplaced field is an error, not silently dropped.
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_schema_check_catches_a_misplaced_field() -> None:
    [deployment] = [d for d in _manifests() if d["kind"] == "Deployment"]
    broken = copy.deepcopy(deployment)
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


COMPOSE_ENV = {
    "POSTGRES_PASSWORD": "example-password",
    "SSO_ADAPTER_PUBLIC_URL": "https://sso.example.com",
    "SSO_ADAPTER_SECRET_KEY": "k" * 32,
    "SSO_ADAPTER_HOSTNAME": "sso.example.com",
}


def _compose_config(path: Path) -> subprocess.CompletedProcess[str]:
    linter = shutil.which("docker-compose")
    if linter is None:
        if os.environ.get("CI") == "true":
            pytest.fail("docker-compose is missing: scripts/bootstrap installs it")
        pytest.skip("docker-compose is not installed (scripts/bootstrap installs it)")
    return subprocess.run(
        [linter, "-f", str(path), "config", "--quiet"],
        env={**os.environ, **COMPOSE_ENV},
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_file_passes_the_compose_schema_check() -> None:
    result = _compose_config(DEPLOY / "compose.yaml")
    assert result.returncode == 0, result.stderr


def test_the_compose_check_catches_a_misspelled_option(tmp_path: Path) -> None:
    text = (DEPLOY / "compose.yaml").read_text().replace("command:", "comand:", 1)
    (tmp_path / "compose.yaml").write_text(text)
    result = _compose_config(tmp_path / "compose.yaml")
    assert result.returncode != 0 and "comand" in result.stderr
