//! Server-side verification of AWS Signature Version 4, `Authorization`
//! header form (`AWS4-HMAC-SHA256`), as produced by botocore (boto3, AWS CLI)
//! and by `aws-sigv4` (AWS SDK for Rust) for non-S3 services.
//!
//! Verification is split so the expensive and the storage-dependent parts come
//! last:
//!
//! 1. [`parse_authorization`]: parse the header (no crypto).
//! 2. [`check_request`]: scope, time window, signed-header sanity (no crypto,
//!    no storage): reject junk before looking up a key.
//! 3. [`derive_signing_key`]: the caller looks up the secret and derives the
//!    per-day key (cacheable per access key, date, region and service).
//! 4. [`verify_signature`]: rebuild the canonical request, hash it, HMAC the
//!    string to sign and compare in constant time.
//!
//! [`verify_signature`] streams the canonical request straight into SHA-256
//! instead of building it as a string; [`canonical_request`] and
//! [`string_to_sign`] build the strings and exist for tests and debugging.
//!
//! # Canonicalisation, and why
//!
//! The server must rebuild, byte for byte, what the client signed, so every
//! rule here mirrors the clients rather than an idealised reading of the spec:
//!
//! * **Path**: clients sign the path *as they put it on the wire*
//!   (already percent-encoded), normalised (`.`/`..` segments and empty
//!   segments removed, RFC 3986 §5.2.4), and then URI-encode it **again**
//!   (every byte but `A-Za-z0-9-._~` and `/`). So an ARN label sent as
//!   `arn%3Aaws%3A...%2Fdefault` is signed as `arn%253Aaws%253A...%252Fdefault`.
//!   This "double encoding" is what botocore and aws-sigv4 do for every
//!   service except S3, so the server must take the *raw* path, never a
//!   decoded one. Raw bytes that a lenient client left unencoded (spaces,
//!   UTF-8) simply get encoded once, which is what the client signed too.
//! * **Query**: decoded and re-encoded with the RFC 3986 unreserved set, then
//!   sorted by encoded key, then encoded value. `+` is taken literally (AWS
//!   clients send spaces as `%20`, never `+`).
//! * **Headers**: exactly the names in `SignedHeaders`, in the order listed,
//!   each with all of its values in arrival order, trimmed of spaces, runs of
//!   spaces collapsed, joined by `,`.
//! * **Payload**: the hex SHA-256 of the body. If `x-amz-content-sha256` is
//!   present it must equal that hash: `UNSIGNED-PAYLOAD` and streaming modes
//!   are refused, since the body would then be unauthenticated.
//!
//! Note for routing: two different raw paths can share a canonical form
//! (`/a/../b` and `/b`). The signature authenticates the canonical form, so
//! the router should not interpret dot segments differently from it (axum
//! does not normalise, so such a path just fails to route).

use crate::date;
mod error;

pub use error::SigV4Error;

use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// The only algorithm accepted.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The credential scope terminator.
const TERMINATOR: &str = "aws4_request";
const X_AMZ_DATE: &str = "x-amz-date";
const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";

/// Parsed `Authorization: AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=hex`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// Access key id from the credential scope.
    pub access_key_id: String,
    /// `YYYYMMDD` from the credential scope (8 ASCII digits, checked).
    pub date: String,
    /// Region from the credential scope (non-empty).
    pub region: String,
    /// Service from the credential scope (non-empty).
    pub service: String,
    /// `SignedHeaders`, as listed by the client (lower-case, checked).
    pub signed_headers: Vec<String>,
    /// The signature, decoded from its 64 hex characters.
    pub signature: [u8; 32],
}

/// The request as received.
///
/// `raw_path` is the path exactly as on the wire (still percent-encoded:
/// `http::Uri::path()` is fine, anything that decodes is not), `raw_query`
/// the query without the `?` (`http::Uri::query()`).
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// The undecoded request path.
    pub raw_path: &'a str,
    /// The undecoded query string, without `?`.
    pub raw_query: Option<&'a str>,
    /// All request headers.
    pub headers: &'a HeaderMap,
    /// The complete request body.
    pub body: &'a [u8],
}

/// What this endpoint accepts.
#[derive(Debug, Clone, Copy)]
pub struct Expectation<'a> {
    /// The region this endpoint serves, e.g. `us-east-1`.
    pub region: &'a str,
    /// The signing name of the service, e.g. `bedrock-agentcore`.
    pub service: &'a str,
    /// Allowed clock difference either way (AWS uses 900 s).
    pub max_skew_secs: u64,
    /// Server time, unix seconds.
    pub now_unix: i64,
}

