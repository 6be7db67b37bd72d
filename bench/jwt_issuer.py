"""The end users' identity provider of bench/run's jwt-rs256 and jwt-es256 workloads: the
signing keys, a minimal OIDC issuer on loopback, and the user tokens.

  jwt_issuer.py keys DIR
      Generates an RSA-2048 key (kid bench-rs256) and a P-256 key (kid bench-es256) with
      `cryptography`; writes DIR/jwt-rs256.pem and DIR/jwt-es256.pem (PKCS#8, for signing
      the user tokens), DIR/jwt-keys.json (the private JWK set, {"keys": [...]}, for an
      issuer that signs with them: the test kit's --keys) and DIR/jwt-jwks.json (the
      public JWK set, each key with its kid, "use": "sig" and "alg").
  jwt_issuer.py serve JWKS_FILE
      A stdlib HTTP server on 127.0.0.1 (ephemeral port) serving
        GET /.well-known/openid-configuration  {"issuer": "http://127.0.0.1:PORT",
                                                "jwks_uri": ISSUER + "/jwks", ...}
        GET /jwks                              the contents of JWKS_FILE
      and GET /__stats {"discovery": N, "jwks": N} (requests served). When listening it
      prints one line on stdout, {"issuer": ..., "port": ...}, like the test kit's
      oidc-provider. It only answers warrant's discovery and JWKS fetches: with warm
      keys it sees no request during the load runs.

sign_token(work, alg, issuer, ...) (imported by bench/workloads.py) signs a user token
with DIR/jwt-{rs256,es256}.pem: header {"alg","typ":"JWT","kid"}, claims iss, sub, aud,
client_id, scope, iat, exp, jti.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import sys
import time
import uuid

KIDS = {"RS256": "bench-rs256", "ES256": "bench-es256"}


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64u(n: int, length: int | None = None) -> str:
    length = length or (n.bit_length() + 7) // 8
    return b64u(n.to_bytes(length, "big"))


def keys(out_dir: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    private, public = [], []
    for alg, key in (("RS256", rsa_key), ("ES256", ec_key)):
        kid = KIDS[alg]
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        path = os.path.join(out_dir, f"jwt-{alg.lower()}.pem")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            f.write(pem)
        if alg == "RS256":
            pn = key.public_key().public_numbers()
            pub = {"kty": "RSA", "n": _int_b64u(pn.n), "e": _int_b64u(pn.e)}
            pv = key.private_numbers()
            priv = {"d": _int_b64u(pv.d), "p": _int_b64u(pv.p), "q": _int_b64u(pv.q),
                    "dp": _int_b64u(pv.dmp1), "dq": _int_b64u(pv.dmq1), "qi": _int_b64u(pv.iqmp)}
        else:
            pn = key.public_key().public_numbers()
            pub = {"kty": "EC", "crv": "P-256", "x": _int_b64u(pn.x, 32), "y": _int_b64u(pn.y, 32)}
            priv = {"d": _int_b64u(key.private_numbers().private_value, 32)}
        pub.update(kid=kid, use="sig", alg=alg)
        public.append(pub)
        private.append({**pub, **priv})
    with open(os.open(os.path.join(out_dir, "jwt-keys.json"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                      0o600), "w") as f:
        json.dump({"keys": private}, f)
    with open(os.path.join(out_dir, "jwt-jwks.json"), "w") as f:
        json.dump({"keys": public}, f)


def sign_token(work: str, alg: str, issuer: str, sub: str, aud: str, client_id: str,
               scope: str, ttl: int) -> str:
    """A compact JWS user token signed with WORK/jwt-{alg}.pem (RS256: PKCS#1 v1.5 with
    SHA-256; ES256: ECDSA P-256 with SHA-256, the signature as r || s, 64 bytes)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    with open(os.path.join(work, f"jwt-{alg.lower()}.pem"), "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    now = int(time.time())
    header = {"alg": alg, "typ": "JWT", "kid": KIDS[alg]}
    claims = {"iss": issuer, "sub": sub, "aud": aud, "client_id": client_id, "scope": scope,
              "iat": now, "exp": now + ttl, "jti": str(uuid.uuid4())}
    signing_input = (b64u(json.dumps(header, separators=(",", ":")).encode()) + "."
                     + b64u(json.dumps(claims, separators=(",", ":")).encode())).encode()
    if alg == "RS256":
        sig = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "ES256":
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        raise ValueError(alg)
    return signing_input.decode() + "." + b64u(sig)


def serve(jwks_file: str) -> None:
    with open(jwks_file, "rb") as f:
        jwks = f.read()
    json.loads(jwks)
    stats = {"discovery": 0, "jwks": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
            if self.path == "/.well-known/openid-configuration":
                stats["discovery"] += 1
                body = json.dumps({
                    "issuer": issuer,
                    "jwks_uri": issuer + "/jwks",
                    "authorization_endpoint": issuer + "/auth",
                    "token_endpoint": issuer + "/token",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                }).encode()
            elif self.path == "/jwks":
                stats["jwks"] += 1
                body = jwks
            elif self.path == "/__stats":
                body = json.dumps(stats).encode()
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt: str, *args) -> None:
            sys.stderr.write("jwt_issuer: " + (fmt % args) + "\n")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    print(json.dumps({"issuer": f"http://127.0.0.1:{port}", "port": port}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[1] == "keys":
        keys(argv[2])
        return 0
    if len(argv) == 3 and argv[1] == "serve":
        serve(argv[2])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
