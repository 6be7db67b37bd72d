"""Shared helpers of the warrant Python compatibility suite.

Everything here is imported by conftest.py and by the test modules (pytest puts this
directory on sys.path), so module-level state (the secret registry, the log directory,
the list of data dirs) is one object for the whole run.
"""

from __future__ import annotations

import base64
import datetime
import http.client
import json
import os
import re
import secrets as _secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable
from unittest import mock
from urllib.parse import quote, urlencode

import boto3
import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
WARRANT_BIN = os.environ.get("WARRANT_BIN", str(REPO / "target" / "debug" / "warrant"))

REGION = "us-east-1"
ACCOUNT = "000000000000"
SERVICE = "bedrock-agentcore"
SESSION_PUBLIC_URL = "https://warrant.example.test"

LISTEN_RE = re.compile(r"^warrant listening on http://127\.0\.0\.1:(\d+)$")

# Keep boto3/awscli away from any configuration of the machine.
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
for _v in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
           "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
    os.environ.pop(_v, None)
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


def _rand_upper(n: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return "".join(_secrets.choice(alphabet) for _ in range(n))


ADMIN_KEY_ID = "AKIAWT" + _rand_upper(14)
ADMIN_SECRET = "adminSekret" + _secrets.token_hex(16)

# ---------------------------------------------------------------------------------------
# Run-wide registries: every secret used in the run, every server log, every data dir.
# ---------------------------------------------------------------------------------------

LOG_DIR = Path(tempfile.mkdtemp(prefix="warrant-compat-logs-"))
SECRETS: set[str] = {ADMIN_SECRET}
DATA_DIRS: list[Path] = []
RESPONSE_PROBLEMS: list[str] = []
EXTRA_MEMBERS: set[str] = set()  # response members the model does not define
_server_counter = iter(range(1, 1_000_000))


def register_secret(s: str) -> str:
    """Remember a secret: no response body, log or data file of the run may contain it."""
    if s:
        SECRETS.add(s)
    return s


def new_secret(prefix: str = "sekret-") -> str:
    return register_secret(prefix + uuid.uuid4().hex)


def uname(prefix: str = "t") -> str:
    """A unique resource name valid for every resource kind."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def secrets_in(data: bytes | str) -> list[str]:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    return [s for s in SECRETS if s.encode() in data]


def eventually(fn: Callable, timeout: float = 5.0, step: float = 0.05,
               exceptions: tuple[type[BaseException], ...] = (AssertionError,)):
    """Calls fn until it returns without raising one of `exceptions` (every `step`
    seconds); returns its result. After `timeout` seconds the last exception is raised."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except exceptions:
            if time.monotonic() > deadline:
                raise
            time.sleep(step)


# ---------------------------------------------------------------------------------------
# The server process
# ---------------------------------------------------------------------------------------


def base_env(extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("WARRANT_") and not k.startswith("AWS_")}
    env.setdefault("RUST_BACKTRACE", "1")
    if extra:
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
    return env


class ChildProcess:
    """Stopping a child process started by a test fixture: signal, wait, then close its
    log reader and stderr file. Subclasses set proc, label, _reader, _stderr_file and
    returncode (and stdout_path/stderr_path once started), and may change STOP_TIMEOUT."""

    STOP_TIMEOUT = 30.0
    stdout_path: Path | None = None
    stderr_path: Path | None = None

    def stop(self, sig: int = signal.SIGTERM, timeout: float | None = None) -> int:
        assert self.proc
        timeout = self.STOP_TIMEOUT if timeout is None else timeout
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.label}: did not exit within {timeout}s of signal {sig}")
        self._finish()
        self.returncode = rc
        return rc

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._finish()

    def _finish(self) -> None:
        if self._reader:
            self._reader.join(10)
        try:
            if self._stderr_file:
                self._stderr_file.close()
        except Exception:
            pass

    def running(self) -> bool:
        return bool(self.proc) and self.proc.poll() is None

    def stderr_text(self) -> str:
        try:
            return self.stderr_path.read_text("utf-8", "replace") if self.stderr_path else ""
        except FileNotFoundError:
            return ""

    def stdout_text(self) -> str:
        try:
            return self.stdout_path.read_text("utf-8", "replace") if self.stdout_path else ""
        except FileNotFoundError:
            return ""


