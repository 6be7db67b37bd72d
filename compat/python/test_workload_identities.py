"""Workload identities through boto3: Create/Get/Update/Delete/List."""

import time

from helpers import (ACCOUNT, REGION, expect_error, is_aware_datetime, list_all, near_now,
                     status_of, uname)

URLS = ["https://app.example.test/callback", "myapp://oauth/return"]


def wi_arn(name):
    return (f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:"
            f"workload-identity-directory/default/workload-identity/{name}")


def test_create_returns_name_arn_and_urls(client):
    name = uname("wi")
    resp = client.create_workload_identity(name=name, allowedResourceOauth2ReturnUrls=URLS,
                                           tags={"team": "blue"})
    assert status_of(resp) == 201
    assert resp["name"] == name
    assert resp["workloadIdentityArn"] == wi_arn(name)
    assert resp["allowedResourceOauth2ReturnUrls"] == URLS


def test_create_minimal_then_get(client):
    name = uname("wi")
    resp = client.create_workload_identity(name=name)
    assert status_of(resp) == 201
    assert resp["workloadIdentityArn"] == wi_arn(name)
    got = client.get_workload_identity(name=name)
    assert status_of(got) == 200
    assert got["name"] == name
    assert got["workloadIdentityArn"] == wi_arn(name)
    assert got.get("allowedResourceOauth2ReturnUrls", []) == []
    assert client.list_tags_for_resource(resourceArn=wi_arn(name)).get("tags", {}) == {}


def test_get_has_datetimes(client):
    name = uname("wi")
    client.create_workload_identity(name=name, allowedResourceOauth2ReturnUrls=URLS)
    got = client.get_workload_identity(name=name)
    assert got["allowedResourceOauth2ReturnUrls"] == URLS
    for k in ("createdTime", "lastUpdatedTime"):
        assert is_aware_datetime(got[k]), got[k]
        assert near_now(got[k]), got[k]
    assert got["createdTime"] <= got["lastUpdatedTime"]


def test_update_replaces_list_keeps_omitted_and_moves_time(client):
    name = uname("wi")
    client.create_workload_identity(name=name, allowedResourceOauth2ReturnUrls=URLS,
                                    tags={"k": "v"})
    before = client.get_workload_identity(name=name)
    time.sleep(1.2)
    new_urls = ["https://other.example.test/cb"]
    up = client.update_workload_identity(name=name, allowedResourceOauth2ReturnUrls=new_urls)
    assert status_of(up) == 200
    assert up["name"] == name
    assert up["workloadIdentityArn"] == wi_arn(name)
    assert up["allowedResourceOauth2ReturnUrls"] == new_urls
    assert up["createdTime"] == before["createdTime"]
    assert up["lastUpdatedTime"] > before["lastUpdatedTime"]
    got = client.get_workload_identity(name=name)
    assert got["allowedResourceOauth2ReturnUrls"] == new_urls
    assert got["createdTime"] == before["createdTime"]
    assert got["lastUpdatedTime"] > before["lastUpdatedTime"]

    # omitted list: kept
    up2 = client.update_workload_identity(name=name)
    assert status_of(up2) == 200
    assert client.get_workload_identity(name=name)["allowedResourceOauth2ReturnUrls"] == new_urls

    # tags are not touched by updates
    assert client.list_tags_for_resource(resourceArn=wi_arn(name))["tags"] == {"k": "v"}

    # an empty list replaces the stored list
    client.update_workload_identity(name=name, allowedResourceOauth2ReturnUrls=[])
    assert client.get_workload_identity(name=name).get("allowedResourceOauth2ReturnUrls", []) == []


def test_delete(client):
    name = uname("wi")
    client.create_workload_identity(name=name)
    resp = client.delete_workload_identity(name=name)
    assert status_of(resp) == 204
    expect_error(client.get_workload_identity, name=name, code="ResourceNotFoundException",
                 status=404)
    expect_error(client.delete_workload_identity, name=name, code="ResourceNotFoundException",
                 status=404)
    assert name not in [i["name"] for i in list_all(client, "list_workload_identities",
                                                    "workloadIdentities")]
    # the name can be used again
    assert status_of(client.create_workload_identity(name=name)) == 201


def test_list_contains_created(client):
    names = sorted(uname("wil") for _ in range(3))
    for n in names:
        client.create_workload_identity(name=n)
    items = list_all(client, "list_workload_identities", "workloadIdentities")
    by_name = {}
    for it in items:
        assert set(it) >= {"name", "workloadIdentityArn"}
        assert it["name"] not in by_name, f"duplicate {it['name']}"
        by_name[it["name"]] = it
    for n in names:
        assert by_name[n]["workloadIdentityArn"] == wi_arn(n)
    all_names = [i["name"] for i in items]
    assert all_names == sorted(all_names), "list is not ordered by name"


def test_duplicate_is_conflict_and_changes_nothing(client):
    name = uname("wi")
    client.create_workload_identity(name=name, allowedResourceOauth2ReturnUrls=URLS,
                                    tags={"a": "1"})
    before = client.get_workload_identity(name=name)
    expect_error(client.create_workload_identity, name=name,
                 allowedResourceOauth2ReturnUrls=["https://evil.example.test/"],
                 tags={"b": "2"}, code="ConflictException", status=409)
    after = client.get_workload_identity(name=name)
    for k in ("allowedResourceOauth2ReturnUrls", "createdTime", "lastUpdatedTime"):
        assert after[k] == before[k]
    assert client.list_tags_for_resource(resourceArn=wi_arn(name))["tags"] == {"a": "1"}


def test_unknown_name_is_not_found(client):
    name = uname("nope")
    for fn in (client.get_workload_identity, client.delete_workload_identity):
        expect_error(fn, name=name, code="ResourceNotFoundException", status=404)
    expect_error(client.update_workload_identity, name=name,
                 allowedResourceOauth2ReturnUrls=URLS, code="ResourceNotFoundException",
                 status=404)
    # a failed update does not create it
    expect_error(client.get_workload_identity, name=name, code="ResourceNotFoundException",
                 status=404)


def test_names_are_case_sensitive(client):
    base = uname("Case")
    client.create_workload_identity(name=base)
    expect_error(client.get_workload_identity, name=base.lower(),
                 code="ResourceNotFoundException", status=404)
    assert status_of(client.create_workload_identity(name=base.upper())) == 201


def test_name_with_dots_and_max_length(client):
    name = "wi.dot_under-" + uname("x")
    assert status_of(client.create_workload_identity(name=name)) == 201
    assert client.get_workload_identity(name=name)["name"] == name
    long_name = (uname("L") + "x" * 255)[:255]
    resp = client.create_workload_identity(name=long_name)
    assert resp["workloadIdentityArn"] == wi_arn(long_name)
    assert client.get_workload_identity(name=long_name)["name"] == long_name


def test_punctuation_only_names(client):
    for name in ("...", "-_-", ".a."):
        r = client.create_workload_identity(name=name, tags={"p": "q"})
        assert r["workloadIdentityArn"] == wi_arn(name)
        assert client.get_workload_identity(name=name)["name"] == name
        assert client.list_tags_for_resource(resourceArn=wi_arn(name))["tags"] == {"p": "q"}
        assert status_of(client.delete_workload_identity(name=name)) == 204
        expect_error(client.get_workload_identity, name=name, code="ResourceNotFoundException",
                     status=404)