/// Parse the `Authorization` header.
///
/// Accepts the parameters in any order with optional spaces after the commas
/// (botocore and aws-sigv4 both write `, `). Fails with
/// [`SigV4Error::MissingAuthorization`] if the header is absent, with an
/// `IncompleteSignatureException`-type error if it is malformed, and with
/// [`SigV4Error::BadTerminator`] if the scope does not end in `aws4_request`.
pub fn parse_authorization(headers: &HeaderMap) -> Result<Authorization, SigV4Error> {
    let mut all = headers.get_all(http::header::AUTHORIZATION).iter();
    let value = all.next().ok_or(SigV4Error::MissingAuthorization)?;
    if all.next().is_some() {
        return Err(SigV4Error::MalformedAuthorization(
            "more than one Authorization header",
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| SigV4Error::MalformedAuthorization("not visible ASCII"))?
        .trim_matches(' ');
    let (algorithm, params) = value.split_once(' ').unwrap_or((value, ""));
    if algorithm != ALGORITHM {
        return Err(SigV4Error::UnsupportedAlgorithm);
    }

    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in params.split(',') {
        let part = part.trim_matches(' ');
        if part.is_empty() {
            continue;
        }
        let (key, val) = part
            .split_once('=')
            .ok_or(SigV4Error::MalformedAuthorization("parameter without '='"))?;
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => return Err(SigV4Error::MalformedAuthorization("unknown parameter")),
        };
        if slot.replace(val).is_some() {
            return Err(SigV4Error::MalformedAuthorization("repeated parameter"));
        }
    }
    let credential = credential.ok_or(SigV4Error::MissingAuthorizationParam("Credential"))?;
    let signed = signed.ok_or(SigV4Error::MissingAuthorizationParam("SignedHeaders"))?;
    let signature = signature.ok_or(SigV4Error::MissingAuthorizationParam("Signature"))?;

    // Credential = AKID/YYYYMMDD/region/service/aws4_request
    let mut scope = credential.split('/');
    let mut next = || scope.next().filter(|s| !s.is_empty());
    let (Some(akid), Some(day), Some(region), Some(service), Some(terminator), None) =
        (next(), next(), next(), next(), next(), next())
    else {
        return Err(SigV4Error::MalformedCredential);
    };
    if day.len() != 8 || !day.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SigV4Error::MalformedCredential);
    }
    if terminator != TERMINATOR {
        return Err(SigV4Error::BadTerminator);
    }

    let mut signed_headers = Vec::with_capacity(signed.bytes().filter(|&b| b == b';').count() + 1);
    for name in signed.split(';') {
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(SigV4Error::MalformedSignedHeaders);
        }
        signed_headers.push(name.to_owned());
    }

    let mut sig = [0u8; 32];
    if signature.len() != 64 || hex::decode_to_slice(signature, &mut sig).is_err() {
        return Err(SigV4Error::MalformedSignature);
    }

    Ok(Authorization {
        access_key_id: akid.to_owned(),
        date: day.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
        signed_headers,
        signature: sig,
    })
}

