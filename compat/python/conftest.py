"""Fixtures of the warrant Python compatibility suite.

One session-scoped server serves most tests (admin key from the environment,
public URL https://warrant.example.test); tests that need their own process
(restart, bootstrap, master key, start-up errors, pagination) use `spawn`.
Every server's stdout/stderr lands in helpers.LOG_DIR; test_zz_secrets.py and
pytest_sessionfinish scan all of them for every secret of the run.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

import helpers
from faultprovider import FaultProvider
from helpers import Server
from testkit import OidcProvider, QuirkProvider


@pytest.fixture(scope="session", autouse=True)
def _binary_exists():
    if not os.path.isfile(helpers.WARRANT_BIN) or not os.access(helpers.WARRANT_BIN, os.X_OK):
        pytest.exit(f"warrant binary not found at {helpers.WARRANT_BIN} "
                    "(build it with `cargo build -p warrant` or set WARRANT_BIN)", returncode=1)


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    data = tmp_path_factory.mktemp("session-data")
    # The test kit's providers listen on 127.0.0.1: allowlist it for outbound calls.
    s = Server(data, label="session", public_url=helpers.SESSION_PUBLIC_URL,
               args=["--outbound-allow", "127.0.0.1"])
    s.start()
    yield s
    rc = s.stop()
    assert rc == 0, f"session server exited with {rc} on SIGTERM\n{s.stderr_text()[-3000:]}"


@pytest.fixture(scope="session")
def client(server):
    return server.client()


@pytest.fixture(scope="session")
def data_client(server):
    """boto3 `bedrock-agentcore` (data plane) client of the session server."""
    return server.data_client()


@pytest.fixture
def spawn(tmp_path_factory):
    """Factory for servers of the test's own; running ones are stopped (exit 0) at teardown."""
    started: list[Server] = []

    def _spawn(data_dir: Path | None | str = "auto", *, start: bool = True, **kw) -> Server:
        # data_dir None: no --data-dir flag (the test configures it another way)
        if data_dir == "auto":
            data_dir = tmp_path_factory.mktemp("data")
        s = Server(data_dir, **kw)
        started.append(s)
        if start:
            s.start()
        else:
            s.spawn()
        return s

    yield _spawn
    problems = []
    for s in started:
        if s.running():
            rc = s.stop()
            if rc != 0:
                problems.append(f"{s.label}: exit code {rc} on SIGTERM")
    assert not problems, problems


@pytest.fixture(autouse=True)
def _check_responses():
    """Every response seen by a suite client must carry x-amzn-RequestId and no secret."""
    helpers.RESPONSE_PROBLEMS.clear()
    yield
    problems = list(helpers.RESPONSE_PROBLEMS)
    helpers.RESPONSE_PROBLEMS.clear()
    assert not problems, problems


def pytest_sessionfinish(session, exitstatus):
    """Last line of defence: after every server has stopped, scan all logs again."""
    leaks = []
    for p in sorted(helpers.LOG_DIR.glob("*")):
        data = p.read_bytes()
        for s in helpers.SECRETS:
            if s and s.encode() in data:
                leaks.append(f"{p.name}: contains secret {s[:10]}...")
    if leaks:
        print("\nSECRET LEAKS IN SERVER LOGS:\n  " + "\n  ".join(leaks))
        session.exitstatus = 1
    if helpers.EXTRA_MEMBERS:
        print("\nresponse members not in the AWS model (ignored by SDKs): "
              + ", ".join(sorted(helpers.EXTRA_MEMBERS)))
    print(f"\nserver logs of this run: {helpers.LOG_DIR}")


# ---------------------------------------------------------------------------------------
# OAuth test kit: a real authorization server (testkit/oidc-provider.mjs, oidc-provider
# 8.x under Node) and a fault-injecting one (faultprovider.py). See testkit/README.md.
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def oidc_provider():
    """The session's real OAuth 2.0 server: .issuer, .discovery_url, .token_endpoint,
    .clients {"basic"|"post": {client_id, client_secret}}, .resource, .scopes,
    .stats(), .reset(), .token(client, **form). Shared: reset() or compare deltas."""
    p = OidcProvider(label="oidc-provider").start()
    yield p
    rc = p.stop()
    assert rc == 0, f"oidc-provider exited with {rc} on SIGTERM\n{p.stderr_text()[-3000:]}"


@pytest.fixture
def spawn_oidc_provider():
    """Factory for a provider of the test's own, e.g.
    spawn_oidc_provider(token_ttl=2, strict_client_auth=True); stopped at teardown."""
    started = []

    def _spawn(**kw):
        kw.setdefault("label", "oidc-provider-own")
        p = OidcProvider(**kw)
        started.append(p)
        return p.start()

    yield _spawn
    problems = []
    for p in started:
        if p.running():
            rc = p.stop()
            if rc != 0:
                problems.append(f"{p.label}: exit code {rc} on SIGTERM")
    assert not problems, problems


@pytest.fixture(scope="session")
def fault_provider():
    """The session's fault-injecting OAuth server (faultprovider.FaultProvider), started.
    Shared: call .reset() first, and restore .slow_seconds if you change it."""
    fp = FaultProvider().start()
    yield fp
    fp.stop()


@pytest.fixture(scope="session")
def quirk_provider():
    """The session's vendor-quirk OAuth provider (testkit/quirk_provider.py, a process):
    .origin, .clients {VENDOR: {client_id, client_secret}}, .danger_args(), .stats(),
    .reset(), .fail_next_refresh(v), .deny_next(v), .set_expires_in(v, n), .register(v, uri).
    Shared: reset() first."""
    q = QuirkProvider().start()
    yield q
    rc = q.stop()
    assert rc == 0, f"quirk provider exited with {rc} on SIGTERM"
