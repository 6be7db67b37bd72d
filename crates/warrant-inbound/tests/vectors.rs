//! AWS SigV4 signing test suite vectors (header-signed form), as shipped in
//! the `aws-signing-test-suite/v4` directory of the `aws-sigv4` crate
//! (smithy-rs), itself taken from the CRT suite (awslabs/aws-c-auth).
//!
//! Each `tests/vectors/<name>/` holds:
//! * `request.txt`: the signed request as on the wire, minus its
//!   `Authorization` line (the raw path is kept byte for byte, so some
//!   contain spaces or raw UTF-8);
//! * `authz.txt`: the `Authorization` header value the reference signer
//!   produced;
//! * `creq.txt`: the expected canonical request;
//! * `sts.txt` (where the suite has it): the expected string to sign;
//! * `secret.txt` (optional): the secret, if not the suite's usual one.
//!
//! Only the `normalize: true` vectors are used: we verify non-S3 services,
//! whose clients always normalise the path.
//!
//! Data fixes, all outside what is being tested:
//! * `double-encode-path` (a smithy-rs addition): the suite's canonical
//!   request carries smithy-rs's fixed unit-test time (`20210511T154045Z`)
//!   while its signed request says `20150830T123600Z`; `creq.txt` here uses
//!   the request's date. Its signature is by smithy-rs's test credentials
//!   (`secret.txt`).
//! * `double-url-encode`: the suite's string to sign ends with a newline that
//!   is not part of the string; `sts.txt` here has none.

use std::path::PathBuf;

use http::{HeaderMap, HeaderName, HeaderValue};
use warrant_inbound::sigv4::{self, Expectation, RequestParts, SigV4Error};

const DEFAULT_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// Every vector stored; each must be present and must pass.
const VECTORS: &[&str] = &[
    "double-encode-path",
    "double-url-encode",
    "get-header-key-duplicate",
    "get-header-value-multiline",
    "get-header-value-order",
    "get-header-value-trim",
    "get-relative-normalized",
    "get-relative-relative-normalized",
    "get-slash-dot-slash-normalized",
    "get-slash-normalized",
    "get-slash-pointless-dot-normalized",
    "get-slashes-normalized",
    "get-space-normalized",
    "get-unreserved",
    "get-utf8",
    "get-vanilla",
    "get-vanilla-empty-query-key",
    "get-vanilla-query",
    "get-vanilla-query-order-encoded",
    "get-vanilla-query-order-key-case",
    "get-vanilla-query-unreserved",
    "get-vanilla-utf8-query",
    "get-vanilla-with-session-token",
    "post-header-key-case",
    "post-header-key-sort",
    "post-header-value-case",
    "post-sts-header-after",
    "post-sts-header-before",
    "post-vanilla",
    "post-vanilla-empty-query-value",
    "post-vanilla-query",
    "post-x-www-form-urlencoded",
    "post-x-www-form-urlencoded-parameters",
];

struct RawRequest {
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl RawRequest {
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

/// Parse a raw HTTP/1.1 request roughly as an HTTP server would: header values
/// lose surrounding spaces/tabs, and an obs-fold (line break followed by
/// whitespace) is replaced by a single space, as RFC 9112 §5.2 lets a server
/// do. The request target is kept verbatim.
fn parse_request(raw: &[u8]) -> RawRequest {
    let (head, body) = match raw.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&raw[..i], raw[i + 2..].to_vec()),
        None => (raw, Vec::new()),
    };
    let head = std::str::from_utf8(head).expect("request head is UTF-8");
    let mut lines = head.split('\n');
    let request_line = lines.next().expect("request line");
    let (method, target) = request_line.split_once(' ').expect("method");
    // Targets may contain spaces; strip the version from the end (one vector omits it).
    let target = match target.rsplit_once(' ') {
        Some((t, version)) if version.starts_with("HTTP/") => t,
        _ => target,
    };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (target.to_owned(), None),
    };

    let mut fields: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            let last = fields.last_mut().expect("continuation after a header");
            last.1.push(' ');
            last.1.push_str(line.trim_matches([' ', '\t']));
        } else if !line.is_empty() {
            let (name, value) = line.split_once(':').expect("header colon");
            fields.push((name.to_owned(), value.trim_matches([' ', '\t']).to_owned()));
        }
    }
    let mut headers = HeaderMap::new();
    for (name, value) in fields {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(&value).expect("header value"),
        );
    }
    RawRequest {
        method: method.to_owned(),
        path,
        query,
        headers,
        body,
    }
}

fn unix_of(amz_date: &str) -> i64 {
    // Independent of the crate's own parser on purpose.
    match amz_date {
        "20150830T123600Z" => 1_440_938_160,
        "20210511T154045Z" => 1_620_747_645,
        other => panic!("add the unix time of {other}"),
    }
}

