"""The Docker image and docker-compose.yml, for real: build the image, let the `trainer` service publish a
tiny model version into the `artifacts` volume, start the `api` service (with PostgreSQL as its event
log) and call it over HTTP, log events and see them applied, then roll it to a second version the way
the README tells (run the trainer again, which learns the logged events, and POST /admin/reload).

Needs root and a Docker engine: ../shared/tools/container-base.sh installs and starts one and provides the
`python:3.11-slim` base image offline (CI has it beside the clone); where the official postgres:15-bookworm
image cannot be pulled, a stand-in is built from that base with Debian's PostgreSQL 15
(tests/containers/postgres). Where the script is absent or fails,
the test skips loudly; once Docker works, every failure fails. Containers use the host's network
(docker-compose.hostnet.yml), the API a free port. Build time, image size and durations are printed and
written to container_smoke.json in the test's tmp dir."""

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from typing import NoReturn

import httpx
import pytest

from tests.conftest import REPO, TINY_TRAINING
from tests.serving import ADMIN, ADMIN_TOKEN, free_port

EVENTS_TOKEN = "container-test-events-token-0123"
POSTGRES_IMAGE = "postgres:15-bookworm"

pytestmark = pytest.mark.slow  # 2.5-4 minutes with a warm build cache; a cold build adds 4-7

CONTAINER_BASE = REPO.parent / "shared" / "tools" / "container-base.sh"
COMPOSE_FILES = ["-f", "docker-compose.yml", "-f", "docker-compose.hostnet.yml"]
# Plumbing, not model quality: the other tests' tiny data and two epochs of every model.
SMOKE_TRAINING = [*TINY_TRAINING, "retrieval.epochs=2", "ranking.epochs=2", "mf.epochs=2", "gru4rec.epochs=2",
                  "narm.epochs=2"]


def _tell(capsys: pytest.CaptureFixture, message: str) -> None:
    """Print past pytest's output capture, so it shows with or without -s."""
    with capsys.disabled():
        print(f"\n[container smoke] {message}", flush=True)


def _run(command: list[str], timeout: float, env: dict[str, str] | None = None,
         explain: Callable[[], str] = str) -> str:
    """Run ``command`` in the repository; its output, or a test failure that quotes it and ``explain()``."""
    __tracebackhide__ = True  # the frame holds the environment
    try:
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        output = "".join(part.decode(errors="replace") if isinstance(part, bytes) else part
                         for part in (error.stdout, error.stderr) if part)
        pytest.fail(f"`{' '.join(command)}` did not finish within {timeout:.0f} s:\n{output[-4000:]}\n{explain()}")
    if done.returncode != 0:
        output = (done.stdout + done.stderr)[-4000:]
        pytest.fail(f"`{' '.join(command)}` exited {done.returncode}:\n{output}\n{explain()}")
    return done.stdout