class Server(ChildProcess):
    """One `warrant serve` process with its stdout/stderr captured under LOG_DIR."""

    def __init__(self, data_dir: Path | str | None, *, label: str = "server",
                 admin: bool = True, args: Iterable[str] = (), env: dict | None = None,
                 listen: str | None = "127.0.0.1:0", region: str = REGION,
                 account: str = ACCOUNT, public_url: str | None = None):
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.label = label
        self.admin = admin
        self.args = list(args)
        self.env = dict(env or {})
        self.listen = listen
        self.region = region
        self.account = account
        self.public_url = public_url
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.stdout_path: Path | None = None
        self.stderr_path: Path | None = None
        self.returncode: int | None = None
        self._ready = threading.Event()
        self.signal_on_ready: int | None = None  # sent the moment the listening line is read
        self._reader: threading.Thread | None = None
        if self.data_dir is not None and self.data_dir not in DATA_DIRS:
            DATA_DIRS.append(self.data_dir)

    # -- paths / urls
    @property
    def url(self) -> str:
        assert self.port, "server not started"
        return f"http://127.0.0.1:{self.port}"

    @property
    def key_id(self) -> str:
        return ADMIN_KEY_ID

    @property
    def secret(self) -> str:
        return ADMIN_SECRET

    def command(self) -> list[str]:
        cmd = [WARRANT_BIN, "serve"]
        if self.listen is not None:
            cmd += ["--listen", self.listen]
        if self.data_dir is not None:
            cmd += ["--data-dir", str(self.data_dir)]
        if self.public_url:
            cmd += ["--public-url", self.public_url]
        if self.region != REGION:
            cmd += ["--region", self.region]
        if self.account != ACCOUNT:
            cmd += ["--account-id", self.account]
        return cmd + self.args

    def environment(self) -> dict:
        extra: dict = {}
        if self.admin:
            extra["WARRANT_ADMIN_ACCESS_KEY_ID"] = ADMIN_KEY_ID
            extra["WARRANT_ADMIN_SECRET_ACCESS_KEY"] = ADMIN_SECRET
        # verbose logs, so that the leak scan sees as much as possible
        level = os.environ.get("WARRANT_TEST_LOG_LEVEL", "debug")
        if level:
            extra["WARRANT_LOG_LEVEL"] = level
            extra["RUST_LOG"] = level
        extra.update(self.env)
        return base_env(extra)

    def spawn(self) -> None:
        n = next(_server_counter)
        stem = f"{n:03d}-{self.label}"
        self.stdout_path = LOG_DIR / f"{stem}.stdout"
        self.stderr_path = LOG_DIR / f"{stem}.stderr"
        self._stderr_file = open(self.stderr_path, "wb")
        self._ready.clear()
        self.port = None
        self.returncode = None
        self.proc = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self._stderr_file, env=self.environment(),
        )
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()

    def _read_stdout(self) -> None:
        assert self.proc and self.proc.stdout and self.stdout_path
        with open(self.stdout_path, "wb") as out:
            for line in iter(self.proc.stdout.readline, b""):
                out.write(line)
                out.flush()
                m = LISTEN_RE.match(line.decode("utf-8", "replace").rstrip("\r\n"))
                if m and self.port is None:
                    self.port = int(m.group(1))
                    if self.signal_on_ready is not None:
                        self.proc.send_signal(self.signal_on_ready)
                    self._ready.set()
        self._ready.set()

    def start(self, timeout: float = 60.0) -> "Server":
        self.spawn()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"{self.label}: no listening line within {timeout}s\n"
                                     + self.stderr_text())
        if self.port is None:
            rc = self.proc.wait(10)
            self.returncode = rc
            raise AssertionError(f"{self.label}: exited with {rc} before listening\n"
                                 + self.stderr_text())
        # /ping must answer without auth
        while True:
            try:
                st, _, _ = http_get(self.port, "/ping")
                if st == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"{self.label}: /ping never answered 200")
            time.sleep(0.05)
        return self

    def wait_exit(self, timeout: float = 30.0) -> int:
        """For processes expected to fail start-up: wait for exit, return the code."""
        assert self.proc
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.label}: still running after {timeout}s "
                                 f"(expected it to exit)\n" + self.stderr_text())
        self._finish()
        self.returncode = rc
        return rc

    # -- clients
    def client(self, key_id: str | None = None, secret: str | None = None,
               region: str | None = None):
        return make_client(self.url, key_id or ADMIN_KEY_ID, secret or ADMIN_SECRET,
                           region or self.region)

    def data_client(self, key_id: str | None = None, secret: str | None = None,
                    region: str | None = None, read_timeout: float = 60):
        """A boto3 `bedrock-agentcore` (data plane) client for this server."""
        return make_data_client(self.url, key_id or ADMIN_KEY_ID, secret or ADMIN_SECRET,
                                region or self.region, read_timeout=read_timeout)

    def arn(self, kind: str, name: str | None = None, account: str | None = None) -> str:
        acct = account or self.account
        base = f"arn:aws:bedrock-agentcore:{self.region}:{acct}:"
        if kind == "wi":
            return base + f"workload-identity-directory/default/workload-identity/{name}"
        if kind == "wi-dir":
            return base + "workload-identity-directory/default"
        if kind == "oauth2":
            return base + f"token-vault/default/oauth2credentialprovider/{name}"
        if kind == "apikey":
            return base + f"token-vault/default/apikeycredentialprovider/{name}"
        if kind == "vault":
            return base + "token-vault/default"
        raise ValueError(kind)


