"""The client side of the serving benchmark: drive one endpoint with a bounded load and measure it.

Two load generators, both outside the benchmark's own process:
- ``wrk`` (preferred: C, so on a 2-core machine it takes little CPU from the server), driven by a
  generated Lua script that cycles through the pre-generated requests; its ``--latency`` output is parsed.
- this module run as ``python -m benchmarks.loadgen`` (JSON spec on stdin, JSON measurement on stdout):
  ``concurrency`` asyncio workers on one keep-alive ``httpx.AsyncClient`` loop over the requests until
  a request count or a duration is reached, whichever comes first. It competes with the server for CPU.

Only the standard library and httpx are imported here, so the client process stays small.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

TIMEOUT_S = 10  # a request slower than this counts as an error (wrk: a socket timeout)
JSON_HEADERS = {"content-type": "application/json"}
REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # with the query string, already URL-encoded
    body: str | None = None  # JSON
    headers: tuple[tuple[str, str], ...] = ()  # e.g. (("Authorization", "Bearer ..."),)

    def all_headers(self) -> dict[str, str]:
        return {**(JSON_HEADERS if self.body is not None else {}), **dict(self.headers)}


@dataclass(frozen=True)
class Measurement:
    requests: int  # answered (non-2xx included; connection errors and timeouts are not)
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int  # non-2xx answers, connection errors and timeouts


def percentile(sorted_values: list[float], percent: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``percent``% of the values at or below
    it (what HdrHistogram, and so wrk, reports)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(percent / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize(latencies_ms: list[float], errors: int, elapsed_s: float) -> Measurement:
    """``latencies_ms`` of the answered requests; ``errors`` counts non-2xx answers and failed requests."""
    ordered = sorted(latencies_ms)
    return Measurement(requests=len(ordered), rps=len(ordered) / elapsed_s,
                       p50_ms=percentile(ordered, 50), p90_ms=percentile(ordered, 90),
                       p99_ms=percentile(ordered, 99), errors=errors)


def warm_up(url: str, endpoint: str, requests: list[Request], count: int) -> None:
    """Sequential requests before timing (first model calls, thread pool, connections); failures are
    reported, because they mean the traffic or the server is wrong."""
    failures: list[httpx.Response] = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for request in itertools.islice(itertools.cycle(requests), count):
            response = client.request(request.method, request.path, content=request.body,
                                      headers=request.all_headers())
            if not response.is_success:
                failures.append(response)
    if failures:
        print(f"warning: {len(failures)} of {count} warm-up requests to {endpoint} failed; first: "
              f"{failures[0].status_code} {failures[0].text[:300]}", file=sys.stderr)


# --- httpx, in a child process ------------------------------------------------------------------

async def _drive(base_url: str, requests: list[Request], concurrency: int, max_requests: int,
                 duration_s: float) -> Measurement:
    latencies_ms: list[float] = []
    errors = 0
    issued = itertools.count()  # shared by the workers; asyncio runs one at a time, so no lock
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while (index := next(issued)) < max_requests and time.perf_counter() < deadline:
            request = requests[index % len(requests)]
            started = time.perf_counter()
            try:
                response = await client.request(request.method, request.path, content=request.body,
                                                headers=request.all_headers())
            except httpx.HTTPError:
                errors += 1
                continue
            latencies_ms.append((time.perf_counter() - started) * 1000)
            errors += not 200 <= response.status_code < 300

    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=TIMEOUT_S) as client:
        started = time.perf_counter()
        deadline = started + duration_s
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return summarize(latencies_ms, errors, elapsed)


def run_httpx(base_url: str, requests: list[Request], concurrency: int, max_requests: int,
              duration_s: float) -> Measurement:
    """Run the async client in a fresh Python process and return its measurement."""
    spec = {"base_url": base_url, "concurrency": concurrency, "max_requests": max_requests,
            "duration_s": duration_s, "requests": [asdict(request) for request in requests]}
    result = subprocess.run([sys.executable, "-m", "benchmarks.loadgen"], input=json.dumps(spec), cwd=REPO,
                            capture_output=True, text=True, timeout=duration_s + 120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"the httpx load generator failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return Measurement(**json.loads(result.stdout))


def main() -> None:
    spec = json.load(sys.stdin)
    requests = [Request(**{**request, "headers": tuple(map(tuple, request["headers"]))})
                for request in spec["requests"]]
    measurement = asyncio.run(_drive(spec["base_url"], requests, spec["concurrency"], spec["max_requests"],
                                     spec["duration_s"]))
    json.dump(asdict(measurement), sys.stdout)


# --- wrk ---------------------------------------------------------------------------------------

_WRK_SCRIPT = """
-- Generated by benchmarks/loadgen.py: cycle through pre-generated requests, each thread from its own offset.
local next_offset = 0
function setup(thread)
  thread:set("offset", next_offset)
  next_offset = next_offset + 7919
