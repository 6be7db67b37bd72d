"""Summary of a bench/run: reads the wrk/oha results, CPU counters and start-up timings
from the run's work dir; prints the table, the ratio to the baseline, each target's
verdict.

  summary.py WORK ROUNDS HALF_RPS HELLO_RSS_KIB WARRANT_RSS_IDLE_KIB WARRANT_RSS_AFTER_KIB CONNS SECONDS

Exit 0 when every target is met, 1 otherwise. With BENCH_JSON=FILE, also writes the
figures there as JSON.
"""

from __future__ import annotations

import json
import os
import statistics
import sys

# The targets (issue): ratio to the baseline, p99 at half rate, start-up, idle RSS.
MIN_RATIO = 0.35
MAX_P99_MS = 2.0
MAX_STARTUP_MS = 100.0
MAX_IDLE_RSS_MIB = 30.0

DEADLINE_ERR = "aborted due to deadline"


def load(work: str, name: str) -> dict:
    with open(os.path.join(work, name)) as f:
        return json.load(f)


def cpu(work: str, name: str) -> dict[str, float]:
    """Busy share of each core between NAME.before.stat and NAME.after.stat."""

    def read(path: str) -> dict[str, list[int]]:
        out = {}
        with open(path) as f:
            for line in f:
                p = line.split()
                out[p[0]] = [int(x) for x in p[1:]]
        return out

    a = read(os.path.join(work, f"{name}.before.stat"))
    b = read(os.path.join(work, f"{name}.after.stat"))
    busy = {}
    for k in a:
        d = [y - x for x, y in zip(a[k], b[k])]
        total = sum(d[:8])
        idle = d[3] + d[4]
        busy[k] = 100.0 * (1 - idle / total) if total else 0.0
    return busy


def others_cpu(work: str) -> float | None:
    """Share of one core used during the run by processes that are not this run's:
    the machine's user+system time less the children's (bash `times`), per wall second."""

    def children_s(path: str) -> float:
        with open(path) as f:
            lines = f.read().split("\n")
        total = 0.0
        for tok in lines[1].split():  # second line: children's user and system time
            m, sec = tok.rstrip("s").split("m")
            total += int(m) * 60 + float(sec)
        return total

    def machine(path: str) -> tuple[float, float]:
        with open(path) as f:
            rows = [l.split() for l in f]
        busy = sum(int(r[1]) + int(r[2]) + int(r[3]) for r in rows) / os.sysconf("SC_CLK_TCK")
        wall = sum(sum(int(x) for x in r[1:9]) for r in rows) / len(rows) / os.sysconf("SC_CLK_TCK")
        return busy, wall

    try:
        b0, w0 = machine(os.path.join(work, "run.before.stat"))
        b1, w1 = machine(os.path.join(work, "run.after.stat"))
        ours = children_s(os.path.join(work, "times.after")) - children_s(os.path.join(work, "times.before"))
    except (OSError, ValueError, IndexError):
        return None
    return max(0.0, (b1 - b0) - ours) / (w1 - w0) if w1 > w0 else None


def wrk_figures(work: str, name: str) -> dict:
    d = load(work, f"{name}.json")
    c = cpu(work, name)
    return {
        "rps": d["requests"] / d["duration_us"] * 1e6,
        "requests": d["requests"],
        "non_2xx_3xx": d["non_2xx_3xx"],
        "socket_errors": d["connect_errors"] + d["read_errors"] + d["write_errors"] + d["timeouts"],
        "p50_ms": d["p50_us"] / 1000.0,
        "p99_ms": d["p99_us"] / 1000.0,
        "cpu0_busy": c.get("cpu0"),
        "cpu1_busy": c.get("cpu1"),
    }


def oha_figures(work: str, name: str) -> dict:
    """A constant-rate run: steady-state figures from NAME.steady.json (bench/latency.py),
    errors and the whole-run p99 (with oha's first second) from oha's own NAME.json."""
    r = load(work, f"{name}.json")
    st = load(work, f"{name}.steady.json")
    codes = {str(k): int(v) for k, v in (r.get("statusCodeDistribution") or {}).items()}
    errors = {str(k): int(v) for k, v in (r.get("errorDistribution") or {}).items()}
    whole = (r.get("latencyPercentiles") or {}).get("p99")
    c = cpu(work, name)
    return {
        "rps": st["rps"],
        "responses": st["responses"],
        "non_200": st["non_200"] + sum(v for k, v in codes.items() if k != "200"),
        "status_codes": codes,
        # Requests in flight when -z ends are cut by oha: not failures of the server.
        "errors": {k: v for k, v in errors.items() if DEADLINE_ERR not in k},
        "p50_ms": st["p50_ms"],
        "p90_ms": st["p90_ms"],
        "p99_ms": st["p99_ms"],
        "p99_9_ms": st["p99_9_ms"],
        "max_ms": st["max_ms"],
        "first_second_p99_ms": st["warmup_p99_ms"],
        "whole_run_p99_ms": None if whole is None else whole * 1000.0,
        "cpu0_busy": c.get("cpu0"),
        "cpu1_busy": c.get("cpu1"),
    }