def http_get(port: int, path: str, headers: dict | None = None, timeout: float = 10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        conn.close()


def run_warrant(*args: str, env: dict | None = None, timeout: float = 60,
                input: bytes | None = None) -> subprocess.CompletedProcess:
    """Run the warrant binary (e.g. `keys create`), capturing its output."""
    return subprocess.run([WARRANT_BIN, *args], capture_output=True, timeout=timeout,
                          env=base_env(env), input=input)


def create_key(data_dir: Path, name: str, policy: dict | str, *, account: str | None = None,
               env: dict | None = None, tmp: Path | None = None) -> dict:
    """`warrant keys create`; returns the parsed JSON and registers the secret."""
    tmp = tmp or Path(tempfile.mkdtemp(prefix="warrant-policy-"))
    pf = tmp / f"policy-{uuid.uuid4().hex[:8]}.json"
    pf.write_text(policy if isinstance(policy, str) else json.dumps(policy))
    args = ["keys", "create", "--name", name, "--policy", str(pf)]
    if account:
        args += ["--account-id", account]
    args += ["--data-dir", str(data_dir)]
    cp = run_warrant(*args, env=env)
    assert cp.returncode == 0, (cp.returncode, cp.stdout, cp.stderr)
    out = json.loads(cp.stdout)
    register_secret(out.get("secretAccessKey", ""))
    return out


# ---------------------------------------------------------------------------------------
# boto3
# ---------------------------------------------------------------------------------------


_MODELS: dict = {}


def service_model(service: str = "bedrock-agentcore-control"):
    if service not in _MODELS:
        import botocore.session
        _MODELS[service] = botocore.session.get_session().get_service_model(service)
    return _MODELS[service]


# Data-plane members that hand a credential to the caller by design: the leak check of
# responses skips these members (and only these).
RELEASED_MEMBERS = ("apiKey", "accessToken", "workloadAccessToken")


def shape_problems(shape, value, path: str = "$") -> list[str]:
    """Where `value` (parsed rest-json) does not fit the model's output shape."""
    out: list[str] = []
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            return [f"{path}: expected object, got {type(value).__name__}"]
        members = shape.members
        for k, v in value.items():
            if k not in members:
                # clients ignore unknown members: noted (printed at the end), not a failure
                EXTRA_MEMBERS.add(f"{shape.name}.{k}")
            elif v is not None:
                out += shape_problems(members[k], v, f"{path}.{k}")
        for r in shape.required_members:
            if r not in value:
                out.append(f"{path}.{r}: required member of {shape.name} missing")
    elif t == "list":
        if not isinstance(value, list):
            return [f"{path}: expected array"]
        for i, v in enumerate(value):
            out += shape_problems(shape.member, v, f"{path}[{i}]")
    elif t == "map":
        if not isinstance(value, dict):
            return [f"{path}: expected object (map)"]
        for k, v in value.items():
            out += shape_problems(shape.value, v, f"{path}[{k!r}]")
    elif t == "string":
        if not isinstance(value, str):
            return [f"{path}: expected string"]
        if shape.enum and value not in shape.enum:
            out.append(f"{path}: {value!r} not in enum {shape.name}")
    elif t in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            out.append(f"{path}: expected integer")
    elif t == "boolean":
        if not isinstance(value, bool):
            out.append(f"{path}: expected boolean")
    elif t == "timestamp":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            out.append(f"{path}: timestamp must be epoch seconds (a JSON number), got {value!r}")
    return out


def _response_hook(response_dict=None, exception=None, context=None, **kwargs):
    """Checks every response any suite client receives (success or error)."""
    if not response_dict:
        return
    headers = {k.lower(): v for k, v in (response_dict.get("headers") or {}).items()}
    body = response_dict.get("body") or b""
    status = response_dict.get("status_code")
    event = kwargs.get("event_name", "?")
    op = event.rsplit(".", 1)[-1]
    parts = event.split(".")
    service = ("bedrock-agentcore-control" if len(parts) < 3 or parts[1].endswith("control")
               else "bedrock-agentcore")
    if "x-amzn-requestid" not in headers:
        RESPONSE_PROBLEMS.append(f"{op}: HTTP {status} response without x-amzn-RequestId")
    scanned = body if isinstance(body, (bytes, str)) else b""
    if service == "bedrock-agentcore" and status and 200 <= status < 300 and scanned:
        try:
            doc = json.loads(scanned)
            for m in RELEASED_MEMBERS:
                doc.pop(m, None)
            scanned = json.dumps(doc)
        except Exception:  # noqa: BLE001 - scanned whole below
            pass
    leaked = secrets_in(scanned)
    if leaked:
        RESPONSE_PROBLEMS.append(f"{op}: response body contains a secret ({len(leaked)})")
    if status and 200 <= status < 300 and body:
        if not headers.get("content-type", "").startswith("application/json"):
            RESPONSE_PROBLEMS.append(f"{op}: content-type {headers.get('content-type')!r}")
        try:
            parsed = json.loads(body)
            shape = service_model(service).operation_model(op).output_shape
            if shape is not None:
                RESPONSE_PROBLEMS.extend(f"{op}: {p}" for p in shape_problems(shape, parsed))
        except Exception as e:  # noqa: BLE001 - reported, not raised inside botocore
            RESPONSE_PROBLEMS.append(f"{op}: response not checkable against the model: {e!r}")


def make_data_client(url: str, key_id: str, secret: str, region: str = REGION,
                     read_timeout: float = 60):
    """A boto3 `bedrock-agentcore` (data plane) client: one attempt, no retries."""
    return make_client(url, key_id, secret, region, service="bedrock-agentcore",
                       read_timeout=read_timeout)


def make_client(url: str, key_id: str, secret: str, region: str = REGION, *,
                service: str = "bedrock-agentcore-control", read_timeout: float = 60):
    c = boto3.session.Session().client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"},
                      connect_timeout=10, read_timeout=read_timeout),
    )
    c.meta.events.register("response-received", _response_hook)
    return c