def _compose_command() -> list[str]:
    """Compose v2 (`docker compose`) where the plugin is installed, else v1 (`docker-compose`, Debian's)."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("Docker works, but neither `docker compose` nor `docker-compose` is installed")


class Deployment:
    """One compose project made of docker-compose.yml and the host-network override."""

    def __init__(self, image: str, port: int, postgres_port: int) -> None:
        self.project = f"recsys-smoke-{uuid.uuid4().hex[:8]}"
        self.label = f"label=com.docker.compose.project={self.project}"
        self.port = port
        self.compose_command = [*_compose_command(), "-p", self.project, *COMPOSE_FILES]
        # The caller's own RECSYS_* settings (a local RECSYS_DATA, say) must not leak into the containers.
        self.env = {name: value for name, value in os.environ.items() if not name.startswith(("RECSYS_", "COMPOSE_"))}
        self.env.update(RECSYS_IMAGE=image, RECSYS_PORT=str(port), RECSYS_ADMIN_TOKEN=ADMIN_TOKEN,
                        RECSYS_EVENTS_TOKEN=EVENTS_TOKEN, RECSYS_POSTGRES_HOST="127.0.0.1",
                        RECSYS_POSTGRES_PORT=str(postgres_port),
                        RECSYS_TRAIN_ARGS=" ".join(f"--set {setting}" for setting in SMOKE_TRAINING))

    def compose(self, *args: str, timeout: float = 120) -> str:
        __tracebackhide__ = True
        return _run([*self.compose_command, *args], timeout, self.env, explain=self.logs)

    def containers(self, service: str | None = None) -> list[str]:
        """Ids of the project's containers (of one service), one-off ones included, newest first."""
        service_filter = ["--filter", f"label=com.docker.compose.service={service}"] if service else []
        return _run(["docker", "ps", "--all", "--quiet", "--filter", self.label, *service_filter], 30).split()

    def inspect(self, container: str, template: str) -> str:
        return _run(["docker", "inspect", "--format", template, container], 30).strip()

    def logs(self) -> str:
        """The last lines of every container's output."""
        parts = []
        for service in ("postgres", "trainer", "api"):
            for container in self.containers(service):
                done = subprocess.run(["docker", "logs", "--tail", "60", container], capture_output=True, text=True)
                parts.append(f"--- {service} {container} ---\n{done.stdout}{done.stderr}")
        return "\n".join(parts)

    def fail(self, message: str) -> NoReturn:
        __tracebackhide__ = True
        pytest.fail(f"{message}\n{self.logs()}")

    def down(self) -> None:
        """Containers (one-off ones too), network and `artifacts` volume. Whatever `down` leaves behind is
        removed by the project's label, and fails the test."""
        done = subprocess.run([*self.compose_command, "down", "--volumes", "--remove-orphans", "--timeout", "10"],
                              cwd=REPO, env=self.env, capture_output=True, text=True, timeout=300)
        containers = self.containers()
        volumes = _run(["docker", "volume", "ls", "--quiet", "--filter", self.label], 30).split()
        if containers:
            _run(["docker", "rm", "--force", "--volumes", *containers], 120)
        if volumes:
            _run(["docker", "volume", "rm", "--force", *volumes], 120)
        if done.returncode or containers or volumes:
            pytest.fail(f"`compose down` exited {done.returncode} and left containers {containers}, volumes {volumes}:"
                        f"\n{(done.stdout + done.stderr)[-2000:]}")


@pytest.fixture
def smoke_report(tmp_path, capsys):
    """Measurements, printed and written to container_smoke.json at the end (total_seconds: engine set-up,
    build, test and teardown)."""
    report: dict[str, object] = {}
    started = time.monotonic()
    yield report
    if report:
        report["total_seconds"] = round(time.monotonic() - started, 1)
        path = tmp_path / "container_smoke.json"
        path.write_text(json.dumps(report, indent=2))
        _tell(capsys, f"{json.dumps(report)} (written to {path})")


@pytest.fixture
def docker_engine(smoke_report, capsys):
    started = time.monotonic()
    if not CONTAINER_BASE.exists():
        reason = f"{CONTAINER_BASE} is absent, so no Docker engine can be set up here (CI has it)"
        _tell(capsys, f"SKIPPED: {reason}")
        pytest.skip(reason)
    try:
        done = subprocess.run(["bash", str(CONTAINER_BASE)], capture_output=True, text=True, timeout=1200)
        failure = f"exited {done.returncode}: {(done.stdout + done.stderr)[-1500:]}" if done.returncode else ""
    except subprocess.TimeoutExpired:
        failure = "did not finish within 1200 s"
    if failure:
        reason = f"no Docker engine: {CONTAINER_BASE} {failure}"
        _tell(capsys, f"SKIPPED: {reason}")
        pytest.skip(reason)
    smoke_report["engine_setup_seconds"] = round(time.monotonic() - started, 1)


