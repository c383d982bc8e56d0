"""The deployment files in deploy/: Compose validated by `docker compose config`
(or docker-compose), the Kubernetes manifests against the Kubernetes JSON schemas
that kubernetes-validate ships (nothing downloaded), and every songforge setting
they name is one songforge knows."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from songforge.catalog import load_catalog
from songforge.settings import Settings
from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S_VERSION = "1.30.0"
COMPOSE_ENV = {"MINIO_ROOT_PASSWORD": "test-password", "SONGFORGE_SECRET_KEY": "x" * 48}


def compose_command() -> list[str]:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    if legacy := shutil.which("docker-compose"):
        return [legacy]
    if IN_CI:
        pytest.fail("neither `docker compose` nor docker-compose is installed")
    pytest.skip("no docker compose here")


def compose_config(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [*compose_command(), "-f", str(DEPLOY / "compose.yaml"), *args, "config"],
        env={**os.environ, **COMPOSE_ENV},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded: dict[str, Any] = yaml.safe_load(done.stdout)
    return loaded


def manifests() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        found += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def by_kind(kind: str, name: str) -> dict[str, Any]:
    for _, doc in manifests():
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no {kind} {name}")


def test_compose_file_is_valid_and_complete() -> None:
    config = compose_config("--profile", "gpu")
    services = config["services"]
    assert set(services) >= {"postgres", "redis", "minio", "api", "worker-cpu", "worker-gpu"}
    assert services["api"]["deploy"]["replicas"] == 2
    (device,) = services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"] and device["driver"] == "nvidia"
    api_env = services["api"]["environment"]
    assert api_env["SONGFORGE_STORAGE_URL"].startswith("s3://")
    assert api_env["SONGFORGE_RATE_LIMIT_BACKEND"].startswith("redis://")


def test_compose_refuses_to_start_without_its_secrets() -> None:
    env = {k: v for k, v in os.environ.items() if k not in COMPOSE_ENV}
    done = subprocess.run(
        [*compose_command(), "-f", str(DEPLOY / "compose.yaml"), "config"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "MINIO_ROOT_PASSWORD" in done.stderr or "SONGFORGE_SECRET_KEY" in done.stderr


@pytest.mark.parametrize(
    ("source", "doc"), manifests(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_manifest_matches_the_kubernetes_schema(source: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_validator_does_reject_a_broken_manifest() -> None:
    broken = json.loads(json.dumps(by_kind("Deployment", "songforge-api")))
    broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)
    broken = json.loads(json.dumps(by_kind("Deployment", "songforge-api")))
    broken["spec"]["template"]["spec"]["containers"][0]["readynessProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_api_probes_and_shutdown_margin() -> None:
    pod = by_kind("Deployment", "songforge-api")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    grace = float(by_kind("ConfigMap", "songforge")["data"]["SONGFORGE_SHUTDOWN_GRACE_SECONDS"])
    assert pod["terminationGracePeriodSeconds"] >= grace + 10


def test_workers_are_scaled_on_queue_depth_and_outlive_their_grace() -> None:
    hpa = by_kind("HorizontalPodAutoscaler", "songforge-worker-cpu")
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "External"
    assert metric["external"]["metric"]["name"] == "songforge_queued_tasks"
    assert hpa["spec"]["minReplicas"] >= 1  # /readyz needs a live worker
    gpu = by_kind("Deployment", "songforge-worker-gpu")["spec"]["template"]["spec"]
    (container,) = gpu["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    grace = {e["name"]: e["value"] for e in container["env"]}["SONGFORGE_SHUTDOWN_GRACE_SECONDS"]
    assert gpu["terminationGracePeriodSeconds"] >= float(grace) + 10


def test_gpu_catalog_is_one_text_and_loads(tmp_path: Path) -> None:
    text = (DEPLOY / "gpu-catalog.toml").read_text()
    assert by_kind("ConfigMap", "songforge-gpu-catalog")["data"]["catalog.toml"] == text
    tomllib.loads(text)
    path = tmp_path / "catalog.toml"
    path.write_text(text)
    catalog = load_catalog(path)
    assert {spec.id for spec in catalog} == {"minimax-music", "ace-step-1.5"}


def named_settings() -> set[str]:
    text = (DEPLOY / "compose.yaml").read_text()
    text += "".join((DEPLOY / "k8s" / name).read_text() for name in ("config.yaml", "workers.yaml"))
    return set(re.findall(r"\bSONGFORGE_([A-Z0-9_]+)\b", text)) - {
        "IMAGE",
        "GPU_IMAGE",
        "MODELS_DIR",
    }


def test_every_setting_named_is_a_real_setting() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    unknown = named_settings() - fields
    assert not unknown, f"deploy files name settings songforge does not have: {unknown}"
