"""callback-to-token: how long after the provider's callback an agent has the user's token.

  callback_to_token.py WORK KEY_ID SECRET RUNS > WORK/c2t.json

Against the running warrant and oidc-provider that bench/workloads.py prepared (WORK/uf.json:
bench/uf_flow.py's workload, provider and registered client). Each run is one new user
(its own WAT from GetWorkloadAccessTokenForUserId, so nothing is in the vault):

  1. the app starts a session (GetResourceOauth2Token, USER_FEDERATION);
  2. the browser (bench/uf_flow.Browser) follows the authorizationUrl, logs in and consents
     at oidc-provider, and stops at the provider's redirect to warrant's callback;
  3. the agent starts waiting for the token on a thread of its own, with the sessionUri:
       long-poll  one GetResourceOauth2Token with `x-warrant-wait-seconds: 20` (added by a
                  botocore `before-sign.bedrock-agentcore.GetResourceOauth2Token` hook),
                  again while it answers IN_PROGRESS;
       poll-1s    like bedrock_agentcore's requires_access_token (its
                  _DefaultApiTokenPoller): sleep, then GetResourceOauth2Token, until an
                  accessToken comes; the interval is 1 s here (the SDK's default is 5 s);
  4. after a pause drawn from U(0.3, 1.3) s (the agent is waiting, and its 1 s polling
     phase is random against the callback), the browser requests the callback URL
     (303 to the return URL) and right after it returns, the app calls
     CompleteResourceTokenAuth (userId), which redeems the code at oidc-provider;
  5. the agent's thread notes when the token arrived.

Two delays per run: token - callback returned (the browser's callback request), and
token - CompleteResourceTokenAuth returned (negative when the long poll answered before
the app had read its own response). Every API call goes through botocore (the AWS SDK
for Python, retries off), the app's and the agent's on clients of their own; times are
time.perf_counter() in this one process. RUNS runs of each mode, interleaved (the order
swapped every run), after one warm-up run of each that is not counted. The JSON has
every run's figures; bench/summary.py prints medians and p95.
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time

import botocore.session
from botocore.config import Config

import uf_flow

WAIT_SECONDS = 20
POLL_INTERVAL = 1.0
AGENT_DEADLINE = 60.0
MODES = ("long-poll", "poll-1s")


def client(port: int, key_id: str, secret: str, wait: int | None = None):
    c = botocore.session.get_session().create_client(
        "bedrock-agentcore", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id=key_id, aws_secret_access_key=secret,
        config=Config(retries={"total_max_attempts": 1}, read_timeout=WAIT_SECONDS + 30,
                      connect_timeout=10))
    if wait is not None:
        def add(request, **kwargs):
            request.headers["x-warrant-wait-seconds"] = str(wait)
        c.meta.events.register("before-sign.bedrock-agentcore.GetResourceOauth2Token", add)
    return c


def agent(mode: str, c, wat: str, session: str, out: dict) -> None:
    """Waits for the token like the agent would; out: token, t_token, calls or error."""
    deadline = time.perf_counter() + AGENT_DEADLINE
    calls = 0
    try:
        while time.perf_counter() < deadline:
            if mode == "poll-1s":
                time.sleep(POLL_INTERVAL)
            r = c.get_resource_oauth2_token(**uf_flow.token_body(wat, session))
            calls += 1
            if r.get("accessToken"):
                out.update(t_token=time.perf_counter(), token=r["accessToken"], calls=calls)
                return
            if r.get("sessionStatus") != "IN_PROGRESS":
                out["error"] = f"session {r.get('sessionStatus')} after {calls} calls"
                return
        out["error"] = f"no token within {AGENT_DEADLINE:.0f} s ({calls} calls)"
    except Exception as e:  # reported by the main thread
        out["error"] = f"{type(e).__name__}: {e}"


def one_run(mode: str, user: str, app, agents: dict, pause: float) -> dict:
    wat = app.get_workload_access_token_for_user_id(
        workloadName=uf_flow.UF_WORKLOAD, userId=user)["workloadAccessToken"]
    r = app.get_resource_oauth2_token(**uf_flow.token_body(wat))
    if r.get("sessionStatus") != "IN_PROGRESS":
        raise SystemExit(f"callback_to_token.py: expected a new session for {user}, got {sorted(r)}")
    session = r["sessionUri"]
    browser = uf_flow.Browser()
    callback_url = browser.to_callback(r["authorizationUrl"], user)
    out: dict = {}
    t = threading.Thread(target=agent, args=(mode, agents[mode], wat, session, out), daemon=True)
    t.start()
    time.sleep(pause)
    t0 = time.perf_counter()
    browser.callback(callback_url, session)
    t_cb = time.perf_counter()
    app.complete_resource_token_auth(sessionUri=session, userIdentifier={"userId": user})
    t_complete = time.perf_counter()
    t.join(AGENT_DEADLINE + WAIT_SECONDS + 10)
    if "error" in out or "t_token" not in out:
        raise SystemExit(f"callback_to_token.py: {mode} run for {user}: {out.get('error', 'no token')}")
    return {"mode": mode, "user": user, "pause_s": pause,
            "callback_request_ms": (t_cb - t0) * 1e3,
            "complete_request_ms": (t_complete - t_cb) * 1e3,
            "from_callback_ms": (out["t_token"] - t_cb) * 1e3,
            "from_complete_ms": (out["t_token"] - t_complete) * 1e3,
            "agent_calls": out["calls"], "token": out["token"]}


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    work, key_id, secret, runs = argv[1], argv[2], argv[3], int(argv[4])
    with open(os.path.join(work, "uf.json")) as f:
        uf = json.load(f)
    port = uf["port"]
    app = client(port, key_id, secret)
    agents = {"long-poll": client(port, key_id, secret, WAIT_SECONDS),
              "poll-1s": client(port, key_id, secret)}
    rng = random.Random(20261129)
    stamp = f"{os.getpid()}-{int(time.time())}"
    results = []
    for i in range(runs + 1):
        order = MODES if i % 2 == 0 else MODES[::-1]
        for mode in order:
            user = f"c2t-{stamp}-{mode}-{i}"
            res = one_run(mode, user, app, agents, rng.uniform(0.3, 1.3))
            res["warmup"] = i == 0
            results.append(res)
            print(f"[bench] callback-to-token {mode} {'warm-up' if i == 0 else i}: "
                  f"{res['from_callback_ms']:.1f} ms after the callback, {res['from_complete_ms']:.1f} ms "
                  f"after CompleteResourceTokenAuth ({res['agent_calls']} agent calls)", file=sys.stderr)
    # Every run's token is its own (a new user each time: nothing came from an old entry);
    # the tokens themselves are not written out.
    tokens = [r.pop("token") for r in results]
    if len(set(tokens)) != len(tokens):
        raise SystemExit("callback_to_token.py: two runs got the same token")
    json.dump({"runs": runs, "wait_seconds": WAIT_SECONDS, "poll_interval_s": POLL_INTERVAL,
               "results": results}, sys.stdout, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
