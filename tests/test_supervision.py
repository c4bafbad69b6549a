"""The supervised model process, through the real server: a killed, a stopped (hung) and an
unloadable model process while clients send requests; every request is answered within its deadline
with 200 or 503 (never 500), and service comes back within the stated bound."""

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from models import artifact_format as fmt
from tests.serving import Traffic, model_process, running_server
from tests.versions import copy_version

DEADLINE_S = 4.0
MODEL_TIMEOUT_S = 1.0
RECOVERY_BOUND_S = 90.0  # a new model process loads the tiny version in ~10 s; CI machines are slower
SETTINGS = {"request_timeout_s": str(DEADLINE_S), "model_timeout_s": str(MODEL_TIMEOUT_S),
            "model_check_interval_s": "0.25"}


@pytest.fixture
def root(trained_version, tmp_path):
    """An artifact root of its own (tests here damage files), with LATEST naming copy-1."""
    copy_version(trained_version, tmp_path, "copy-1")
    (tmp_path / fmt.LATEST).write_text("copy-1\n")
    return tmp_path


def _wait(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (value := predicate()) is not None:
            return value
        time.sleep(0.05)
    pytest.fail(f"{what} did not happen within {timeout_s:.0f} s")


def _recovered_after(server, fault_at: float, old_pid: int) -> float:
    """Seconds from the fault until a new model process answered a model request."""
    def served_by_a_new_process():
        response = httpx.get(f"{server.url}/recommend/u1", timeout=DEADLINE_S + 1)
        if response.status_code == 200 and model_process(server.pid) != old_pid:
            return time.monotonic() - fault_at
        return None

    return _wait(served_by_a_new_process, RECOVERY_BOUND_S, "recovery")


def _check_answers(traffic: Traffic, fault_at: float) -> dict:
    answers = traffic.answers
    statuses = {answer.status for answer in answers}
    assert statuses <= {200, 503}, f"answers other than 200/503: {statuses}"
    slow = [answer for answer in answers if answer.seconds > DEADLINE_S + 1.0]
    assert not slow, f"{len(slow)} requests waited beyond the deadline: {max(a.seconds for a in slow):.1f} s"
    unavailable = [answer for answer in answers if answer.status == 503]
    assert unavailable and all(answer.retry_after for answer in unavailable)
    assert {answer.code for answer in unavailable} <= {"model_unavailable", "not_ready"}
    assert any(answer.status == 200 and answer.sent < fault_at for answer in answers)
    first_refusal = min(answer.sent + answer.seconds for answer in unavailable)
    return {"answers": len(answers), "refused": len(unavailable), "first_503_after_s": first_refusal - fault_at,
            "longest_wait_s": max(answer.seconds for answer in answers)}


@pytest.mark.parametrize("fault", [signal.SIGKILL, signal.SIGSTOP], ids=["kill-9", "sigstop"])
def test_a_dead_or_hung_model_process_is_replaced_while_clients_send(root, fault, capsys):
    with running_server(root, **SETTINGS) as server:
        old_pid = model_process(server.pid)
        with Traffic(server.url, clients=3) as traffic:
            time.sleep(1.5)
            fault_at = time.monotonic()
            os.kill(old_pid, fault)
            reason = _wait(lambda: (r := httpx.get(f"{server.url}/readyz", timeout=5)).status_code == 503
                           and r.json()["error"]["details"]["reason"] or None, 10, "/readyz turning 503")
            detected = time.monotonic() - fault_at
            assert httpx.get(f"{server.url}/healthz").status_code == 200  # the HTTP side never went down
            recovery = _recovered_after(server, fault_at, old_pid)
            time.sleep(0.5)
        figures = _check_answers(traffic, fault_at)
        assert not Path(f"/proc/{old_pid}").exists() or "zombie" in Path(f"/proc/{old_pid}/status").read_text()
        assert "a new one is starting" in reason
        if fault == signal.SIGSTOP:
            assert "stopped" in reason and detected < MODEL_TIMEOUT_S + 2
        metrics = httpx.get(f"{server.url}/metrics").text
        assert "recsys_model_process_restarts_total 1.0" in metrics
        with capsys.disabled():
            print(f"\n[{signal.Signals(fault).name}] /readyz 503 after {detected:.2f} s ({reason!r}); "
                  f"served again after {recovery:.1f} s; {figures}")


def test_a_replacement_that_cannot_load_the_version_keeps_the_service_unready(root):
    seen = root / "copy-1" / fmt.SEEN
    intact = seen.read_bytes()
    with running_server(root, **SETTINGS) as server:
        old_pid = model_process(server.pid)
        seen.write_bytes(intact[:-1] + bytes([intact[-1] ^ 1]))  # damaged on disk after it was loaded
        os.kill(old_pid, signal.SIGKILL)

        def cannot_load():
            response = httpx.get(f"{server.url}/readyz", timeout=5)
            reason = response.json().get("error", {}).get("details", {}).get("reason", "")
            return reason if response.status_code == 503 and "could not load" in reason else None

        reason = _wait(cannot_load, 60, "the replacement failing to load")
        assert "copy-1/seen.npz does not match its sha256" in reason and str(root) not in reason
        for _ in range(5):
            refused = httpx.get(f"{server.url}/recommend/u1", timeout=DEADLINE_S + 1)
            assert refused.status_code == 503 and refused.headers["retry-after"]
            assert refused.json()["error"]["code"] in ("not_ready", "model_unavailable")
        seen.write_bytes(intact)  # repaired: the next retry serves again
        _recovered_after(server, time.monotonic(), old_pid)