def fmt(v: float | None, nd: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{nd}f}"


def main() -> int:
    work = sys.argv[1]
    slices, slice_s, lat_runs = int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    half_target, hello_half_target = int(sys.argv[5]), int(sys.argv[6])
    hello_rss, w_rss_idle, w_rss_after = (int(x) / 1024.0 for x in sys.argv[7:10])
    conns, secs = sys.argv[10], sys.argv[11]

    hello = [wrk_figures(work, f"hello-max-{r}") for r in range(1, slices + 1)]
    wmax = [wrk_figures(work, f"warrant-max-{r}") for r in range(1, slices + 1)]
    halves = [oha_figures(work, f"warrant-half-{r}") for r in range(1, lat_runs + 1)]
    controls = [oha_figures(work, f"hello-half-{r}") for r in range(1, lat_runs + 1)]
    own = [oha_figures(work, "hello-ownhalf-1")]
    start = load(work, "startup.json")
    quiet = cpu(work, "quiet")

    def total_rps(runs: list[dict]) -> float:
        return sum(f["requests"] for f in runs) / sum(f["requests"] / f["rps"] for f in runs)

    hello_rps, w_rps = total_rps(hello), total_rps(wmax)
    ratio = w_rps / hello_rps
    pair_ratios = [w["rps"] / h["rps"] for h, w in zip(hello, wmax)]

    def median_of(runs: list[dict], key: str) -> float:
        return statistics.median(f[key] for f in runs)

    print()
    print(f"warrant benchmark: servers on core 0, load generator on core 1, keep-alive, "
          f"{conns} connections")
    others = others_cpu(work)
    if others is not None:
        print(f"CPU used by other processes during the run: {others:.0%} of one core"
              + ("  (!! others' work skews the figures)" if others > 0.05 else ""))
    print("machine before the run: " + ", ".join(f"{k} {v:.0f}% busy" for k, v in sorted(quiet.items()))
          + ("  (!! not quiet: others' work skews the figures)" if max(quiet.values()) > 10 else ""))
    print()
    print(f"max throughput (wrk -t1; {slices} interleaved pairs of {slice_s} s; per-pair ratio in the last column):")
    print(f"  {'run':<38} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>8} {'sock err':>8} {'core0':>6} {'core1':>6} {'ratio':>6}")
    for r in range(slices):
        for name, f, extra in ((f"{r + 1}: baseline GET /hello", hello[r], ""),
                               (f"{r + 1}: warrant GetWorkloadIdentity", wmax[r], f"{pair_ratios[r]:>7.3f}")):
            print(f"  {name:<38} {f['rps']:>9.0f} {fmt(f['p50_ms']):>7} {fmt(f['p99_ms']):>7} "
                  f"{f['non_2xx_3xx']:>8} {f['socket_errors']:>8} {f['cpu0_busy']:>5.0f}% {f['cpu1_busy']:>5.0f}%{extra}")
    print(f"  overall: baseline {hello_rps:.0f} req/s, warrant {w_rps:.0f} req/s")
    q = statistics.quantiles(pair_ratios, n=4) if len(pair_ratios) > 1 else [ratio] * 3
    print(f"  ratio warrant / baseline: {ratio:.3f} ({ratio:.1%}); pairs: median {q[1]:.3f}, "
          f"quartiles {q[0]:.3f}..{q[2]:.3f}, range {min(pair_ratios):.3f}..{max(pair_ratios):.3f}")
    print()
    print(f"constant rate (oha -q, latency-corrected), {lat_runs} x {secs} s (after 1 s of oha start-up) each: warrant at "
          f"{half_target} req/s (50% of its max), baseline at the same rate, and once the baseline at "
          f"{hello_half_target} req/s (50% of its own max):")
    print(f"  {'run (last column: p99 of the 1st s)':<38} {'req/s':>9} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'p99.9 ms':>8} {'max ms':>7} {'non-200':>8} {'core0':>6} {'core1':>6} {'1st s':>7}")
    for r in range(lat_runs):
        for name, f in ((f"{r + 1}: warrant GetWorkloadIdentity", halves[r]),
                        (f"{r + 1}: baseline, same rate", controls[r]),
                        (f"{r + 1}: baseline, 50% of its max", own[r] if r < len(own) else None)):
            if f is None:
                continue
            print(f"  {name:<38} {f['rps']:>9.0f} {fmt(f['p50_ms']):>7} {fmt(f['p90_ms']):>7} {fmt(f['p99_ms']):>7} "
                  f"{fmt(f['p99_9_ms']):>8} {fmt(f['max_ms'], 2):>7} {f['non_200']:>8} {f['cpu0_busy']:>5.0f}% {f['cpu1_busy']:>5.0f}% "
                  f"{fmt(f['first_second_p99_ms'], 2):>7}")
    w_p99, c_p99 = median_of(halves, "p99_ms"), median_of(controls, "p99_ms")
    o_p99 = median_of(own, "p99_ms")
    print(f"  median p99: warrant {w_p99:.3f} ms; baseline at the same rate {c_p99:.3f} ms "
          f"(at 50% of its own max: {o_p99:.3f} ms)")
    print(f"  median p50: warrant {median_of(halves, 'p50_ms'):.3f} ms; baseline at the same rate "
          f"{median_of(controls, 'p50_ms'):.3f} ms")
    print()
    print(f"start-up to first /ping ({len(start['runs_ms'])} runs, existing data dir): "
          f"median {start['median_ms']:.1f} ms, min {start['min_ms']:.1f} ms, max {start['max_ms']:.1f} ms")
    print(f"RSS: warrant idle after start-up {w_rss_idle:.1f} MiB, 2 s after the load runs "
          f"{w_rss_after:.1f} MiB; baseline idle {hello_rss:.1f} MiB")
    for i, f in enumerate(halves + controls + own):
        if f["non_200"] or f["errors"]:
            print(f"!! constant-rate run {i + 1}: status codes {f['status_codes']}, errors {f['errors']}")

    achieved = min(f["rps"] for f in halves) / half_target if half_target else 0.0
    bad_max = sum(f["non_2xx_3xx"] + f["socket_errors"] for f in wmax)
    bad_half = sum(f["non_200"] + sum(f["errors"].values()) for f in halves)
    checks = [
        (f"GetWorkloadIdentity >= {MIN_RATIO:.0%} of baseline req/s",
         ratio >= MIN_RATIO, f"{ratio:.1%} ({w_rps:.0f} / {hello_rps:.0f} req/s; pairs "
         f"{min(pair_ratios):.1%}..{max(pair_ratios):.1%})"),
        (f"p99 < {MAX_P99_MS:g} ms at 50% of max rate (median of {lat_runs} runs)",
         w_p99 < MAX_P99_MS and achieved >= 0.95,
         f"p99 {w_p99:.3f} ms at {half_target}/s (runs: "
         + ", ".join(f"{f['p99_ms']:.2f}" for f in halves)
         + f" ms); baseline: {c_p99:.3f} ms at the same rate, {o_p99:.3f} ms at 50% of its own max"),
        (f"start-up to first /ping < {MAX_STARTUP_MS:g} ms (every run)",
         start["max_ms"] < MAX_STARTUP_MS, f"median {start['median_ms']:.1f} ms, max {start['max_ms']:.1f} ms"),
        (f"idle RSS < {MAX_IDLE_RSS_MIB:g} MiB (after start-up)",
         w_rss_idle < MAX_IDLE_RSS_MIB, f"{w_rss_idle:.1f} MiB"),
        (f"idle RSS < {MAX_IDLE_RSS_MIB:g} MiB (after the load runs)",
         w_rss_after < MAX_IDLE_RSS_MIB, f"{w_rss_after:.1f} MiB"),
        ("every warrant response 200, no socket errors",
         bad_max == 0 and bad_half == 0,
         f"non-2xx or socket errors in max runs: {bad_max}; non-200 or errors at constant rate: {bad_half}"),
    ]
    print()
    for name, ok, detail in checks:
        print(f"[{'PASS' if ok else 'MISS'}] {name}: {detail}")

    out = os.environ.get("BENCH_JSON")
    if out:
        with open(out, "w") as f:
            json.dump({
                "baseline_max": hello, "warrant_max": wmax, "baseline_rps": hello_rps,
                "warrant_rps": w_rps, "ratio": ratio, "pair_ratios": pair_ratios,
                "half_rate_target": half_target, "warrant_half": halves, "baseline_half": controls,
                "warrant_half_p99_median_ms": w_p99, "baseline_half_p99_median_ms": c_p99,
                "baseline_own_half_rate": hello_half_target, "baseline_own_half": own,
                "baseline_own_half_p99_median_ms": o_p99,
                "startup": start, "quiet_cpu_busy": quiet, "others_cpu_share": others,
                "rss_mib": {"warrant_idle": w_rss_idle, "warrant_after_load": w_rss_after,
                            "baseline_idle": hello_rss},
                "checks": [{"name": n, "pass": ok, "detail": d} for n, ok, d in checks],
            }, f, indent=2)
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