/// Everything but the signature itself: `X-Amz-Date` present and well formed,
/// `host` and `x-amz-date` signed, every signed header present, scope date
/// equal to the `X-Amz-Date` day, region and service as expected, and
/// `|now - X-Amz-Date| <= max_skew_secs`.
///
/// No crypto and no storage: call it before looking up the secret so that
/// junk is refused cheaply. It does not replace [`verify_signature`].
pub fn check_request(
    auth: &Authorization,
    req: &RequestParts<'_>,
    exp: &Expectation<'_>,
) -> Result<(), SigV4Error> {
    let amz_date = amz_date_header(req.headers)?;
    let signed_at = date::parse_amz_date(amz_date).ok_or(SigV4Error::MalformedDate)?;

    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(SigV4Error::HostNotSigned);
    }
    if !auth.signed_headers.iter().any(|h| h == X_AMZ_DATE) {
        return Err(SigV4Error::DateNotSigned);
    }
    if let Some(absent) = auth
        .signed_headers
        .iter()
        .find(|h| !req.headers.contains_key(h.as_str()))
    {
        return Err(SigV4Error::SignedHeaderAbsent(absent.clone()));
    }

    if auth.date.as_bytes() != &amz_date.as_bytes()[..8] {
        return Err(SigV4Error::DateScopeMismatch {
            scope_date: auth.date.clone(),
            amz_day: amz_date[..8].to_owned(),
            amz_date: amz_date.to_owned(),
        });
    }
    if auth.region != exp.region {
        return Err(SigV4Error::WrongRegion);
    }
    if auth.service != exp.service {
        return Err(SigV4Error::WrongService {
            expected: exp.service.to_owned(),
        });
    }

    // i128: neither `now_unix` nor `max_skew_secs` is trusted to be sane.
    let now = i128::from(exp.now_unix);
    let skew = i128::from(exp.max_skew_secs);
    let age = now - i128::from(signed_at);
    if age > skew || -age > skew {
        let clamp = |t: i128| t.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        let skew_text = if exp.max_skew_secs.is_multiple_of(60) {
            format!("{} min", exp.max_skew_secs / 60)
        } else {
            format!("{} sec", exp.max_skew_secs)
        };
        let amz_date = amz_date.to_owned();
        let now_text = date::format_amz_date(exp.now_unix);
        return Err(if age > skew {
            SigV4Error::Expired {
                amz_date,
                earliest: date::format_amz_date(clamp(now - skew)),
                now: now_text,
                skew: skew_text,
            }
        } else {
            SigV4Error::NotYetCurrent {
                amz_date,
                latest: date::format_amz_date(clamp(now + skew)),
                now: now_text,
                skew: skew_text,
            }
        });
    }
    Ok(())
}

/// Derive the SigV4 signing key:
/// `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
///
/// The result only depends on its arguments, so callers may cache it per
/// (access key, date, region, service) to save four HMACs per request. It is
/// as sensitive as the secret itself.
pub fn derive_signing_key(secret: &[u8], date: &str, region: &str, service: &str) -> [u8; 32] {
    // "AWS4" + secret without a heap allocation for ordinary (40-byte) secrets.
    let k_date = if secret.len() <= 124 {
        let mut buf = [0u8; 128];
        buf[..4].copy_from_slice(b"AWS4");
        buf[4..4 + secret.len()].copy_from_slice(secret);
        let k = hmac(&buf[..4 + secret.len()], date.as_bytes());
        buf.fill(0);
        k
    } else {
        let mut buf = Vec::with_capacity(4 + secret.len());
        buf.extend_from_slice(b"AWS4");
        buf.extend_from_slice(secret);
        let k = hmac(&buf, date.as_bytes());
        buf.fill(0);
        k
    };
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, TERMINATOR.as_bytes())
}

/// Recompute the signature of `req` with `signing_key` and compare it with
/// `auth.signature` in constant time.
///
/// Also fails if `x-amz-content-sha256` is present and is not the body's
/// SHA-256, or if a signed header is absent. It does not check scope or time:
/// call [`check_request`] first.
pub fn verify_signature(
    auth: &Authorization,
    req: &RequestParts<'_>,
    signing_key: &[u8; 32],
) -> Result<(), SigV4Error> {
    let amz_date = amz_date_header(req.headers)?;
    let payload_hash = payload_hash(req)?;

    let mut hasher = Sha256::new();
    write_canonical_request(&auth.signed_headers, req, &payload_hash, &mut hasher)?;
    let creq_hash = hex32(&hasher.finalize().into());

    // The string to sign, fed to the HMAC piecewise instead of built.
    let mut mac = new_hmac(signing_key);
    for part in [
        ALGORITHM,
        "\n",
        amz_date,
        "\n",
        &auth.date,
        "/",
        &auth.region,
        "/",
        &auth.service,
        "/",
        TERMINATOR,
        "\n",
    ] {
        mac.update(part.as_bytes());
    }
    mac.update(&creq_hash);
    let computed: [u8; 32] = mac.finalize().into_bytes().into();

    if bool::from(computed.ct_eq(&auth.signature)) {
        Ok(())
    } else {
        Err(SigV4Error::SignatureMismatch)
    }
}