def status_of(resp: dict) -> int:
    return resp["ResponseMetadata"]["HTTPStatusCode"]


def expect_error(fn: Callable, *args, code: str, status: int, field: str | Iterable[str] | None = None,
                 contains: str | None = None, **kwargs) -> str:
    """Call a boto3 operation that must fail; check code, status, headers and message."""
    try:
        resp = fn(*args, **kwargs)
    except ClientError as e:
        err = e.response.get("Error", {})
        meta = e.response.get("ResponseMetadata", {})
        hdrs = {k.lower(): v for k, v in meta.get("HTTPHeaders", {}).items()}
        msg = err.get("Message") or ""
        assert err.get("Code") == code, f"expected {code}, got {err.get('Code')}: {msg}"
        assert meta.get("HTTPStatusCode") == status, (meta.get("HTTPStatusCode"), msg)
        assert hdrs.get("x-amzn-errortype") == code, hdrs
        assert "x-amzn-requestid" in hdrs
        assert msg, "error without message"
        _check_field(msg, field)
        if contains is not None:
            assert contains.lower() in msg.lower(), msg
        return msg
    raise AssertionError(f"expected {code}, call succeeded: {resp!r}")


def _check_field(msg: str, field) -> None:
    if field is None:
        return
    names = [field] if isinstance(field, str) else list(field)
    assert any(n in msg for n in names), f"message does not name {names}: {msg!r}"