@pytest.fixture
def image(docker_engine, smoke_report, capsys):
    tag = f"recsys-service:smoke-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    _run(["docker", "build", "--network", "host", "--tag", tag, str(REPO)], timeout=1500)
    smoke_report["build_seconds"] = round(time.monotonic() - started, 1)
    smoke_report["image_bytes"] = int(_run(["docker", "image", "inspect", "--format", "{{.Size}}", tag], 30))
    _tell(capsys, f"built {tag} in {smoke_report['build_seconds']} s, "
                  f"image size {smoke_report['image_bytes'] / 1e9:.2f} GB")
    yield tag
    # The tag goes; the layers under it stay as build cache, so the next run builds in seconds.
    _run(["docker", "rmi", "--no-prune", tag], 120)


@pytest.fixture
def postgres_image(docker_engine, smoke_report):
    """The official image where it is present, else the stand-in built under its name (no registry here)."""
    present = subprocess.run(["docker", "image", "inspect", POSTGRES_IMAGE], capture_output=True).returncode == 0
    if not present:
        started = time.monotonic()
        _run(["docker", "build", "--network", "host", "--tag", POSTGRES_IMAGE,
              str(REPO / "tests" / "containers" / "postgres")], timeout=900)
        smoke_report["postgres_standin_build_seconds"] = round(time.monotonic() - started, 1)
    return POSTGRES_IMAGE


@pytest.fixture
def deployment(image, postgres_image):
    deployment = Deployment(image, free_port(), free_port())
    try:
        yield deployment
    finally:
        deployment.down()