/// Build the canonical request as a string (tests, debugging; verification
/// streams it into the hash instead).
///
/// Fails like [`verify_signature`] on a payload-hash problem or an absent
/// signed header. Header bytes that are not UTF-8 (obs-text) are shown
/// lossily here; verification hashes the exact bytes.
pub fn canonical_request(
    auth_signed_headers: &[String],
    req: &RequestParts<'_>,
) -> Result<String, SigV4Error> {
    let payload_hash = payload_hash(req)?;
    let mut out = Vec::with_capacity(256 + req.raw_path.len() + req.raw_query.map_or(0, str::len));
    write_canonical_request(auth_signed_headers, req, &payload_hash, &mut out)?;
    Ok(String::from_utf8(out)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// `AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hex(sha256(canonical_request))}`,
/// where `scope` is `YYYYMMDD/region/service/aws4_request`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    let creq_hash = hex32(&Sha256::digest(canonical_request.as_bytes()).into());
    let mut s = String::with_capacity(ALGORITHM.len() + amz_date.len() + scope.len() + 3 + 64);
    s.push_str(ALGORITHM);
    s.push('\n');
    s.push_str(amz_date);
    s.push('\n');
    s.push_str(scope);
    s.push('\n');
    // hex32 output is ASCII.
    s.extend(creq_hash.iter().map(|&b| char::from(b)));
    s
}

// ---------------------------------------------------------------------------
// internals

/// Where the canonical request goes: a buffer (for [`canonical_request`]) or
/// straight into SHA-256 (for [`verify_signature`], no allocation).
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Sink for Sha256 {
    fn put(&mut self, bytes: &[u8]) {
        Digest::update(self, bytes);
    }
}

fn amz_date_header(headers: &HeaderMap) -> Result<&str, SigV4Error> {
    headers
        .get(X_AMZ_DATE)
        .ok_or(SigV4Error::MissingDateHeader)?
        .to_str()
        .map_err(|_| SigV4Error::MalformedDate)
}

fn new_hmac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; this cannot fail.
    <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts any key length")
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = new_hmac(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Lower-case hex of a SHA-256 digest, on the stack.
fn hex32(bytes: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    for (i, &b) in bytes.iter().enumerate() {
        out[2 * i] = HEX_LOWER[usize::from(b >> 4)];
        out[2 * i + 1] = HEX_LOWER[usize::from(b & 0x0f)];
    }
    out
}

/// RFC 3986 unreserved characters: the only bytes SigV4 leaves unencoded.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Percent-encode every byte of `bytes` that is not unreserved (nor `/` when
/// `keep_slash`), with upper-case hex, writing runs of safe bytes in one go.
fn put_encoded<S: Sink>(bytes: &[u8], keep_slash: bool, out: &mut S) {
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            continue;
        }
        out.put(&bytes[start..i]);
        out.put(&[
            b'%',
            HEX_UPPER[usize::from(b >> 4)],
            HEX_UPPER[usize::from(b & 0x0f)],
        ]);
        start = i + 1;
    }
    out.put(&bytes[start..]);
}

/// The payload hash line: hex SHA-256 of the body, or the client's
/// `x-amz-content-sha256` if (and only if) it is that same hash.
fn payload_hash(req: &RequestParts<'_>) -> Result<[u8; 64], SigV4Error> {
    let mut hash = hex32(&Sha256::digest(req.body).into());
    if let Some(claimed) = req.headers.get(X_AMZ_CONTENT_SHA256) {
        let claimed = claimed.as_bytes();
        if claimed == b"UNSIGNED-PAYLOAD" || claimed.starts_with(b"STREAMING-") {
            return Err(SigV4Error::UnsignedPayload);
        }
        if !claimed.eq_ignore_ascii_case(&hash) {
            return Err(SigV4Error::PayloadHashMismatch);
        }
        // Same hash; keep the client's spelling (case) since that is what it signed.
        hash.copy_from_slice(claimed);
    }
    Ok(hash)
}

fn write_canonical_request<S: Sink>(
    signed_headers: &[String],
    req: &RequestParts<'_>,
    payload_hash: &[u8; 64],
    out: &mut S,
) -> Result<(), SigV4Error> {
    out.put(req.method.as_bytes());
    out.put(b"\n");
    write_canonical_uri(req.raw_path, out);
    out.put(b"\n");
    if let Some(query) = req.raw_query {
        write_canonical_query(query, out);
    }
    out.put(b"\n");
    for name in signed_headers {
        let mut values = req.headers.get_all(name.as_str()).iter();
        let first = values
            .next()
            .ok_or_else(|| SigV4Error::SignedHeaderAbsent(name.clone()))?;
        out.put(name.as_bytes());
        out.put(b":");
        put_trimmed(first.as_bytes(), out);
        for value in values {
            out.put(b",");
            put_trimmed(value.as_bytes(), out);
        }
        out.put(b"\n");
    }
    out.put(b"\n");
    for (i, name) in signed_headers.iter().enumerate() {
        if i > 0 {
            out.put(b";");
        }
        out.put(name.as_bytes());
    }
    out.put(b"\n");
    out.put(payload_hash);
    Ok(())
}

