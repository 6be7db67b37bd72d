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
from helpers import Server


@pytest.fixture(scope="session", autouse=True)
def _binary_exists():
    if not os.path.isfile(helpers.WARRANT_BIN) or not os.access(helpers.WARRANT_BIN, os.X_OK):
        pytest.exit(f"warrant binary not found at {helpers.WARRANT_BIN} "
                    "(build it with `cargo build -p warrant` or set WARRANT_BIN)", returncode=1)


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    data = tmp_path_factory.mktemp("session-data")
    s = Server(data, label="session", public_url=helpers.SESSION_PUBLIC_URL)
    s.start()
    yield s
    rc = s.stop()
    assert rc == 0, f"session server exited with {rc} on SIGTERM\n{s.stderr_text()[-3000:]}"


@pytest.fixture(scope="session")
def client(server):
    return server.client()


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
