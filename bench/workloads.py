"""The workloads of bench/run: what each one sends, its targets, and their set-up.

  workloads.py prepare WORK PORT KEY_ID SECRET "NAME ..." POOLS POOL_SIZE [OIDC_READY_FILE [JWT_ISSUER_READY_FILE]]
      Against a running warrant (started with --outbound-allow 127.0.0.1 and a long
      --wat-ttl): creates what the selected workloads need (workload identity
      bench-agent, API-key provider bench-apikey, CustomOauth2 provider bench-oidc whose
      discoveryUrl is the testkit's issuer + /.well-known/openid-configuration; for
      jwt-rs256 / jwt-es256 bench-agent's JWT authorizer, through the native API
      PUT /warrant/v1/workload-identities/bench-agent/authorizers, whose discoveryUrl is
      the issuer of JWT_ISSUER_READY_FILE's ready line + /.well-known/openid-configuration
      and allowedAudience [bench-api], and one user token per algorithm, signed with the
      keys of `jwt_issuer.py keys WORK`, valid for a day), issues
      the workload access token (WAT) the repeated-WAT workloads reuse, fills the M2M
      token cache with one call, and for apikey-fresh issues POOLS x POOL_SIZE further
      WATs through the API and signs one GetResourceApiKey request per WAT (pool files
      apikey-fresh-pool-{warmup,1..POOLS-1}.reqs: one pool per wrk run, so no WAT is
      used twice unless a run outgrows its pool, which its result then reports). Sends
      each workload's request once and fails unless it is answered 200. Writes
      WORK/workloads.json (the selected workloads with their targets) and calls `sign`.
      oauth-user and callback-to-token (bench/uf_flow.py): workload identity
      bench-uf-agent (with an allowed return URL) and CustomOauth2 provider bench-uf on
      the testkit's discovery URL, with a client registered at the testkit's /reg whose
      redirect URI is the provider's callbackUrl and whose tokens live 30 days
      (WORK/uf.json records them for bench/callback_to_token.py); for oauth-user, one
      consent flow for userId bench-user (scripted browser, CompleteResourceTokenAuth),
      so that its GetResourceOauth2Token (USER_FEDERATION, the same user WAT every
      time) is answered from the vault; the sample must carry an accessToken.
      callback-to-token is a measurement, not a load workload: `list` leaves it out.
      apikey-audit (which brings along apikey-noaudit) is the apikey request sent to
      two warrant processes of its own, audit on and off (bench/run starts them after
      the set-up on copies of the data dir): their ports come from WORK/ports.json
      ({"audit-on": PORT, "audit-off": PORT}) and their samples are sent by `check`.
  workloads.py check WORK KEY_ID SECRET "NAME ..."
      Sends the sample request of each workload NAME (those with a process of their own)
      once; fails unless it is answered 200.
  workloads.py audit-count DB
      Prints {"events": N, "apikey_success": M} for the SQLite database DB (read-only):
      all audit events, and the successful GetResourceApiKey ones.
  workloads.py sign WORK PORT KEY_ID SECRET
      (Re-)signs the fixed requests (X-Amz-Date now) and writes, per workload NAME,
      wl-NAME.lua (wrk), wl-NAME.headers (oha -H lines) and wl-NAME.body (oha -D).
  workloads.py list WORK
      One line per selected workload, in run order: NAME URL LUA RATE BASELINE ALT, where
      RATE is 1 when it gets a constant-rate (p99) run, BASELINE is the workload
      whose baseline slice it shares (itself, except oidc, which runs right after m2m
      and is compared with it side by side, and apikey-noaudit, likewise with
      apikey-audit) and ALT is 1 when it runs before that workload every other round
      (apikey-noaudit: the on/off order alternates, so a drift favours neither).

Every request of a workload except oidc is SigV4-signed (bench/sigv4.py) and replayed.
The JWT workloads replay one user token each: warrant keeps no memo of validated user
tokens, so every request is a full validation (parse, signature with the cached JWKS key,
claims); summary.py checks warrant's warrant_user_tokens_total against the responses.

  workloads.py needs-rate "NAME ..."
      Exit 0 when one of the selected workloads gets a constant-rate run (oha needed).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import sys

import uf_flow
from jwt_issuer import sign_token
from sigv4 import Signer, lua_str, oha_headers, send, wrk_script, WRK_DONE

WORKLOAD = "bench-agent"
APIKEY_PROVIDER = "bench-apikey"
OAUTH2_PROVIDER = "bench-oidc"
USER_ID = "bench-user"
# The JWT workloads' user tokens: sub, aud (= the authorizer's allowedAudience), client_id
# and scope (not checked: the authorizer sets only allowedAudience), lifetime.
JWT_SUB = "bench-jwt-user"
JWT_AUD = "bench-api"
JWT_CLIENT = "bench-client"
JWT_SCOPE = "openid read"
JWT_TTL = 86400

# Run order; each one's targets (the issue's): min_ratio = its max req/s over the
# baseline's (interleaved), max_p99_ms = p99 at a constant 50% of its own max rate,
# min_vs = (other workload, min ratio of the max req/s).
WORKLOADS: dict[str, dict] = {
    "identity": {
        "label": "GetWorkloadIdentity (signed)",
        "path": "/identities/GetWorkloadIdentity",
        "targets": {"min_ratio": 0.35, "max_p99_ms": 2.0},
    },
    "wat-user": {
        "label": "GetWorkloadAccessTokenForUserId",
        "path": "/identities/GetWorkloadAccessTokenForUserId",
        "targets": {"min_ratio": 0.25},
    },
    "apikey": {
        "label": "GetResourceApiKey, repeated WAT",
        "path": "/identities/api-key",
        "targets": {"min_ratio": 0.25, "max_p99_ms": 2.0},
    },
    # The audit trail's cost (issue 6): the apikey request against two processes of their
    # own on copies of one data dir, alike but for --audit; the off slice runs right
    # after the on slice, the order swapped every other round; cost = 1 - on / off.
    "apikey-audit": {
        "label": "GetResourceApiKey, audit on",
        "path": "/identities/api-key",
        "targets": {"max_cost_vs": ["apikey-noaudit", 0.15]},
        "server": "audit-on",
    },
    "apikey-noaudit": {
        "label": "GetResourceApiKey, audit off",
        "path": "/identities/api-key",
        "targets": {},
        "server": "audit-off",
        "baseline": "apikey-audit",
        "alternate": True,
    },
    "apikey-fresh": {
        "label": "GetResourceApiKey, fresh WAT each",
        "path": "/identities/api-key",
        "targets": {},
        "pool": True,
    },
    "m2m": {
        "label": "M2M oauth2/token, cache hit",
        "path": "/identities/oauth2/token",
        "targets": {"min_ratio": 0.25, "max_p99_ms": 2.0, "min_vs": ["oidc", 5.0]},
    },
    "oidc": {
        "label": "oidc-provider POST /token (M2M)",
        "path": "/token",
        "targets": {},
        "unsigned": True,
        "baseline": "m2m",
    },
    # User federation (3LO): the user's token from the vault, after one consent flow in
    # the set-up (bench/uf_flow.py); the same user WAT on every request.
    "oauth-user": {
        "label": "USER_FEDERATION oauth2/token, vault hit",
        "path": "/identities/oauth2/token",
        "targets": {"min_ratio": 0.25, "max_p99_ms": 2.0},
        "uf": True,
    },
    "jwt-rs256": {
        "label": "GetWorkloadAccessTokenForJWT, RS256",
        "path": "/identities/GetWorkloadAccessTokenForJWT",
        "targets": {"min_ratio": 0.10},
        "jwt": "RS256",
    },
    "jwt-es256": {
        "label": "GetWorkloadAccessTokenForJWT, ES256",
        "path": "/identities/GetWorkloadAccessTokenForJWT",
        "targets": {"min_ratio": 0.06},
        "jwt": "ES256",
    },
}


# Measurements that are not load workloads (bench/run runs them after the load runs).
MEASUREMENTS = {
    # From the provider's callback to the agent's token: long poll and 1 s polling
    # (bench/callback_to_token.py); no target.
    "callback-to-token": {"uf": True},
}


def body_of(name: str, wat: str | None, user_tokens: dict[str, str] | None = None,
            uf_wat: str | None = None) -> dict | None:
    return {
        "identity": lambda: {"name": WORKLOAD},
        "wat-user": lambda: {"workloadName": WORKLOAD, "userId": USER_ID},
        "apikey": lambda: {"workloadIdentityToken": wat,
                           "resourceCredentialProviderName": APIKEY_PROVIDER},
        "apikey-audit": lambda: {"workloadIdentityToken": wat,
                                 "resourceCredentialProviderName": APIKEY_PROVIDER},
        "apikey-noaudit": lambda: {"workloadIdentityToken": wat,
                                   "resourceCredentialProviderName": APIKEY_PROVIDER},
        "apikey-fresh": lambda: {"workloadIdentityToken": wat,
                                 "resourceCredentialProviderName": APIKEY_PROVIDER},
        "m2m": lambda: {"workloadIdentityToken": wat,
                        "resourceCredentialProviderName": OAUTH2_PROVIDER,
                        "scopes": ["read"], "oauth2Flow": "M2M"},
        "oidc": lambda: None,
        "oauth-user": lambda: uf_flow.token_body(uf_wat),
        "jwt-rs256": lambda: {"workloadName": WORKLOAD, "userToken": user_tokens["RS256"]},
        "jwt-es256": lambda: {"workloadName": WORKLOAD, "userToken": user_tokens["ES256"]},
    }[name]()


def call(conn: http.client.HTTPConnection, signer: Signer, path: str, payload: dict,
         ok: tuple[int, ...] = (200,), method: str = "POST") -> dict:
    """A signed control- or data-plane call on a keep-alive connection; its JSON answer."""
    body = json.dumps(payload, separators=(",", ":"))
    status, text = send(signer.port, path, signer.sign(path, body, method=method), body, conn, method)
    if status not in ok:
        raise SystemExit(f"workloads.py: {method} {path} answered {status}: {text[:300]}")
    return json.loads(text) if text else {}


POOL_LUA = """
-- GetResourceApiKey with a different WAT on every request: the requests were signed
-- beforehand (bench/workloads.py), one per WAT; the pool file is chosen by the script
-- argument (one pool per wrk run). Wraps around when the run outgrows its pool, and
-- reports pool_size and pool_calls, so a reused WAT is never silently counted as fresh.
local dir, path = %(dir)s, %(path)s
reqs, n, calls = {}, 0, 0
init = function(args)
  local f = assert(io.open(dir .. "/apikey-fresh-pool-" .. args[1] .. ".reqs", "r"))
  for line in f:lines() do
    local date, auth, body = line:match("^([^\\t]*)\\t([^\\t]*)\\t(.*)$")
    n = n + 1
    reqs[n] = wrk.format("POST", path, {["content-type"] = "application/json",
      ["x-amz-date"] = date, ["authorization"] = auth}, body)
  end
  f:close()
