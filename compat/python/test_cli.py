"""The AWS CLI (from the venv) against warrant."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from helpers import ADMIN_KEY_ID, ADMIN_SECRET, REGION, SECRETS, new_secret, uname


def aws_bin() -> str:
    cand = Path(sys.executable).parent / "aws"
    if cand.exists():
        return str(cand)
    found = shutil.which("aws")
    assert found, "aws CLI not installed (pip install awscli)"
    return found


_CONFIG = None


def cli_config() -> str:
    """An isolated CLI config: no profile, and never fetch http(s) URLs given as parameters."""
    global _CONFIG
    if _CONFIG is None:
        fd, path = tempfile.mkstemp(prefix="warrant-aws-config-")
        with os.fdopen(fd, "w") as f:
            f.write("[default]\ncli_follow_urlparam = false\n")
        _CONFIG = path
    return _CONFIG


def aws(server, *args, key_id=ADMIN_KEY_ID, secret=ADMIN_SECRET, check=True):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_CONFIG_FILE": cli_config(),
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_RETRY_MODE": "standard",
        "AWS_PAGER": "",
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    cmd = [aws_bin(), "bedrock-agentcore-control", *args, "--endpoint-url", server.url,
           "--region", REGION, "--output", "json"]
    cp = subprocess.run(cmd, capture_output=True, env=env, timeout=120)
    out, err = cp.stdout.decode(), cp.stderr.decode()
    for s in SECRETS:
        assert s not in out, "CLI output contains a secret"
    if check:
        assert cp.returncode == 0, f"{args}: rc={cp.returncode}\n{err}"
    return cp.returncode, (json.loads(out) if out.strip() else None), err


def test_cli_workload_identity_round_trip(server):
    name = uname("cli")
    rc, out, _ = aws(server, "create-workload-identity", "--name", name,
                     "--allowed-resource-oauth2-return-urls", "https://cli.example.test/cb",
                     "--tags", "team=cli")
    assert out["name"] == name
    assert out["workloadIdentityArn"] == server.arn("wi", name)
    assert out["allowedResourceOauth2ReturnUrls"] == ["https://cli.example.test/cb"]

    _, got, _ = aws(server, "get-workload-identity", "--name", name)
    assert got["name"] == name
    assert got["workloadIdentityArn"] == server.arn("wi", name)
    assert got["createdTime"] and got["lastUpdatedTime"]

    _, lst, _ = aws(server, "list-workload-identities")
    assert name in [i["name"] for i in lst["workloadIdentities"]]

    _, tags, _ = aws(server, "list-tags-for-resource", "--resource-arn", server.arn("wi", name))
    assert tags["tags"] == {"team": "cli"}

    rc, out, _ = aws(server, "delete-workload-identity", "--name", name)
    assert out is None

    rc, _, err = aws(server, "get-workload-identity", "--name", name, check=False)
    assert rc != 0
    assert "ResourceNotFoundException" in err


def test_cli_providers(server):
    name = uname("clip")
    key = new_secret("apikey-sekret-")
    _, out, _ = aws(server, "create-api-key-credential-provider", "--name", name, "--api-key", key)
    assert out["credentialProviderArn"] == server.arn("apikey", name)
    assert "apiKey" not in out
    _, lst, _ = aws(server, "list-api-key-credential-providers")
    assert name in [i["name"] for i in lst["credentialProviders"]]

    secret = new_secret()
    cfg = {"githubOauth2ProviderConfig": {"clientId": "cli-client", "clientSecret": secret}}
    _, out, _ = aws(server, "create-oauth2-credential-provider", "--name", name,
                    "--credential-provider-vendor", "GithubOauth2",
                    "--oauth2-provider-config-input", json.dumps(cfg))
    assert out["credentialProviderArn"] == server.arn("oauth2", name)
    assert out["oauth2ProviderConfigOutput"]["githubOauth2ProviderConfig"]["clientId"] == "cli-client"
    _, got, _ = aws(server, "get-oauth2-credential-provider", "--name", name)
    assert got["callbackUrl"] == out["callbackUrl"]
    aws(server, "delete-oauth2-credential-provider", "--name", name)
    aws(server, "delete-api-key-credential-provider", "--name", name)


def test_cli_errors(server):
    rc, _, err = aws(server, "get-token-vault", secret="definitely-not-the-secret", check=False)
    assert rc != 0
    assert "InvalidSignatureException" in err
    rc, _, err = aws(server, "create-workload-identity", "--name", "has/slash", check=False)
    assert rc != 0
    assert "ValidationException" in err
