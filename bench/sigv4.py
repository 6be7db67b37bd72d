"""SigV4 signing and the wrk script parts for bench/run and bench/profile (run with the
project venv's python: it has botocore).

  sigv4.py create  PORT KEY_ID SECRET NAME  -> create workload identity NAME (201, or 409 if it exists)
  sigv4.py headers PORT KEY_ID SECRET BODY  -> print signed headers for POST
                                                /identities/GetWorkloadIdentity with BODY,
                                                one 'name: value' a line, for oha -H
  sigv4.py check   PORT KEY_ID SECRET BODY  -> send that exact signed request once; print
                                                the status and body; exit 1 unless 200
  sigv4.py wrk     PORT KEY_ID SECRET BODY  -> print a wrk Lua script sending that signed
                                                request (see wrk_script)
  sigv4.py wrk-report                        -> print a wrk Lua script that only reports

The headers are signed once and replayed: X-Amz-Date stays inside warrant's +-15 min
skew window for far longer than a run. Only headers oha and wrk send byte-identically are
signed: host (both send 127.0.0.1:PORT), content-type and x-amz-date.

Signing: `Signer` computes SigV4 itself (HMAC-SHA256, the signing key derived once per
day), because the fresh-token workload signs a few hundred thousand requests and
botocore takes close to 1 ms each on this machine. Every Signer checks itself against
botocore's SigV4Auth on creation (same request, same X-Amz-Date) and refuses to work if
the two differ, so botocore stays the reference.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import http.client
import json
import sys

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SERVICE = "bedrock-agentcore"
REGION = "us-east-1"
CONTENT_TYPE = "application/json"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


class Signer:
    """SigV4 for POST (and PUT) requests to 127.0.0.1:PORT with a JSON body, signing host,
    content-type and x-amz-date (what botocore signs for these requests)."""

    def __init__(self, port: int, key_id: str, secret: str):
        self.port, self.key_id, self.secret = port, key_id, secret
        self.host = f"127.0.0.1:{port}"
        self._keys: dict[str, bytes] = {}
        self._check_against_botocore()

    @staticmethod
    def amz_date() -> str:
        return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")

    def _key(self, day: str) -> bytes:
        k = self._keys.get(day)
        if k is None:
            k = _hmac(("AWS4" + self.secret).encode(), day)
            for part in (REGION, SERVICE, "aws4_request"):
                k = _hmac(k, part)
            self._keys[day] = k
        return k

    def sign(self, path: str, body: str, amz_date: str | None = None,
             method: str = "POST") -> dict[str, str]:
        """The headers of the signed request: host, content-type, x-amz-date, authorization.
        (PATH is signed as given: it must need no URI-encoding.)"""
        date = amz_date or self.amz_date()
        day = date[:8]
        scope = f"{day}/{REGION}/{SERVICE}/aws4_request"
        signed_headers = "content-type;host;x-amz-date"
        canonical = "\n".join([
            method, path, "",
            f"content-type:{CONTENT_TYPE}", f"host:{self.host}", f"x-amz-date:{date}", "",
            signed_headers, hashlib.sha256(body.encode()).hexdigest(),
        ])
        to_sign = "\n".join([
            "AWS4-HMAC-SHA256", date, scope, hashlib.sha256(canonical.encode()).hexdigest(),
        ])
        sig = hmac.new(self._key(day), to_sign.encode(), hashlib.sha256).hexdigest()
        return {
            "host": self.host,
            "content-type": CONTENT_TYPE,
            "x-amz-date": date,
            "authorization": f"AWS4-HMAC-SHA256 Credential={self.key_id}/{scope}, "
                             f"SignedHeaders={signed_headers}, Signature={sig}",
        }

    def _check_against_botocore(self) -> None:
        for method, path, body in (
                ("POST", "/identities/GetWorkloadIdentity", '{"name":"signer-self-check"}'),
                ("PUT", "/warrant/v1/workload-identities/signer-self-check/authorizers", '{"a":[]}')):
            req = AWSRequest(method=method, url=f"http://{self.host}{path}", data=body.encode(),
                             headers={"Content-Type": CONTENT_TYPE})
            SigV4Auth(Credentials(self.key_id, self.secret), SERVICE, REGION).add_auth(req)
            ref = {k.lower(): v for k, v in req.headers.items()}
            mine = self.sign(path, body, ref["x-amz-date"], method)
            if mine["authorization"] != ref.get("authorization"):
                raise SystemExit(f"sigv4.py: the signer disagrees with botocore ({method}):\n"
                                 f"  {mine['authorization']}\n  {ref.get('authorization')}")


def send(port: int, path: str, headers: dict[str, str], body: str,
         conn: http.client.HTTPConnection | None = None, method: str = "POST") -> tuple[int, str]:
    """Send the request as signed (the signed Host header exactly, skip_host), on CONN
    when given (kept open: keep-alive), else on a connection of its own."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.putheader("content-length", str(len(body.encode())))
        conn.endheaders(body.encode())
        r = conn.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        if own:
            conn.close()


# wrk calls done() once at the end, in its main Lua state; one JSON line makes its
# results machine-readable. A script may define pool_report() (returning extra JSON
# members, each starting with a comma) to add its own figures.
WRK_DONE = """
done = function(summary, latency, requests)
  local extra = ""
  if pool_report then extra = pool_report() end
  io.write(string.format('{"requests":%d,"duration_us":%d,"non_2xx_3xx":%d,'
    .. '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,'
    .. '"p50_us":%d,"p99_us":%d,"p99_9_us":%d%s}\\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), extra))
end
"""


def lua_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def wrk_script(headers: dict[str, str] | None, body: str | None) -> str:
    """A wrk script: POST with BODY and the given headers (wrk sends its own Host,
    127.0.0.1:PORT, the value signed), or with no request part just the done() report."""
    out = []
    if headers is not None:
        out.append('wrk.method = "POST"')
        out.append(f"wrk.body = {lua_str(body or '')}")
        for k, v in headers.items():
            if k != "host":
                out.append(f"wrk.headers[{lua_str(k)}] = {lua_str(v)}")
    return "\n".join(out) + "\n" + WRK_DONE


def oha_headers(headers: dict[str, str]) -> str:
    """The headers for oha -H, one 'name: value' a line (oha sends its own Host)."""
    return "".join(f"{k}: {v}\n" for k, v in headers.items() if k != "host")


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[1] == "wrk-report":
        print(wrk_script(None, None))
        return 0
    cmd, port, key_id, secret, arg = argv[1], int(argv[2]), argv[3], argv[4], argv[5]
    signer = Signer(port, key_id, secret)
    if cmd == "create":
        path = "/identities/CreateWorkloadIdentity"
        body = json.dumps({"name": arg})
        status, text = send(port, path, signer.sign(path, body), body)
        if status not in (200, 201, 409):
            print(f"CreateWorkloadIdentity: {status} {text}", file=sys.stderr)
            return 1
        return 0
    path = "/identities/GetWorkloadIdentity"
    headers = signer.sign(path, arg)
    if cmd == "headers":
        print(oha_headers(headers), end="")
        return 0
    if cmd == "wrk":
        print(wrk_script(headers, arg))
        return 0
    if cmd == "check":
        status, text = send(port, path, headers, arg)
        print(f"{status} {text}")
        return 0 if status == 200 else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
