"""Pagination of the three List operations on a server of this module's own (exact counts)."""

import base64
import json

import pytest

from helpers import Server, assert_raw_error, call, expect_error, new_secret, status_of, vendor_config

WI = [f"p-{i:03d}" for i in range(45)]
O2 = [f"o-{i:03d}" for i in range(25)]
AK = [f"k-{i:03d}" for i in range(101)]


@pytest.fixture(scope="module")
def pag(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("pagination-data"), label="pagination")
    s.start()
    # create in a scrambled order: the list must come back ordered by name anyway
    order = sorted(WI, key=lambda n: n[::-1])
    for n in order:
        assert call(s, "CreateWorkloadIdentity", {"name": n}).status == 201
    for n in sorted(O2, key=lambda n: n[::-1]):
        assert call(s, "CreateOauth2CredentialProvider", {
            "name": n, "credentialProviderVendor": "GoogleOauth2",
            "oauth2ProviderConfigInput": vendor_config("GoogleOauth2", "c", new_secret())}).status == 201
    for n in sorted(AK, key=lambda n: n[::-1]):
        assert call(s, "CreateApiKeyCredentialProvider",
                    {"name": n, "apiKey": new_secret("apikey-sekret-")}).status == 201
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def pc(pag):
    return pag.client()


def pages(client, op, key, **kw):
    out = []
    token = None
    while True:
        args = dict(kw)
        if token:
            args["nextToken"] = token
        r = getattr(client, op)(**args)
        assert status_of(r) == 200
        out.append([i["name"] for i in r[key]])
        token = r.get("nextToken")
        if not token:
            return out
        assert len(out) < 1000


def test_default_page_size_workload_identities(pc):
    ps = pages(pc, "list_workload_identities", "workloadIdentities")
    assert [len(p) for p in ps] == [20, 20, 5]
    assert sum(ps, []) == WI


def test_default_page_size_oauth2(pc):
    ps = pages(pc, "list_oauth2_credential_providers", "credentialProviders")
    assert [len(p) for p in ps] == [20, 5]
    assert sum(ps, []) == O2


def test_default_page_size_apikeys(pc):
    ps = pages(pc, "list_api_key_credential_providers", "credentialProviders")
    assert [len(p) for p in ps] == [100, 1]
    assert sum(ps, []) == AK


def test_max_results_one(pc):
    ps = pages(pc, "list_workload_identities", "workloadIdentities", maxResults=1)
    assert all(len(p) == 1 for p in ps)
    assert sum(ps, []) == WI


@pytest.mark.parametrize("n", [7, 20])
def test_max_results_n(pc, n):
    ps = pages(pc, "list_workload_identities", "workloadIdentities", maxResults=n)
    assert all(len(p) == n for p in ps[:-1])
    assert 1 <= len(ps[-1]) <= n
    assert sum(ps, []) == WI


def test_exact_multiple_has_no_empty_trailing_page(pc):
    ps = pages(pc, "list_oauth2_credential_providers", "credentialProviders", maxResults=5)
    assert sum(ps, []) == O2
    assert all(len(p) > 0 for p in ps[:-1])
    assert len(ps) in (5, 6)
    if len(ps) == 6:  # an empty last page is tolerated, nothing more
        assert ps[-1] == []


@pytest.mark.parametrize("op,bad", [
    ("ListWorkloadIdentities", [0, 21, -1]),
    ("ListOauth2CredentialProviders", [0, 21]),
    ("ListApiKeyCredentialProviders", [0, 101]),
])
def test_max_results_out_of_range(pag, op, bad):
    for v in bad:
        r = call(pag, op, {"maxResults": v})
        assert_raw_error(r, "ValidationException", 400, field="maxResults")


def test_max_results_upper_bounds_ok(pag):
    assert len(call(pag, "ListWorkloadIdentities", {"maxResults": 20}).json["workloadIdentities"]) == 20
    assert len(call(pag, "ListOauth2CredentialProviders",
                    {"maxResults": 20}).json["credentialProviders"]) == 20
    assert len(call(pag, "ListApiKeyCredentialProviders",
                    {"maxResults": 100}).json["credentialProviders"]) == 100


