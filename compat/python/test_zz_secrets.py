"""No plaintext secrets at rest or in logs. Named test_zz_* so it runs last."""

import helpers
from helpers import (ADMIN_SECRET, LOG_DIR, SECRETS, call, new_secret, scan_tree_for,
                     secret_variants, status_of, uname, vendor_config)


def test_data_dir_has_no_plaintext_secrets(server, client):
    mine = []
    for vendor in ("GoogleOauth2", "CustomOauth2", "OktaOauth2", "XOauth2"):
        s = new_secret()
        mine.append(s)
        r = client.create_oauth2_credential_provider(
            name=uname("zz"), credentialProviderVendor=vendor,
            oauth2ProviderConfigInput=vendor_config(vendor, "zz-client", s))
        assert status_of(r) == 201
    name = uname("zzak")
    k1, k2 = new_secret("apikey-sekret-"), new_secret("apikey-sekret-")
    mine += [k1, k2]
    client.create_api_key_credential_provider(name=name, apiKey=k1)
    client.update_api_key_credential_provider(name=name, apiKey=k2)
    # a long one, to catch chunked/compressed storage being only partly encrypted
    big = new_secret("apikey-big-") + "Q" * 4000
    helpers.register_secret(big)
    mine.append(big)
    client.create_api_key_credential_provider(name=uname("zzbig"), apiKey=big)

    files = [p for p in server.data_dir.rglob("*") if p.is_file()]
    assert files, "the data dir is empty?"
    needles = [v for s in mine + [ADMIN_SECRET] for v in secret_variants(s)]
    hits = scan_tree_for(server.data_dir, needles)
    assert not hits, hits


def test_all_data_dirs_of_the_run_have_no_plaintext_secrets():
    needles = [v for s in SECRETS for v in secret_variants(s)]
    assert needles
    dirs = [d for d in helpers.DATA_DIRS if d.exists()]
    assert dirs
    hits = []
    for d in dirs:
        # DIR/credentials holds the bootstrapped admin key in the clear by design
        hits += [h for h in scan_tree_for(d, needles) if h[0] != str(d / "credentials")]
    assert not hits, hits


def test_zz_logs_of_the_run_have_no_secrets():
    logs = sorted(p for p in LOG_DIR.iterdir() if p.is_file())
    assert logs, "no server logs were captured"
    assert ADMIN_SECRET in SECRETS and len(SECRETS) > 5
    hits = []
    for p in logs:
        data = p.read_bytes()
        for s in SECRETS:
            for v in secret_variants(s):
                if v in data:
                    hits.append((p.name, s[:12] + "..."))
    assert not hits, hits
