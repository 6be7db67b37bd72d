"""Start-up time of warrant on an existing data dir, for bench/run.

  startup.py N PORT CORE WARRANT_BIN DATA_DIR

Starts `warrant serve` N times (pinned to CORE, as the benchmark server is), each time
measuring from just before the exec (time.perf_counter around subprocess start) to the
first 200 answer to GET /ping, polling every 1 ms. Stops each with SIGTERM and waits
for it to exit before the next. Prints one JSON object: {"runs_ms": [...],
"median_ms": .., "max_ms": .., "min_ms": ..}.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time


def ping(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/ping")
        return conn.getresponse().status == 200
    except (ConnectionError, socket.timeout, http.client.HTTPException, OSError):
        return False
    finally:
        conn.close()


def once(port: int, core: int, binary: str, data_dir: str, log) -> float:
    argv = [binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir]
    t0 = time.perf_counter()
    p = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=log,
        preexec_fn=lambda: os.sched_setaffinity(0, {core}),
    )
    try:
        deadline = t0 + 10
        while True:
            if ping(port):
                t1 = time.perf_counter()
                break
            if p.poll() is not None:
                raise SystemExit(f"warrant exited with {p.returncode} before answering /ping")
            if time.perf_counter() > deadline:
                raise SystemExit("warrant did not answer /ping within 10 s")
            time.sleep(0.001)
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return (t1 - t0) * 1000.0


def main() -> None:
    n, port, core, binary, data_dir = (
        int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
    runs = []
    with open(os.path.join(os.path.dirname(data_dir.rstrip("/")), "startup.log"), "ab") as log:
        for _ in range(n):
            runs.append(once(port, core, binary, data_dir, log))
    print(json.dumps({
        "runs_ms": [round(r, 2) for r in runs],
        "median_ms": round(statistics.median(runs), 2),
        "max_ms": round(max(runs), 2),
        "min_ms": round(min(runs), 2),
    }))


if __name__ == "__main__":
    main()