/// Header value: strip leading/trailing spaces and collapse inner runs of
/// spaces to one. Only spaces, like aws-sigv4 (botocore also collapses tabs;
/// HTTP parsers already strip surrounding tabs, so only inner tabs differ).
fn put_trimmed<S: Sink>(value: &[u8], out: &mut S) {
    let mut rest = trim_spaces(value);
    while let Some(pos) = rest.iter().position(|&b| b == b' ') {
        out.put(&rest[..=pos]);
        rest = trim_spaces(&rest[pos + 1..]);
    }
    out.put(rest);
}

fn trim_spaces(mut v: &[u8]) -> &[u8] {
    while let [b' ', tail @ ..] = v {
        v = tail;
    }
    while let [head @ .., b' '] = v {
        v = head;
    }
    v
}

/// Canonical URI: normalise the raw (still encoded) path, then encode it
/// again. See the module docs for why this double encoding is right.
fn write_canonical_uri<S: Sink>(raw_path: &str, out: &mut S) {
    if !needs_normalization(raw_path) {
        put_encoded(raw_path.as_bytes(), true, out);
        return;
    }
    // RFC 3986 §5.2.4 remove_dot_segments, and also drop empty segments
    // (`//`), exactly like aws-sigv4's `normalize_uri_path` and the AWS
    // normalize-path test vectors.
    let mut kept: Vec<&str> = Vec::with_capacity(raw_path.len() / 2 + 1);
    for segment in raw_path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            s => kept.push(s),
        }
    }
    out.put(b"/");
    for (i, segment) in kept.iter().enumerate() {
        if i > 0 {
            out.put(b"/");
        }
        put_encoded(segment.as_bytes(), true, out);
    }
    // "/a/b/", "/a/b/." and "/a/b/.." keep a trailing slash ("/a/b/", "/a/b/", "/a/").
    let trailing = ["/", "/.", "/.."].iter().any(|s| raw_path.ends_with(s));
    if trailing && !kept.is_empty() {
        out.put(b"/");
    }
}

/// True unless the path is already normal: starts with `/`, no `.` or `..`
/// segment and no empty segment except a final one (trailing slash). The
/// common case, so it avoids the allocation of the general path.
fn needs_normalization(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return true; // also covers the empty path, which becomes "/"
    };
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if segment == "." || segment == ".." || (segment.is_empty() && !last) {
            return true;
        }
    }
    false
}

/// Canonical query: decode each key and value, re-encode with the unreserved
/// set, sort by (key, value) on the encoded bytes (which is how clients sort:
/// `%E1%88%B4` before `Param`, `Param` before `Param-3`), join with `&`.
fn write_canonical_query<S: Sink>(raw_query: &str, out: &mut S) {
    if raw_query.is_empty() {
        return;
    }
    let mut pairs: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (reencode_query_component(k), reencode_query_component(v))
        })
        .collect();
    pairs.sort_unstable();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.put(b"&");
        }
        out.put(k.as_bytes());
        out.put(b"=");
        out.put(v.as_bytes());
    }
}

