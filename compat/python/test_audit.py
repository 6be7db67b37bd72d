"""The audit trail (issue 6; docs/contracts/audit.md): which events each operation emits
(allowed and denied, control and data plane, SigV4 and policy refusals), the hash chain and
its checkpoints (`warrant audit verify` on a tampered database and on exports), fail-closed
recording, the native API (filters, pagination, accounts, policy), `audit tail|export|prune`,
`--audit-mirror`, `--audit false`, and that no event ever carries a secret or a token.

The module runs servers of its own (seq numbers are then predictable): `main` for most
tests (with `--audit-mirror FILE`), and one each for tampering, fail closed, the vault
restart, prune and audit-off. Each test compares the events after the newest seq it saw
at its start, so "exactly these events" is checked. The last test scans every event of
every one of these servers (exports, database rows, the mirror) for every secret of the
run and every credential this module received.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import queue
import re
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

import helpers
from helpers import (ACCOUNT, ADMIN_KEY_ID, WARRANT_BIN, Server, base_env, create_key,
                     expect_error, fixed_clock, new_secret, raw_call, register_secret,
                     run_warrant, secret_variants, service_model, status_of, uname,
                     vendor_config)

OTHER_ACCOUNT = "111111111111"
EVENTS_PATH = "/warrant/v1/audit/events"
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "*", "Resource": "*"}]}
BEDROCK_ONLY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "bedrock-agentcore:*", "Resource": "*"}]}
LIST_ONLY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "bedrock-agentcore:ListWorkloadIdentities", "Resource": "*"}]}
ADMIN_CALLER = {"accessKeyId": ADMIN_KEY_ID, "name": "admin"}
BASE_KEYS = {"account", "seq", "time", "requestId", "source", "operation", "outcome"}
ALL_KEYS = BASE_KEYS | {"caller", "workload", "user", "provider", "resource", "scopes", "flow",
                        "tokenSource", "errorType", "tokenSha256"}
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
OK_RE = re.compile(r"^ok: (\d+) events? in (\d+) accounts?, (\d+) checkpoints?$", re.M)
DISC = "https://idp.example.test/.well-known/openid-configuration"
FORBIDDEN_MEMBERS = {"apiKey", "accessToken", "workloadAccessToken", "clientSecret", "userToken",
                     "secretAccessKey", "refreshToken", "idToken", "authorizationUrl"}

ANY = object()  # check_event: the member may be there or not, any value

# What this module received or used: the final test scans every event for all of it.
RECEIVED: list[str] = []
DATA_DIRS: list[Path] = []
MIRRORS: list[Path] = []


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------


def sha(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def received(tok: str) -> str:
    RECEIVED.append(tok)
    register_secret(tok)
    return tok


def rid(resp: dict) -> str:
    r = resp["ResponseMetadata"]["RequestId"]
    assert r
    return r


def fails(fn, **kw) -> tuple[str, str]:
    """Call a boto3 operation that must fail: (error code, request id)."""
    try:
        resp = fn(**kw)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["RequestId"]
    raise AssertionError(f"the call succeeded: {resp!r}")


def ms_of(t: str) -> int:
    d = datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)
    return round(d.timestamp() * 1000)


def rfc3339_ms(ms: int) -> str:
    d = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def db(data_dir: Path, ro: bool = True) -> sqlite3.Connection:
    path = Path(data_dir) / "warrant.db"
    if ro:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    return sqlite3.connect(path, timeout=10)


def db_rows(data_dir: Path, account: str | None = None) -> list[tuple]:
    """(account_id, seq, event, prev_hash, hash) of audit_events, in (account, seq) order."""
    con = db(data_dir)
    try:
        sql = "SELECT account_id, seq, event, prev_hash, hash FROM audit_events"
        args: list = []
        if account is not None:
            sql += " WHERE account_id = ?"
            args.append(account)
        return con.execute(sql + " ORDER BY account_id, seq", args).fetchall()
    finally:
        con.close()


def max_seq(data_dir: Path, account: str = ACCOUNT) -> int:
    con = db(data_dir)
    try:
        return con.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_events WHERE account_id = ?",
                           (account,)).fetchone()[0]
    finally:
        con.close()


def checkpoints(data_dir: Path) -> list[tuple]:
    con = db(data_dir)
    try:
        return con.execute("SELECT account_id, seq, time_ms FROM audit_checkpoints "
                           "ORDER BY account_id, seq").fetchall()
    finally:
        con.close()


def audit_cli(data_dir: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return run_warrant("audit", *args, "--data-dir", str(data_dir), timeout=timeout)


def text_of(cp: subprocess.CompletedProcess) -> str:
    return cp.stdout.decode("utf-8", "replace") + cp.stderr.decode("utf-8", "replace")


def jsonl(data: bytes | str) -> list[dict]:
    if isinstance(data, bytes):
        data = data.decode()
    out = []
    for line in data.splitlines():
        assert line.strip(), f"an empty line in JSON lines output: {data[:500]!r}"
        doc = json.loads(line)
        assert isinstance(doc, dict), line
        out.append(doc)
    return out


def export(data_dir: Path, *args: str) -> list[dict]:
    cp = audit_cli(data_dir, "export", *args, "--format", "jsonl")
    assert cp.returncode == 0, text_of(cp)
    return jsonl(cp.stdout)


def strip_hashes(e: dict) -> dict:
    return {k: v for k, v in e.items() if k not in ("prevHash", "hash")}


def verify(data_dir: Path, *args: str) -> tuple[int, str]:
    cp = audit_cli(data_dir, "verify", *args)
    return cp.returncode, text_of(cp)


def assert_ok(rc: int, out: str, events: int | None = None, accounts: int | None = None,
              cps: int | None = None):
    assert rc == 0, out
    m = OK_RE.search(out)
    assert m, f"no `ok: N events in M accounts, K checkpoints` line: {out!r}"
    got = tuple(int(x) for x in m.groups())
    want = (events, accounts, cps)
    for g, w, what in zip(got, want, ("events", "accounts", "checkpoints")):
        if w is not None:
            assert g == w, f"{what}: {g} != {w}: {out!r}"


def assert_problem(rc: int, out: str, account: str, seq: int, words: tuple[str, ...]):
    """verify found a problem: exit 1, a line naming the account and seq (and one of words)."""
    assert rc == 1, f"verify exit {rc}, expected 1: {out!r}"
    lines = [ln for ln in out.splitlines() if account in ln]
    assert lines, f"no line names account {account}: {out!r}"
    line = lines[0]
    assert re.search(rf"\bseq {seq}\b", line), f"the line does not name seq {seq}: {line!r}"
    assert any(w in line.lower() for w in words), f"expected one of {words}: {line!r}"


def list_page(server: Server, key=None, **params):
    kw = {}
    if key:
        kw = {"key_id": key["accessKeyId"], "secret": key["secretAccessKey"]}
    return raw_call(server, EVENTS_PATH, None, method="GET",
                    query={k: str(v) for k, v in params.items()}, **kw)


def list_events(server: Server, key=None, **params) -> list[dict]:
    """Every event the native API returns for these filters (all pages)."""
    out: list[dict] = []
    token = None
    for _ in range(1000):
        q = dict(params)
        if token:
            q["nextToken"] = token
        r = list_page(server, key, **q)
        assert r.status == 200, r
        assert isinstance(r.json, dict) and set(r.json) <= {"events", "nextToken"}, r.json
        assert isinstance(r.json["events"], list)
        out.extend(r.json["events"])
        token = r.json.get("nextToken")
        if not token:
            return out
    raise AssertionError("pagination never ended")


def events_after(server: Server, seq: int) -> list[dict]:
    evs = [e for e in list_events(server, maxResults=1000) if e["seq"] > seq]
    assert [e["seq"] for e in evs] == list(range(seq + 1, seq + 1 + len(evs))), \
        [e["seq"] for e in evs]
    return evs


def check_event(e: dict, op: str, *, rid: str | None = None, outcome: str = "success",
                error: str | None = None, account: str = ACCOUNT, caller=ADMIN_CALLER,
                source: str | None = "127.0.0.1", oneof: dict | None = None,
                optional: dict | None = None, **exact):
    """One event: these members and no others. exact: member == value (None: absent);
    oneof: member present with one of the values; optional: may be present (then one of
    the values, or anything with ANY)."""
    ctx = json.dumps(e, sort_keys=True)
    assert e.get("operation") == op, f"expected {op}: {ctx}"
    assert e.get("account") == account, ctx
    assert e.get("outcome") == outcome, ctx
    if outcome == "failure":
        assert e.get("errorType") == error, f"errorType should be {error}: {ctx}"
    else:
        assert "errorType" not in e, ctx
    assert isinstance(e.get("seq"), int) and e["seq"] >= 1, ctx
    assert isinstance(e.get("requestId"), str) and e["requestId"], ctx
    if rid is not None:
        assert e["requestId"] == rid, f"requestId should be {rid}: {ctx}"
    if source is not None:
        assert e.get("source") == source, ctx
    assert isinstance(e.get("time"), str) and TIME_RE.match(e["time"]), ctx
    assert abs(ms_of(e["time"]) / 1000 - time.time()) < 600, ctx
    allowed = set(BASE_KEYS) | {"errorType"}
    if caller is ANY:
        allowed.add("caller")
    elif caller is None:
        assert "caller" not in e or "accessKeyId" not in e["caller"], ctx
        allowed.add("caller")
        if "caller" in e:
            assert isinstance(e["caller"], dict) and "name" not in e["caller"], ctx
    else:
        assert e.get("caller") == caller, f"caller should be {caller}: {ctx}"
        allowed.add("caller")
    for k, v in exact.items():
        if v is None:
            assert k not in e, f"{k} should be absent: {ctx}"
        else:
            assert e.get(k) == v, f"{k} should be {v!r}: {ctx}"
            allowed.add(k)
    for k, vals in (oneof or {}).items():
        assert k in e and e[k] in vals, f"{k} should be one of {vals}: {ctx}"
        allowed.add(k)
    for k, vals in (optional or {}).items():
        if k in e and vals is not ANY:
            assert e[k] in vals, f"{k} should be one of {vals} when present: {ctx}"
        allowed.add(k)
    extra = set(e) - allowed
    assert not extra, f"unexpected members {sorted(extra)}: {ctx}"
    assert all(v is not None for v in e.values()), f"null member: {ctx}"
    assert list(e) == sorted(e), f"keys not sorted: {json.dumps(e)}"


def ops_of(evs: list[dict]) -> list[str]:
    return [e["operation"] for e in evs]


def data_path(op: str) -> str:
    return service_model("bedrock-agentcore").operation_model(op).http["requestUri"]


def allowlist_path(name: str) -> str:
    return f"/warrant/v1/workload-identities/{name}/allowed-providers"


def authz_path(name: str) -> str:
    return f"/warrant/v1/workload-identities/{name}/authorizers"


def new_workload(client, prefix="au-wl") -> str:
    name = uname(prefix)
    assert status_of(client.create_workload_identity(name=name)) == 201
    return name


def new_apikey(client, prefix="au-ak") -> tuple[str, str]:
    name = uname(prefix)
    key = new_secret("apikey-sekret-")
    assert status_of(client.create_api_key_credential_provider(name=name, apiKey=key)) == 201
    return name, key


eventually = functools.partial(helpers.eventually, step=0.1)


OWN: list[Server] = []


def own_server(tmp_path_factory, label: str, args=()) -> Server:
    d = tmp_path_factory.mktemp(label)
    DATA_DIRS.append(d)
    s = Server(d, label=label, args=list(args))
    OWN.append(s)
    s.start()
    return s


@pytest.fixture(scope="module", autouse=True)
def _stop_own_servers():
    yield
    problems = [f"{s.label}: exit {rc}" for s in OWN if s.running() and (rc := s.stop()) != 0]
    assert not problems, problems


# ---------------------------------------------------------------------------------------
# the module's main server
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def main(tmp_path_factory):
    mirror = tmp_path_factory.mktemp("audit-mirror") / "mirror.jsonl"
    MIRRORS.append(mirror)
    s = own_server(tmp_path_factory, "audit-main",
                   ["--outbound-allow", "127.0.0.1", "--audit-mirror", str(mirror)])
    ns = SimpleNamespace(server=s, data_dir=s.data_dir, client=s.client(), dc=s.data_client(),
                         mirror=mirror)
    # keys first: whatever `keys create` records, each test starts after it
    ns.denied = create_key(s.data_dir, "audit-denied", LIST_ONLY)
    ns.bedrock_only = create_key(s.data_dir, "audit-bedrock-only", BEDROCK_ONLY)
    ns.other = create_key(s.data_dir, "audit-other", ALLOW_ALL, account=OTHER_ACCOUNT)
    yield ns
    if s.running():
        rc = s.stop()
        assert rc == 0, f"audit-main exited with {rc}\n{s.stderr_text()[-3000:]}"


def at_least(main, n: int) -> None:
    """Enough events in the main account for a reading test run on its own (-k)."""
    while max_seq(main.data_dir) < n:
        new_workload(main.client, "au-fill")


def wl_resources(s: Server, wl: str) -> tuple:
    return (wl, s.arn("wi", wl))


def client_of(server: Server, key: dict, data: bool = False):
    return (server.data_client if data else server.client)(key["accessKeyId"],
                                                           key["secretAccessKey"])


# ---------------------------------------------------------------------------------------
# 1. which events each operation emits
# ---------------------------------------------------------------------------------------


def test_control_plane_mutations_emit_one_event_each(main):
    s, c = main.server, main.client
    base = max_seq(main.data_dir)
    exp: list[tuple] = []   # (operation, check_event kwargs)

    wl = uname("au-wl")
    wl_arn = s.arn("wi", wl)
    wl_res = {"resource": (wl, wl_arn)}
    r = c.create_workload_identity(name=wl)
    exp.append(("CreateWorkloadIdentity", dict(rid=rid(r), workload=wl, oneof=wl_res)))
    r = c.update_workload_identity(name=wl, allowedResourceOauth2ReturnUrls=["https://a.test/cb"])
    exp.append(("UpdateWorkloadIdentity", dict(rid=rid(r), workload=wl, oneof=wl_res)))
    r = c.tag_resource(resourceArn=wl_arn, tags={"team": "audit"})
    exp.append(("TagResource", dict(rid=rid(r), resource=wl_arn, optional={"workload": (wl,)})))
    r = c.untag_resource(resourceArn=wl_arn, tagKeys=["team"])
    exp.append(("UntagResource", dict(rid=rid(r), resource=wl_arn,
                                      optional={"workload": (wl,)})))

    ak = uname("au-ak")
    ak_res = {"resource": (ak, s.arn("apikey", ak))}
    r = c.create_api_key_credential_provider(name=ak, apiKey=new_secret("apikey-sekret-"))
    exp.append(("CreateApiKeyCredentialProvider", dict(rid=rid(r), provider=ak, oneof=ak_res)))
    r = c.update_api_key_credential_provider(name=ak, apiKey=new_secret("apikey-sekret-"))
    exp.append(("UpdateApiKeyCredentialProvider", dict(rid=rid(r), provider=ak, oneof=ak_res)))

    oa = uname("au-oa")
    oa_res = {"resource": (oa, s.arn("oauth2", oa))}
    r = c.create_oauth2_credential_provider(
        name=oa, credentialProviderVendor="CustomOauth2",
        oauth2ProviderConfigInput=vendor_config("CustomOauth2", "au-client",
                                                new_secret("au-client-sekret-")))
    exp.append(("CreateOauth2CredentialProvider", dict(rid=rid(r), provider=oa, oneof=oa_res)))
    r = c.update_oauth2_credential_provider(
        name=oa, credentialProviderVendor="CustomOauth2",
        oauth2ProviderConfigInput=vendor_config("CustomOauth2", "au-client-2",
                                                new_secret("au-client-sekret-")))
    exp.append(("UpdateOauth2CredentialProvider", dict(rid=rid(r), provider=oa, oneof=oa_res)))

    # warrant's own settings of a workload
    r = raw_call(s, allowlist_path(wl), {"allowedProviders": [ak]}, method="PUT")
    assert r.status == 200, r
    exp.append(("PutWorkloadAllowedProviders", dict(rid=r.headers["x-amzn-requestid"],
                                                    workload=wl, optional={"resource": ANY})))
    r = raw_call(s, allowlist_path(wl), None, method="DELETE")
    assert r.status in (200, 204), r
    exp.append(("DeleteWorkloadAllowedProviders", dict(rid=r.headers["x-amzn-requestid"],
                                                       workload=wl, optional={"resource": ANY})))
    authz = {"authorizers": [{"customJWTAuthorizer": {"discoveryUrl": DISC,
                                                      "allowedAudience": ["aud"]}}]}
    r = raw_call(s, authz_path(wl), authz, method="PUT")
    assert r.status == 200, r
    exp.append(("PutWorkloadAuthorizers", dict(rid=r.headers["x-amzn-requestid"], workload=wl,
                                               optional={"resource": ANY})))
    r = raw_call(s, authz_path(wl), None, method="DELETE")
    assert r.status in (200, 204), r
    exp.append(("DeleteWorkloadAuthorizers", dict(rid=r.headers["x-amzn-requestid"],
                                                  workload=wl, optional={"resource": ANY})))

    # the token vault
    r = c.set_token_vault_cmk(kmsConfiguration={"keyType": "ServiceManagedKey"})
    exp.append(("SetTokenVaultCMK", dict(rid=rid(r), optional={"resource": ANY})))

    # failures are recorded too, with the error type answered
    code, req = fails(c.create_workload_identity, name=wl)
    exp.append(("CreateWorkloadIdentity", dict(rid=req, outcome="failure", error=code,
                                               workload=wl, optional=wl_res)))
    ghost = uname("au-ghost")
    code, req = fails(c.delete_api_key_credential_provider, name=ghost)
    assert code == "ResourceNotFoundException"
    exp.append(("DeleteApiKeyCredentialProvider", dict(
        rid=req, outcome="failure", error=code, provider=ghost,
        optional={"resource": (ghost, s.arn("apikey", ghost))})))
    code, req = fails(c.reset_token_vault_key_material, tokenVaultId="default")
    exp.append(("ResetTokenVaultKeyMaterial", dict(rid=req, outcome="failure", error=code,
                                                   optional={"resource": ANY})))

    # deletes
    r = c.delete_oauth2_credential_provider(name=oa)
    exp.append(("DeleteOauth2CredentialProvider", dict(rid=rid(r), provider=oa, oneof=oa_res)))
    r = c.delete_api_key_credential_provider(name=ak)
    exp.append(("DeleteApiKeyCredentialProvider", dict(rid=rid(r), provider=ak, oneof=ak_res)))
    r = c.delete_workload_identity(name=wl)
    exp.append(("DeleteWorkloadIdentity", dict(rid=rid(r), workload=wl, oneof=wl_res)))

    evs = events_after(s, base)
    assert ops_of(evs) == [op for op, _ in exp], ops_of(evs)
    last = 0
    for e, (op, kw) in zip(evs, exp):
        check_event(e, op, **kw)
        assert ms_of(e["time"]) >= last, "times go back"
        last = ms_of(e["time"])


def test_cli_workload_mutation_is_recorded_between_server_events(main):
    s, c = main.server, main.client
    wl = new_workload(c)
    ak, _ = new_apikey(c)
    base = max_seq(main.data_dir)
    # the CLI mirrors the events it writes where the server does
    mirror_env = {"WARRANT_AUDIT_MIRROR": str(main.mirror)}
    cp = run_warrant("workloads", "set-providers", wl, "--provider", ak,
                     "--data-dir", str(main.data_dir),
                     env=mirror_env)
    assert cp.returncode == 0, cp.stderr
    cp = run_warrant("workloads", "get-providers", wl, "--data-dir", str(main.data_dir))
    assert cp.returncode == 0, cp.stderr  # a read: no event
    cp = run_warrant("workloads", "clear-providers", wl, "--data-dir", str(main.data_dir),
                     env=mirror_env)
    assert cp.returncode == 0, cp.stderr
    cp = run_warrant("workloads", "set-providers", uname("au-ghost"), "--provider", ak,
                     "--data-dir", str(main.data_dir), env=mirror_env)
    assert cp.returncode != 0
    # the server's next event continues the same chain, without a gap or a duplicate
    r = c.update_workload_identity(name=wl, allowedResourceOauth2ReturnUrls=[])
    evs = events_after(s, base)
    assert ops_of(evs) == ["PutWorkloadAllowedProviders", "DeleteWorkloadAllowedProviders",
                           "PutWorkloadAllowedProviders", "UpdateWorkloadIdentity"], ops_of(evs)
    for e in evs[:3]:
        assert e["requestId"].startswith("cli-"), e
    check_event(evs[0], "PutWorkloadAllowedProviders", source="cli", caller=ANY, workload=wl,
                optional={"resource": ANY})
    check_event(evs[1], "DeleteWorkloadAllowedProviders", source="cli", caller=ANY, workload=wl,
                optional={"resource": ANY})
    assert evs[2]["source"] == "cli" and evs[2]["outcome"] == "failure", evs[2]
    assert evs[2]["errorType"] == "ResourceNotFoundException", evs[2]
    assert len({e["requestId"] for e in evs}) == 4
    check_event(evs[3], "UpdateWorkloadIdentity", rid=rid(r), workload=wl,
                oneof={"resource": (wl, s.arn("wi", wl))})
    assert_ok(*verify(main.data_dir))


def test_data_plane_events(main):
    s, c, dc = main.server, main.client, main.dc
    base = max_seq(main.data_dir)
    wl = new_workload(c)
    ak, key = new_apikey(c)
    exp: list[tuple] = [
        ("CreateWorkloadIdentity", dict(workload=wl, oneof={"resource": wl_resources(s, wl)})),
        ("CreateApiKeyCredentialProvider", dict(provider=ak, oneof={
            "resource": (ak, s.arn("apikey", ak))})),
    ]

    r = dc.get_workload_access_token(workloadName=wl)
    w1 = received(r["workloadAccessToken"])
    exp.append(("GetWorkloadAccessToken", dict(rid=rid(r), workload=wl, user=None,
                                               tokenSha256=sha(w1))))
    r = dc.get_workload_access_token_for_user_id(workloadName=wl, userId="alice")
    w2 = received(r["workloadAccessToken"])
    exp.append(("GetWorkloadAccessTokenForUserId", dict(rid=rid(r), workload=wl,
                                                        user={"userId": "alice"},
                                                        tokenSha256=sha(w2))))
    r = dc.get_resource_api_key(workloadIdentityToken=w2, resourceCredentialProviderName=ak)
    assert received(r["apiKey"]) == key
    exp.append(("GetResourceApiKey", dict(rid=rid(r), workload=wl, user={"userId": "alice"},
                                          provider=ak, tokenSha256=sha(key))))
    r = dc.get_resource_api_key(workloadIdentityToken=w1, resourceCredentialProviderName=ak)
    assert r["apiKey"] == key
    exp.append(("GetResourceApiKey", dict(rid=rid(r), workload=wl, user=None, provider=ak,
                                          tokenSha256=sha(key))))

    # failures: unknown provider, a WAT that is no WAT, an unknown workload, the allowlist
    ghost = uname("au-ghost")
    code, req = fails(dc.get_resource_api_key, workloadIdentityToken=w1,
                      resourceCredentialProviderName=ghost)
    exp.append(("GetResourceApiKey", dict(rid=req, outcome="failure", error=code, workload=wl,
                                          provider=ghost, tokenSha256=None,
                                          optional={"user": ANY})))
    code, req = fails(dc.get_resource_api_key, workloadIdentityToken="not.a.token",
                      resourceCredentialProviderName=ak)
    assert code in ("UnauthorizedException", "ValidationException"), code
    exp.append(("GetResourceApiKey", dict(rid=req, outcome="failure", error=code, provider=ak,
                                          tokenSha256=None, user=None, workload=None)))
    code, req = fails(dc.get_workload_access_token, workloadName=ghost)
    assert code == "ResourceNotFoundException", code
    exp.append(("GetWorkloadAccessToken", dict(rid=req, outcome="failure", error=code,
                                               workload=ghost, tokenSha256=None)))
    r = raw_call(s, allowlist_path(wl), {"allowedProviders": []}, method="PUT")
    assert r.status == 200, r
    exp.append(("PutWorkloadAllowedProviders", dict(rid=r.headers["x-amzn-requestid"],
                                                    workload=wl, optional={"resource": ANY})))
    code, req = fails(dc.get_resource_api_key, workloadIdentityToken=w2,
                      resourceCredentialProviderName=ak)
    assert code == "AccessDeniedException", code
    exp.append(("GetResourceApiKey", dict(rid=req, outcome="failure", error=code, workload=wl,
                                          provider=ak, user={"userId": "alice"},
                                          tokenSha256=None)))

    evs = events_after(s, base)
    assert ops_of(evs) == [op for op, _ in exp], ops_of(evs)
    for e, (op, kw) in zip(evs, exp):
        check_event(e, op, **kw)


def test_m2m_token_source_provider_then_cache(main, oidc_provider):
    s, c, dc = main.server, main.client, main.dc
    wl = new_workload(c)
    w = received(dc.get_workload_access_token(workloadName=wl)["workloadAccessToken"])
    p = uname("au-m2m")
    cl = oidc_provider.clients["basic"]
    register_secret(cl["client_secret"])
    r = c.create_oauth2_credential_provider(
        name=p, credentialProviderVendor="CustomOauth2",
        oauth2ProviderConfigInput={"customOauth2ProviderConfig": {
            "clientId": cl["client_id"], "clientSecret": cl["client_secret"],
            "oauthDiscovery": {"discoveryUrl": oidc_provider.discovery_url}}})
    assert status_of(r) == 201
    bad = uname("au-m2m-bad")
    r = c.create_oauth2_credential_provider(
        name=bad, credentialProviderVendor="CustomOauth2",
        oauth2ProviderConfigInput={"customOauth2ProviderConfig": {
            "clientId": cl["client_id"], "clientSecret": new_secret("wrong-client-sekret-"),
            "oauthDiscovery": {"discoveryUrl": oidc_provider.discovery_url}}})
    assert status_of(r) == 201
    base = max_seq(main.data_dir)

    rids, toks = [], []
    for _ in range(2):
        r = dc.get_resource_oauth2_token(workloadIdentityToken=w,
                                         resourceCredentialProviderName=p,
                                         scopes=["read"], oauth2Flow="M2M")
        rids.append(rid(r))
        toks.append(received(r["accessToken"]))
    assert toks[0] == toks[1]
    code, req = fails(dc.get_resource_oauth2_token, workloadIdentityToken=w,
                      resourceCredentialProviderName=bad, scopes=["read"], oauth2Flow="M2M")

    evs = events_after(s, base)
    assert ops_of(evs) == ["GetResourceOauth2Token"] * 3, ops_of(evs)
    common = dict(workload=wl, scopes=["read"], flow="M2M", user=None)
    check_event(evs[0], "GetResourceOauth2Token", rid=rids[0], provider=p, tokenSource="provider",
                tokenSha256=sha(toks[0]), **common)
    check_event(evs[1], "GetResourceOauth2Token", rid=rids[1], provider=p, tokenSource="cache",
                tokenSha256=sha(toks[0]), **common)
    check_event(evs[2], "GetResourceOauth2Token", rid=req, provider=bad, outcome="failure",
                error=code, tokenSha256=None, optional={"tokenSource": ("provider",)}, **common)


def test_for_jwt_names_the_user_by_iss_and_sub(main, oidc_provider):
    s, c, dc = main.server, main.client, main.dc
    login = oidc_provider.login_clients["login"]
    wl = new_workload(c)
    r = raw_call(s, authz_path(wl), {"authorizers": [{"customJWTAuthorizer": {
        "discoveryUrl": oidc_provider.discovery_url,
        "allowedAudience": [login["client_id"]]}}]}, method="PUT")
    assert r.status == 200, r
    user = uname("au-carol")
    out = oidc_provider.login(user)
    id_token = received(out["id_token"])
    base = max_seq(main.data_dir)
    r = dc.get_workload_access_token_for_jwt(workloadName=wl, userToken=id_token)
    w = received(r["workloadAccessToken"])
    code, req = fails(dc.get_workload_access_token_for_jwt, workloadName=wl,
                      userToken=id_token[:-8] + ("A" * 8 if not id_token.endswith("A" * 8)
                                                 else "B" * 8))
    evs = events_after(s, base)
    assert ops_of(evs) == ["GetWorkloadAccessTokenForJWT"] * 2, ops_of(evs)
    check_event(evs[0], "GetWorkloadAccessTokenForJWT", rid=rid(r), workload=wl,
                user={"iss": oidc_provider.issuer, "sub": user}, tokenSha256=sha(w))
    check_event(evs[1], "GetWorkloadAccessTokenForJWT", rid=req, outcome="failure", error=code,
                workload=wl, tokenSha256=None, optional={"user": ANY})
    got = list_events(s, userIss=oidc_provider.issuer, userSub=user)
    assert got == [e for e in evs if e.get("user") == evs[0]["user"]], got
    assert got[0] == evs[0]


def test_user_federation_and_complete_are_recorded(main):
    """Flows other than M2M and CompleteResourceTokenAuth are recorded whatever they answer
    (here: refusals), with the flow, and never the user token sent."""
    s, c, dc = main.server, main.client, main.dc
    wl = new_workload(c)
    w = received(dc.get_workload_access_token_for_user_id(workloadName=wl, userId="dora")
                 ["workloadAccessToken"])
    p = uname("au-uf")
    r = c.create_oauth2_credential_provider(
        name=p, credentialProviderVendor="CustomOauth2",
        oauth2ProviderConfigInput=vendor_config("CustomOauth2", "au-uf-client",
                                                new_secret("au-uf-sekret-")))
    assert status_of(r) == 201
    base = max_seq(main.data_dir)
    try:
        r = dc.get_resource_oauth2_token(workloadIdentityToken=w, resourceCredentialProviderName=p,
                                         scopes=["read"], oauth2Flow="USER_FEDERATION",
                                         resourceOauth2ReturnUrl="https://app.example/cb")
        uf = ("success", None, rid(r))
    except ClientError as e:
        uf = ("failure", e.response["Error"]["Code"], e.response["ResponseMetadata"]["RequestId"])
    user_token = register_secret("eyJhbGciOiJSUzI1NiJ9." + new_secret("usertok-") + ".sig")
    code, req = fails(dc.complete_resource_token_auth,
                      sessionUri="urn:ietf:params:oauth:request_uri:" + uname("sess"),
                      userIdentifier={"userToken": user_token})
    code2, req2 = fails(dc.complete_resource_token_auth,
                        sessionUri="urn:ietf:params:oauth:request_uri:" + uname("sess"),
                        userIdentifier={"userId": "dora"})
    evs = events_after(s, base)
    assert ops_of(evs) == ["GetResourceOauth2Token", "CompleteResourceTokenAuth",
                           "CompleteResourceTokenAuth"], ops_of(evs)
    # (refused before the WAT is read, the event may not know the workload and user yet)
    check_event(evs[0], "GetResourceOauth2Token", rid=uf[2], outcome=uf[0], error=uf[1],
                provider=p, scopes=["read"], flow="USER_FEDERATION", tokenSha256=None,
                optional={"tokenSource": ANY, "workload": (wl,), "user": ({"userId": "dora"},)})
    check_event(evs[1], "CompleteResourceTokenAuth", rid=req, outcome="failure", error=code,
                tokenSha256=None, optional={"user": ANY, "workload": ANY, "provider": ANY})
    check_event(evs[2], "CompleteResourceTokenAuth", rid=req2, outcome="failure", error=code2,
                tokenSha256=None, optional={"user": ({"userId": "dora"},), "workload": ANY,
                                            "provider": ANY})
    assert user_token not in json.dumps(evs)


def test_m2m_token_from_the_vault_after_restart(tmp_path_factory, oidc_provider):
    s = own_server(tmp_path_factory, "audit-vault", ["--outbound-allow", "127.0.0.1",
                                                     "--audit-mirror", "stdout"])
    c, dc = s.client(), s.data_client()
    wl = new_workload(c)
    p = uname("au-vault")
    cl = oidc_provider.clients["post"]
    register_secret(cl["client_secret"])
    r = c.create_oauth2_credential_provider(
        name=p, credentialProviderVendor="CustomOauth2",
        oauth2ProviderConfigInput={"customOauth2ProviderConfig": {
            "clientId": cl["client_id"], "clientSecret": cl["client_secret"],
            "clientAuthenticationMethod": "CLIENT_SECRET_POST",
            "oauthDiscovery": {"discoveryUrl": oidc_provider.discovery_url}}})
    assert status_of(r) == 201

    def token(dc):
        w = received(dc.get_workload_access_token(workloadName=wl)["workloadAccessToken"])
        r = dc.get_resource_oauth2_token(workloadIdentityToken=w,
                                         resourceCredentialProviderName=p,
                                         scopes=["write", "read"], oauth2Flow="M2M")
        return rid(r), received(r["accessToken"])

    rid1, t1 = token(dc)
    assert s.stop() == 0
    s.start()
    rid2, t2 = token(s.data_client())
    assert t1 == t2, "the restarted server should serve the stored token"
    evs = events_after(s, 2)
    assert ops_of(evs) == ["GetWorkloadAccessToken", "GetResourceOauth2Token"] * 2, ops_of(evs)
    common = dict(workload=wl, provider=p, flow="M2M", tokenSha256=sha(t1), user=None)
    check_event(evs[1], "GetResourceOauth2Token", rid=rid1, tokenSource="provider",
                oneof={"scopes": (["read", "write"], ["write", "read"])}, **common)
    check_event(evs[3], "GetResourceOauth2Token", rid=rid2, tokenSource="vault",
                oneof={"scopes": (["read", "write"], ["write", "read"])}, **common)
    assert s.stop() == 0
    assert_ok(*verify(s.data_dir), events=6, accounts=1)
    # --audit-mirror stdout: the events of this (second) run, one JSON line each
    mirrored = [json.loads(ln) for ln in s.stdout_text().splitlines() if ln.startswith("{")]
    assert mirrored == [strip_hashes(e) for e in export(s.data_dir)][4:], mirrored


def test_concurrent_requests_each_get_one_event(main):
    """Group commit: concurrent events share transactions, still one event each, seq without
    gaps or duplicates, the chain intact."""
    s, c, dc = main.server, main.client, main.dc
    wl = new_workload(c)
    ak, key = new_apikey(c)
    w = received(dc.get_workload_access_token(workloadName=wl)["workloadAccessToken"])
    base = max_seq(main.data_dir)
    n = 24
    barrier = threading.Barrier(n)
    out: list = [None] * n
    errors: list = []
    clients = [s.data_client() for _ in range(4)]

    def run(i):
        try:
            barrier.wait(30)
            r = clients[i % 4].get_resource_api_key(workloadIdentityToken=w,
                                                    resourceCredentialProviderName=ak)
            out[i] = (rid(r), r["apiKey"])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert all(o and o[1] == key for o in out)
    evs = events_after(s, base)
    assert len(evs) == n, ops_of(evs)
    assert sorted(e["requestId"] for e in evs) == sorted(o[0] for o in out)
    for e in evs:
        check_event(e, "GetResourceApiKey", workload=wl, provider=ak, tokenSha256=sha(key),
                    user=None)
    assert_ok(*verify(main.data_dir, "--account", ACCOUNT), accounts=1)


def test_denied_requests_are_recorded(main):
    s, c, dc = main.server, main.client, main.dc
    wl = new_workload(c)
    w = received(dc.get_workload_access_token(workloadName=wl)["workloadAccessToken"])
    ak, _ = new_apikey(c)
    denied = main.denied
    dcaller = {"accessKeyId": denied["accessKeyId"], "name": "audit-denied"}
    cd, dd = client_of(s, denied), client_of(s, denied, data=True)
    base = max_seq(main.data_dir)
    base_dash = max_seq(main.data_dir, "-")
    exp: list[tuple] = []

    assert status_of(cd.list_workload_identities()) == 200   # allowed read: no event
    name = uname("au-denied")
    code, req = fails(cd.create_workload_identity, name=name)
    assert code == "AccessDeniedException"
    exp.append(("CreateWorkloadIdentity", dict(rid=req, caller=dcaller, outcome="failure",
                                               error=code, optional={"workload": (name,),
                                                                     "resource": ANY})))
    code, req = fails(cd.get_workload_identity, name=wl)         # a denied read is recorded
    assert code == "AccessDeniedException"
    exp.append(("GetWorkloadIdentity", dict(rid=req, caller=dcaller, outcome="failure",
                                            error=code, optional={"workload": (wl,),
                                                                  "resource": ANY})))
    code, req = fails(dd.get_resource_api_key, workloadIdentityToken=w,
                      resourceCredentialProviderName=ak)
    assert code == "AccessDeniedException"
    exp.append(("GetResourceApiKey", dict(rid=req, caller=dcaller, outcome="failure", error=code,
                                          tokenSha256=None, optional={
                                              "workload": (wl,), "provider": (ak,)})))
    code, req = fails(dd.get_workload_access_token, workloadName=wl)
    assert code == "AccessDeniedException"
    exp.append(("GetWorkloadAccessToken", dict(rid=req, caller=dcaller, outcome="failure",
                                               error=code, tokenSha256=None,
                                               optional={"workload": (wl,)})))
    r = list_page(s, denied)
    assert r.status == 403 and r.error_type == "AccessDeniedException", r
    exp.append(("ListAuditEvents", dict(rid=r.headers["x-amzn-requestid"], caller=dcaller,
                                        outcome="failure", error="AccessDeniedException")))
    # a key that may do anything on bedrock-agentcore but nothing of warrant's own
    bo = main.bedrock_only
    r = list_page(s, bo)
    assert r.status == 403 and r.error_type == "AccessDeniedException", r
    exp.append(("ListAuditEvents", dict(rid=r.headers["x-amzn-requestid"], outcome="failure",
                                        error="AccessDeniedException",
                                        caller={"accessKeyId": bo["accessKeyId"],
                                                "name": "audit-bedrock-only"})))

    # SigV4: a known key with a wrong secret, or an expired date: the key's account
    r = raw_call(s, "/identities/ListWorkloadIdentities", {}, secret="WRONG" + helpers.ADMIN_SECRET)
    assert r.status == 403 and r.error_type == "InvalidSignatureException", r
    exp.append(("ListWorkloadIdentities", dict(rid=r.headers["x-amzn-requestid"],
                                               outcome="failure",
                                               error="InvalidSignatureException")))
    with fixed_clock(datetime.timedelta(minutes=-30)):
        r = raw_call(s, data_path("GetResourceApiKey"),
                     {"workloadIdentityToken": w, "resourceCredentialProviderName": ak})
    assert r.status == 403 and r.error_type == "InvalidSignatureException", r
    exp.append(("GetResourceApiKey", dict(rid=r.headers["x-amzn-requestid"], outcome="failure",
                                          error="InvalidSignatureException", tokenSha256=None,
                                          optional={"workload": (wl,), "provider": (ak,)})))
    evs = events_after(s, base)
    assert ops_of(evs) == [op for op, _ in exp], ops_of(evs)
    for e, (op, kw) in zip(evs, exp):
        check_event(e, op, **kw)

    # unknown key, no signature at all: account "-"
    unknown = "AKIAUNKNOWN" + uname("")[-9:].upper().replace("-", "X")
    r1 = raw_call(s, "/identities/ListWorkloadIdentities", {}, key_id=unknown,
                  secret="whatever-secret-1234")
    assert r1.status == 403 and r1.error_type == "UnrecognizedClientException", r1
    r2 = raw_call(s, data_path("GetResourceApiKey"),
                  {"workloadIdentityToken": w, "resourceCredentialProviderName": ak},
                  key_id=unknown, secret="whatever-secret-1234")
    assert r2.status == 403 and r2.error_type == "UnrecognizedClientException", r2
    r3 = raw_call(s, "/identities/CreateWorkloadIdentity", {"name": uname("au-unsigned")},
                  sign=False)
    assert r3.status in (400, 403), r3
    assert max_seq(main.data_dir) == evs[-1]["seq"], "account-less requests went to the account"
    dash = [e for e in export(main.data_dir, "--account=-") if e["seq"] > base_dash]
    assert [e["seq"] for e in dash] == list(range(base_dash + 1, base_dash + 4)), dash
    dash = [strip_hashes(e) for e in dash]
    check_event(dash[0], "ListWorkloadIdentities", account="-", caller={"accessKeyId": unknown},
                rid=r1.headers["x-amzn-requestid"], outcome="failure",
                error="UnrecognizedClientException")
    check_event(dash[1], "GetResourceApiKey", account="-", caller={"accessKeyId": unknown},
                rid=r2.headers["x-amzn-requestid"], outcome="failure",
                error="UnrecognizedClientException", tokenSha256=None,
                optional={"workload": (wl,), "provider": (ak,)})
    check_event(dash[2], "CreateWorkloadIdentity", account="-", caller=None,
                rid=r3.headers["x-amzn-requestid"], outcome="failure", error=r3.error_type,
                optional={"workload": ANY, "resource": ANY})
    # nothing named a key: no caller member at all ("absent members are omitted")
    assert "caller" not in dash[2], dash[2]


def test_successful_reads_are_not_recorded(main):
    s, c, dc = main.server, main.client, main.dc
    wl = new_workload(c)
    ak, _ = new_apikey(c)
    base, base_dash = max_seq(main.data_dir), max_seq(main.data_dir, "-")
    c.get_workload_identity(name=wl)
    c.list_workload_identities()
    c.get_api_key_credential_provider(name=ak)
    c.list_api_key_credential_providers()
    c.list_oauth2_credential_providers()
    c.get_token_vault()
    c.list_tags_for_resource(resourceArn=s.arn("wi", wl))
    for path in (allowlist_path(wl), authz_path(wl)):
        r = raw_call(s, path, None, method="GET")
        assert r.status == 200, r
    list_events(s)
    list_events(s, workload=wl, maxResults=1)
    list_events(s, key=main.other)
    for path in ("/ping", "/metrics", "/.well-known/jwks.json"):
        helpers.http_get(s.port, path)
    for args in (("get-providers", wl), ("get-authorizers", wl)):
        cp = run_warrant("workloads", *args, "--data-dir", str(main.data_dir))
        assert cp.returncode == 0, cp.stderr
    audit_cli(main.data_dir, "tail", "-n", "1")
    assert max_seq(main.data_dir) == base
    assert max_seq(main.data_dir, "-") == base_dash


# ---------------------------------------------------------------------------------------
# 2. reading: the native API
# ---------------------------------------------------------------------------------------


def test_api_filters(main):
    s, c, dc = main.server, main.client, main.dc
    wa, wb = new_workload(c, "au-fa"), new_workload(c, "au-fb")
    pa, _ = new_apikey(c, "au-fpa")
    pb, _ = new_apikey(c, "au-fpb")
    ua, ub = uname("au-ua"), uname("au-ub")
    ta = received(dc.get_workload_access_token_for_user_id(workloadName=wa, userId=ua)
                  ["workloadAccessToken"])
    tb = received(dc.get_workload_access_token_for_user_id(workloadName=wb, userId=ub)
                  ["workloadAccessToken"])
    for t, p in ((ta, pa), (ta, pb), (tb, pa), (tb, pa)):
        dc.get_resource_api_key(workloadIdentityToken=t, resourceCredentialProviderName=p)
    everything = list_events(s, maxResults=1000)
    assert [e["seq"] for e in everything] == list(range(1, len(everything) + 1))
    assert all(e["account"] == ACCOUNT for e in everything)

    def want(pred):
        out = [e for e in everything if pred(e)]
        assert out
        return out

    assert list_events(s, workload=wa) == want(lambda e: e.get("workload") == wa)
    assert len(list_events(s, workload=wa)) == 4  # create, WAT, two API keys
    assert list_events(s, userId=ub) == want(lambda e: e.get("user") == {"userId": ub})
    assert len(list_events(s, userId=ub)) == 3
    assert list_events(s, provider=pa) == want(lambda e: e.get("provider") == pa)
    assert len(list_events(s, provider=pa)) == 4
    assert list_events(s, operation="GetResourceApiKey") == want(
        lambda e: e["operation"] == "GetResourceApiKey")
    assert list_events(s, workload=wb, operation="GetResourceApiKey", provider=pa) == want(
        lambda e: e.get("workload") == wb and e["operation"] == "GetResourceApiKey"
        and e.get("provider") == pa)
    assert len(list_events(s, workload=wb, operation="GetResourceApiKey")) == 2
    assert list_events(s, workload=uname("au-nobody")) == []
    assert list_events(s, userIss="https://nobody.example.test", userSub="x") == []

    # time: since inclusive, until exclusive; RFC 3339 and Unix seconds
    mine = list_events(s, workload=wa)
    t0 = mine[1]["time"]
    assert list_events(s, since=t0) == want(lambda e: ms_of(e["time"]) >= ms_of(t0))
    assert list_events(s, until=t0) == want(lambda e: ms_of(e["time"]) < ms_of(t0))
    t1 = mine[-1]["time"]
    assert list_events(s, since=t0, until=t1, workload=wa) == [
        e for e in mine if ms_of(t0) <= ms_of(e["time"]) < ms_of(t1)]
    secs = ms_of(t0) // 1000
    assert list_events(s, since=secs) == want(lambda e: ms_of(e["time"]) >= secs * 1000)
    assert list_events(s, until=secs + 1) == want(
        lambda e: ms_of(e["time"]) < (secs + 1) * 1000)
    assert list_events(s, since=int(time.time()) + 3600) == []


def test_api_pagination_and_bad_parameters(main):
    s = main.server
    at_least(main, 10)
    everything = list_events(s, maxResults=1000)
    assert len(everything) > 7
    r = list_page(s)
    assert r.status == 200 and len(r.json["events"]) == min(100, len(everything)), r
    pages = []
    token = None
    while True:
        q = {"maxResults": 3}
        if token:
            q["nextToken"] = token
        r = list_page(s, **q)
        assert r.status == 200, r
        assert 1 <= len(r.json["events"]) <= 3 or (not pages and not everything), r.json
        pages.append(r.json["events"])
        token = r.json.get("nextToken")
        if not token:
            break
        assert isinstance(token, str) and token
    got = [e for p in pages for e in p]
    assert got[:len(everything)] == everything  # events recorded meanwhile may follow
    assert all(len(p) == 3 for p in pages[:-1])
    # filters hold across pages
    wl_events = [e for e in everything if e.get("workload")]
    wl = wl_events[0]["workload"]
    assert list_events(s, workload=wl, maxResults=1) == list_events(s, workload=wl)

    bad = [{"maxResults": 0}, {"maxResults": 1001}, {"maxResults": "x"}, {"maxResults": -1},
           {"since": "yesterday"}, {"until": "2026-13-45T99:00:00Z"}, {"since": "12abc"},
           {"nextToken": "not-a-token"}, {"bogus": "1"}, {"maxResults": ""}]
    for q in bad:
        r = list_page(s, **q)
        assert r.status == 400 and r.error_type == "ValidationException", (q, r)
        assert r.json and r.json.get("message"), (q, r)
    r = list_page(s, maxResults=1000)
    assert r.status == 200, r
    r = list_page(s, maxResults=1)
    assert r.status == 200 and len(r.json["events"]) == 1, r


def test_api_shows_only_the_callers_account(main):
    s = main.server
    at_least(main, 3)
    other = main.other
    oc = client_of(s, other)
    before = list_events(s, key=other)
    assert all(e["account"] == OTHER_ACCOUNT for e in before), before
    mine = list_events(s, maxResults=1000)
    wl = uname("au-other")
    r = oc.create_workload_identity(name=wl)
    evs = list_events(s, key=other)
    assert [e["seq"] for e in evs] == list(range(1, len(evs) + 1)), "the other account's seq"
    assert len(evs) == len(before) + 1
    check_event(evs[-1], "CreateWorkloadIdentity", account=OTHER_ACCOUNT, rid=rid(r),
                caller={"accessKeyId": other["accessKeyId"], "name": "audit-other"},
                workload=wl, oneof={"resource": (wl, s.arn("wi", wl, OTHER_ACCOUNT))})
    theirs = {e["requestId"] for e in evs}
    assert not theirs & {e["requestId"] for e in mine}
    assert wl not in {e.get("workload") for e in list_events(s, maxResults=1000)}
    # a filter naming the first account's workload finds nothing from the other account
    first_wl = next(e["workload"] for e in mine if e.get("workload"))
    assert list_events(s, key=other, workload=first_wl) == []
    assert_ok(*verify(main.data_dir, "--account", OTHER_ACCOUNT), events=len(evs), accounts=1)


def test_list_audit_events_policy_names_the_audit_log(main):
    """warrant:ListAuditEvents on arn:aws:bedrock-agentcore:{region}:{account}:audit-log."""
    s = main.server
    at_least(main, 1)
    arn = f"arn:aws:bedrock-agentcore:{s.region}:{ACCOUNT}:audit-log"

    def key(action, resource):
        name = uname("au-pol")
        k = create_key(main.data_dir, name, {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": action, "Resource": resource}]})
        return {**k, "name": name}

    ok = key("warrant:ListAuditEvents", arn)
    assert list_events(s, key=ok) == list_events(s)
    ok2 = key("warrant:List*", f"arn:aws:bedrock-agentcore:{s.region}:{ACCOUNT}:*")
    assert list_events(s, key=ok2, maxResults=1) == list_events(s, maxResults=1)
    for action, resource in (("warrant:ListAuditEvents", s.arn("wi-dir")),
                             ("warrant:ListAuditEvents",
                              f"arn:aws:bedrock-agentcore:{s.region}:{OTHER_ACCOUNT}:audit-log"),
                             ("warrant:GetWorkloadAllowedProviders", arn),
                             ("bedrock-agentcore:ListAuditEvents", arn)):
        k = key(action, resource)
        base = max_seq(main.data_dir)
        r = list_page(s, k)
        assert r.status == 403 and r.error_type == "AccessDeniedException", (action, resource, r)
        evs = events_after(s, base)
        assert len(evs) == 1
        check_event(evs[0], "ListAuditEvents", rid=r.headers["x-amzn-requestid"],
                    outcome="failure", error="AccessDeniedException",
                    caller={"accessKeyId": k["accessKeyId"], "name": k["name"]})


# ---------------------------------------------------------------------------------------
# 3. reading: the CLI, exports, the mirror, the chain in the database
# ---------------------------------------------------------------------------------------


def test_tail(main):
    s = main.server
    at_least(main, 25)
    everything = list_events(s, maxResults=1000)
    assert len(everything) > 20
    cp = audit_cli(main.data_dir, "tail", "-n", "5", "--account", ACCOUNT)
    assert cp.returncode == 0, text_of(cp)
    assert jsonl(cp.stdout) == everything[-5:]
    cp = audit_cli(main.data_dir, "tail", "--account", ACCOUNT)
    assert cp.returncode == 0, text_of(cp)
    assert jsonl(cp.stdout) == everything[-20:]
    cp = audit_cli(main.data_dir, "tail", "-n", "3", "--account", OTHER_ACCOUNT)
    assert cp.returncode == 0, text_of(cp)
    assert jsonl(cp.stdout) == list_events(s, key=main.other)[-3:]


def test_tail_follow(main):
    s, c = main.server, main.client
    at_least(main, 1)
    last = list_events(s, maxResults=1000)[-1]
    proc = subprocess.Popen([WARRANT_BIN, "audit", "tail", "-n", "1", "--follow", "--account",
                             ACCOUNT, "--data-dir", str(main.data_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=base_env())
    lines: queue.Queue = queue.Queue()

    def read():
        for line in iter(proc.stdout.readline, b""):
            lines.put(line)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    try:
        first = json.loads(lines.get(timeout=10))
        assert first == last
        wl = new_workload(c, "au-follow")
        deadline = time.monotonic() + 5
        seen = None
        while seen is None:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            e = json.loads(line)
            assert e["seq"] > last["seq"]
            if e.get("workload") == wl:
                seen = e
        assert seen["operation"] == "CreateWorkloadIdentity"
        assert seen == list_events(s, workload=wl)[0]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            raise AssertionError("tail --follow did not stop on SIGTERM within 5 s")
    assert rc in (0, -signal.SIGTERM, 128 + signal.SIGTERM), rc


def test_export_round_trip_and_verify_file(main, tmp_path):
    s = main.server
    at_least(main, 10)
    if max_seq(main.data_dir, "-") == 0:
        raw_call(s, "/identities/ListWorkloadIdentities", {}, key_id="AKIAUNKNOWNKEY000009",
                 secret="whatever-secret-1234")
    if max_seq(main.data_dir, OTHER_ACCOUNT) == 0:
        client_of(s, main.other).create_workload_identity(name=uname("au-other"))
    everything = list_events(s, maxResults=1000)
    full = export(main.data_dir, "--account", ACCOUNT)
    n = len(everything)
    for e in full:
        assert list(e) == sorted(e), f"keys not sorted: {json.dumps(e)}"
    assert [strip_hashes(e) for e in full[:n]] == everything
    prev = "0" * 64
    for e in full:
        assert HEX64.match(e["prevHash"]) and HEX64.match(e["hash"]), e
        assert e["prevHash"] == prev, f"seq {e['seq']}: prevHash does not chain"
        prev = e["hash"]
    # the hashes are the database's
    rows = {r[1]: r for r in db_rows(main.data_dir, ACCOUNT)}
    for e in full:
        assert rows[e["seq"]][4].hex() == e["hash"]
        assert rows[e["seq"]][3].hex() == e["prevHash"]

    f = tmp_path / "full.jsonl"
    f.write_bytes(audit_cli(main.data_dir, "export", "--account", ACCOUNT, "--format",
                            "jsonl").stdout)
    rc, out = verify(main.data_dir, "--file", str(f))
    assert_ok(rc, out, accounts=1)
    assert int(OK_RE.search(out).group(1)) == len(jsonl(f.read_text()))

    # --since/--until: RFC 3339 (since inclusive, until exclusive) and Unix seconds
    t0, t1 = everything[n // 3]["time"], everything[2 * n // 3]["time"]
    ranged = export(main.data_dir, "--account", ACCOUNT, "--since", t0, "--until", t1)
    assert [strip_hashes(e) for e in ranged] == [
        e for e in everything if ms_of(t0) <= ms_of(e["time"]) < ms_of(t1)]
    assert ranged
    secs = ms_of(t0) // 1000
    ranged_s = export(main.data_dir, "--account", ACCOUNT, "--since", str(secs), "--until",
                      str(ms_of(t1) // 1000 + 1))
    assert [strip_hashes(e) for e in ranged_s] == [
        e for e in everything
        if secs * 1000 <= ms_of(e["time"]) < (ms_of(t1) // 1000 + 1) * 1000]
    g = tmp_path / "ranged.jsonl"
    g.write_bytes(audit_cli(main.data_dir, "export", "--account", ACCOUNT, "--since", t0,
                            "--until", t1, "--format", "jsonl").stdout)
    rc, out = verify(main.data_dir, "--file", str(g))
    assert_ok(rc, out, events=len(ranged))

    # one line edited: verify --file names the account and the seq
    lines = f.read_text().splitlines()
    k = len(lines) // 2
    doc = json.loads(lines[k])
    doc["source"] = "10.9.9.9"
    lines[k] = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    bad = tmp_path / "edited.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    rc, out = verify(main.data_dir, "--file", str(bad))
    assert_problem(rc, out, ACCOUNT, doc["seq"], ("altered",))
    # one line removed
    lines = f.read_text().splitlines()
    gone = json.loads(lines[k])["seq"]
    del lines[k]
    bad.write_text("\n".join(lines) + "\n")
    rc, out = verify(main.data_dir, "--file", str(bad))
    assert_problem(rc, out, ACCOUNT, gone, ("missing",))

    # all accounts: every account present, each chain from seq 1
    allx = export(main.data_dir)
    accts = {e["account"] for e in allx}
    assert {ACCOUNT, OTHER_ACCOUNT, "-"} <= accts, accts
    for a in accts:
        seqs = [e["seq"] for e in allx if e["account"] == a]
        assert seqs == list(range(1, len(seqs) + 1)), (a, seqs[:20])


def test_chain_in_the_database_follows_the_contract(main):
    at_least(main, 3)
    rows = db_rows(main.data_dir)
    assert rows
    api = {e["seq"]: e for e in list_events(main.server, maxResults=1000)}
    prev: dict[str, bytes] = {}
    for account, seq, event, prev_hash, h in rows:
        want_prev = prev.get(account, b"\0" * 32)
        assert prev_hash == want_prev, f"{account} seq {seq}: prev_hash"
        msg = (b"warrant-audit-v1\n" + account.encode() + b"\n" + str(seq).encode() + b"\n"
               + prev_hash.hex().encode() + b"\n" + event.encode())
        assert hashlib.sha256(msg).digest() == h, f"{account} seq {seq}: hash"
        prev[account] = h
        doc = json.loads(event)
        assert list(doc) == sorted(doc), f"keys not sorted: {event}"
        assert all(v is not None for v in doc.values()), event
        assert set(doc) <= ALL_KEYS, event
        if account == ACCOUNT:
            assert api[seq] == {**doc, "account": account, "seq": seq}, (api[seq], doc)
    # the `event` column is the event without account and seq (columns of their own,
    # bound by the hash separately)
    for account, seq, event, _, _ in rows:
        doc = json.loads(event)
        assert "account" not in doc and "seq" not in doc, event


def test_mirror_file_gets_every_event(main):
    """--audit-mirror PATH: every committed event, as the readers show it, one JSON line."""
    def compare() -> list:
        mirrored = jsonl(main.mirror.read_text()) if main.mirror.exists() else []
        exported = [strip_hashes(e) for e in export(main.data_dir)]
        assert len(exported) == len(db_rows(main.data_dir))
        by_key = {(e["account"], e["seq"]): e for e in mirrored}
        assert len(by_key) == len(mirrored), "an event mirrored twice"
        assert set(by_key) <= {(e["account"], e["seq"]) for e in exported}
        missing = []
        for e in exported:
            k = (e["account"], e["seq"])
            if k in by_key:
                assert by_key[k] == e, (by_key[k], e)
            else:
                missing.append((e["account"], e["seq"], e["source"], e["operation"]))
        # (mirrored in commit order: within an account, in seq order)
        for a in {k[0] for k in by_key}:
            seqs = [e["seq"] for e in mirrored if e["account"] == a]
            assert seqs == sorted(seqs), (a, seqs)
        return missing

    eventually(compare)
    wl = new_workload(main.client, "au-mirror")   # the next one arrives at once

    def arrived():
        assert main.mirror.exists() and wl in main.mirror.read_text()
    eventually(arrived, timeout=2)
    missing = compare()
    assert not missing, f"events not mirrored (account, seq, source, operation): {missing}"


def test_verify_live_database(main):
    at_least(main, 1)
    rows = db_rows(main.data_dir)
    rc, out = verify(main.data_dir)
    assert_ok(rc, out, events=len(rows), accounts=len({r[0] for r in rows}))
    assert_ok(*verify(main.data_dir, "--account", ACCOUNT), accounts=1,
              events=max_seq(main.data_dir))


# ---------------------------------------------------------------------------------------
# 4. tamper evidence
# ---------------------------------------------------------------------------------------


def test_tampering_is_detected(tmp_path_factory, tmp_path):
    s = own_server(tmp_path_factory, "audit-tamper", ["--audit-checkpoint-interval", "1"])
    c, dc = s.client(), s.data_client()
    wl = new_workload(c)
    ak, _ = new_apikey(c)
    for i in range(4):
        w = received(dc.get_workload_access_token_for_user_id(
            workloadName=wl, userId=f"u{i}")["workloadAccessToken"])
        received(dc.get_resource_api_key(workloadIdentityToken=w,
                                         resourceCredentialProviderName=ak)["apiKey"])
    new_workload(c)
    n = max_seq(s.data_dir)
    assert n == 11, n
    # a second account, untouched below: verify --account checks one chain only
    other = create_key(s.data_dir, "tamper-other", ALLOW_ALL, account=OTHER_ACCOUNT)
    client_of(s, other).create_workload_identity(name=uname("au-t-other"))
    assert max_seq(s.data_dir, OTHER_ACCOUNT) == 1

    def checkpointed():
        got = {(a, q) for a, q, _ in checkpoints(s.data_dir)}
        assert (ACCOUNT, n) in got and (OTHER_ACCOUNT, 1) in got, got
    eventually(checkpointed, timeout=10)
    rc = s.stop()
    assert rc == 0, s.stderr_text()[-2000:]
    ncp = len(checkpoints(s.data_dir))
    assert ncp >= 2

    # untouched: ok
    assert_ok(*verify(s.data_dir), events=n + 1, accounts=2, cps=ncp)
    assert_ok(*verify(s.data_dir, "--account", ACCOUNT), events=n, accounts=1)

    def tampered(label: str, *sql: tuple) -> tuple[int, str]:
        d = tmp_path / label
        shutil.copytree(s.data_dir, d)
        con = db(d, ro=False)
        try:
            for stmt in sql:
                con.execute(*stmt)
            con.commit()
        finally:
            con.close()
        assert_ok(*verify(d, "--account", OTHER_ACCOUNT), events=1, accounts=1)
        rc, out = verify(d, "--account", ACCOUNT)
        assert rc == 1, f"verify --account {ACCOUNT}: {out!r}"
        return verify(d)

    # (a) one event's JSON edited
    rc, out = tampered("edited", ("UPDATE audit_events SET event = replace(event, "
                                  "'127.0.0.1', '127.0.0.2') WHERE account_id = ? AND seq = 3",
                                  (ACCOUNT,)))
    assert_problem(rc, out, ACCOUNT, 3, ("altered",))
    # (b) a middle row deleted
    rc, out = tampered("deleted", ("DELETE FROM audit_events WHERE account_id = ? AND seq = 5",
                                   (ACCOUNT,)))
    assert_problem(rc, out, ACCOUNT, 5, ("missing",))
    # (c) two rows' contents swapped
    con = db(s.data_dir)
    r4, r7 = (con.execute("SELECT event, prev_hash, hash FROM audit_events WHERE account_id = ? "
                          "AND seq = ?", (ACCOUNT, q)).fetchone() for q in (4, 7))
    con.close()
    upd = ("UPDATE audit_events SET event = ?, prev_hash = ?, hash = ? "
           "WHERE account_id = ? AND seq = ?")
    rc, out = tampered("swapped", (upd, (*r7, ACCOUNT, 4)), (upd, (*r4, ACCOUNT, 7)))
    assert_problem(rc, out, ACCOUNT, 4, ("altered", "order"))
    # (c') two rows' seq swapped (reordered)
    rc, out = tampered("reordered",
                       ("UPDATE audit_events SET seq = -1 WHERE account_id = ? AND seq = 4",
                        (ACCOUNT,)),
                       ("UPDATE audit_events SET seq = 4 WHERE account_id = ? AND seq = 7",
                        (ACCOUNT,)),
                       ("UPDATE audit_events SET seq = 7 WHERE account_id = ? AND seq = -1",
                        (ACCOUNT,)))
    assert_problem(rc, out, ACCOUNT, 4, ("altered", "order"))
    # (d) the newest rows deleted after a checkpoint covered them
    rc, out = tampered("truncated", ("DELETE FROM audit_events WHERE account_id = ? AND seq > ?",
                                     (ACCOUNT, n - 2)))
    assert_problem(rc, out, ACCOUNT, n - 2, ("removed",))
    # (e) a checkpoint's signature altered
    rc, out = tampered("badsig", ("UPDATE audit_checkpoints SET signature = "
                                  "zeroblob(length(signature)) WHERE account_id = ? AND seq = ?",
                                  (ACCOUNT, n)))
    assert_problem(rc, out, ACCOUNT, n, ("signature",))
    # (f) an event edited and the whole chain after it re-hashed (the formula is public):
    # only the checkpoint can tell
    con = db(s.data_dir)
    rows = con.execute("SELECT seq, event, prev_hash FROM audit_events WHERE account_id = ? "
                       "ORDER BY seq", (ACCOUNT,)).fetchall()
    con.close()
    stmts = []
    prev = None
    for seq, event, prev_hash in rows:
        if seq == 6:
            event = event.replace("127.0.0.1", "127.0.0.2")
        if prev is not None:
            prev_hash = prev
        msg = (b"warrant-audit-v1\n" + ACCOUNT.encode() + b"\n" + str(seq).encode() + b"\n"
               + prev_hash.hex().encode() + b"\n" + event.encode())
        h = hashlib.sha256(msg).digest()
        stmts.append(("UPDATE audit_events SET event = ?, prev_hash = ?, hash = ? "
                      "WHERE account_id = ? AND seq = ?", (event, prev_hash, h, ACCOUNT, seq)))
        prev = h
    rc, out = tampered("rehashed", *stmts)
    assert rc == 1, out
    assert ACCOUNT in out and "checkpoint" in out.lower(), out


# ---------------------------------------------------------------------------------------
# 5. fail closed
# ---------------------------------------------------------------------------------------

TRIGGER = ("CREATE TRIGGER audit_down BEFORE INSERT ON audit_events "
           "BEGIN SELECT RAISE(ABORT, 'audit down'); END;")


def test_fail_closed(tmp_path_factory, oidc_provider):
    s = own_server(tmp_path_factory, "audit-failclosed", ["--outbound-allow", "127.0.0.1"])
    try:
        c, dc = s.client(), s.data_client()
        wl = new_workload(c)
        ak, key = new_apikey(c)
        w = received(dc.get_workload_access_token(workloadName=wl)["workloadAccessToken"])
        assert dc.get_resource_api_key(workloadIdentityToken=w,
                                       resourceCredentialProviderName=ak)["apiKey"] == key
        cl = oidc_provider.clients["basic"]
        register_secret(cl["client_secret"])
        oauth = []
        for _ in range(2):
            p = uname("au-fc-m2m")
            assert status_of(c.create_oauth2_credential_provider(
                name=p, credentialProviderVendor="CustomOauth2",
                oauth2ProviderConfigInput={"customOauth2ProviderConfig": {
                    "clientId": cl["client_id"], "clientSecret": cl["client_secret"],
                    "oauthDiscovery": {"discoveryUrl": oidc_provider.discovery_url}}})) == 201
            oauth.append(p)
        m2m = {"workloadIdentityToken": w, "scopes": ["read"], "oauth2Flow": "M2M"}
        # the first provider's token is cached before the audit trail goes down
        cached = received(dc.get_resource_oauth2_token(
            resourceCredentialProviderName=oauth[0], **m2m)["accessToken"])
        n = max_seq(s.data_dir)
        con = db(s.data_dir, ro=False)
        con.execute(TRIGGER)
        con.commit()
        con.close()

        calls = [
            ("GetResourceApiKey", {"workloadIdentityToken": w,
                                   "resourceCredentialProviderName": ak}),
            ("GetWorkloadAccessToken", {"workloadName": wl}),
            ("GetWorkloadAccessTokenForUserId", {"workloadName": wl, "userId": "alice"}),
            # from the cache, and fetched from the provider
            ("GetResourceOauth2Token", {"resourceCredentialProviderName": oauth[0], **m2m}),
            ("GetResourceOauth2Token", {"resourceCredentialProviderName": oauth[1], **m2m}),
        ]
        for op, body in calls:
            r = raw_call(s, data_path(op), body)
            assert r.status == 500 and r.error_type == "InternalServerException", (op, r)
            assert "audit trail could not record" in r.message.lower(), (op, r.message)
            assert key.encode() not in r.body and cached.encode() not in r.body
            assert not set(r.json) & FORBIDDEN_MEMBERS, r.json
            assert b"eyJ" not in r.body, (op, r.body)
        expect_error(dc.get_resource_api_key, workloadIdentityToken=w,
                     resourceCredentialProviderName=ak, code="InternalServerException",
                     status=500)
        expect_error(c.create_workload_identity, name=uname("au-fc"),
                     code="InternalServerException", status=500)
        expect_error(c.update_api_key_credential_provider, name=ak,
                     apiKey=new_secret("apikey-sekret-"), code="InternalServerException",
                     status=500)
        assert max_seq(s.data_dir) == n

        con = db(s.data_dir, ro=False)
        con.execute("DROP TRIGGER audit_down")
        con.commit()
        con.close()
        r = dc.get_resource_api_key(workloadIdentityToken=w, resourceCredentialProviderName=ak)
        received(r["apiKey"])
        w2 = received(dc.get_workload_access_token(workloadName=wl)["workloadAccessToken"])
        r = dc.get_resource_oauth2_token(resourceCredentialProviderName=oauth[1], **m2m)
        t2 = received(r["accessToken"])
        evs = events_after(s, n)
        assert ops_of(evs) == ["GetResourceApiKey", "GetWorkloadAccessToken",
                               "GetResourceOauth2Token"], ops_of(evs)
        check_event(evs[1], "GetWorkloadAccessToken", workload=wl, user=None,
                    tokenSha256=sha(w2))
        check_event(evs[2], "GetResourceOauth2Token", rid=rid(r), workload=wl, user=None,
                    provider=oauth[1], scopes=["read"], flow="M2M", tokenSha256=sha(t2),
                    oneof={"tokenSource": ("provider", "cache", "vault")})
    finally:
        rc = s.stop()
        assert rc == 0, s.stderr_text()[-2000:]
    assert_ok(*verify(s.data_dir), accounts=1)


# ---------------------------------------------------------------------------------------
# 6. retention, the switch
# ---------------------------------------------------------------------------------------


def removed_count(out: str) -> int:
    nums = re.findall(r"\b(?!\d{12}\b)(\d+)\b", out)
    assert nums, f"prune printed no count: {out!r}"
    return int(nums[0])


def test_prune_keeps_the_chain_verifiable(tmp_path_factory):
    s = own_server(tmp_path_factory, "audit-prune", ["--audit-checkpoint-interval", "3600"])
    c = s.client()
    for _ in range(4):
        new_workload(c, "au-prune")
    assert max_seq(s.data_dir) == 4
    t_early = rfc3339_ms(int(time.time() * 1000))
    time.sleep(0.05)
    # no checkpoint yet: nothing is pruned (the server is running)
    cp = audit_cli(s.data_dir, "prune", "--before", str(int(time.time()) + 10))
    assert cp.returncode == 0, text_of(cp)
    assert removed_count(text_of(cp)) == 0
    assert max_seq(s.data_dir) == 4 and len(db_rows(s.data_dir)) == 4
    assert s.stop() == 0
    cps = checkpoints(s.data_dir)
    assert [(a, q) for a, q, _ in cps] == [(ACCOUNT, 4)], "a checkpoint at shutdown"
    t1 = cps[0][2]

    # a checkpoint exists, but not before T: nothing removed
    cp = audit_cli(s.data_dir, "prune", "--before", t_early)
    assert cp.returncode == 0, text_of(cp)
    assert removed_count(text_of(cp)) == 0
    assert len(db_rows(s.data_dir)) == 4

    s.start()
    c = s.client()
    for _ in range(3):
        new_workload(c, "au-prune")
    assert s.stop() == 0
    cps = checkpoints(s.data_dir)
    assert [(a, q) for a, q, _ in cps] == [(ACCOUNT, 4), (ACCOUNT, 7)], cps
    t2 = cps[1][2]
    assert t2 > t1
    assert_ok(*verify(s.data_dir), events=7, accounts=1, cps=2)

    # T between the checkpoints: events up to the first one go, the checkpoint stays
    cp = audit_cli(s.data_dir, "prune", "--before", rfc3339_ms((t1 + t2) // 2))
    assert cp.returncode == 0, text_of(cp)
    seqs = [r[1] for r in db_rows(s.data_dir)]
    gone = 7 - len(seqs)
    assert gone in (3, 4), seqs   # "up to the checkpoint": with or without its own event
    assert seqs == list(range(gone + 1, 8)), seqs
    assert removed_count(text_of(cp)) == gone, text_of(cp)
    assert [(a, q) for a, q, _ in checkpoints(s.data_dir)] == [(ACCOUNT, 4), (ACCOUNT, 7)]
    rc, out = verify(s.data_dir)
    assert_ok(rc, out, events=7 - gone, accounts=1)
    # again: nothing more
    cp = audit_cli(s.data_dir, "prune", "--before", rfc3339_ms((t1 + t2) // 2))
    assert cp.returncode == 0 and removed_count(text_of(cp)) == 0, text_of(cp)

    # after the restart the chain goes on from the pruned state
    s.start()
    new_workload(s.client(), "au-prune")
    assert max_seq(s.data_dir) == 8
    assert s.stop() == 0
    assert_ok(*verify(s.data_dir), accounts=1)
    # T after everything: up to the newest checkpoint (seq 8)
    cp = audit_cli(s.data_dir, "prune", "--before", str(int(time.time()) + 5))
    assert cp.returncode == 0, text_of(cp)
    seqs = [r[1] for r in db_rows(s.data_dir)]
    assert seqs in ([], [8]), seqs
    assert_ok(*verify(s.data_dir), accounts=None)


def test_audit_off_records_nothing(tmp_path_factory):
    s = own_server(tmp_path_factory, "audit-off", ["--audit", "false"])
    try:
        c, dc = s.client(), s.data_client()
        wl = new_workload(c)
        ak, key = new_apikey(c)
        w = received(dc.get_workload_access_token(workloadName=wl)["workloadAccessToken"])
        assert dc.get_resource_api_key(workloadIdentityToken=w,
                                       resourceCredentialProviderName=ak)["apiKey"] == key
        r = raw_call(s, "/identities/ListWorkloadIdentities", {}, secret="WRONG-SECRET-123456")
        assert r.status == 403
        fails(c.create_workload_identity, name=wl)
        con = db(s.data_dir)
        assert con.execute("SELECT COUNT(*) FROM audit_events").fetchone()[0] == 0
        con.close()
        cp = audit_cli(s.data_dir, "tail")
        assert cp.returncode == 0 and not cp.stdout.strip(), text_of(cp)
    finally:
        assert s.stop() == 0
    assert len(db_rows(s.data_dir)) == 0


# ---------------------------------------------------------------------------------------
# 7. no secret, no token in any event (runs last in this module)
# ---------------------------------------------------------------------------------------


def test_zz_no_secret_or_token_in_any_event(main):
    at_least(main, 1)
    needles = {v for s in set(helpers.SECRETS) | set(RECEIVED) if s for v in secret_variants(s)}
    hits = []
    texts: list[tuple[str, str]] = []
    for d in DATA_DIRS:
        if not (d / "warrant.db").exists():
            continue
        cp = audit_cli(d, "export", "--format", "jsonl")
        assert cp.returncode == 0, text_of(cp)
        texts.append((f"export of {d.name}", cp.stdout.decode()))
        for account, seq, event, _, _ in db_rows(d):
            texts.append((f"{d.name} {account} seq {seq}", event))
    for m in MIRRORS:
        texts.append((f"mirror {m.name}", m.read_text()))
    n_events = 0
    for where, text in texts:
        raw = text.encode()
        for n in needles:
            if n in raw:
                hits.append(f"{where}: {n[:10]!r}...")
        for line in text.splitlines():
            if not line.strip():
                continue
            doc = json.loads(line)
            n_events += 1
            bad = set(doc) & FORBIDDEN_MEMBERS
            assert not bad, f"{where}: members {bad}"
            for k in ("tokenSha256", "hash", "prevHash"):
                if k in doc:
                    assert HEX64.match(doc[k]), (where, k, doc[k])
            # a JWT or a long base64 string has no business in an event
            assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}\.", line), f"{where}: a JWT? {line}"
    assert n_events >= len(DATA_DIRS)
    assert not hits, hits
