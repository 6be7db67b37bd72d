use std::collections::{BTreeSet, HashSet};

use aws_sdk_bedrockagentcorecontrol::error::ProvideErrorMetadata;

use crate::harness::*;

#[tokio::test]
async fn workload_identity_crud() {
    let server = Server::start();
    let client = server.client();
    let name = "wi-compat.alpha_1";

    let created = must(
        client
            .create_workload_identity()
            .name(name)
            .allowed_resource_oauth2_return_urls("https://app.example.com/oauth/return")
            .allowed_resource_oauth2_return_urls("myapp://callback")
            .tags("team", "compat")
            .tags("env", "test")
            .send()
            .await,
        "CreateWorkloadIdentity",
    );
    assert_eq!(created.name(), name);
    assert_eq!(created.workload_identity_arn(), wi_arn(name));
    assert_eq!(
        created.allowed_resource_oauth2_return_urls(),
        ["https://app.example.com/oauth/return", "myapp://callback"]
    );

    let got = must(
        client.get_workload_identity().name(name).send().await,
        "GetWorkloadIdentity",
    );
    assert_eq!(got.name(), name);
    assert_eq!(got.workload_identity_arn(), wi_arn(name));
    assert_eq!(
        got.allowed_resource_oauth2_return_urls(),
        ["https://app.example.com/oauth/return", "myapp://callback"]
    );
    let created_secs = got.created_time().secs();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (now - created_secs).abs() < 300,
        "createdTime {created_secs} is not close to now {now} (epoch seconds expected)"
    );
    assert!(got.last_updated_time().secs() >= created_secs);

    // Tags given on create are visible through ListTagsForResource.
    let tags_out = must(
        client
            .list_tags_for_resource()
            .resource_arn(wi_arn(name))
            .send()
            .await,
        "ListTagsForResource",
    );
    assert_eq!(
        tags_out.tags().cloned().unwrap_or_default(),
        tags(&[("team", "compat"), ("env", "test")])
    );

    // A given list replaces the stored list.
    let updated = must(
        client
            .update_workload_identity()
            .name(name)
            .allowed_resource_oauth2_return_urls("https://new.example.com/return")
            .send()
            .await,
        "UpdateWorkloadIdentity (new list)",
    );
    assert_eq!(updated.name(), name);
    assert_eq!(updated.workload_identity_arn(), wi_arn(name));
    assert_eq!(
        updated.allowed_resource_oauth2_return_urls(),
        ["https://new.example.com/return"]
    );
    assert_eq!(updated.created_time().secs(), created_secs);
    assert!(updated.last_updated_time().secs() >= created_secs);
    let got = must(
        client.get_workload_identity().name(name).send().await,
        "GetWorkloadIdentity after update",
    );
    assert_eq!(
        got.allowed_resource_oauth2_return_urls(),
        ["https://new.example.com/return"]
    );

    // Leaving the member out keeps the stored list.
    let updated = must(
        client.update_workload_identity().name(name).send().await,
        "UpdateWorkloadIdentity (no list)",
    );
    assert_eq!(
        updated.allowed_resource_oauth2_return_urls(),
        ["https://new.example.com/return"]
    );

    // An explicit empty list clears it.
    let updated = must(
        client
            .update_workload_identity()
            .name(name)
            .set_allowed_resource_oauth2_return_urls(Some(vec![]))
            .send()
            .await,
        "UpdateWorkloadIdentity (empty list)",
    );
    assert!(updated.allowed_resource_oauth2_return_urls().is_empty());
    let got = must(
        client.get_workload_identity().name(name).send().await,
        "GetWorkloadIdentity after clearing",
    );
    assert!(got.allowed_resource_oauth2_return_urls().is_empty());

    // Create without optional members.
    let bare = must(
        client
            .create_workload_identity()
            .name("wi-bare")
            .send()
            .await,
        "CreateWorkloadIdentity (bare)",
    );
    assert!(bare.allowed_resource_oauth2_return_urls().is_empty());

    // Delete, then every operation on the name is ResourceNotFound.
    must(
        client.delete_workload_identity().name(name).send().await,
        "DeleteWorkloadIdentity",
    );
    let (err, status) = service_error(
        client.get_workload_identity().name(name).send().await,
        "GetWorkloadIdentity after delete",
    );
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    assert_eq!(status, 404);
    let (err, _) = service_error(
        client.delete_workload_identity().name(name).send().await,
        "DeleteWorkloadIdentity twice",
    );
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    let (err, _) = service_error(
        client
            .update_workload_identity()
            .name(name)
            .allowed_resource_oauth2_return_urls("https://x.example.com/")
            .send()
            .await,
        "UpdateWorkloadIdentity after delete",
    );
    assert!(err.is_resource_not_found_exception(), "{err:?}");

    // The deleted name can be created again.
    must(
        client.create_workload_identity().name(name).send().await,
        "re-CreateWorkloadIdentity",
    );

    server.recorder.assert_all_have_request_id();
    server.shutdown();
}