def list_all(client, op: str, key: str, **kwargs) -> list[dict]:
    out: list[dict] = []
    token = None
    for _ in range(10_000):
        args = dict(kwargs)
        if token:
            args["nextToken"] = token
        resp = getattr(client, op)(**args)
        assert status_of(resp) == 200
        out.extend(resp[key])
        token = resp.get("nextToken")
        if not token:
            return out
    raise AssertionError("pagination never ended")


def names_of(items: list[dict]) -> list[str]:
    return [i["name"] for i in items]


# ---------------------------------------------------------------------------------------
# Raw signed requests
# ---------------------------------------------------------------------------------------


class RawResponse:
    def __init__(self, status: int, headers: dict, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    @property
    def error_type(self):
        return self.headers.get("x-amzn-errortype")

    @property
    def message(self) -> str:
        if isinstance(self.json, dict):
            return self.json.get("message") or ""
        return ""

    def __repr__(self):
        return f"<HTTP {self.status} {self.error_type} {self.body[:300]!r}>"


def fixed_clock(delta: datetime.timedelta):
    """Patch botocore's signing clock by `delta`."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + delta

    def fake(remove_tzinfo=True):
        return now if remove_tzinfo else now.replace(tzinfo=datetime.timezone.utc)

    return mock.patch.object(botocore.auth, "get_current_datetime", fake)


def raw_call(server: Server, path: str, body: Any = None, method: str = "POST", *,
             key_id: str | None = None, secret: str | None = None, region: str | None = None,
             service: str = SERVICE, headers: dict | None = None, sign: bool = True,
             signer_cls=SigV4Auth, query: list[tuple[str, str]] | dict | None = None,
             mutate: Callable[[dict, bytes], tuple[dict, bytes]] | None = None,
             chunked: bool = False, timeout: float = 60) -> RawResponse:
    """Send an arbitrary request, SigV4-signed like boto3 does (unless sign=False).

    body: bytes/str sent as is, anything else JSON-encoded; None sends no body.
    mutate(headers, body) runs after signing (for tampering) and returns both.
    """
    if body is None:
        data = b""
    elif isinstance(body, bytes):
        data = body
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = json.dumps(body).encode()
    qs = ""
    if query:
        qs = "?" + urlencode(query, doseq=True, quote_via=quote)
    url = f"{server.url}{path}{qs}"
    hdrs = {"Content-Type": "application/json"} if data else {}
    hdrs.update(headers or {})
    req = AWSRequest(method=method, url=url, data=data, headers=hdrs)
    if sign:
        creds = Credentials(key_id or ADMIN_KEY_ID, secret or ADMIN_SECRET)
        signer_cls(creds, service, region or server.region).add_auth(req)
    out_headers = {k: v for k, v in req.headers.items()}
    if "Host" not in out_headers and "host" not in out_headers:
        out_headers["Host"] = f"127.0.0.1:{server.port}"
    if mutate:
        out_headers, data = mutate(out_headers, data)
    if chunked:
        out_headers["Transfer-Encoding"] = "chunked"
    elif data or method in ("POST", "PUT"):
        out_headers["Content-Length"] = str(len(data))
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        conn.putrequest(method, f"{path}{qs}", skip_host=True, skip_accept_encoding=True)
        for k, v in out_headers.items():
            conn.putheader(k, v)
        conn.endheaders()
        if data:
            try:
                if chunked:
                    step = 64 * 1024
                    for i in range(0, len(data), step):
                        part = data[i:i + step]
                        conn.send(b"%x\r\n" % len(part) + part + b"\r\n")
                    conn.send(b"0\r\n\r\n")
                else:
                    conn.send(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may answer (413) before reading everything
        r = conn.getresponse()
        rbody = r.read()
        resp = RawResponse(r.status, {k.lower(): v for k, v in r.getheaders()}, rbody)
    finally:
        conn.close()
    if "x-amzn-requestid" not in resp.headers:
        RESPONSE_PROBLEMS.append(f"raw {method} {path}: HTTP {resp.status} without x-amzn-RequestId")
    leaked = secrets_in(resp.body)
    if leaked:
        RESPONSE_PROBLEMS.append(f"raw {method} {path}: response body contains a secret")
    return resp


def assert_raw_error(resp: RawResponse, code: str, status: int, field=None,
                     contains: str | None = None) -> str:
    assert resp.status == status, f"expected {status} {code}, got {resp!r}"
    assert resp.error_type == code, f"expected x-amzn-ErrorType {code}, got {resp!r}"
    assert "x-amzn-requestid" in resp.headers, resp.headers
    assert isinstance(resp.json, dict), f"error body is not a JSON object: {resp.body[:300]!r}"
    msg = resp.json.get("message")
    assert isinstance(msg, str) and msg, f"no 'message' in {resp.json!r}"
    _check_field(msg, field)
    if contains is not None:
        assert contains.lower() in msg.lower(), msg
    return msg


def op_path(op: str) -> str:
    special = {
        "GetTokenVault": "/identities/get-token-vault",
        "SetTokenVaultCMK": "/identities/set-token-vault-cmk",
        "ResetTokenVaultKeyMaterial": "/identities/reset-token-vault-key-material",
    }
    return special.get(op, f"/identities/{op}")


def call(server: Server, op: str, body: Any = None, **kw) -> RawResponse:
    """POST to a control-plane operation with a raw JSON body."""
    return raw_call(server, op_path(op), {} if body is None else body, **kw)


def tags_path(arn: str) -> str:
    return "/tags/" + quote(arn, safe="")


# ---------------------------------------------------------------------------------------
# OAuth2 vendor configurations
# ---------------------------------------------------------------------------------------

VENDORS = [
    "GoogleOauth2", "GithubOauth2", "SlackOauth2", "SalesforceOauth2", "MicrosoftOauth2",
    "CustomOauth2", "AtlassianOauth2", "LinkedinOauth2", "XOauth2", "OktaOauth2",
    "OneLoginOauth2", "PingOneOauth2", "FacebookOauth2", "YandexOauth2", "RedditOauth2",
    "ZoomOauth2", "TwitchOauth2", "SpotifyOauth2", "DropboxOauth2", "NotionOauth2",
    "HubspotOauth2", "CyberArkOauth2", "FusionAuthOauth2", "Auth0Oauth2", "CognitoOauth2",
]
OWN_MEMBER = {
    "GoogleOauth2": "googleOauth2ProviderConfig",
    "GithubOauth2": "githubOauth2ProviderConfig",
    "SlackOauth2": "slackOauth2ProviderConfig",
    "SalesforceOauth2": "salesforceOauth2ProviderConfig",
    "MicrosoftOauth2": "microsoftOauth2ProviderConfig",
    "AtlassianOauth2": "atlassianOauth2ProviderConfig",
    "LinkedinOauth2": "linkedinOauth2ProviderConfig",
}
TENANT_VENDORS = {"OktaOauth2", "OneLoginOauth2", "PingOneOauth2", "CyberArkOauth2",
                  "FusionAuthOauth2", "Auth0Oauth2", "CognitoOauth2"}
DISCOVERY_URL = "https://idp.example.test/.well-known/openid-configuration"


def member_for(vendor: str) -> str:
    if vendor == "CustomOauth2":
        return "customOauth2ProviderConfig"
    return OWN_MEMBER.get(vendor, "includedOauth2ProviderConfig")


def tenant_endpoints(vendor: str) -> dict:
    host = f"{vendor.lower()}-tenant.example.test"
    return {
        "issuer": f"https://{host}/oauth2/default",
        "authorizationEndpoint": f"https://{host}/oauth2/default/v1/authorize",
        "tokenEndpoint": f"https://{host}/oauth2/default/v1/token",
    }


def vendor_config(vendor: str, client_id: str, client_secret: str | None) -> dict:
    """A valid oauth2ProviderConfigInput for `vendor`."""
    inner: dict = {"clientId": client_id}
    if client_secret is not None:
        inner["clientSecret"] = client_secret
    if vendor == "CustomOauth2":
        inner["oauthDiscovery"] = {"discoveryUrl": DISCOVERY_URL}
    elif vendor in TENANT_VENDORS:
        inner.update(tenant_endpoints(vendor))
    elif vendor == "MicrosoftOauth2":
        inner["tenantId"] = "contoso-tenant"
    return {member_for(vendor): inner}


def assert_no_key(obj: Any, forbidden: Iterable[str]) -> None:
    """No dict anywhere in obj has any of the forbidden keys."""
    forbidden = set(forbidden)
    if isinstance(obj, dict):
        bad = forbidden & set(obj)
        assert not bad, f"response contains {bad}"
        for v in obj.values():
            assert_no_key(v, forbidden)
    elif isinstance(obj, list):
        for v in obj:
            assert_no_key(v, forbidden)


def is_aware_datetime(v) -> bool:
    return isinstance(v, datetime.datetime) and v.tzinfo is not None


def near_now(v: datetime.datetime, slack: float = 120) -> bool:
    now = datetime.datetime.now(datetime.timezone.utc)
    return abs((v - now).total_seconds()) < slack


def scan_tree_for(root: Path, needles: Iterable[bytes]) -> list[tuple[str, str]]:
    """(file, needle) pairs: raw bytes of every file under root."""
    hits = []
    needles = [n for n in needles if n]
    for p in sorted(Path(root).rglob("*")):
        if p.is_file():
            try:
                data = p.read_bytes()
            except OSError:
                continue
            for n in needles:
                if n in data:
                    hits.append((str(p), n.decode("utf-8", "replace")[:12] + "..."))
    return hits


def secret_variants(s: str) -> list[bytes]:
    b = s.encode()
    return [b, base64.b64encode(b), base64.urlsafe_b64encode(b), b.hex().encode(),
            s.encode("utf-16-le")]
