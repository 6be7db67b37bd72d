"""SigV4 helpers for bench/run (run with the project venv's python: it has botocore).

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
skew window for far longer than a run. Only headers oha sends byte-identically are
signed: host (oha sends 127.0.0.1:PORT), content-type and x-amz-date.
"""

from __future__ import annotations

import http.client
import json
import sys

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SERVICE = "bedrock-agentcore"
REGION = "us-east-1"


def signed(port: int, key_id: str, secret: str, path: str, body: str) -> dict[str, str]:
    req = AWSRequest(
        method="POST",
        url=f"http://127.0.0.1:{port}{path}",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
    )
    SigV4Auth(Credentials(key_id, secret), SERVICE, REGION).add_auth(req)
    headers = {k.lower(): v for k, v in req.headers.items()}
    headers["host"] = f"127.0.0.1:{port}"
    return headers


def send(port: int, path: str, headers: dict[str, str], body: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        # skip_host: send the signed Host header exactly as signed.
        conn.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.putheader("content-length", str(len(body.encode())))
        conn.endheaders(body.encode())
        r = conn.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        conn.close()


# wrk calls done() once at the end; one JSON line makes its results machine-readable.
WRK_DONE = """
done = function(summary, latency, requests)
  io.write(string.format('{"requests":%d,"duration_us":%d,"non_2xx_3xx":%d,'
    .. '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,'
    .. '"p50_us":%d,"p99_us":%d}\\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def lua_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def wrk_script(headers: dict[str, str] | None, body: str | None) -> str:
    """A wrk script: POST with BODY and the signed headers (wrk sends its own Host,
    127.0.0.1:PORT, the value signed), or with no request part just the done() report."""
    out = []
    if headers is not None:
        out.append('wrk.method = "POST"')
        out.append(f"wrk.body = {lua_str(body or '')}")
        for k, v in headers.items():
            if k != "host":
                out.append(f"wrk.headers[{lua_str(k)}] = {lua_str(v)}")
    return "\n".join(out) + "\n" + WRK_DONE


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[1] == "wrk-report":
        print(wrk_script(None, None))
        return 0
    cmd, port, key_id, secret, arg = argv[1], int(argv[2]), argv[3], argv[4], argv[5]
    if cmd == "create":
        path = "/identities/CreateWorkloadIdentity"
        body = json.dumps({"name": arg})
        status, text = send(port, path, signed(port, key_id, secret, path, body), body)
        if status not in (200, 201, 409):
            print(f"CreateWorkloadIdentity: {status} {text}", file=sys.stderr)
            return 1
        return 0
    path = "/identities/GetWorkloadIdentity"
    headers = signed(port, key_id, secret, path, arg)
    if cmd == "headers":
        # oha sends its own Host (127.0.0.1:PORT, the value signed); pass the rest.
        for k, v in headers.items():
            if k != "host":
                print(f"{k}: {v}")
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
