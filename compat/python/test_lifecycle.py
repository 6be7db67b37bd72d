"""Process lifecycle: stdout line, signals, restart persistence, master key, bootstrap, start-up errors."""

import base64
import configparser
import datetime
import json
import os
import re
import signal
import socket
import stat
import time

import pytest

from helpers import (ADMIN_KEY_ID, ADMIN_SECRET, DATA_DIRS, LISTEN_RE, Server, assert_raw_error, call,
                     expect_error, fixed_clock, http_get, list_all, make_client, new_secret,
                     raw_call, register_secret, status_of, uname, vendor_config)


def _strip(resp):
    return {k: v for k, v in resp.items() if k != "ResponseMetadata"}


def test_stdout_is_exactly_the_listening_line(spawn):
    s = spawn(label="stdout")
    c = s.client()
    c.create_workload_identity(name=uname("out"))
    assert s.stop() == 0
    out = s.stdout_text()
    lines = out.splitlines()
    assert len(lines) == 1, out
    m = LISTEN_RE.match(lines[0])
    assert m and int(m.group(1)) == s.port
    assert out.endswith("\n")


def test_sigint_exits_zero(spawn):
    s = spawn(label="sigint")
    assert status_of(s.client().get_token_vault()) == 200
    assert s.stop(signal.SIGINT) == 0


def test_sigterm_right_after_ready_exits_zero(spawn, tmp_path_factory):
    """Once the listening line is out, SIGTERM must drain and exit 0 (no start-up race)."""
    codes = []
    for i in range(20):
        s = Server(tmp_path_factory.mktemp("race"), label=f"race-{i}")
        s.signal_on_ready = signal.SIGTERM  # sent as soon as the listening line is read
        s.spawn()
        assert s._ready.wait(30) and s.port, s.stderr_text()
        codes.append(s.stop())
    assert codes == [0] * 20, str(codes)


def test_ping(server):
    st, hdrs, _ = http_get(server.port, "/ping")
    assert st == 200
    assert "x-amzn-requestid" in hdrs


def test_request_ids_are_unique(server):
    ids = set()
    for _ in range(5):
        r = call(server, "GetTokenVault", {})
        ids.add(r.headers["x-amzn-requestid"])
    assert len(ids) == 5


def test_restart_keeps_everything(spawn, tmp_path_factory):
    data = tmp_path_factory.mktemp("restart-data")
    s = spawn(data, label="restart-1", public_url="https://restart.example.test")
    c = s.client()
    wi, o2, cu, ak = uname("wi"), uname("o2"), uname("cu"), uname("ak")
    c.create_workload_identity(name=wi, allowedResourceOauth2ReturnUrls=["https://a.test/cb"],
                               tags={"kind": "wi"})
    c.create_oauth2_credential_provider(
        name=o2, credentialProviderVendor="OktaOauth2",
        oauth2ProviderConfigInput=vendor_config("OktaOauth2", "okta-client", new_secret()),
        tags={"kind": "o2"})
    c.create_oauth2_credential_provider(
        name=cu, credentialProviderVendor="CustomOauth2",
        oauth2ProviderConfigInput={"customOauth2ProviderConfig": {
            "oauthDiscovery": {"discoveryUrl": "https://idp.test/.well-known/openid-configuration"},
            "clientId": "cid", "clientSecret": new_secret(),
            "clientAuthenticationMethod": "CLIENT_SECRET_POST"}})
    c.create_api_key_credential_provider(name=ak, apiKey=new_secret("apikey-sekret-"),
                                         tags={"kind": "ak"})
    before = {
        "wi": _strip(c.get_workload_identity(name=wi)),
        "o2": _strip(c.get_oauth2_credential_provider(name=o2)),
        "cu": _strip(c.get_oauth2_credential_provider(name=cu)),
        "ak": _strip(c.get_api_key_credential_provider(name=ak)),
        "vault": _strip(c.get_token_vault()),
    }
    arns = {"wi": before["wi"]["workloadIdentityArn"], "o2": before["o2"]["credentialProviderArn"],
            "ak": before["ak"]["credentialProviderArn"]}
    tags_before = {k: c.list_tags_for_resource(resourceArn=a)["tags"] for k, a in arns.items()}
    assert tags_before == {"wi": {"kind": "wi"}, "o2": {"kind": "o2"}, "ak": {"kind": "ak"}}
    assert s.stop() == 0

    # second start: no admin key in the environment; the stored key must still work
    s2 = spawn(data, label="restart-2", admin=False, public_url="https://restart.example.test")
    assert not (data / "credentials").exists(), "a key was bootstrapped although keys exist"
    c2 = s2.client()
    after = {
        "wi": _strip(c2.get_workload_identity(name=wi)),
        "o2": _strip(c2.get_oauth2_credential_provider(name=o2)),
        "cu": _strip(c2.get_oauth2_credential_provider(name=cu)),
        "ak": _strip(c2.get_api_key_credential_provider(name=ak)),
        "vault": _strip(c2.get_token_vault()),
    }
    assert after == before
    assert {k: c2.list_tags_for_resource(resourceArn=a)["tags"] for k, a in arns.items()} == tags_before
    assert wi in [i["name"] for i in list_all(c2, "list_workload_identities", "workloadIdentities")]
    o2_names = [i["name"] for i in list_all(c2, "list_oauth2_credential_providers",
                                            "credentialProviders")]
    assert o2 in o2_names and cu in o2_names
    expect_error(c2.create_workload_identity, name=wi, code="ConflictException", status=409)
    # and the restarted server keeps working normally
    assert status_of(c2.update_api_key_credential_provider(
        name=ak, apiKey=new_secret("apikey-sekret-"))) == 200
    assert s2.stop() == 0