end
request = function()
  calls = calls + 1
  return reqs[(calls - 1) %% n + 1]
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
pool_report = function()
  local c, s = 0, 0
  for _, t in ipairs(threads) do c = c + t:get("calls"); s = s + t:get("n") end
  return string.format(',"pool_size":%%d,"pool_calls":%%d', s, c)
end
"""


def issue_wats(port: int, signer: Signer, count: int, batch: int = 256) -> list[str]:
    """COUNT distinct WATs: one signed GetWorkloadAccessToken request, replayed (every
    answer carries a new token: its own jti), pipelined BATCH at a time on one keep-alive
    connection (http.client's one request at a time manages under 2k/s here)."""
    path = "/identities/GetWorkloadAccessToken"
    body = json.dumps({"workloadName": WORKLOAD}, separators=(",", ":"))
    headers = signer.sign(path, body)
    raw = (f"POST {path} HTTP/1.1\r\n"
           + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
           + f"content-length: {len(body)}\r\n\r\n{body}").encode()
    out = []
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        f = sock.makefile("rb")
        while len(out) < count:
            n = min(batch, count - len(out))
            sock.sendall(raw * n)
            for _ in range(n):
                status = int(f.readline().split()[1])
                length = 0
                while (line := f.readline()) not in (b"\r\n", b""):
                    k, _, v = line.decode().partition(":")
                    if k.strip().lower() == "content-length":
                        length = int(v)
                text = f.read(length).decode()
                if status != 200:
                    raise SystemExit(f"workloads.py: GetWorkloadAccessToken answered {status}: {text[:300]}")
                out.append(json.loads(text)["workloadAccessToken"])
    if len(set(out)) != len(out):
        raise SystemExit("workloads.py: GetWorkloadAccessToken returned a token twice")
    return out


def prepare(work: str, port: int, key_id: str, secret: str, selected: list[str],
            pools: int, pool_size: int, oidc_file: str | None, jwt_file: str | None = None) -> None:
    unknown = [n for n in selected if n not in WORKLOADS and n not in MEASUREMENTS]
    if unknown:
        raise SystemExit(f"workloads.py: unknown workload(s) {unknown}; known: "
                         f"{list(WORKLOADS) + list(MEASUREMENTS)}")
    if "m2m" in selected and "oidc" not in selected:
        selected = selected + ["oidc"]
    if "oidc" in selected and "m2m" not in selected:
        raise SystemExit("workloads.py: oidc is measured side by side with m2m; select m2m")
    if "apikey-audit" in selected and "apikey-noaudit" not in selected:
        selected = selected + ["apikey-noaudit"]
    if "apikey-noaudit" in selected and "apikey-audit" not in selected:
        raise SystemExit("workloads.py: apikey-noaudit is measured side by side with apikey-audit; "
                         "select apikey-audit")
    order = [n for n in WORKLOADS if n in selected]
    servers = server_ports(work) if any("server" in WORKLOADS[n] for n in order) else {}
    signer = Signer(port, key_id, secret)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    state: dict = {"port": port, "workloads": []}
    call(conn, signer, "/identities/CreateWorkloadIdentity", {"name": WORKLOAD}, (201, 409))
    wat = None
    apikey_names = ("apikey", "apikey-audit", "apikey-noaudit", "apikey-fresh")
    if any(n in order for n in apikey_names + ("m2m",)):
        wat = call(conn, signer, "/identities/GetWorkloadAccessToken",
                   {"workloadName": WORKLOAD})["workloadAccessToken"]
    if any(n in order for n in apikey_names):
        call(conn, signer, "/identities/CreateApiKeyCredentialProvider",
             {"name": APIKEY_PROVIDER, "apiKey": "bench-api-key-0123456789abcdef0123456789"}, (201, 409))
    oidc = None
    needs_uf = any(WORKLOADS.get(n, MEASUREMENTS.get(n, {})).get("uf") for n in selected)
    if "m2m" in order or needs_uf:
        if not oidc_file:
            raise SystemExit("workloads.py: m2m, oauth-user and callback-to-token need the testkit's "
                             "ready line (OIDC_READY_FILE)")
        with open(oidc_file) as f:
            oidc = json.loads(f.readline())
    if "m2m" in order:
        client = oidc["clients"]["basic"]
        call(conn, signer, "/identities/CreateOauth2CredentialProvider", {
            "name": OAUTH2_PROVIDER, "credentialProviderVendor": "CustomOauth2",
            "oauth2ProviderConfigInput": {"customOauth2ProviderConfig": {
                "oauthDiscovery": {"discoveryUrl": oidc["issuer"] + "/.well-known/openid-configuration"},
                "clientId": client["client_id"], "clientSecret": client["client_secret"],
                "clientAuthenticationMethod": "CLIENT_SECRET_BASIC"}}}, (201,))
    uf_wat = None
    if needs_uf:
        # User federation: a workload and a provider of their own, a client registered at
        # oidc-provider (long-lived tokens), and for oauth-user one consent flow now, so
        # that the vault holds USER_ID's token (bench/uf_flow.py). WORK/uf.json tells
        # bench/callback_to_token.py what was set up.
        def uf_call(path: str, payload: dict, ok: tuple[int, ...] = (200,)) -> dict:
            return call(conn, signer, path, payload, ok)
        uf = uf_flow.setup(uf_call, oidc["issuer"])
        uf["port"] = port
        if "oauth-user" in order:
            uf_wat, _ = uf_flow.consent(uf_call, USER_ID)
            print(f"[bench] oauth-user: consent flow done for {USER_ID}; the vault holds its token",
                  file=sys.stderr)
        with open(os.path.join(work, "uf.json"), "w") as f:
            json.dump(uf, f, indent=2)
    user_tokens = None
    if any("jwt" in WORKLOADS[n] for n in order):
        if not jwt_file or not os.path.exists(jwt_file):
            raise SystemExit("workloads.py: the jwt workloads need the issuer's ready line (JWT_ISSUER_READY_FILE)")
        with open(jwt_file) as f:
            issuer = json.loads(f.readline())["issuer"]
        authorizer = {"customJWTAuthorizer": {
            "discoveryUrl": issuer + "/.well-known/openid-configuration",
            "allowedAudience": [JWT_AUD]}}
        got = call(conn, signer, f"/warrant/v1/workload-identities/{WORKLOAD}/authorizers",
                   {"authorizers": [authorizer]}, (200,), "PUT")
        if got.get("workloadName") != WORKLOAD or not got.get("authorizers"):
            raise SystemExit(f"workloads.py: PUT authorizers answered {json.dumps(got)[:300]}")
        user_tokens = {alg: sign_token(work, alg, issuer, JWT_SUB, JWT_AUD, JWT_CLIENT, JWT_SCOPE, JWT_TTL)
                       for alg in ("RS256", "ES256")}
    for name in order:
        w = WORKLOADS[name]
        entry = {"name": name, "label": w["label"], "targets": w["targets"],
                 "baseline": w.get("baseline", name), "rate": "max_p99_ms" in w["targets"],
                 "alternate": bool(w.get("alternate"))}
        wport = port
        if "server" in w:
            # A warrant process of its own (bench/run starts it after the set-up, on a
            # copy of the data dir): its port is in WORK/ports.json; its sample is sent
            # by `check` once it runs.
            wport = servers[w["server"]]
            entry.update(server=w["server"], port=wport)
        if name == "oidc":
            basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
            entry.update(url=oidc["issuer"] + w["path"], path=w["path"],
                         body="grant_type=client_credentials&scope=read",
                         headers={"host": oidc["issuer"].split("//", 1)[1],
                                  "content-type": "application/x-www-form-urlencoded",
                                  "authorization": f"Basic {basic}"})
        else:
            entry.update(url=f"http://127.0.0.1:{wport}{w['path']}", path=w["path"],
                         body=json.dumps(body_of(name, wat, user_tokens, uf_wat), separators=(",", ":")))
            if "jwt" in w:
                entry.update(jwt=w["jwt"], issuer=issuer)
            if w.get("uf"):
                entry["expect"] = "accessToken"
        state["workloads"].append(entry)
    # The fresh-WAT pools: every WAT issued through the API, one signed request each.
    if "apikey-fresh" in order:
        total = pools * pool_size
        print(f"[bench] issuing {total} WATs for apikey-fresh ({pools} pools of {pool_size})", file=sys.stderr)
        wats = issue_wats(port, signer, total)
        date = Signer.amz_date()
        path = WORKLOADS["apikey-fresh"]["path"]
        for p in range(pools):
            label = "warmup" if p == 0 else str(p)
            with open(os.path.join(work, f"apikey-fresh-pool-{label}.reqs"), "w") as f:
                for t in wats[p * pool_size:(p + 1) * pool_size]:
                    body = json.dumps(body_of("apikey-fresh", t), separators=(",", ":"))
                    h = signer.sign(path, body, date)
                    f.write(f"{h['x-amz-date']}\t{h['authorization']}\t{body}\n")
        # A check with a WAT of no pool, so that every pooled WAT is still unverified.
        extra = issue_wats(port, signer, 1)[0]
        for e in state["workloads"]:
            if e["name"] == "apikey-fresh":
                e["body"] = json.dumps(body_of("apikey-fresh", extra), separators=(",", ":"))
                e["pool"] = {"size": pool_size, "pools": pools}
    conn.close()
    with open(os.path.join(work, "workloads.json"), "w") as f:
        json.dump(state, f, indent=2)
    sign(work, port, key_id, secret)
    # Each workload's request once, as it will be sent; the M2M one fills the cache.
    # (Those of the workloads with a server of their own: `check`, once it runs.)
    for e in state["workloads"]:
        if "server" not in e:
            send_sample(e, signer)


def send_sample(e: dict, signer: Signer) -> None:
    """The workload's request once, as it will be sent; fails unless answered 200."""
    headers = e["headers"] if "headers" in e else signer.sign(e["path"], e["body"])
    port_of = int(headers["host"].rsplit(":", 1)[1])
    status, text = send(port_of, e["path"], headers, e["body"])
    if status != 200:
        raise SystemExit(f"workloads.py: the {e['name']} sample was answered {status}: {text[:300]}")
    if "jwt" in e:
        check_jwt_sample(e["name"], text, e["issuer"])
    if e.get("expect") and not json.loads(text).get(e["expect"]):
        raise SystemExit(f"workloads.py: the {e['name']} sample has no {e['expect']}: {sorted(json.loads(text))}")
    print(f"[bench] sample {e['name']}: {status} {text[:80]}...", file=sys.stderr)


def check(work: str, key_id: str, secret: str, names: list[str]) -> None:
    """The samples of the workloads NAMES (those with a warrant process of their own)."""
    with open(os.path.join(work, "workloads.json")) as f:
        state = json.load(f)
    for e in state["workloads"]:
        if e["name"] in names:
            send_sample(e, Signer(e.get("port", state["port"]), key_id, secret))


def server_ports(work: str) -> dict[str, int]:
    """WORK/ports.json: the ports of the extra warrant processes ({"audit-on": P, ...})."""
    try:
        with open(os.path.join(work, "ports.json")) as f:
            return {k: int(v) for k, v in json.load(f).items()}
    except OSError:
        raise SystemExit("workloads.py: apikey-audit needs WORK/ports.json (the ports of the "
                         "audit-on and audit-off processes; bench/run writes it)") from None


def audit_count(db: str) -> dict:
    """Audit events in the SQLite database DB (read-only): all, and the successful
    GetResourceApiKey ones (by the event JSON's members, docs/contracts/audit.md)."""
    import sqlite3
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        total = conn.execute("SELECT COUNT(*) FROM audit_events").fetchone()[0]
        apikey = conn.execute(
            "SELECT COUNT(*) FROM audit_events WHERE json_extract(event, '$.operation') = "
            "'GetResourceApiKey' AND json_extract(event, '$.outcome') = 'success'").fetchone()[0]
    finally:
        conn.close()
    return {"events": total, "apikey_success": apikey}


def check_jwt_sample(name: str, text: str, issuer: str) -> None:
    """A GetWorkloadAccessTokenForJWT answer must carry a WAT; when the WAT is a JWS whose
    claims show a user, that user must be the token's (iss, sub)."""
    wat = json.loads(text).get("workloadAccessToken")
    if not isinstance(wat, str) or not wat:
        raise SystemExit(f"workloads.py: the {name} sample has no workloadAccessToken: {text[:300]}")
    parts = wat.split(".")
    if len(parts) == 3:
        try:
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        except ValueError:
            return
        user = claims.get("user") if isinstance(claims, dict) else None
        if isinstance(user, dict) and (user.get("sub"), user.get("iss")) != (JWT_SUB, issuer):
            raise SystemExit(f"workloads.py: the {name} sample's WAT is for user {user}, not "
                             f"iss {issuer}, sub {JWT_SUB}")
        print(f"[bench] sample {name}: WAT user {user}", file=sys.stderr)


def sign(work: str, port: int, key_id: str, secret: str) -> None:
    with open(os.path.join(work, "workloads.json")) as f:
        state = json.load(f)
    signers: dict[int, Signer] = {}
    for e in state["workloads"]:
        name = e["name"]
        p = e.get("port", port)
        signer = signers.get(p) or signers.setdefault(p, Signer(p, key_id, secret))
        if e.get("pool"):
            lua = POOL_LUA % {"dir": lua_str(work), "path": lua_str(e["path"])} + WRK_DONE
            headers = None
        else:
            headers = e["headers"] if "headers" in e else signer.sign(e["path"], e["body"])
            lua = wrk_script(headers, e["body"])
        with open(os.path.join(work, f"wl-{name}.lua"), "w") as f:
            f.write(lua)
        if headers is not None:
            with open(os.path.join(work, f"wl-{name}.headers"), "w") as f:
                f.write(oha_headers(headers))
            with open(os.path.join(work, f"wl-{name}.body"), "w") as f:
                f.write(e["body"])


def main(argv: list[str]) -> int:
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "prepare" and len(argv) in (9, 10, 11):
        prepare(argv[2], int(argv[3]), argv[4], argv[5], argv[6].split(), int(argv[7]),
                int(argv[8]), argv[9] if len(argv) >= 10 else None,
                argv[10] if len(argv) == 11 else None)
        return 0
    if cmd == "needs-rate" and len(argv) == 3:
        names = argv[2].split()
        return 0 if any("max_p99_ms" in WORKLOADS.get(n, {}).get("targets", {}) for n in names) else 1
    if cmd == "check" and len(argv) == 6:
        check(argv[2], argv[3], argv[4], argv[5].split())
        return 0
    if cmd == "audit-count" and len(argv) == 3:
        print(json.dumps(audit_count(argv[2])))
        return 0
    if cmd == "sign" and len(argv) == 6:
        sign(argv[2], int(argv[3]), argv[4], argv[5])
        return 0
    if cmd == "list" and len(argv) == 3:
        with open(os.path.join(argv[2], "workloads.json")) as f:
            for e in json.load(f)["workloads"]:
                print(e["name"], e["url"], os.path.join(argv[2], f"wl-{e['name']}.lua"),
                      int(e["rate"]), e["baseline"], int(e.get("alternate", False)))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
