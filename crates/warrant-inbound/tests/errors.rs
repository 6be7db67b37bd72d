//! One test per failure mode, plus the "must still pass" cases. Requests are
//! signed here with the crate's own canonical request + HMAC (the vectors and
//! the aws-sigv4 cross-check establish that those are right).

use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use sha2::Sha256;
use warrant_inbound::sigv4::{self, Expectation, RequestParts, SigV4Error};

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const REGION: &str = "us-east-1";
const SERVICE: &str = "bedrock-agentcore";
const AMZ_DATE: &str = "20150830T123600Z";
/// 2015-08-30T12:36:00Z
const SIGNED_AT: i64 = 1_440_938_160;
const MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

#[derive(Clone)]
struct Req {
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Req {
    fn post_json() -> Self {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("localhost:8080"));
        headers.insert("x-amz-date", HeaderValue::from_static(AMZ_DATE));
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/x-amz-json-1.0"),
        );
        headers.insert("user-agent", HeaderValue::from_static("Boto3/1.35.0"));
        Req {
            method: "POST".into(),
            path: "/identities/GetWorkloadIdentity".into(),
            query: None,
            headers,
            body: br#"{"name":"agent-1"}"#.to_vec(),
        }
    }

    fn parts(&self) -> RequestParts<'_> {
        RequestParts {
            method: &self.method,
            raw_path: &self.path,
            raw_query: self.query.as_deref(),
            headers: &self.headers,
            body: &self.body,
        }
    }

    fn set(&mut self, name: &'static str, value: &str) {
        self.headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).unwrap(),
        );
    }

    /// Sign with an explicit credential scope and signed-header list.
    fn sign_as(&mut self, signed: &[&str], scope_date: &str, region: &str, service: &str) {
        let signed: Vec<String> = signed.iter().map(|s| s.to_string()).collect();
        let creq = sigv4::canonical_request(&signed, &self.parts()).unwrap();
        let amz_date = self.headers["x-amz-date"].to_str().unwrap().to_owned();
        let scope = format!("{scope_date}/{region}/{service}/aws4_request");
        let sts = sigv4::string_to_sign(&amz_date, &scope, &creq);
        let key = sigv4::derive_signing_key(SECRET.as_bytes(), scope_date, region, service);
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(sts.as_bytes());
        let sig = hex::encode(mac.finalize().into_bytes());
        let authz = format!(
            "AWS4-HMAC-SHA256 Credential={AKID}/{scope}, SignedHeaders={}, Signature={sig}",
            signed.join(";")
        );
        self.set("authorization", &authz);
    }

    fn sign(&mut self) {
        self.sign_as(
            &["content-type", "host", "x-amz-date"],
            &AMZ_DATE[..8],
            REGION,
            SERVICE,
        );
    }

    fn signed() -> Self {
        let mut r = Self::post_json();
        r.sign();
        r
    }
}

fn expectation(now: i64) -> Expectation<'static> {
    Expectation {
        region: REGION,
        service: SERVICE,
        max_skew_secs: 900,
        now_unix: now,
    }
}

/// The full pipeline as the HTTP layer runs it.
fn verify_at(req: &Req, now: i64) -> Result<(), SigV4Error> {
    let parts = req.parts();
    let auth = sigv4::parse_authorization(&req.headers)?;
    sigv4::check_request(&auth, &parts, &expectation(now))?;
    let key = sigv4::derive_signing_key(SECRET.as_bytes(), &auth.date, &auth.region, &auth.service);
    sigv4::verify_signature(&auth, &parts, &key)
}

fn verify(req: &Req) -> Result<(), SigV4Error> {
    verify_at(req, SIGNED_AT)
}

fn with_authz(authz: &str) -> Req {
    let mut r = Req::post_json();
    r.set("authorization", authz);
    r
}

const GOOD_CRED: &str = "Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock-agentcore/aws4_request";
const GOOD_SH: &str = "SignedHeaders=host;x-amz-date";
const GOOD_SIG: &str = "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

fn assert_kind(result: Result<(), SigV4Error>, expected: &SigV4Error, aws_type: &str) {
    let err = result.expect_err("must fail");
    assert_eq!(&err, expected);
    assert_eq!(err.aws_error_type(), aws_type, "{err}");
    assert_safe(&err);
}