def _b64key(byte: int) -> str:
    return base64.b64encode(bytes([byte]) * 32).decode()


def test_wrong_master_key_env(spawn, tmp_path_factory):
    data = tmp_path_factory.mktemp("mk-data")
    good, bad = _b64key(0x11), _b64key(0x22)
    s = spawn(data, label="mk-good", env={"WARRANT_MASTER_KEY": good})
    s.client().create_api_key_credential_provider(name=uname("ak"),
                                                  apiKey=new_secret("apikey-sekret-"))
    assert s.stop() == 0
    w = spawn(data, label="mk-bad", env={"WARRANT_MASTER_KEY": bad}, start=False)
    rc = w.wait_exit()
    assert rc != 0
    assert "master key" in w.stderr_text().lower(), w.stderr_text()
    assert "listening" not in w.stdout_text()
    # the right key still opens the data
    s3 = spawn(data, label="mk-good-again", env={"WARRANT_MASTER_KEY": good})
    assert status_of(s3.client().get_token_vault()) == 200


def test_wrong_master_key_file_then_env(spawn, tmp_path_factory):
    data = tmp_path_factory.mktemp("mkf-data")
    s = spawn(data, label="mkf-file")
    s.client().create_workload_identity(name=uname("wi"))
    assert s.stop() == 0
    assert (data / "master.key").exists()
    w = spawn(data, label="mkf-env", env={"WARRANT_MASTER_KEY": _b64key(0x33)}, start=False)
    assert w.wait_exit() != 0
    assert "master key" in w.stderr_text().lower(), w.stderr_text()


def test_master_key_file_mode(spawn, tmp_path_factory):
    data = tmp_path_factory.mktemp("mkmode-data")
    s = spawn(data, label="mkmode")
    mk = data / "master.key"
    assert mk.is_file()
    assert stat.S_IMODE(mk.stat().st_mode) == 0o600, oct(mk.stat().st_mode)
    assert s.stop() == 0
    # the master key never shows up in the logs
    key_bytes = mk.read_bytes().strip()
    assert key_bytes and key_bytes not in open(s.stderr_path, "rb").read()
    assert key_bytes not in open(s.stdout_path, "rb").read()


def test_master_key_env_writes_no_file(spawn, tmp_path_factory):
    data = tmp_path_factory.mktemp("mkenv-data")
    s = spawn(data, label="mkenv", env={"WARRANT_MASTER_KEY": _b64key(0x44)})
    assert not (data / "master.key").exists()
    assert s.stop() == 0