fn reencode_query_component(component: &str) -> String {
    // '+' stays '+' (then becomes %2B): AWS clients encode spaces as %20.
    // Invalid escapes ("%zz") decode to themselves and their '%' becomes %25.
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(component).collect();
    let mut out = Vec::with_capacity(decoded.len() * 3);
    put_encoded(&decoded, false, &mut out);
    // put_encoded only emits ASCII.
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(path: &str) -> String {
        let mut out = Vec::new();
        write_canonical_uri(path, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn query(q: &str) -> String {
        let mut out = Vec::new();
        write_canonical_query(q, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn trimmed(v: &str) -> String {
        let mut out = Vec::new();
        put_trimmed(v.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn canonical_uri_rules() {
        assert_eq!(uri(""), "/");
        assert_eq!(uri("/"), "/");
        assert_eq!(uri("//"), "/");
        assert_eq!(uri("/./"), "/");
        assert_eq!(uri("/."), "/");
        assert_eq!(uri("/.."), "/");
        assert_eq!(uri("/../foo"), "/foo");
        assert_eq!(uri("foo"), "/foo");
        assert_eq!(uri("/foo/bar/"), "/foo/bar/");
        assert_eq!(uri("/foo/bar/."), "/foo/bar/");
        assert_eq!(uri("/foo/bar/.."), "/foo/");
        assert_eq!(uri("/foo//bar"), "/foo/bar");
        assert_eq!(uri("/a.json"), "/a.json");
        assert_eq!(uri("/.hidden/x"), "/.hidden/x");
        assert_eq!(uri("/example/.."), "/");
        assert_eq!(uri("//example//"), "/example/");
        // double encoding of an already-encoded path
        assert_eq!(
            uri("/tags/arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A000000000000%3Atoken-vault%2Fdefault"),
            "/tags/arn%253Aaws%253Abedrock-agentcore%253Aus-east-1%253A000000000000%253Atoken-vault%252Fdefault"
        );
        // raw (unencoded) bytes are encoded once
        assert_eq!(uri("/example space/"), "/example%20space/");
        assert_eq!(uri("/\u{1234}"), "/%E1%88%B4");
        assert_eq!(uri("/a@b+c=d"), "/a%40b%2Bc%3Dd");
        // %2E is not a dot segment
        assert_eq!(uri("/a/%2E%2E/b"), "/a/%252E%252E/b");
    }

    #[test]
    fn needs_normalization_cases() {
        for p in [
            "/", "/a", "/a/", "/a/b.c", "/a/.b", "/a/..b", "/...", "/a%2F",
        ] {
            assert!(!needs_normalization(p), "{p}");
        }
        for p in [
            "", "a", "//", "/./", "/.", "/..", "/a//b", "/a/./b", "/a/../b", "//a",
        ] {
            assert!(needs_normalization(p), "{p}");
        }
    }

    #[test]
    fn canonical_query_rules() {
        assert_eq!(query(""), "");
        assert_eq!(
            query("Param2=value2&Param1=value1"),
            "Param1=value1&Param2=value2"
        );
        assert_eq!(query("b=2&a"), "a=&b=2");
        assert_eq!(query("a=1&&b=2&"), "a=1&b=2");
        assert_eq!(query("tagKeys=b%20c&tagKeys=a"), "tagKeys=a&tagKeys=b%20c");
        assert_eq!(query("k=a+b"), "k=a%2Bb");
        assert_eq!(query("k=a%2bb"), "k=a%2Bb");
        assert_eq!(query("k=%7e%41"), "k=~A");
        assert_eq!(query("k=%zz"), "k=%25zz");
        assert_eq!(query("k=a=b"), "k=a%3Db");
        assert_eq!(
            query("Param-3=Value3&Param=Value2&%E1%88%B4=Value1"),
            "%E1%88%B4=Value1&Param=Value2&Param-3=Value3"
        );
        assert_eq!(query("a=2&a=10&a=1"), "a=1&a=10&a=2");
    }

    #[test]
    fn header_value_trimming() {
        assert_eq!(trimmed("value1"), "value1");
        assert_eq!(trimmed("  value1  "), "value1");
        assert_eq!(trimmed("\"a   b   c\""), "\"a b c\"");
        assert_eq!(trimmed(" a  b c   d "), "a b c d");
        assert_eq!(trimmed("a\tb"), "a\tb");
        assert_eq!(trimmed("    "), "");
        assert_eq!(trimmed(""), "");
    }

    #[test]
    fn hex32_matches_hex_crate() {
        let d: [u8; 32] = Sha256::digest(b"abc").into();
        assert_eq!(&hex32(&d)[..], hex::encode(d).as_bytes());
    }

    #[test]
    fn signing_key_matches_aws_documentation_example() {
        // AWS SigV4 documentation example: secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY,
        // 20120215, us-east-1, iam.
        let key = derive_signing_key(
            b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn long_secret_uses_heap_path_consistently() {
        let secret = vec![b'x'; 300];
        let mut prefixed = b"AWS4".to_vec();
        prefixed.extend_from_slice(&secret);
        let k = hmac(&prefixed, b"20150830");
        let k = hmac(&k, b"r");
        let k = hmac(&k, b"s");
        let k = hmac(&k, b"aws4_request");
        assert_eq!(derive_signing_key(&secret, "20150830", "r", "s"), k);
    }
}