def test_next_token_round_trip_is_repeatable(pc):
    p1 = pc.list_workload_identities(maxResults=10)
    tok = p1["nextToken"]
    assert isinstance(tok, str) and tok
    a = pc.list_workload_identities(maxResults=10, nextToken=tok)
    b = pc.list_workload_identities(maxResults=10, nextToken=tok)
    assert [i["name"] for i in a["workloadIdentities"]] == WI[10:20]
    assert a["workloadIdentities"] == b["workloadIdentities"]
    # the page size may change between pages
    c = pc.list_workload_identities(maxResults=3, nextToken=tok)
    assert [i["name"] for i in c["workloadIdentities"]] == WI[10:13]


@pytest.mark.parametrize("token", [
    "garbage", "AAAA", "!!!not-base64!!!", base64.b64encode(b'{"after": 5}').decode(),
    base64.urlsafe_b64encode(b"\x00" * 40).decode(), "x" * 5000,
])
def test_garbage_next_token(pag, token):
    for op in ("ListWorkloadIdentities", "ListOauth2CredentialProviders",
               "ListApiKeyCredentialProviders"):
        r = call(pag, op, {"nextToken": token})
        assert_raw_error(r, "ValidationException", 400, field="nextToken")


def test_tampered_next_token(pc, pag):
    tok = pc.list_workload_identities(maxResults=5)["nextToken"]
    raw = tok[:-2] + ("A" if tok[-2] != "A" else "B") + tok[-1]
    r = call(pag, "ListWorkloadIdentities", {"nextToken": raw})
    # either refused, or (if the token is not authenticated) still a valid page of names
    if r.status != 200:
        assert_raw_error(r, "ValidationException", 400, field="nextToken")
    else:
        names = [i["name"] for i in r.json["workloadIdentities"]]
        assert set(names) <= set(WI) and names == sorted(names)


def test_boto3_paginators(pc):
    pgr = pc.get_paginator("list_workload_identities")
    names = [i["name"] for page in pgr.paginate(PaginationConfig={"PageSize": 7})
             for i in page["workloadIdentities"]]
    assert names == WI
    names = [i["name"] for page in pgr.paginate() for i in page["workloadIdentities"]]
    assert names == WI
    pgr = pc.get_paginator("list_oauth2_credential_providers")
    res = pgr.paginate(PaginationConfig={"PageSize": 4}).build_full_result()
    assert [i["name"] for i in res["credentialProviders"]] == O2
    pgr = pc.get_paginator("list_api_key_credential_providers")
    res = pgr.paginate(PaginationConfig={"PageSize": 30}).build_full_result()
    assert [i["name"] for i in res["credentialProviders"]] == AK
    # MaxItems with a resume token
    first = pc.get_paginator("list_workload_identities").paginate(
        PaginationConfig={"PageSize": 6, "MaxItems": 10}).build_full_result()
    assert [i["name"] for i in first["workloadIdentities"]] == WI[:10]
    rest = pc.get_paginator("list_workload_identities").paginate(
        PaginationConfig={"PageSize": 6, "StartingToken": first["NextToken"]}).build_full_result()
    assert [i["name"] for i in rest["workloadIdentities"]] == WI[10:]


def test_stable_under_inserts_and_deletes(spawn):
    s = spawn(label="pagination-stability")
    c = s.client()
    base = [f"s-{i:03d}" for i in range(30)]
    for n in base:
        c.create_workload_identity(name=n)
    seen = []
    r = c.list_workload_identities(maxResults=10)
    seen += [i["name"] for i in r["workloadIdentities"]]
    assert seen == base[:10]
    # insert before the cursor, after the cursor, and at the very end; delete nothing yet
    for n in ("s-0035", "s-0205", "s-999", "a-first"):
        c.create_workload_identity(name=n)
    tok = r["nextToken"]
    r = c.list_workload_identities(maxResults=10, nextToken=tok)
    seen += [i["name"] for i in r["workloadIdentities"]]
    # delete the item right after the cursor of the next page: nothing else may be skipped
    tok = r["nextToken"]
    last_seen = seen[-1]
    nxt = base[base.index(last_seen) + 1] if last_seen in base else None
    if nxt:
        c.delete_workload_identity(name=nxt)
    while tok:
        r = c.list_workload_identities(maxResults=10, nextToken=tok)
        seen += [i["name"] for i in r["workloadIdentities"]]
        tok = r.get("nextToken")
    assert len(seen) == len(set(seen)), f"duplicates: {seen}"
    expected_old = [n for n in base if n != nxt]
    for n in expected_old:
        assert n in seen, f"{n} was skipped: {seen}"
    # ordered by name across pages: items inserted before the cursor cannot show up later
    assert seen == sorted(seen), seen