def test_bootstrap_credentials_file(spawn, tmp_path_factory):
    data = tmp_path_factory.mktemp("boot-data")
    s = spawn(data, label="bootstrap", admin=False)
    cred = data / "credentials"
    assert cred.is_file()
    assert stat.S_IMODE(cred.stat().st_mode) == 0o600, oct(cred.stat().st_mode)
    cp = configparser.ConfigParser()
    cp.read(cred)
    assert cp.sections() == ["warrant"]
    key_id = cp["warrant"]["aws_access_key_id"]
    secret = register_secret(cp["warrant"]["aws_secret_access_key"])
    assert key_id and len(secret) >= 16
    c = make_client(s.url, key_id, secret)
    assert status_of(c.list_workload_identities()) == 200
    assert status_of(c.create_workload_identity(name=uname("boot"))) == 201
    assert s.stop() == 0
    err, out = s.stderr_text(), s.stdout_text()
    assert str(cred) in err, "the credentials path is not printed on stderr"
    assert secret not in err and secret not in out
    # restart: the same key works, nothing new is written
    content = cred.read_bytes()
    s2 = spawn(data, label="bootstrap-2", admin=False)
    assert cred.read_bytes() == content
    assert status_of(make_client(s2.url, key_id, secret).get_token_vault()) == 200
    assert s2.stop() == 0
    assert secret not in s2.stderr_text() and secret not in s2.stdout_text()


def test_env_admin_key_ignored_once_keys_exist(spawn, tmp_path_factory):
    data = tmp_path_factory.mktemp("boot2-data")
    s = spawn(data, label="boot-generated", admin=False)
    assert s.stop() == 0
    # the admin key from the environment arrives late: no key is created from it
    s2 = spawn(data, label="boot-late-env", admin=True)
    expect_error(s2.client().get_token_vault, code="UnrecognizedClientException", status=403)


def test_env_configuration(spawn, tmp_path_factory):
    data = tmp_path_factory.mktemp("envcfg-data")
    DATA_DIRS.append(data)
    s = spawn(None, label="envcfg", listen=None, region="eu-west-2", env={
        "WARRANT_LISTEN": "127.0.0.1:0",
        "WARRANT_DATA_DIR": str(data),
        "WARRANT_REGION": "eu-west-2",
        "WARRANT_ACCOUNT_ID": "222222222222",
        "WARRANT_PUBLIC_URL": "https://env.example.test",
    })
    c = s.client(region="eu-west-2")
    r = c.create_workload_identity(name="envwi")
    assert r["workloadIdentityArn"] == ("arn:aws:bedrock-agentcore:eu-west-2:222222222222:"
                                        "workload-identity-directory/default/workload-identity/envwi")
    r = c.create_oauth2_credential_provider(
        name="envo2", credentialProviderVendor="GoogleOauth2",
        oauth2ProviderConfigInput=vendor_config("GoogleOauth2", "c", new_secret()))
    assert r["callbackUrl"].startswith("https://env.example.test/identities/oauth2/callback/")
    assert r["credentialProviderArn"].startswith(
        "arn:aws:bedrock-agentcore:eu-west-2:222222222222:token-vault/default/")
    assert (data / "master.key").exists()
    expect_error(s.client(region="us-east-1").get_token_vault, code="InvalidSignatureException",
                 status=403)


def test_region_and_account_flags(spawn):
    s = spawn(label="flags", region="ap-south-1", account="333333333333",
              public_url="http://localhost:8080")
    c = s.client()
    r = c.create_api_key_credential_provider(name="flagak", apiKey=new_secret("apikey-sekret-"))
    assert r["credentialProviderArn"] == ("arn:aws:bedrock-agentcore:ap-south-1:333333333333:"
                                          "token-vault/default/apikeycredentialprovider/flagak")
    assert r["apiKeySecretArn"]["secretArn"].startswith(
        "arn:aws:secretsmanager:ap-south-1:333333333333:secret:")
    r = c.create_oauth2_credential_provider(
        name="flago2", credentialProviderVendor="SlackOauth2",
        oauth2ProviderConfigInput=vendor_config("SlackOauth2", "c", new_secret()))
    assert re.match(r"^http://localhost:8080/identities/oauth2/callback/[0-9a-f-]{36}$",
                    r["callbackUrl"]), r["callbackUrl"]
    arn = r["credentialProviderArn"]
    assert c.list_tags_for_resource(resourceArn=arn).get("tags", {}) == {}