def _wait_until_ready(deployment: Deployment, api: str, client: httpx.Client, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if deployment.inspect(api, "{{.State.Status}}") != "running":
            deployment.fail("the api container stopped before it was ready")
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(1)
    deployment.fail(f"/readyz did not answer 200 within {timeout:.0f} s")


def _wait_until_healthy(deployment: Deployment, api: str, timeout: float) -> None:
    """The image's HEALTHCHECK (every 15 s) must see the API on its non-default port."""
    deadline = time.monotonic() + timeout
    while (status := deployment.inspect(api, "{{.State.Health.Status}}")) != "healthy":
        if time.monotonic() > deadline:
            deployment.fail(f"the api container is {status!r}, not healthy, {timeout:.0f} s after /readyz")
        time.sleep(2)


def _check_answers(client: httpx.Client) -> None:
    recommended = client.get("/recommend/u1", params={"k": 5})
    assert recommended.status_code == 200, recommended.text
    items = recommended.json()["items"]
    assert len(items) == 5 and all(item["item_id"].startswith("i") for item in items)

    session = client.post("/session/next", json={"items": ["i1", "i2"], "k": 5})
    assert session.status_code == 200, session.text
    assert session.json()["items"]

    rating = client.post("/predict-rating", json={"user_id": "u1", "item_id": "i2"})
    assert rating.status_code == 200, rating.text
    assert 1.0 <= rating.json()["rating"] <= 5.0

    unknown = client.post("/predict-rating", json={"user_id": "u1", "item_id": "no-such-item"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_item" and "no-such-item" in unknown.json()["error"]["message"]


def _check_events(client: httpx.Client) -> None:
    """Events go to PostgreSQL through the API, and the next request reflects them."""
    auth = {"Authorization": f"Bearer {EVENTS_TOKEN}"}
    popular = [item["item_id"] for item in client.get("/recommend/container-visitor").json()["items"]]
    logged = client.post("/events", headers=auth, json={"events": [
        {"user_id": "container-visitor", "item_id": item, "type": "click"} for item in popular[:6]]})
    assert logged.status_code == 200 and logged.json() == {"accepted": 6, "rejected": []}, logged.text
    served = client.get("/recommend/container-visitor").json()
    assert served["strategy"] == "history" and not set(popular[:6]) & {item["item_id"] for item in served["items"]}


def test_compose_trains_serves_and_rolls_to_a_new_version(deployment, smoke_report, capsys):
    started = time.monotonic()
    # `run` starts the trainer first (depends_on: service_completed_successfully) and publishes no ports,
    # which host networking forbids (see docker-compose.hostnet.yml).
    deployment.compose("run", "--detach", "api", timeout=900)
    smoke_report["train_and_start_seconds"] = round(time.monotonic() - started, 1)
    trainer, api = deployment.containers("trainer")[0], deployment.containers("api")[0]
    if deployment.inspect(trainer, "{{.State.ExitCode}}") != "0":
        deployment.fail("the trainer did not complete successfully")
    assert deployment.inspect(api, "{{.Config.User}}") == "recsys"

    with httpx.Client(base_url=f"http://127.0.0.1:{deployment.port}", timeout=30) as client:
        _wait_until_ready(deployment, api, client, timeout=300)
        smoke_report["ready_seconds"] = round(time.monotonic() - started, 1)
        _check_answers(client)
        _check_events(client)
        _wait_until_healthy(deployment, api, timeout=90)
        first = client.get("/models").json()["version"]

        # Roll: a second trainer run publishes a new version into the same volume; reload swaps to it.
        rolled = time.monotonic()
        deployment.compose("run", "--rm", "-T", "trainer", timeout=900)
        assert client.post("/admin/reload").status_code == 401  # the compose file passed the token through
        reloaded = client.post("/admin/reload", headers=ADMIN)
        assert reloaded.status_code == 200, reloaded.text
        second = reloaded.json()["model_version"]
        assert second != first and client.get("/models").json()["version"] == second
        assert client.get("/models").json()["events"]["cutoff_id"] >= 6  # the trainer learned the logged events
        assert client.get("/recommend/container-visitor").json()["strategy"] == "personalized"
        _check_answers(client)
        smoke_report["roll_seconds"] = round(time.monotonic() - rolled, 1)

    smoke_report["smoke_seconds"] = round(time.monotonic() - started, 1)
    _tell(capsys, f"trained and ready in {smoke_report['ready_seconds']} s, rolled {first} -> {second} "
                  f"in {smoke_report['roll_seconds']} s")


def test_the_replicas_profile_is_valid_and_its_load_balancer_runs(docker_engine, smoke_report, capsys):
    """The `replicas` profile parses (both compose versions read the file) and names the replica and the
    balancer; the balancer's image (deploy/nginx: Debian's nginx on the local base) builds and, started
    in front of a replica that is down, renders its configuration and answers 502."""
    compose = [*_compose_command(), "-f", "docker-compose.yml", "--profile", "replicas"]
    environment = {name: value for name, value in os.environ.items() if not name.startswith(("RECSYS_", "COMPOSE_"))}
    _run([*compose, "config", "--quiet"], 60, environment)
    assert {"api-replica", "lb"} <= set(_run([*compose, "config", "--services"], 60, environment).split())

    tag, port = f"recsys-lb:smoke-{uuid.uuid4().hex[:8]}", free_port()
    started = time.monotonic()
    _run(["docker", "build", "--network", "host", "--tag", tag, str(REPO / "deploy" / "nginx")], timeout=900)
    smoke_report["load_balancer_build_seconds"] = round(time.monotonic() - started, 1)
    container = _run(["docker", "run", "--detach", "--network", "host", "-e",
                      f"RECSYS_UPSTREAMS=127.0.0.1:{free_port()}", "-e", f"RECSYS_LB_PORT={port}", tag], 60).strip()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    logs = subprocess.run(["docker", "logs", container], capture_output=True, text=True)
                    pytest.fail(f"the load balancer did not answer: {logs.stdout}{logs.stderr}")
                time.sleep(0.5)
        assert status == 502
    finally:
        _run(["docker", "rm", "--force", container], 60)
        _run(["docker", "rmi", "--no-prune", tag], 120)
    _tell(capsys, f"load balancer image built in {smoke_report['load_balancer_build_seconds']} s; answers 502 with "
                  "its replica down")
