"""Summary of a bench/run: reads the wrk/oha results, CPU counters, start-up timings and
the workloads (WORK/workloads.json, from bench/workloads.py: labels and targets) from the
run's work dir; prints the tables, each workload's ratio to the baseline, each target's
verdict.

  summary.py WORK SLICES SLICE_S LATENCY_RUNS HELLO_RSS_KIB WARRANT_RSS_IDLE_KIB WARRANT_RSS_AFTER_KIB CONNS SECONDS

Exit 0 when every target is met, 1 otherwise. With BENCH_JSON=FILE, also writes the
figures there as JSON.
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
import sys

# The targets that are not a workload's (those are in bench/workloads.py).
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


def loadavg(work: str, name: str) -> str | None:
    try:
        with open(os.path.join(work, name)) as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return None


def wrk_figures(work: str, name: str) -> dict:
    d = load(work, f"{name}.json")
    c = cpu(work, name)
    return {
        "rps": d["requests"] / d["duration_us"] * 1e6,
        "requests": d["requests"],
        "duration_us": d["duration_us"],
        "non_2xx_3xx": d["non_2xx_3xx"],
        "socket_errors": d["connect_errors"] + d["read_errors"] + d["write_errors"] + d["timeouts"],
        "p50_ms": d["p50_us"] / 1000.0,
        "p99_ms": d["p99_us"] / 1000.0,
        "p99_9_ms": d["p99_9_us"] / 1000.0,
        "pool_size": d.get("pool_size"),
        "pool_calls": d.get("pool_calls"),
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


def metric_sum(work: str, name: str, labels: str | None = None, file: str = "metrics.txt") -> float | None:
    """Sum of a Prometheus counter's series in FILE (metrics.txt: the load-run process;
    None without a scrape), only the series whose labels contain LABELS (e.g.
    'outcome="ok"') when given."""
    try:
        with open(os.path.join(work, file)) as f:
            text = f.read()
    except OSError:
        return None
    if not text.strip():
        return None
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})?\s+(\S+)$", line)
        if m and (labels is None or labels in (m.group(1) or "")):
            total += float(m.group(2))
    return total


def total_rps(runs: list[dict]) -> float:
    return sum(f["requests"] for f in runs) / (sum(f["duration_us"] for f in runs) / 1e6)


def spread(ratios: list[float]) -> dict:
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    return {"median": q[1], "q1": q[0], "q3": q[2], "min": min(ratios), "max": max(ratios)}


def nearest_rank(sorted_vals: list[float], q: float) -> float:
    return sorted_vals[max(0, min(len(sorted_vals) - 1, math.ceil(q * len(sorted_vals)) - 1))]


C2T_LABELS = {"long-poll": "long poll (x-warrant-wait-seconds: 20)",
              "poll-1s": "polling every 1 s (bedrock_agentcore-like)"}


def callback_to_token(work: str) -> dict | None:
    """WORK/c2t.json (bench/callback_to_token.py), summarised per agent kind; None when
    the measurement was not selected."""
    try:
        doc = load(work, "c2t.json")
    except OSError:
        return None
    modes = {}
    for mode in C2T_LABELS:
        rows = [r for r in doc["results"] if r["mode"] == mode and not r["warmup"]]
        if not rows:
            continue
        m = {"label": C2T_LABELS[mode], "runs": len(rows)}
        for key in ("from_callback_ms", "from_complete_ms", "callback_request_ms", "complete_request_ms",
                    "agent_calls"):
            v = sorted(r[key] for r in rows)
            m[key] = {"median": statistics.median(v), "p95": nearest_rank(v, 0.95), "min": v[0], "max": v[-1]}
        modes[mode] = m
    return {"runs": doc["runs"], "wait_seconds": doc["wait_seconds"],
            "poll_interval_s": doc["poll_interval_s"], "modes": modes}


def fmt(v: float | None, nd: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{nd}f}"


def audit_cost(work: str, n: str, res: dict, by: dict, conns: int) -> dict:
    """apikey-audit: the cost of the audit trail, 1 - on / off, from the totals of the two
    processes' slices (and per round, each pair being adjacent slices); and what the on
    process recorded (bench/run counted its audit events before and after, and ran
    `warrant audit verify` on its data dir) against the responses wrk counted."""
    other, limit = by[n]["targets"]["max_cost_vs"]
    on, off = res[n], res[other]
    pair_costs = [1 - a["rps"] / b["rps"] for a, b in zip(on["max"], off["max"])]
    out = {"other": other, "limit": limit, "on_rps": on["rps"], "off_rps": off["rps"],
           "cost": 1 - on["rps"] / off["rps"], "pair_costs": pair_costs, "pairs": spread(pair_costs),
           "us_per_request": 1e6 / on["rps"] - 1e6 / off["rps"]}

    def proc_cpu(name: str, slices: list[dict]) -> dict | None:
        """The process's own CPU time over its slices (bench/run read /proc/PID/stat
        around each): per request, and as a share of the slices' wall time. A server
        busy well below 100% while the core is free waits (e.g. on fsync)."""
        try:
            ticks = 0
            for i in range(len(slices)):
                base = os.path.join(work, f"{name}-max-{i + 1}.ticks")
                with open(base + ".before") as a, open(base + ".after") as b:
                    ticks += int(b.read()) - int(a.read())
        except (OSError, ValueError):
            return None
        secs = ticks / os.sysconf("SC_CLK_TCK")
        wall = sum(f["duration_us"] for f in slices) / 1e6
        reqs = sum(f["requests"] for f in slices)
        return {"cpu_s": secs, "cpu_share": secs / wall if wall else None,
                "cpu_us_per_request": secs / reqs * 1e6 if reqs else None}

    out["on_cpu"], out["off_cpu"] = proc_cpu(n, on["max"]), proc_cpu(other, off["max"])

    def count(name: str) -> dict | None:
        try:
            return load(work, f"audit-count-{name}.json")
        except (OSError, ValueError):
            return None

    before, after_on, after_off = count("before"), count("on"), count("off")
    # What wrk counted against the on process: its warm-up and its slices, plus the one
    # sample request (`workloads.py check`). wrk does not count the requests in flight
    # when it stops, which the server still answers (and records): up to CONNS a run.
    runs = [load(work, f"{n}-warmup.json")] + on["max"]
    responses = sum(f["requests"] for f in runs) + 1
    out.update(responses=responses, slack=conns * len(runs))
    if before and after_on and after_off:
        out.update(events=after_on["apikey_success"] - before["apikey_success"],
                   events_all=after_on["events"] - before["events"],
                   events_off=after_off["events"] - before["events"])
    out["verify"] = out["verify_rc"] = None
    try:
        with open(os.path.join(work, "audit-verify.txt")) as f:
            lines = f.read().strip().splitlines()
        out["verify"] = lines[-1] if lines else ""
        with open(os.path.join(work, "audit-verify.rc")) as f:
            out["verify_rc"] = int(f.read().strip())
    except (OSError, ValueError):
        pass
    out["released_on"] = metric_sum(work, "warrant_credentials_released_total", 'kind="api_key"',
                                    "metrics-audit-on.txt")
    out["released_off"] = metric_sum(work, "warrant_credentials_released_total", 'kind="api_key"',
                                     "metrics-audit-off.txt")
    events = metric_sum(work, "warrant_audit_events_total", None, "metrics-audit-on.txt")
    batches = metric_sum(work, "warrant_audit_batches_total", None, "metrics-audit-on.txt")
    out["per_commit"] = events / batches if events and batches else None
    return out


def main() -> int:
    work = sys.argv[1]
    slices, slice_s, lat_runs = int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    hello_rss, w_rss_idle, w_rss_after = (int(x) / 1024.0 for x in sys.argv[5:8])
    conns, secs = sys.argv[8], sys.argv[9]
    wls = load(work, "workloads.json")["workloads"]
    names = [w["name"] for w in wls]
    by = {w["name"]: w for w in wls}

    res: dict[str, dict] = {}
    all_hello = []
    for w in wls:
        n, base = w["name"], w["baseline"]
        runs = [wrk_figures(work, f"{n}-max-{r}") for r in range(1, slices + 1)]
        hello = [wrk_figures(work, f"hello-{base}-max-{r}") for r in range(1, slices + 1)]
        if base == n:
            all_hello += hello
        pairs = [x["rps"] / h["rps"] for h, x in zip(hello, runs)]
        res[n] = {"label": w["label"], "max": runs, "baseline_max": hello,
                  "rps": total_rps(runs), "baseline_rps": total_rps(hello),
                  "pair_ratios": pairs, "pairs": spread(pairs),
                  "p50_ms": statistics.median(x["p50_ms"] for x in runs),
                  "p99_ms": statistics.median(x["p99_ms"] for x in runs),
                  "p99_9_ms": statistics.median(x["p99_9_ms"] for x in runs)}
        res[n]["ratio"] = res[n]["rps"] / res[n]["baseline_rps"]
    hello_all_rps = total_rps(all_hello) if all_hello else 0.0  # none: only callback-to-token
    hello_half_target = int(open(os.path.join(work, "hello-half-rate.txt")).read())
    rate_names = [w["name"] for w in wls if w["rate"]]
    for n in rate_names:
        half = int(open(os.path.join(work, f"{n}-half-rate.txt")).read())
        res[n]["half_target"] = half
        res[n]["half"] = [oha_figures(work, f"{n}-half-{r}") for r in range(1, lat_runs + 1)]
        res[n]["half_control"] = [oha_figures(work, f"hello-{n}-half-{r}") for r in range(1, lat_runs + 1)]
        for key in ("p50_ms", "p99_ms", "p99_9_ms"):
            res[n][f"half_{key}"] = statistics.median(f[key] for f in res[n]["half"])
            res[n][f"half_control_{key}"] = statistics.median(f[key] for f in res[n]["half_control"])
    own = oha_figures(work, "hello-ownhalf-1") if rate_names else None
    start = load(work, "startup.json")
    quiet = cpu(work, "quiet")
    others = others_cpu(work)
    lb, la = loadavg(work, "loadavg.before"), loadavg(work, "loadavg.after")

    print()
    print(f"warrant benchmark: servers on core 0, load generator on core 1, keep-alive, {conns} connections")
    try:
        with open(os.path.join(work, "commit.txt")) as f:
            lines = f.read().split("\n")
        print(f"warrant commit {lines[0]}" + (" with uncommitted changes under crates/ or Cargo.*: "
              + "; ".join(l.strip() for l in lines[1:] if l.strip()) if any(l.strip() for l in lines[1:])
              else " (crates/ and Cargo.* as committed)"))
    except OSError:
        pass
    if others is not None:
        print(f"CPU used by other processes during the run: {others:.0%} of one core"
              + ("  (!! others' work skews the figures)" if others > 0.05 else ""))
    print("machine before the run: " + ", ".join(f"{k} {v:.0f}% busy" for k, v in sorted(quiet.items()))
          + ("  (!! not quiet: others' work skews the figures)" if max(quiet.values()) > 10 else ""))
    if lb:
        print(f"load average (1/5/15 min): {lb} before the run, {la} after")
    print()
    print(f"max throughput (wrk -t1; {slices} rounds of {slice_s} s slices, each workload right after a "
          f"baseline slice of its own; per-pair ratio in the last column):")
    hdr = (f"  {'run':<44} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>8} {'sock err':>8} "
           f"{'core0':>6} {'core1':>6} {'ratio':>6}")
    for n in names:
        print(hdr)
        r_ = res[n]
        for i in range(slices):
            rows = []
            if by[n]["baseline"] == n:
                rows.append((f"{i + 1}: baseline GET /hello", r_["baseline_max"][i], ""))
            rows.append((f"{i + 1}: {r_['label']}", r_["max"][i], f"{r_['pair_ratios'][i]:>7.3f}"))
            for name, f, extra in rows:
                print(f"  {name:<44} {f['rps']:>9.0f} {fmt(f['p50_ms']):>7} {fmt(f['p99_ms']):>7} "
                      f"{f['non_2xx_3xx']:>8} {f['socket_errors']:>8} {f['cpu0_busy']:>5.0f}% "
                      f"{f['cpu1_busy']:>5.0f}%{extra}")
        p = r_["pairs"]
        print(f"  {n}: {r_['rps']:.0f} req/s, its baseline slices {r_['baseline_rps']:.0f} req/s; ratio "
              f"{r_['ratio']:.3f} ({r_['ratio']:.1%}); pairs: median {p['median']:.3f}, quartiles "
              f"{p['q1']:.3f}..{p['q3']:.3f}, range {p['min']:.3f}..{p['max']:.3f}")
        pooled = [f for f in r_["max"] if f["pool_size"] is not None]
        if pooled:
            reused = [i + 1 for i, f in enumerate(r_["max"]) if f["pool_calls"] > f["pool_size"]]
            print(f"  {n}: WATs sent per run {min(f['pool_calls'] for f in pooled)}.."
                  f"{max(f['pool_calls'] for f in pooled)} of pools of {pooled[0]['pool_size']}"
                  + (f"  (!! runs {reused} outgrew their pool: some WATs were reused, i.e. cached; "
                     f"raise BENCH_FRESH_POOL)" if reused else ": none reused"))
            print(f"  {n}: (its core0 figures include the ~0.3 s in which wrk loads the pool before "
                  f"its clock starts and the server is idle; req/s are from wrk's own clock)")
        print()
    print("max throughput summary (p50/p99/p99.9: wrk at saturation, medians of the slices):")
    print(f"  {'workload':<38} {'req/s':>8} {'baseline':>9} {'ratio':>7} {'pairs median (range)':>22} "
          f"{'p50':>6} {'p99':>6} {'p99.9':>6}")
    for n in names:
        r_ = res[n]
        p = r_["pairs"]
        print(f"  {r_['label']:<38} {r_['rps']:>8.0f} {r_['baseline_rps']:>9.0f} {r_['ratio']:>6.1%} "
              f"{p['median']:>8.1%} ({p['min']:.1%}..{p['max']:.1%}) {r_['p50_ms']:>6.2f} {r_['p99_ms']:>6.2f} "
              f"{r_['p99_9_ms']:>6.2f}")
    vs = {}
    for n in names:
        other = by[n]["targets"].get("min_vs")
        if other and other[0] in res:
            o = other[0]
            pr = [a["rps"] / b["rps"] for a, b in zip(res[n]["max"], res[o]["max"])]
            vs[n] = {"other": o, "ratio": res[n]["rps"] / res[o]["rps"], "pairs": spread(pr), "pair_ratios": pr}
            print(f"  {n} / {o} (side by side, adjacent slices): {vs[n]['ratio']:.2f}x; pairs: median "
                  f"{vs[n]['pairs']['median']:.2f}x, range {vs[n]['pairs']['min']:.2f}..{vs[n]['pairs']['max']:.2f}x")
    audit = {}
    for n in names:
        if "max_cost_vs" in by[n]["targets"] and by[n]["targets"]["max_cost_vs"][0] in res:
            a = audit[n] = audit_cost(work, n, res, by, int(conns))
            p = a["pairs"]
            print(f"  audit cost = 1 - on/off: {a['cost']:.1%} ({a['on_rps']:.0f} req/s with the audit on, "
                  f"{a['off_rps']:.0f} off, two processes alike but for --audit, adjacent slices, the order "
                  f"swapped every other round; {a['us_per_request']:+.1f} us a request); pairs: median "
                  f"{p['median']:.1%}, quartiles {p['q1']:.1%}..{p['q3']:.1%}, range {p['min']:.1%}..{p['max']:.1%}")
            if a["on_cpu"] and a["off_cpu"]:
                c1, c0 = a["on_cpu"], a["off_cpu"]
                print(f"  server CPU (its own, /proc/PID/stat) in the slices: audit on {c1['cpu_share']:.0%} of a core, "
                      f"{c1['cpu_us_per_request']:.1f} us a request; audit off {c0['cpu_share']:.0%} of a core, "
                      f"{c0['cpu_us_per_request']:.1f} us a request"
                      + ("  (the audit-on server leaves its core idle part of the time: it waits, e.g. on the "
                         "commit's fsync, rather than computes)" if c1["cpu_share"] < 0.85 * c0["cpu_share"] else ""))
            if "events" in a:
                print(f"  audit on: {a['events']} GetResourceApiKey events recorded (all events: {a['events_all']}) "
                      f"for {a['responses']} responses counted by wrk (warm-up and sample included; up to "
                      f"{a['slack']} more in flight when wrk stopped); API keys released (its /metrics): "
                      f"{fmt(a['released_on'], 0)}; `warrant audit verify`: {a.get('verify')}; "
                      f"events per commit (its /metrics): {fmt(a['per_commit'], 1)}")
                print(f"  audit off: {a['events_off']} events recorded for {fmt(a['released_off'], 0)} API keys released")
            else:
                print("  !! the audit events were not counted (see the run's audit-count-*.json)")
    print()
    if rate_names:
        print(f"constant rate (oha -q, latency-corrected), {lat_runs} x {secs} s (after 1 s of oha start-up) each: "
              f"each workload at 50% of its own max, the baseline at the same rate, and once the baseline at "
              f"{hello_half_target} req/s (50% of its own max, {hello_all_rps:.0f} req/s over all baseline slices):")
        print(f"  {'run (last column: p99 of the 1st s)':<44} {'req/s':>9} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} "
              f"{'p99.9 ms':>8} {'max ms':>7} {'non-200':>8} {'core0':>6} {'core1':>6} {'1st s':>7}")
        rows = []
        for i in range(lat_runs):
            for n in rate_names:
                rows.append((f"{i + 1}: {n} at {res[n]['half_target']}/s", res[n]["half"][i]))
                rows.append((f"{i + 1}: baseline, same rate", res[n]["half_control"][i]))
            if i == 0:
                rows.append((f"{i + 1}: baseline at {hello_half_target}/s (50% own max)", own))
        for name, f in rows:
            print(f"  {name:<44} {f['rps']:>9.0f} {fmt(f['p50_ms']):>7} {fmt(f['p90_ms']):>7} {fmt(f['p99_ms']):>7} "
                  f"{fmt(f['p99_9_ms']):>8} {fmt(f['max_ms'], 2):>7} {f['non_200']:>8} {f['cpu0_busy']:>5.0f}% "
                  f"{f['cpu1_busy']:>5.0f}% {fmt(f['first_second_p99_ms'], 2):>7}")
        for n in rate_names:
            r_ = res[n]
            print(f"  {n}: median p50 / p99 / p99.9 {r_['half_p50_ms']:.3f} / {r_['half_p99_ms']:.3f} / "
                  f"{r_['half_p99_9_ms']:.3f} ms; baseline at the same rate {r_['half_control_p50_ms']:.3f} / "
                  f"{r_['half_control_p99_ms']:.3f} / {r_['half_control_p99_9_ms']:.3f} ms")
        print(f"  baseline at 50% of its own max: p50 / p99 / p99.9 {fmt(own['p50_ms'])} / {fmt(own['p99_ms'])} / "
              f"{fmt(own['p99_9_ms'])} ms")
        print()
    c2t = callback_to_token(work)
    if c2t:
        print(f"callback-to-token ({c2t['runs']} runs per agent kind after a warm-up run each, interleaved; "
              f"each a new user's consent at oidc-provider, then the callback and CompleteResourceTokenAuth; "
              f"ms from the moment each returned to the agent's token; median / p95 (nearest rank)):")
        print(f"  {'agent':<44} {'from callback':>15} {'from Complete':>15} {'callback req':>13} "
              f"{'Complete req':>13} {'agent calls':>11}")
        for mode, m in c2t["modes"].items():
            print(f"  {m['label']:<44} {m['from_callback_ms']['median']:>6.1f} / {m['from_callback_ms']['p95']:<6.1f} "
                  f"{m['from_complete_ms']['median']:>6.1f} / {m['from_complete_ms']['p95']:<6.1f} "
                  f"{m['callback_request_ms']['median']:>13.1f} {m['complete_request_ms']['median']:>13.1f} "
                  f"{m['agent_calls']['median']:>11.0f}")
        print()
    print(f"start-up to first /ping ({len(start['runs_ms'])} runs, existing data dir): "
          f"median {start['median_ms']:.1f} ms, min {start['min_ms']:.1f} ms, max {start['max_ms']:.1f} ms")
    print(f"RSS: warrant idle after start-up {w_rss_idle:.1f} MiB, 2 s after the load runs "
          f"{w_rss_after:.1f} MiB; baseline idle {hello_rss:.1f} MiB")
    provider_calls = metric_sum(work, "warrant_provider_token_requests_total")
    released = metric_sum(work, "warrant_credentials_released_total")
    issued = metric_sum(work, "warrant_workload_access_tokens_issued_total")
    print(f"metrics of the load-run process: provider token requests {fmt(provider_calls, 0)}, "
          f"credentials released {fmt(released, 0)}, WATs issued {fmt(issued, 0)}")
    jwt_names = [n for n in names if by[n].get("jwt")]
    if jwt_names:
        accepted = metric_sum(work, "warrant_user_tokens_total", 'outcome="accepted"')
        refused = metric_sum(work, "warrant_user_tokens_total", 'outcome="refused"')
        unavailable = metric_sum(work, "warrant_user_tokens_total", 'outcome="unavailable"')
        jwks_ok = metric_sum(work, "warrant_jwks_fetches_total", 'outcome="ok"')
        jwks_err = metric_sum(work, "warrant_jwks_fetches_total", 'outcome="error"')
        # What wrk counted for the JWT workloads in the load-run process: warm-up and slices
        # (wrk does not count the requests in flight when it stops: the server may have
        # answered up to CONNS more per run).
        jwt_runs = [load(work, f"{n}-warmup.json") for n in jwt_names] + [
            f for n in jwt_names for f in res[n]["max"]]
        jwt_responses = sum(f["requests"] for f in jwt_runs)
        try:
            with open(os.path.join(work, "jwt-issuer-kind.txt")) as f:
                issuer_kind = f.read().strip()
        except OSError:
            issuer_kind = "?"
        print(f"jwt workloads (issuer: {issuer_kind}): user tokens accepted {fmt(accepted, 0)}, refused "
              f"{fmt(refused, 0)}, unavailable keys {fmt(unavailable, 0)} for {jwt_responses} responses "
              f"counted by wrk (warm-up included); "
              f"JWKS fetches ok {fmt(jwks_ok, 0)}, failed {fmt(jwks_err, 0)}")

    checks = []
    for n in names:
        t, r_ = by[n]["targets"], res[n]
        if "min_ratio" in t:
            p = r_["pairs"]
            checks.append((f"{n}: {r_['label']} >= {t['min_ratio']:.0%} of baseline req/s",
                           r_["ratio"] >= t["min_ratio"],
                           f"{r_['ratio']:.1%} ({r_['rps']:.0f} / {r_['baseline_rps']:.0f} req/s; pairs "
                           f"{p['min']:.1%}..{p['max']:.1%})"))
        if "max_p99_ms" in t:
            achieved = min(f["rps"] for f in r_["half"]) / r_["half_target"]
            checks.append((f"{n}: p99 < {t['max_p99_ms']:g} ms at 50% of its max rate (median of {lat_runs} runs)",
                           r_["half_p99_ms"] < t["max_p99_ms"] and achieved >= 0.95,
                           f"p99 {r_['half_p99_ms']:.3f} ms at {r_['half_target']}/s (runs: "
                           + ", ".join(f"{f['p99_ms']:.2f}" for f in r_["half"])
                           + f" ms; achieved {achieved:.0%} of the rate); baseline: "
                           f"{r_['half_control_p99_ms']:.3f} ms at the same rate, {own['p99_ms']:.3f} ms at 50% of its own max"))
        if n in audit:
            a = audit[n]
            p = a["pairs"]
            checks.append((f"{n}: audit cost = 1 - on/off <= {a['limit']:.0%} of GetResourceApiKey's req/s",
                           a["cost"] <= a["limit"],
                           f"{a['cost']:.1%} (on {a['on_rps']:.0f} / off {a['off_rps']:.0f} req/s; pairs "
                           f"median {p['median']:.1%}, range {p['min']:.1%}..{p['max']:.1%})"))
            recorded = ("events" in a and a["responses"] <= a["events"] <= a["responses"] + a["slack"]
                        and (a["released_on"] is None or a["events"] >= a["released_on"])
                        and a["events_off"] == 0 and a["verify_rc"] == 0)
            checks.append((f"{n}: every response recorded (audit-on events >= responses counted and >= API keys "
                           f"released; audit-off none; the on chain verifies)", recorded,
                           (f"{a['events']} events for {a['responses']} responses (up to {a['slack']} more in "
                            f"flight), {fmt(a['released_on'], 0)} released; audit off: {a['events_off']} events; "
                            f"verify: {a.get('verify')}") if "events" in a else "events not counted"))
        if n in vs:
            o, want = t["min_vs"]
            v = vs[n]
            checks.append((f"{n} >= {want:g}x {o} ({by[o]['label']}) req/s",
                           v["ratio"] >= want,
                           f"{v['ratio']:.2f}x ({res[n]['rps']:.0f} / {res[o]['rps']:.0f} req/s; pairs "
                           f"{v['pairs']['min']:.2f}..{v['pairs']['max']:.2f}x)"))
    if jwt_names:
        slack = int(conns) * len(jwt_runs)
        checks.append(("jwt: every response a validated user token (accepted user tokens >= JWT responses, "
                       "none refused or unavailable; no JWKS fetch failed)",
                       accepted is not None and jwt_responses <= accepted <= jwt_responses + slack
                       and not refused and not unavailable and not jwks_err,
                       f"accepted {fmt(accepted, 0)} for {jwt_responses} responses (up to {slack} more in flight), "
                       f"refused {fmt(refused, 0)}, unavailable {fmt(unavailable, 0)}; JWKS fetches ok "
                       f"{fmt(jwks_ok, 0)}, failed {fmt(jwks_err, 0)}"))
    if "oauth-user" in res:
        # The load-run process served every USER_FEDERATION request from the vault: no
        # session started, no provider call (code or refresh), and at least one user token
        # released per response wrk counted (warm-up and slices; the constant-rate runs
        # release more).
        sessions = metric_sum(work, "warrant_auth_sessions_started_total")
        user_released = metric_sum(work, "warrant_credentials_released_total", 'kind="oauth2_user"')
        uf_responses = load(work, "oauth-user-warmup.json")["requests"] + sum(
            f["requests"] for f in res["oauth-user"]["max"])
        checks.append(("oauth-user: every request a vault hit (no session started, no provider call by the "
                       "load-run process, a user token released per response)",
                       not sessions and provider_calls == 0 and user_released is not None
                       and user_released >= uf_responses,
                       f"sessions started {fmt(sessions, 0)}; provider token requests {fmt(provider_calls, 0)}; "
                       f"user tokens released {fmt(user_released, 0)} for {uf_responses} responses counted by wrk "
                       f"(warm-up and slices)"))
    if "m2m" in res:
        checks.append(("m2m: every M2M request a cache hit (no provider call by the load-run process)",
                       provider_calls == 0 and bool(released), f"provider token requests: {fmt(provider_calls, 0)}; credentials released: {fmt(released, 0)}"))
    checks += [
        (f"start-up to first /ping < {MAX_STARTUP_MS:g} ms (every run)",
         start["max_ms"] < MAX_STARTUP_MS, f"median {start['median_ms']:.1f} ms, max {start['max_ms']:.1f} ms"),
        (f"idle RSS < {MAX_IDLE_RSS_MIB:g} MiB (after start-up)",
         w_rss_idle < MAX_IDLE_RSS_MIB, f"{w_rss_idle:.1f} MiB"),
        (f"idle RSS < {MAX_IDLE_RSS_MIB:g} MiB (after the load runs)",
         w_rss_after < MAX_IDLE_RSS_MIB, f"{w_rss_after:.1f} MiB"),
    ]
    bad = {}
    for n in names:
        b = sum(f["non_2xx_3xx"] + f["socket_errors"] for f in res[n]["max"])
        b += sum(f["non_200"] + sum(f["errors"].values()) for f in res[n].get("half", []))
        if b:
            bad[n] = b
    checks.append(("every response 200, no socket errors (all workloads, max and constant rate)",
                   not bad, f"non-2xx/non-200 or errors: {bad or 'none'}"))
    for f in [f for n in rate_names for f in res[n]["half"] + res[n]["half_control"]] + ([own] if own else []):
        if f["non_200"] or f["errors"]:
            print(f"!! a constant-rate run: status codes {f['status_codes']}, errors {f['errors']}")
    print()
    for name, ok, detail in checks:
        print(f"[{'PASS' if ok else 'MISS'}] {name}: {detail}")

    out = os.environ.get("BENCH_JSON")
    if out:
        with open(out, "w") as f:
            json.dump({
                "workloads": res, "vs": vs, "audit": audit, "baseline_all_rps": hello_all_rps,
                "baseline_own_half_rate": hello_half_target, "baseline_own_half": own,
                "startup": start, "quiet_cpu_busy": quiet, "others_cpu_share": others,
                "loadavg_before": lb, "loadavg_after": la,
                "metrics": {"provider_token_requests": provider_calls, "credentials_released": released,
                            "wats_issued": issued,
                            **({"user_tokens_accepted": accepted, "user_tokens_refused": refused,
                                "user_tokens_unavailable": unavailable,
                                "jwks_fetches_ok": jwks_ok, "jwks_fetches_failed": jwks_err,
                                "jwt_responses_counted": jwt_responses} if jwt_names else {})},
                "rss_mib": {"warrant_idle": w_rss_idle, "warrant_after_load": w_rss_after,
                            "baseline_idle": hello_rss},
                "callback_to_token": c2t,
                "checks": [{"name": n, "pass": ok, "detail": d} for n, ok, d in checks],
            }, f, indent=2)
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