fn vector_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name)
}

fn read(name: &str, file: &str) -> Option<String> {
    std::fs::read_to_string(vector_dir(name).join(file)).ok()
}

/// Replace one hex digit of the Signature with another.
fn flip_signature_char(authz: &str, index_from_end: usize) -> String {
    let mut bytes = authz.as_bytes().to_vec();
    let i = bytes.len() - 1 - index_from_end;
    bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
    String::from_utf8(bytes).unwrap()
}

fn with_authz(req: &RawRequest, authz: &str) -> HeaderMap {
    let mut headers = req.headers.clone();
    headers.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(authz).unwrap(),
    );
    headers
}

fn run_vector(name: &str) {
    let raw = std::fs::read(vector_dir(name).join("request.txt"))
        .unwrap_or_else(|e| panic!("{name}: request.txt: {e}"));
    let req = parse_request(&raw);
    let creq = read(name, "creq.txt").unwrap_or_else(|| panic!("{name}: creq.txt"));
    let authz = read(name, "authz.txt").unwrap_or_else(|| panic!("{name}: authz.txt"));
    let authz = authz.trim_end();
    let secret =
        read(name, "secret.txt").map_or(DEFAULT_SECRET.to_owned(), |s| s.trim_end().to_owned());

    let headers = with_authz(&req, authz);
    let parts = RequestParts {
        headers: &headers,
        ..req.parts()
    };
    let auth = sigv4::parse_authorization(&headers).unwrap_or_else(|e| panic!("{name}: {e}"));

    // 1. canonical request, byte for byte
    let ours = sigv4::canonical_request(&auth.signed_headers, &parts)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(ours, creq, "{name}: canonical request");

    // 2. string to sign
    let amz_date = headers["x-amz-date"].to_str().unwrap();
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let sts = sigv4::string_to_sign(amz_date, &scope, &ours);
    if let Some(expected) = read(name, "sts.txt") {
        assert_eq!(sts, expected, "{name}: string to sign");
    }

    // 3. cheap checks pass at the signing time and within the window
    for drift in [0, 899, -899] {
        let exp = Expectation {
            region: &auth.region,
            service: &auth.service,
            max_skew_secs: 900,
            now_unix: unix_of(amz_date) + drift,
        };
        sigv4::check_request(&auth, &parts, &exp).unwrap_or_else(|e| panic!("{name}: {e}"));
    }

    // 4. the reference signature verifies
    let key = sigv4::derive_signing_key(secret.as_bytes(), &auth.date, &auth.region, &auth.service);
    sigv4::verify_signature(&auth, &parts, &key).unwrap_or_else(|e| panic!("{name}: {e}"));

    // 5. one flipped signature character (first or last) fails
    for index_from_end in [0, 63] {
        let bad = flip_signature_char(authz, index_from_end);
        assert_ne!(bad, authz);
        let bad_headers = with_authz(&req, &bad);
        let bad_auth = sigv4::parse_authorization(&bad_headers).unwrap();
        let bad_parts = RequestParts {
            headers: &bad_headers,
            ..req.parts()
        };
        assert_eq!(
            sigv4::verify_signature(&bad_auth, &bad_parts, &key),
            Err(SigV4Error::SignatureMismatch),
            "{name}: flipped signature must fail"
        );
    }

    // 6. a wrong secret fails
    let wrong =
        sigv4::derive_signing_key(b"not-the-secret", &auth.date, &auth.region, &auth.service);
    assert_eq!(
        sigv4::verify_signature(&auth, &parts, &wrong),
        Err(SigV4Error::SignatureMismatch),
        "{name}: wrong key must fail"
    );

    // 7. a different body fails (payload hash is always signed)
    let mut body = req.body.clone();
    body.push(b'!');
    let tampered = RequestParts {
        body: &body,
        ..parts
    };
    assert!(
        sigv4::verify_signature(&auth, &tampered, &key).is_err(),
        "{name}: tampered body must fail"
    );
}

#[test]
fn aws_sigv4_test_suite() {
    let mut failures = Vec::new();
    for name in VECTORS {
        if let Err(panic) = std::panic::catch_unwind(|| run_vector(name)) {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{name}: {msg}"));
        }
    }
    assert!(
        failures.is_empty(),
        "failing vectors:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_stored_vector_is_listed() {
    let mut stored: Vec<String> =
        std::fs::read_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
    stored.sort();
    let mut listed: Vec<String> = VECTORS.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(stored, listed);
}

#[test]
fn get_vanilla_anchor_signature() {
    let authz = read("get-vanilla", "authz.txt").unwrap();
    assert!(authz
        .contains("Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"));
}
