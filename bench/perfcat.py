"""Attribute a perf profile of warrant to its parts, for bench/profile.

  perf script -F comm,tid,ip,sym | perfcat.py [--top N]

Each sample's stack is walked from the leaf towards the root; the first frame that
matches a component below names the component the sample's time belongs to (so a
malloc or a syscall counts for the code that asked for it). Frames of glibc, core and
alloc match nothing and pass the sample on to their caller. Prints each component's
share of all samples of the process, then the top leaf functions inside each of the
largest components. Then the inclusive share of some functions of the data plane
(samples with the function anywhere on the stack, so its callees' time included).
"""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict

# (component, pattern): first match from the leaf wins; order matters only when two
# patterns can match the same frame.
COMPONENTS: list[tuple[str, str]] = [
    ("request id middleware (uuid v4, getrandom, header)", r"uuid::|getrandom|warrant_api::request_id"),
    ("logging (tracing)", r"\btracing(_core|_subscriber)?::"),
    ("sigv4: derive signing key (HMAC x4)", r"sigv4::derive_signing_key"),
    ("sigv4: canonical request, string to sign, SHA-256, HMAC", r"sigv4::verify_signature|sigv4::canonical|sigv4::string_to_sign|sigv4::.*Sink"),
    ("sigv4: parse Authorization, check scope and date", r"sigv4::parse_authorization|sigv4::check_request|sigv4::date"),
    ("sigv4: other", r"warrant_inbound::sigv4"),
    ("Ed25519 (WAT sign / verify)", r"ed25519_dalek::|curve25519_dalek::"),
    ("metrics counters", r"\bmetrics(_util|_exporter_prometheus)?::"),
    ("caller lookup (cache, open key, clone)", r"caller_for_key|get_access_key"),
    ("AEAD open (keyring: API key secret, vault entry)", r"Keyring|aes_gcm|warrant_crypto"),
    ("policy: authorize (format action, evaluate)", r"Caller::authorize|domain::policy|Policy::"),
    ("input validation (patterns, regex)", r"domain::input|matches_pattern|\bregex(_automata)?::"),
    ("resource read (cache get_resource)", r"get_resource(?!_)|CachedStore|SqliteStore|\bsqlx"),
    ("WAT parse / claims / memo (warrant_inbound::wat)", r"warrant_inbound::wat"),
    ("operation body (warrant_core::service: ARN, output Value, data-plane logic)", r"warrant_core::service"),
    ("JSON parse of the request", r"warrant_api::parse_json|serde_json::de::|serde_json::value::de"),
    ("JSON serialize of the response", r"serde_json::ser|serde_json::value::ser|to_string<serde_json::value::Value>|Value as core::fmt::Display"),
    ("read body (to_bytes)", r"to_bytes|http_body_util"),
    ("warrant_api handler glue (state clone, run)", r"warrant_api::"),
    ("tower layers (load shed, concurrency limit, map)", r"\btower(_http)?::|poll_semaphore|PollSemaphore"),
    ("axum routing / middleware / response", r"\baxum(_core)?::"),
    ("hyper: parse request", r"Http1Transaction>::parse|httparse|HdrName|parse_hdr|role::parse"),
    ("hyper: encode response", r"Http1Transaction>::encode|role::encode"),
    ("hyper: socket write (writev, loopback TCP)", r"poll_flush|poll_write_buf|writev"),
    ("hyper: socket read (recv)", r"poll_read_from_io|poll_read\b|\brecv\b|__libc_recv|read_mem"),
    ("hyper: other", r"\bhyper(_util)?::"),
    ("tokio: I/O driver (epoll) and scheduler", r"\btokio::|epoll|\bmio::"),
]
COMPILED = [(name, re.compile(p)) for name, p in COMPONENTS]

# Inclusive shares: (label, pattern) of functions whose callees' time is wanted too. Only
# plain functions: an async fn's body is mostly inlined into its caller's poll and shows
# up as "{async_fn#0} (inlined)" without its path, so it cannot be matched by name.
INCLUSIVE: list[tuple[str, str]] = [
    ("WatSigner::sign (claims JSON, base64, Ed25519 sign)", r"WatSigner::sign"),
    ("wat::verify (base64, Ed25519 verify, claims JSON)", r"wat::verify\b"),
    ("Service::check_allowlist (parse the workload's body)", r"check_allowlist"),
    ("Service::open_secret (AEAD open of the API key)", r"open_secret"),
    ("Caller::authorize (policy)", r"Caller::authorize"),
    ("sigv4 (all)", r"warrant_inbound::sigv4"),
    ("serde_json (all)", r"serde_json::"),
    ("metrics (all)", r"\bmetrics(_util|_exporter_prometheus)?::"),
    ("malloc / free / realloc (all)", r"\b(malloc|free|realloc|_int_malloc|_int_free|cfree)\b"),
]
INCLUSIVE_RX = [(label, re.compile(p)) for label, p in INCLUSIVE]


def samples(lines):
    comm, frames = None, []
    for line in lines:
        if not line.strip():
            if comm is not None:
                yield comm, frames
            comm, frames = None, []
            continue
        if not line.startswith(("\t", " ")):
            comm = line.split()[0] if line.split() else "?"
            frames = []
            continue
        parts = line.strip().split(None, 1)
        frames.append(parts[1] if len(parts) > 1 else "[unknown]")
    if comm is not None:
        yield comm, frames


def main() -> None:
    import signal
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    top = 6
    if "--top" in sys.argv:
        top = int(sys.argv[sys.argv.index("--top") + 1])
    by_comp: Counter[str] = Counter()
    leaves: dict[str, Counter[str]] = defaultdict(Counter)
    threads: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for comm, frames in samples(sys.stdin):
        total += 1
        threads[comm] += 1
        comp = "other (runtime, kernel without a user frame, unknown)"
        for f in frames:
            for name, rx in COMPILED:
                if rx.search(f):
                    comp = name
                    break
            else:
                continue
            break
        by_comp[comp] += 1
        for label, rx in INCLUSIVE_RX:
            if any(rx.search(f) for f in frames):
                inclusive[label] += 1
        leaf = frames[0] if frames else "?"
        leaves[comp][leaf[:110]] += 1
    if not total:
        print("no samples")
        return
    print(f"{total} samples; by thread: " + ", ".join(f"{c} {n / total:.1%}" for c, n in threads.most_common()))
    print()
    print(f"{'share':>7}  component")
    for comp, n in by_comp.most_common():
        print(f"{n / total:>7.1%}  {comp}")
    print()
    for comp, n in by_comp.most_common(8):
        print(f"-- {comp} ({n / total:.1%}): top leaf functions")
        for leaf, m in leaves[comp].most_common(top):
            print(f"   {m / total:>6.2%}  {leaf}")
    print()
    print("inclusive shares (the function and everything it calls):")
    for label, _ in INCLUSIVE:
        if inclusive[label]:
            print(f"{inclusive[label] / total:>7.1%}  {label}")


if __name__ == "__main__":
    main()
