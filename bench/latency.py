"""Latency of a constant-rate oha run from its --db-url database, for bench/run.

  latency.py DB SKIP_S DURATION_S > NAME.steady.json

Keeps the requests whose scheduled time (oha's latency-corrected start) falls in
[SKIP_S, SKIP_S + DURATION_S): the first SKIP_S seconds of each oha process are its
warm-up (64 connections being opened while the schedule already runs), measured apart.
Latency is end minus scheduled time, so a stall counts for every request it delays
(no coordinated omission). Prints one JSON object.
"""

from __future__ import annotations

import json
import sqlite3
import sys


def pct(sorted_vals: list[float], q: float) -> float | None:
    if not sorted_vals:
        return None
    return sorted_vals[min(len(sorted_vals) - 1, int(q * len(sorted_vals)))] * 1000.0


def main() -> None:
    db, skip, dur = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT COALESCE(start_latency_correction, start), end, status FROM oha"
    ).fetchall()
    con.close()
    steady = [(s, e, st) for s, e, st in rows if skip <= s < skip + dur]
    warm = sorted(e - s for s, e, _ in rows if s < skip)
    lat = sorted(e - s for s, e, _ in steady)
    out = {
        "window_s": [skip, skip + dur],
        "responses": len(steady),
        "rps": len(steady) / dur if dur else 0.0,
        "non_200": sum(1 for *_, st in steady if st != 200),
        "p50_ms": pct(lat, 0.50),
        "p90_ms": pct(lat, 0.90),
        "p99_ms": pct(lat, 0.99),
        "p99_9_ms": pct(lat, 0.999),
        "max_ms": lat[-1] * 1000.0 if lat else None,
        "warmup_responses": len(warm),
        "warmup_p99_ms": pct(warm, 0.99),
        "warmup_max_ms": warm[-1] * 1000.0 if warm else None,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