def test_log_format_json(spawn):
    s = spawn(label="jsonlog", args=["--log-format", "json"])
    c = s.client()
    c.create_workload_identity(name=uname("j"))
    expect_error(c.get_workload_identity, name=uname("missing"),
                 code="ResourceNotFoundException", status=404)
    assert s.stop() == 0
    for line in s.stderr_text().splitlines():
        if line.strip():
            json.loads(line)


def test_sigv4_max_skew_setting(spawn):
    s = spawn(label="skew", env={"WARRANT_SIGV4_MAX_SKEW": "60"})
    assert raw_call(s, "/identities/get-token-vault", {}).status == 200
    with fixed_clock(datetime.timedelta(minutes=-5)):
        r = raw_call(s, "/identities/get-token-vault", {})
    msg = assert_raw_error(r, "InvalidSignatureException", 403)
    assert "expired" in msg.lower()


# ---------------------------------------------------------------------------------------
# start-up errors: exit code 2, one stderr line naming the setting
# ---------------------------------------------------------------------------------------


def _expect_startup_error(s, setting):
    rc = s.wait_exit()
    err = s.stderr_text()
    assert rc == 2, f"exit code {rc}, stderr: {err}"
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, f"expected one line on stderr: {err}"
    assert setting in lines[0], err
    assert not s.stdout_text().strip(), s.stdout_text()


def test_port_in_use(spawn):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    try:
        port = sock.getsockname()[1]
        s = spawn(label="port-in-use", listen=f"127.0.0.1:{port}", start=False)
        _expect_startup_error(s, "--listen")
    finally:
        sock.close()


@pytest.mark.parametrize("listen", ["not-an-address", "127.0.0.1:99999"])
def test_bad_listen(spawn, listen):
    s = spawn(label="bad-listen", listen=listen, start=False)
    _expect_startup_error(s, "--listen")


@pytest.mark.parametrize("url", ["not a url", "http://"])
def test_bad_public_url(spawn, url):
    s = spawn(label="bad-public-url", public_url=url, start=False)
    _expect_startup_error(s, "--public-url")


def test_unwritable_data_dir(spawn, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("I am a file, not a directory")
    s = spawn(blocker / "data", label="bad-data-dir", start=False)
    _expect_startup_error(s, "--data-dir")


@pytest.mark.parametrize("acct", ["12345", "abcdefghijkl", "0000000000001"])
def test_bad_account_id(spawn, acct):
    s = spawn(label="bad-account", account=acct, start=False)
    _expect_startup_error(s, "--account-id")


def test_throttling_when_requests_in_flight_exceed_the_limit(spawn):
    """With --max-concurrent-requests 1, a request whose body is still arriving holds the
    only slot; a second request meanwhile gets 429 ThrottlingException, and once the first
    completes, requests are served again."""
    s = spawn(label="throttle", args=["--max-concurrent-requests", "1"])

    def hold_the_slot():
        # The slot of the request before (start-up's /ping) is freed a moment after its
        # response is read, so the slow request may itself be turned away: then retry.
        for _ in range(20):
            sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
            sock.sendall(b"POST /identities/GetWorkloadIdentity HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 20\r\n\r\n{\"na")
            sock.settimeout(0.1)
            try:
                early = sock.recv(64)
            except socket.timeout:
                early = b""
            if not early:
                sock.settimeout(10)
                return sock
            sock.close()
            time.sleep(0.05)
        raise AssertionError("the slow request was turned away every time")

    slow = hold_the_slot()
    try:
        throttled = None
        # The slow request reaches the limiter within milliseconds on an idle machine; on a
        # loaded CI machine it can take longer, so poll against a deadline, not a count.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            r = call(s, "GetTokenVault", {})
            if r.status == 429:
                throttled = r
                break
            # Was the slow request itself turned away meanwhile? Then hold the slot anew.
            slow.setblocking(False)
            try:
                turned_away = slow.recv(64)
            except BlockingIOError:
                turned_away = b""
            slow.setblocking(True)
            if turned_away:
                slow.close()
                slow = hold_the_slot()
            time.sleep(0.02)
        assert throttled is not None, "no request was throttled"
        assert_raw_error(throttled, "ThrottlingException", 429)
        assert throttled.headers.get("x-amzn-requestid")
    finally:
        slow.close()
    for _ in range(50):
        if call(s, "GetTokenVault", {}).status == 200:
            break
    else:
        raise AssertionError("requests were not served again after the slot was freed")
