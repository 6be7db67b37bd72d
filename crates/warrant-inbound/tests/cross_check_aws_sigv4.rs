//! Cross-check against a real client signer: requests signed by `aws-sigv4`
//! (the signer inside the AWS SDK for Rust, default settings = what the SDK
//! uses for non-S3 services) must verify, and tampered ones must not.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings,
};
use aws_sigv4::sign::v4;
use http::{HeaderMap, HeaderValue};
use warrant_inbound::sigv4::{self, Expectation, RequestParts, SigV4Error};

const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const REGION: &str = "us-east-1";
const SERVICE: &str = "bedrock-agentcore";
const HOST: &str = "bedrock-agentcore.us-east-1.amazonaws.com";
/// 2025-06-01T10:20:30Z
const NOW: u64 = 1_748_773_230;

struct Signed {
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Signed {
    fn parts(&self) -> RequestParts<'_> {
        RequestParts {
            method: &self.method,
            raw_path: &self.path,
            raw_query: self.query.as_deref(),
            headers: &self.headers,
            body: &self.body,
        }
    }
}

/// Sign `method path_and_query` with aws-sigv4 and return the request as the
/// server would receive it (the HTTP client adds `Host` from the URI).
fn sdk_sign(
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    token: Option<&str>,
    settings: SigningSettings,
) -> Signed {
    let identity = Credentials::new(AKID, SECRET, token.map(str::to_owned), None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name(SERVICE)
        .time(UNIX_EPOCH + Duration::from_secs(NOW))
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let uri = format!("https://{HOST}{path_and_query}");
    let signable = SignableRequest::new(
        method,
        uri.as_str(),
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _signature) = sign(signable, &params).unwrap().into_parts();

    let mut builder = http::Request::builder().method(method).uri(&uri);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let mut request = builder.body(body.to_vec()).unwrap();
    instructions.apply_to_request_http1x(&mut request);

    let (parts, body) = request.into_parts();
    let mut headers = parts.headers;
    headers.insert("host", HeaderValue::from_static(HOST));
    Signed {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers,
        body,
    }
}

fn verify_at(req: &Signed, now: i64) -> Result<(), SigV4Error> {
    let parts = req.parts();
    let auth = sigv4::parse_authorization(&req.headers)?;
    sigv4::check_request(
        &auth,
        &parts,
        &Expectation {
            region: REGION,
            service: SERVICE,
            max_skew_secs: 900,
            now_unix: now,
        },
    )?;
    assert_eq!(auth.access_key_id, AKID);
    let key = sigv4::derive_signing_key(SECRET.as_bytes(), &auth.date, &auth.region, &auth.service);
    sigv4::verify_signature(&auth, &parts, &key)
}

fn verify(req: &Signed) -> Result<(), SigV4Error> {
    verify_at(req, NOW as i64)
}

const JSON: &[(&str, &str)] = &[("content-type", "application/json")];
const TOKEN_VAULT_PATH: &str =
    "/tags/arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A000000000000%3Atoken-vault%2Fdefault";

#[test]
fn post_json_body() {
    let body =
        br#"{"name":"my-agent","allowedResourceOauth2ReturnUrls":["https://example.com/cb"]}"#;
    let req = sdk_sign(
        "POST",
        "/identities/GetWorkloadIdentity",
        JSON,
        body,
        None,
        SigningSettings::default(),
    );
    verify(&req).unwrap();

    let mut tampered = req;
    tampered.body[10] ^= 1;
    assert_eq!(verify(&tampered), Err(SigV4Error::SignatureMismatch));
}

#[test]
fn post_json_with_x_amz_content_sha256() {
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let body = br#"{"name":"my-agent"}"#;
    let req = sdk_sign(
        "POST",
        "/identities/GetWorkloadIdentity",
        JSON,
        body,
        None,
        settings,
    );
    assert!(req.headers.contains_key("x-amz-content-sha256"));
    verify(&req).unwrap();

    let mut tampered = req;
    tampered.body.push(b' ');
    assert_eq!(verify(&tampered), Err(SigV4Error::PayloadHashMismatch));
}

#[test]
fn percent_encoded_arn_path_is_double_encoded() {
    let req = sdk_sign(
        "GET",
        TOKEN_VAULT_PATH,
        &[],
        b"",
        None,
        SigningSettings::default(),
    );
    assert_eq!(
        req.path, TOKEN_VAULT_PATH,
        "path reaches the server still encoded"
    );
    verify(&req).unwrap();

    // The decoded form of the same path is a different request.
    let mut decoded = sdk_sign(
        "GET",
        TOKEN_VAULT_PATH,
        &[],
        b"",
        None,
        SigningSettings::default(),
    );
    decoded.path =
        "/tags/arn:aws:bedrock-agentcore:us-east-1:000000000000:token-vault/default".into();
    assert_eq!(verify(&decoded), Err(SigV4Error::SignatureMismatch));
}

#[test]
fn delete_with_repeated_query_keys() {
    let pq = format!("{TOKEN_VAULT_PATH}?tagKeys=a&tagKeys=b%20c");
    let req = sdk_sign("DELETE", &pq, &[], b"", None, SigningSettings::default());
    assert_eq!(req.query.as_deref(), Some("tagKeys=a&tagKeys=b%20c"));
    verify(&req).unwrap();

    // Same pairs, other order: same canonical query.
    let mut reordered = sdk_sign("DELETE", &pq, &[], b"", None, SigningSettings::default());
    reordered.query = Some("tagKeys=b%20c&tagKeys=a".into());
    verify(&reordered).unwrap();

    let mut dropped = sdk_sign("DELETE", &pq, &[], b"", None, SigningSettings::default());
    dropped.query = Some("tagKeys=a".into());
    assert_eq!(verify(&dropped), Err(SigV4Error::SignatureMismatch));
}

#[test]
fn query_with_reserved_and_unicode_characters() {
    let pq =
        "/workload-identities?maxResults=10&nextToken=abc%2Bdef%2F%3D%3D&name=%E1%88%B4%20x&flag";
    let req = sdk_sign("GET", pq, &[], b"", None, SigningSettings::default());
    verify(&req).unwrap();
}

#[test]
fn path_with_encoded_space_and_unicode() {
    let req = sdk_sign(
        "GET",
        "/a%20b/%E1%88%B4/c~d",
        &[],
        b"",
        None,
        SigningSettings::default(),
    );
    verify(&req).unwrap();
}

#[test]
fn session_token_is_signed() {
    let req = sdk_sign(
        "POST",
        "/identities/GetWorkloadIdentity",
        JSON,
        b"{}",
        Some("FQoGZXIvYXdzEJr//////////wEaDOExampleSessionToken=="),
        SigningSettings::default(),
    );
    let auth = sigv4::parse_authorization(&req.headers).unwrap();
    assert!(auth
        .signed_headers
        .iter()
        .any(|h| h == "x-amz-security-token"));
    verify(&req).unwrap();

    let mut swapped = req;
    swapped.headers.insert(
        "x-amz-security-token",
        HeaderValue::from_static("another-token"),
    );
    assert_eq!(verify(&swapped), Err(SigV4Error::SignatureMismatch));
}

#[test]
fn extra_headers_with_spaces_and_repeats() {
    let headers = [
        ("content-type", "application/json"),
        ("x-amz-target", "  AgentCore.Op   With  Spaces  "),
        ("x-custom", "one"),
        ("x-custom", "two"),
        ("user-agent", "aws-sdk-rust/1.0"),
    ];
    let req = sdk_sign(
        "PUT",
        "/x",
        &headers,
        b"[]",
        None,
        SigningSettings::default(),
    );
    let auth = sigv4::parse_authorization(&req.headers).unwrap();
    assert!(!auth.signed_headers.iter().any(|h| h == "user-agent"));
    verify(&req).unwrap();

    let mut ua = sdk_sign(
        "PUT",
        "/x",
        &headers,
        b"[]",
        None,
        SigningSettings::default(),
    );
    ua.headers
        .insert("user-agent", HeaderValue::from_static("changed"));
    verify(&ua).unwrap();
}

#[test]
fn sdk_requests_respect_the_time_window() {
    let req = sdk_sign(
        "POST",
        "/identities/GetWorkloadIdentity",
        JSON,
        b"{}",
        None,
        SigningSettings::default(),
    );
    verify_at(&req, NOW as i64 + 900).unwrap();
    assert!(matches!(
        verify_at(&req, NOW as i64 + 901),
        Err(SigV4Error::Expired { .. })
    ));
    assert!(matches!(
        verify_at(&req, NOW as i64 - 901),
        Err(SigV4Error::NotYetCurrent { .. })
    ));
    // sanity: NOW is a real clock value for the SDK too
    assert!(SystemTime::UNIX_EPOCH + Duration::from_secs(NOW) < SystemTime::now());
}