/// No message may ever carry the secret or a signing key.
fn assert_safe(err: &SigV4Error) {
    let msg = err.message();
    assert_eq!(msg, err.to_string());
    assert!(!msg.contains(SECRET));
    let key = sigv4::derive_signing_key(SECRET.as_bytes(), &AMZ_DATE[..8], REGION, SERVICE);
    assert!(!msg.contains(&hex::encode(key)));
    assert!(!msg.contains(&hex::encode_upper(key)));
}

#[test]
fn happy_path() {
    verify(&Req::signed()).unwrap();
}

#[test]
fn missing_authorization_header() {
    let req = Req::post_json();
    assert_kind(
        verify(&req),
        &SigV4Error::MissingAuthorization,
        "MissingAuthenticationTokenException",
    );
}

#[test]
fn malformed_authorization_variants() {
    use SigV4Error::*;
    let cases: Vec<(String, SigV4Error)> = vec![
        ("AWS4-HMAC-SHA256".into(), MissingAuthorizationParam("Credential")),
        ("".into(), UnsupportedAlgorithm),
        ("Bearer abc".into(), UnsupportedAlgorithm),
        (format!("AWS4-HMAC-SHA512 {GOOD_CRED}, {GOOD_SH}, {GOOD_SIG}"), UnsupportedAlgorithm),
        (format!("AWS4-ECDSA-P256-SHA256 {GOOD_CRED}, {GOOD_SH}, {GOOD_SIG}"), UnsupportedAlgorithm),
        (format!("aws4-hmac-sha256 {GOOD_CRED}, {GOOD_SH}, {GOOD_SIG}"), UnsupportedAlgorithm),
        (format!("AWS4-HMAC-SHA256 {GOOD_SH}, {GOOD_SIG}"), MissingAuthorizationParam("Credential")),
        (format!("AWS4-HMAC-SHA256 {GOOD_CRED}, {GOOD_SIG}"), MissingAuthorizationParam("SignedHeaders")),
        (format!("AWS4-HMAC-SHA256 {GOOD_CRED}, {GOOD_SH}"), MissingAuthorizationParam("Signature")),
        (format!("AWS4-HMAC-SHA256 {GOOD_CRED}, {GOOD_SH}, {GOOD_SIG}, {GOOD_SIG}"), MalformedAuthorization("repeated parameter")),
        (format!("AWS4-HMAC-SHA256 {GOOD_CRED}, {GOOD_SH}, {GOOD_SIG}, Foo=bar"), MalformedAuthorization("unknown parameter")),
        (format!("AWS4-HMAC-SHA256 {GOOD_CRED}, {GOOD_SH}, Signature"), MalformedAuthorization("parameter without '='")),
        // credential scope shape
        (format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/aws4_request, {GOOD_SH}, {GOOD_SIG}"), MalformedCredential),
        (format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/svc/aws4_request/x, {GOOD_SH}, {GOOD_SIG}"), MalformedCredential),
        (format!("AWS4-HMAC-SHA256 Credential=/20150830/us-east-1/svc/aws4_request, {GOOD_SH}, {GOOD_SIG}"), MalformedCredential),
        (format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830//svc/aws4_request, {GOOD_SH}, {GOOD_SIG}"), MalformedCredential),
        (format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2015083/us-east-1/svc/aws4_request, {GOOD_SH}, {GOOD_SIG}"), MalformedCredential),
        (format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2015-830/us-east-1/svc/aws4_request, {GOOD_SH}, {GOOD_SIG}"), MalformedCredential),
        (format!("AWS4-HMAC-SHA256 Credential=, {GOOD_SH}, {GOOD_SIG}"), MalformedCredential),
        // signed headers
        (format!("AWS4-HMAC-SHA256 {GOOD_CRED}, SignedHeaders=Host;x-amz-date, {GOOD_SIG}"), MalformedSignedHeaders),
        (format!("AWS4-HMAC-SHA256 {GOOD_CRED}, SignedHeaders=host;;x-amz-date, {GOOD_SIG}"), MalformedSignedHeaders),
        (format!("AWS4-HMAC-SHA256 {GOOD_CRED}, SignedHeaders=, {GOOD_SIG}"), MalformedSignedHeaders),
        // signature
        (format!("AWS4-HMAC-SHA256 {GOOD_CRED}, {GOOD_SH}, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf3"), MalformedSignature),
        (format!("AWS4-HMAC-SHA256 {GOOD_CRED}, {GOOD_SH}, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf311"), MalformedSignature),
        (format!("AWS4-HMAC-SHA256 {GOOD_CRED}, {GOOD_SH}, Signature=zfa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"), MalformedSignature),
        (format!("AWS4-HMAC-SHA256 {GOOD_CRED}, {GOOD_SH}, Signature="), MalformedSignature),
    ];
    for (authz, expected) in cases {
        let err = sigv4::parse_authorization(&with_authz(&authz).headers).expect_err(&authz);
        assert_eq!(err, expected, "{authz}");
        assert_eq!(
            err.aws_error_type(),
            "IncompleteSignatureException",
            "{authz}"
        );
        assert_safe(&err);
    }
}

#[test]
fn parse_accepts_both_client_spellings() {
    // botocore / aws-sigv4 write ", "; be lenient about the spacing and order.
    for authz in [
        format!("AWS4-HMAC-SHA256 {GOOD_CRED}, {GOOD_SH}, {GOOD_SIG}"),
        format!("AWS4-HMAC-SHA256 {GOOD_CRED},{GOOD_SH},{GOOD_SIG}"),
        format!("AWS4-HMAC-SHA256  {GOOD_SIG}, {GOOD_CRED},  {GOOD_SH} "),
    ] {
        let auth = sigv4::parse_authorization(&with_authz(&authz).headers).unwrap();
        assert_eq!(auth.access_key_id, "AKIDEXAMPLE");
        assert_eq!(auth.date, "20150830");
        assert_eq!(auth.region, "us-east-1");
        assert_eq!(auth.service, "bedrock-agentcore");
        assert_eq!(auth.signed_headers, ["host", "x-amz-date"]);
        assert_eq!(auth.signature[0], 0x5f);
        assert_eq!(auth.signature[31], 0x31);
    }
}

#[test]
fn two_authorization_headers_are_refused() {
    let mut req = Req::signed();
    let authz = req.headers["authorization"].clone();
    req.headers.append("authorization", authz);
    assert_kind(
        verify(&req),
        &SigV4Error::MalformedAuthorization("more than one Authorization header"),
        "IncompleteSignatureException",
    );
}

#[test]
fn non_ascii_authorization_is_incomplete() {
    let mut req = Req::post_json();
    req.headers.insert(
        "authorization",
        HeaderValue::from_bytes(b"AWS4-HMAC-SHA256 Credential=\xff").unwrap(),
    );
    let err = sigv4::parse_authorization(&req.headers).unwrap_err();
    assert_eq!(err.aws_error_type(), "IncompleteSignatureException");
}

#[test]
fn bad_terminator_is_invalid_signature() {
    let authz = format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock-agentcore/aws5_request, {GOOD_SH}, {GOOD_SIG}"
    );
    let err = sigv4::parse_authorization(&with_authz(&authz).headers).unwrap_err();
    assert_eq!(err, SigV4Error::BadTerminator);
    assert_eq!(err.aws_error_type(), "InvalidSignatureException");
}

#[test]
fn expired() {
    let req = Req::signed();
    // 20 minutes later with a 15 minute window: the AWS example message.
    let err = verify_at(&req, SIGNED_AT + 20 * 60).unwrap_err();
    assert_eq!(err.aws_error_type(), "InvalidSignatureException");
    assert_eq!(
        err.message(),
        "Signature expired: 20150830T123600Z is now earlier than 20150830T124100Z (20150830T125600Z - 15 min.)"
    );
    assert_safe(&err);
}

#[test]
fn window_is_inclusive_at_the_edges() {
    let req = Req::signed();
    verify_at(&req, SIGNED_AT + 900).unwrap();
    verify_at(&req, SIGNED_AT - 900).unwrap();
    assert!(matches!(
        verify_at(&req, SIGNED_AT + 901),
        Err(SigV4Error::Expired { .. })
    ));
    assert!(matches!(
        verify_at(&req, SIGNED_AT - 901),
        Err(SigV4Error::NotYetCurrent { .. })
    ));
}

#[test]
fn not_yet_current() {
    let req = Req::signed();
    let err = verify_at(&req, SIGNED_AT - 25 * 60).unwrap_err();
    assert_eq!(err.aws_error_type(), "InvalidSignatureException");
    assert_eq!(
        err.message(),
        "Signature not yet current: 20150830T123600Z is still later than 20150830T122600Z (20150830T121100Z + 15 min.)"
    );
}

#[test]
fn skew_not_in_whole_minutes_and_absurd_clocks() {
    let req = Req::signed();
    let parts = req.parts();
    let auth = sigv4::parse_authorization(&req.headers).unwrap();
    let exp = Expectation {
        max_skew_secs: 90,
        ..expectation(SIGNED_AT + 91)
    };
    let err = sigv4::check_request(&auth, &parts, &exp).unwrap_err();
    assert!(
        err.message().ends_with("(20150830T123731Z - 90 sec.)"),
        "{err}"
    );
    // Extreme values must not overflow or panic.
    for now in [i64::MIN, i64::MAX, 0] {
        let exp = Expectation {
            max_skew_secs: u64::MAX,
            ..expectation(now)
        };
        let _ = sigv4::check_request(&auth, &parts, &exp);
        let exp = Expectation {
            max_skew_secs: 0,
            ..expectation(now)
        };
        assert!(sigv4::check_request(&auth, &parts, &exp).is_err());
    }
}

#[test]
fn wrong_region() {
    let mut req = Req::post_json();
    req.sign_as(&["host", "x-amz-date"], "20150830", "us-west-2", SERVICE);
    let err = verify(&req).unwrap_err();
    assert_eq!(err, SigV4Error::WrongRegion);
    assert_eq!(err.aws_error_type(), "InvalidSignatureException");
    assert_eq!(
        err.message(),
        "Credential should be scoped to a valid region."
    );
}

#[test]
fn wrong_service() {
    let mut req = Req::post_json();
    req.sign_as(&["host", "x-amz-date"], "20150830", REGION, "sts");
    let err = verify(&req).unwrap_err();
    assert_eq!(err.aws_error_type(), "InvalidSignatureException");
    assert_eq!(
        err.message(),
        "Credential should be scoped to correct service: 'bedrock-agentcore'."
    );
}

#[test]
fn host_not_signed() {
    let mut req = Req::post_json();
    req.sign_as(&["content-type", "x-amz-date"], "20150830", REGION, SERVICE);
    assert_kind(
        verify(&req),
        &SigV4Error::HostNotSigned,
        "IncompleteSignatureException",
    );
}

#[test]
fn date_not_signed() {
    let mut req = Req::post_json();
    req.sign_as(&["content-type", "host"], "20150830", REGION, SERVICE);
    assert_kind(
        verify(&req),
        &SigV4Error::DateNotSigned,
        "IncompleteSignatureException",
    );
}

#[test]
fn missing_x_amz_date_header() {
    let mut req = Req::signed();
    req.headers.remove("x-amz-date");
    assert_kind(
        verify(&req),
        &SigV4Error::MissingDateHeader,
        "IncompleteSignatureException",
    );
    // verify_signature on its own also refuses rather than guessing.
    let auth = sigv4::parse_authorization(&req.headers).unwrap();
    let key = sigv4::derive_signing_key(SECRET.as_bytes(), &auth.date, REGION, SERVICE);
    assert_eq!(
        sigv4::verify_signature(&auth, &req.parts(), &key),
        Err(SigV4Error::MissingDateHeader)
    );
}

#[test]
fn malformed_x_amz_date() {
    for bad in [
        "2015-08-30T12:36:00Z",
        "20150830T123600",
        "20150230T123600Z",
        "Sun, 30 Aug 2015 12:36:00 GMT",
    ] {
        let mut req = Req::signed();
        req.set("x-amz-date", bad);
        assert_kind(
            verify(&req),
            &SigV4Error::MalformedDate,
            "IncompleteSignatureException",
        );
    }
}

#[test]
fn signed_header_absent_from_request() {
    let mut req = Req::post_json();
    req.set("x-amz-target", "AgentCore.GetWorkloadIdentity");
    req.sign_as(
        &["content-type", "host", "x-amz-date", "x-amz-target"],
        "20150830",
        REGION,
        SERVICE,
    );
    verify(&req).unwrap();
    req.headers.remove("x-amz-target");
    let expected = SigV4Error::SignedHeaderAbsent("x-amz-target".into());
    assert_kind(verify(&req), &expected, "IncompleteSignatureException");
    // verify_signature alone reports it too
    let auth = sigv4::parse_authorization(&req.headers).unwrap();
    let key = sigv4::derive_signing_key(SECRET.as_bytes(), &auth.date, REGION, SERVICE);
    assert_eq!(
        sigv4::verify_signature(&auth, &req.parts(), &key),
        Err(expected)
    );
}

#[test]
fn tampered_body() {
    let mut req = Req::signed();
    req.body = br#"{"name":"agent-2"}"#.to_vec();
    let err = verify(&req).unwrap_err();
    assert_eq!(err, SigV4Error::SignatureMismatch);
    assert_eq!(err.aws_error_type(), "InvalidSignatureException");
    assert_eq!(err.message(), MISMATCH);
}

#[test]
fn tampered_signed_header_value() {
    let mut req = Req::signed();
    req.set("content-type", "application/json");
    assert_kind(
        verify(&req),
        &SigV4Error::SignatureMismatch,
        "InvalidSignatureException",
    );
    // an extra value for a signed header is a change too
    let mut req = Req::signed();
    req.headers
        .append("content-type", HeaderValue::from_static("text/plain"));
    assert_eq!(verify(&req), Err(SigV4Error::SignatureMismatch));
}

#[test]
fn tampered_method_path_query() {
    let mut req = Req::signed();
    req.method = "PUT".into();
    assert_eq!(verify(&req), Err(SigV4Error::SignatureMismatch));

    let mut req = Req::signed();
    req.path = "/identities/DeleteWorkloadIdentity".into();
    assert_eq!(verify(&req), Err(SigV4Error::SignatureMismatch));

    let mut req = Req::signed();
    req.query = Some("a=b".into());
    assert_eq!(verify(&req), Err(SigV4Error::SignatureMismatch));
}

#[test]
fn equivalent_forms_still_verify() {
    // Whitespace a proxy may add around / inside a signed header value and
    // an equivalent encoding of the query do not change the canonical form.
    let mut req = Req::post_json();
    req.query = Some("b=2&a=1".into());
    req.sign();
    req.set("content-type", "application/x-amz-json-1.0  ");
    req.query = Some("a=%31&b=2".into());
    verify(&req).unwrap();
}

#[test]
fn unsigned_header_change_still_passes() {
    let mut req = Req::signed();
    req.set("user-agent", "something/else");
    req.set("x-amzn-trace-id", "Root=1-abc");
    req.set("x-amz-security-token", "unsigned-token");
    verify(&req).unwrap();
}

#[test]
fn content_sha256_header() {
    // signed and correct: passes
    let mut req = Req::post_json();
    let body_hash = hex::encode(<Sha256 as sha2::Digest>::digest(&req.body));
    req.set("x-amz-content-sha256", &body_hash);
    req.sign_as(
        &["content-type", "host", "x-amz-content-sha256", "x-amz-date"],
        "20150830",
        REGION,
        SERVICE,
    );
    verify(&req).unwrap();

    // body changed: the header no longer matches
    let mut tampered = req.clone();
    tampered.body.push(b' ');
    assert_kind(
        verify(&tampered),
        &SigV4Error::PayloadHashMismatch,
        "InvalidSignatureException",
    );

    // header changed to another (well-formed) hash
    let mut other = req.clone();
    other.set("x-amz-content-sha256", &"0".repeat(64));
    assert_eq!(verify(&other), Err(SigV4Error::PayloadHashMismatch));

    // present but unsigned and wrong: still refused
    let mut unsigned = Req::signed();
    unsigned.set("x-amz-content-sha256", &"a".repeat(64));
    assert_eq!(verify(&unsigned), Err(SigV4Error::PayloadHashMismatch));

    // unsigned payload modes are refused
    for mode in [
        "UNSIGNED-PAYLOAD",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
    ] {
        let mut r = Req::post_json();
        r.set("x-amz-content-sha256", mode);
        // Refused before any signature comparison, whatever the signature.
        r.set(
            "authorization",
            &format!("AWS4-HMAC-SHA256 {GOOD_CRED}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, {GOOD_SIG}"),
        );
        assert_kind(
            verify(&r),
            &SigV4Error::UnsignedPayload,
            "InvalidSignatureException",
        );
    }
}

#[test]
fn scope_date_differs_from_x_amz_date() {
    let mut req = Req::post_json();
    req.sign_as(&["host", "x-amz-date"], "20150829", REGION, SERVICE);
    let err = verify(&req).unwrap_err();
    assert_eq!(err.aws_error_type(), "InvalidSignatureException");
    assert_eq!(
        err,
        SigV4Error::DateScopeMismatch {
            scope_date: "20150829".into(),
            amz_day: "20150830".into(),
            amz_date: AMZ_DATE.into(),
        }
    );
    assert!(err.message().contains("'20150829' != '20150830'"));
}

#[test]
fn wrong_secret() {
    let req = Req::signed();
    let auth = sigv4::parse_authorization(&req.headers).unwrap();
    let key = sigv4::derive_signing_key(
        b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ",
        &auth.date,
        REGION,
        SERVICE,
    );
    assert_eq!(
        sigv4::verify_signature(&auth, &req.parts(), &key),
        Err(SigV4Error::SignatureMismatch)
    );
}

/// The comparison must look at every byte: a signature wrong only in its
/// first byte, only in its last byte, or everywhere is refused the same way
/// (the comparison itself is `subtle::ConstantTimeEq`, which has no early exit).
#[test]
fn constant_time_compare_path() {
    let req = Req::signed();
    let good = sigv4::parse_authorization(&req.headers).unwrap();
    let key = sigv4::derive_signing_key(SECRET.as_bytes(), &good.date, REGION, SERVICE);
    sigv4::verify_signature(&good, &req.parts(), &key).unwrap();
    for (i, bit) in [
        (0usize, 0x80u8),
        (0, 0x01),
        (15, 0x10),
        (31, 0x01),
        (31, 0x80),
    ] {
        let mut auth = good.clone();
        auth.signature[i] ^= bit;
        assert_eq!(
            sigv4::verify_signature(&auth, &req.parts(), &key),
            Err(SigV4Error::SignatureMismatch),
            "byte {i} bit {bit:#x}"
        );
    }
    let mut auth = good.clone();
    auth.signature = [0; 32];
    assert_eq!(
        sigv4::verify_signature(&auth, &req.parts(), &key),
        Err(SigV4Error::SignatureMismatch)
    );
    // Uppercase hex in the header is the same signature.
    let upper = req.headers["authorization"]
        .to_str()
        .unwrap()
        .split_once("Signature=")
        .map(|(a, s)| format!("{a}Signature={}", s.to_uppercase()))
        .unwrap();
    let mut r2 = req.clone();
    r2.set("authorization", &upper);
    verify(&r2).unwrap();
}

#[test]
fn error_types_are_exactly_the_three_aws_ones() {
    use SigV4Error::*;
    let all = [
        MissingAuthorization,
        MalformedAuthorization("x"),
        MissingAuthorizationParam("Credential"),
        UnsupportedAlgorithm,
        MalformedCredential,
        MalformedSignature,
        MalformedSignedHeaders,
        MissingDateHeader,
        MalformedDate,
        HostNotSigned,
        DateNotSigned,
        SignedHeaderAbsent("x".into()),
        BadTerminator,
        DateScopeMismatch {
            scope_date: "a".into(),
            amz_day: "b".into(),
            amz_date: "c".into(),
        },
        WrongRegion,
        WrongService {
            expected: "s".into(),
        },
        Expired {
            amz_date: "a".into(),
            earliest: "b".into(),
            now: "c".into(),
            skew: "d".into(),
        },
        NotYetCurrent {
            amz_date: "a".into(),
            latest: "b".into(),
            now: "c".into(),
            skew: "d".into(),
        },
        PayloadHashMismatch,
        UnsignedPayload,
        SignatureMismatch,
    ];
    for e in &all {
        assert!(
            matches!(
                e.aws_error_type(),
                "MissingAuthenticationTokenException"
                    | "IncompleteSignatureException"
                    | "InvalidSignatureException"
            ),
            "{e:?}"
        );
        assert!(!e.message().is_empty());
    }
    assert_eq!(SignatureMismatch.message(), MISMATCH);
}
