"""deploy/kubernetes/ is valid against Kubernetes' own schemas (kubernetes-validate, offline, strict: an unknown
field is an error), and agrees with the code: every command is a console script of this package, the
probes are the server's health routes, every RECSYS_* variable is a setting of the program it runs."""

import tomllib
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from app.config import Settings
from app.main import create_app
from tests.conftest import REPO
from training.config import TrainConfig

MANIFESTS = sorted((REPO / "deploy" / "kubernetes").rglob("*.yaml"))
KUBERNETES_VERSION = "1.30"
# What recsys-train and recsys-retrain read from the environment beside TrainConfig's fields.
TRAINER_ENVIRONMENT = {"RECSYS_ARTIFACTS", "RECSYS_LOG_LEVEL", "RECSYS_EVENTS_URL", "RECSYS_TRAIN_WORKERS"}


def _documents(path: Path) -> list[dict]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def _pod_specs(document: dict) -> list[dict]:
    spec = document.get("spec", {})
    if document["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return [spec["template"]["spec"]] if "template" in spec else []


@pytest.mark.parametrize("path", MANIFESTS, ids=[path.name for path in MANIFESTS])
def test_manifests_are_valid_kubernetes(path):
    for document in _documents(path):
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)  # raises on any error


def test_manifests_run_this_package_as_it_is_configured():
    scripts = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"])
    routes = set(create_app(Settings()).openapi()["paths"])
    api_settings = {f"RECSYS_{name.upper()}" for name in Settings.model_fields}
    train_settings = {f"RECSYS_{name.upper()}" for name in TrainConfig.model_fields} | TRAINER_ENVIRONMENT
    containers = [container for path in MANIFESTS for document in _documents(path)
                  for spec in _pod_specs(document) for container in spec["containers"]]
    assert {container["command"][0] for container in containers} == {"recsys-serve", "recsys-train", "recsys-retrain"}
    for container in containers:
        assert container["command"][0] in scripts
        known = api_settings if container["command"][0] == "recsys-serve" else train_settings
        assert {variable["name"] for variable in container["env"]} <= known, container["name"]
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            if probe in container:
                assert container[probe]["httpGet"]["path"] in routes
    api = next(container for container in containers if container["command"] == ["recsys-serve"])
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_the_check_can_fail():
    deployment = next(document for document in _documents(REPO / "deploy" / "kubernetes" / "api.yaml")
                      if document["kind"] == "Deployment")
    deployment["spec"]["replicaz"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