#[tokio::test]
async fn workload_identity_pagination() {
    let server = Server::start();
    let client = server.client();

    let names: Vec<String> = (0..25).map(|i| format!("page-wi-{i:02}")).collect();
    // Create in reverse order so ordering by name is not creation order.
    for n in names.iter().rev() {
        must(
            client.create_workload_identity().name(n).send().await,
            "CreateWorkloadIdentity",
        );
    }

    // Manual paging with maxResults 10: 10 + 10 + 5, each name exactly once.
    let mut seen: Vec<String> = Vec::new();
    let mut page_sizes = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = must(
            client
                .list_workload_identities()
                .max_results(10)
                .set_next_token(token.clone())
                .send()
                .await,
            "ListWorkloadIdentities",
        );
        page_sizes.push(page.workload_identities().len());
        for wi in page.workload_identities() {
            assert_eq!(wi.workload_identity_arn(), wi_arn(wi.name()));
            seen.push(wi.name().to_string());
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
        assert!(page_sizes.len() < 10, "pagination does not terminate");
    }
    assert_eq!(page_sizes, [10, 10, 5], "page sizes");
    assert_eq!(seen, names, "all names once, ordered by name");

    // Default page size is the model maximum (20).
    let first = must(
        client.list_workload_identities().send().await,
        "ListWorkloadIdentities (default page size)",
    );
    assert_eq!(first.workload_identities().len(), 20);
    assert!(first.next_token().is_some());

    // The SDK paginator walks everything.
    let all = client
        .list_workload_identities()
        .into_paginator()
        .page_size(7)
        .items()
        .send()
        .try_collect()
        .await;
    let all = must(all, "ListWorkloadIdentities paginator");
    let via_paginator: Vec<String> = all.iter().map(|w| w.name().to_string()).collect();
    assert_eq!(via_paginator, names);

    // Stable under inserts: names inserted behind and ahead of the cursor.
    let page1 = must(
        client
            .list_workload_identities()
            .max_results(10)
            .send()
            .await,
        "ListWorkloadIdentities page 1",
    );
    let mut seen: Vec<String> = page1
        .workload_identities()
        .iter()
        .map(|w| w.name().to_string())
        .collect();
    must(
        client
            .create_workload_identity()
            .name("page-wi-05a")
            .send()
            .await,
        "insert behind cursor",
    );
    must(
        client
            .create_workload_identity()
            .name("page-wi-15a")
            .send()
            .await,
        "insert ahead of cursor",
    );
    let mut token = page1.next_token().map(str::to_string);
    while let Some(t) = token {
        let page = must(
            client
                .list_workload_identities()
                .max_results(10)
                .next_token(t)
                .send()
                .await,
            "ListWorkloadIdentities after insert",
        );
        seen.extend(
            page.workload_identities()
                .iter()
                .map(|w| w.name().to_string()),
        );
        token = page.next_token().map(str::to_string);
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "duplicates after insert: {seen:?}"
    );
    let seen_set: BTreeSet<&str> = seen.iter().map(String::as_str).collect();
    for n in &names {
        assert!(
            seen_set.contains(n.as_str()),
            "{n} skipped after insert: {seen:?}"
        );
    }
    assert!(
        seen_set.contains("page-wi-15a"),
        "name inserted ahead of the cursor not returned: {seen:?}"
    );

    // Out-of-range maxResults and malformed nextToken are ValidationException.
    for bad in [0, 21] {
        let (err, status) = service_error(
            client
                .list_workload_identities()
                .max_results(bad)
                .send()
                .await,
            "ListWorkloadIdentities bad maxResults",
        );
        assert!(err.is_validation_exception(), "maxResults {bad}: {err:?}");
        assert_eq!(status, 400);
    }
    let (err, _) = service_error(
        client
            .list_workload_identities()
            .next_token("definitely-not-a-token")
            .send()
            .await,
        "ListWorkloadIdentities malformed nextToken",
    );
    assert!(err.is_validation_exception(), "{err:?}");
    assert!(err.message().is_some_and(|m| !m.is_empty()));

    server.shutdown();
}