end
function init(args)
  formatted = {}
  for i, r in ipairs(requests) do
    local headers = {}
    if r[3] then headers["Content-Type"] = "application/json" end
    for name, value in pairs(r[4]) do headers[name] = value end
    formatted[i] = wrk.format(r[1], r[2], headers, r[3])
  end
  counter = offset or 0
end
function request()
  counter = counter % #formatted + 1
  return formatted[counter]
end
"""


def lua_string(text: str) -> str:
    """A Lua string literal; every byte outside printable ASCII (and quote, backslash) as a \\ddd escape."""
    return '"' + "".join(chr(byte) if 32 <= byte < 127 and byte not in (34, 92) else f"\\{byte:03d}"
                         for byte in text.encode()) + '"'


def wrk_script(requests: list[Request]) -> str:
    rows = ",\n".join(f"  {{{lua_string(r.method)}, {lua_string(r.path)}, "
                      f"{lua_string(r.body) if r.body is not None else 'nil'}, "
                      f"{{{', '.join(f'[{lua_string(name)}] = {lua_string(value)}' for name, value in r.headers)}}}}}"
                      for r in requests)
    return f"requests = {{\n{rows}\n}}\n{_WRK_SCRIPT}"


_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _duration_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text).groups()
    return float(number) * _UNIT_MS[unit]


def parse_wrk(output: str) -> Measurement:
    """Requests, requests/s, p50/p90/p99 and errors (non-2xx/3xx + socket errors) from ``wrk --latency``."""
    def find(pattern: str) -> re.Match:
        match = re.search(pattern, output)
        if match is None:
            raise ValueError(f"wrk output has no {pattern!r}:\n{output}")
        return match

    latency = {int(percent): _duration_ms(value)
               for percent, value in re.findall(r"^\s+(\d+)%\s+([\d.]+\w+)\s*$", output, re.MULTILINE)}
    if not {50, 90, 99} <= latency.keys():
        raise ValueError(f"wrk output has no latency distribution (was --latency given?):\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, sockets.groups())) if sockets else 0)
    return Measurement(requests=int(find(r"(\d+) requests in ").group(1)),
                       rps=float(find(r"Requests/sec:\s+([\d.]+)").group(1)),
                       p50_ms=latency[50], p90_ms=latency[90], p99_ms=latency[99], errors=errors)


def run_wrk(wrk: str, base_url: str, requests: list[Request], concurrency: int, duration_s: int) -> Measurement:
    """wrk runs for ``duration_s`` (whole seconds: wrk takes no fractions); it has no request-count limit."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="bench-") as script:
        script.write(wrk_script(requests))
        script.flush()
        command = [wrk, f"-t{min(2, concurrency)}", f"-c{concurrency}", f"-d{duration_s}s", "--latency",
                   f"--timeout={TIMEOUT_S}s", "-s", script.name, base_url + "/"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=duration_s + 120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr[-3000:]}")
    return parse_wrk(result.stdout)


if __name__ == "__main__":
    main()
