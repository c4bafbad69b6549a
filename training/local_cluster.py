"""``recsys-train --workers N``: N training workers as local processes, for development on one machine.

Each worker runs the same command (``recsys-train`` without ``--workers``, or a benchmark's) with a
``TF_CONFIG`` naming all N on localhost (free ports chosen here) and its own index; on a cluster, each
machine's worker gets ``TF_CONFIG`` from its environment instead and runs the command without
``--workers``. Worker 0 (the chief) writes the version and logs as usual; the others log warnings
only (``RECSYS_LOG_LEVEL``). If one worker fails, the others are stopped, since they would wait for
it at the next step.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import time

log = logging.getLogger("recsys.train")


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def tf_config(addresses: list[str], index: int) -> str:
    return json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})


def run_local_workers(workers: int, command: list[str]) -> int:
    """Run ``command`` as ``workers`` local processes, each with its ``TF_CONFIG``; the exit status is
    the chief's, or the first failing worker's."""
    addresses = [f"127.0.0.1:{port}" for port in free_ports(workers)]
    log.info("starting %d local training workers on %s", workers, ", ".join(addresses))
    processes = []
    for index in range(workers):
        quiet = {"RECSYS_LOG_LEVEL": "WARNING", "TQDM_DISABLE": "1"} if index else {}
        processes.append(subprocess.Popen(command, env={**os.environ, "TF_CONFIG": tf_config(addresses, index),
                                                        **quiet}))
    try:
        while True:
            codes = [process.poll() for process in processes]
            failed = [(index, code) for index, code in enumerate(codes) if code not in (None, 0)]
            if failed:
                index, code = failed[0]
                log.error("training worker %d exited with status %d: stopping the others", index, code)
                return code
            if all(code == 0 for code in codes):
                return 0
            time.sleep(0.5)
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            process.wait()
