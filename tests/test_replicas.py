"""Replicas behind the load balancer: the compose profile's nginx (deploy/nginx, its own entrypoint and
template) in front of two real servers sharing the artifacts and the event log. Traffic through nginx
reaches both; a new version published while it flows is picked up by both replicas (each follows
LATEST) without a failed request, and an event written through one replica shows on the other.

nginx comes from Debian's package: found on the PATH, or installed with apt-get where the test runs as
root (CI); elsewhere the test skips and says why."""

import os
import shutil
import subprocess
import time

import httpx
import pytest

from models import artifact_format as fmt
from tests.conftest import REPO
from tests.serving import Traffic, free_port, running_server
from tests.versions import copy_version

NGINX = REPO / "deploy" / "nginx"
TOKEN = "replicas-test-events-token-0123"


def debian_nginx() -> str:
    if found := shutil.which("nginx"):
        return found
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "nginx-light"]):
            done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=environment)
            if done.returncode != 0:
                pytest.skip(f"nginx could not be installed ({' '.join(command)}: {done.stderr[-500:]})")
        if found := shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin"):
            return found
    pytest.skip("no nginx here, and it can only be installed as root with apt-get (CI does)")


def _requests_served(url: str) -> float:
    """Model requests a replica answered, from its Prometheus metrics."""
    total = 0.0
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith("recsys_requests_total{") and ('route="/recommend' in line or 'route="/predict' in line):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_replicas_behind_nginx_roll_to_a_new_version_without_a_failed_request(trained_version, tmp_path):
    nginx = debian_nginx()
    root = tmp_path / "artifacts"
    root.mkdir()
    copy_version(trained_version, root, "v1")
    (root / fmt.LATEST).write_text("v1\n")
    settings = {"reload_poll_s": "1", "events_token": TOKEN, "events_url": f"sqlite:///{tmp_path}/events.db"}
    with running_server(root, **settings) as first, running_server(root, **settings) as second:
        port = free_port()
        environment = {**os.environ, "PATH": f"{os.path.dirname(nginx)}:{os.environ['PATH']}",
                       "RECSYS_UPSTREAMS": f"{first.url[7:]} {second.url[7:]}", "RECSYS_LB_PORT": str(port)}
        balancer = subprocess.Popen([str(NGINX / "entrypoint.sh"), str(NGINX / "nginx.conf.template"),
                                     str(tmp_path / "lb.conf")], env=environment, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
        lb = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{lb}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            assert balancer.poll() is None, balancer.stdout.read()

            with Traffic(lb) as traffic:
                time.sleep(2)
                copy_version(trained_version, root, "v2")
                (root / ".LATEST.tmp").write_text("v2\n")
                (root / ".LATEST.tmp").rename(root / fmt.LATEST)
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and any(
                        httpx.get(f"{server.url}/models", timeout=10).json()["version"] != "v2"
                        for server in (first, second)):
                    time.sleep(0.5)
                time.sleep(2)
            assert all(httpx.get(f"{server.url}/models").json()["version"] == "v2" for server in (first, second))
            failed = [answer for answer in traffic.answers if answer.status != 200]
            assert len(traffic.answers) > 100 and not failed, failed[:5]
            assert {answer.model_version for answer in traffic.answers} == {"v1", "v2"}
            assert _requests_served(first.url) > 10 and _requests_served(second.url) > 10  # both took a share

            # One truth: an event through the balancer shows on both replicas.
            items = fmt.read_vocab(trained_version / fmt.ITEM_VOCAB)[:3]
            logged = httpx.post(f"{lb}/events", headers={"Authorization": f"Bearer {TOKEN}"}, json={"events": [
                {"user_id": "lb-visitor", "item_id": item, "type": "view"} for item in items]})
            assert logged.json()["accepted"] == 3
            for server in (first, second):
                assert httpx.get(f"{server.url}/recommend/lb-visitor").json()["strategy"] == "history"
        finally:
            balancer.terminate()
            balancer.wait(timeout=10)
