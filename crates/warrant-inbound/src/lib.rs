//! Inbound caller authentication for warrant.
//!
//! Workload access tokens are signed and verified in [`wat`]. End users' JWTs from their
//! own identity providers are validated in [`jwt`], which fetches discovery documents and
//! JWKS through `warrant-oauth`'s SSRF-guarded client (the only I/O of this crate).
//!
//! Callers are authenticated by AWS Signature Version 4 verification ([`sigv4`]) for requests
//! made by boto3, the AWS CLI and the AWS SDK for Rust. The verifier does no
//! storage and no I/O: the caller parses the `Authorization` header, runs the
//! cheap structural checks, looks up the secret for the access key id itself,
//! derives (or fetches a cached) signing key, and asks for the signature to be
//! verified:
//!
//! ```no_run
//! use warrant_inbound::sigv4::{self, Expectation, RequestParts};
//! # fn lookup_secret(_akid: &str) -> Option<Vec<u8>> { None }
//! # fn handle(headers: &http::HeaderMap, path: &str, query: Option<&str>, body: &[u8], now: i64)
//! #     -> Result<(), sigv4::SigV4Error> {
//! let auth = sigv4::parse_authorization(headers)?;
//! let req = RequestParts { method: "POST", raw_path: path, raw_query: query, headers, body };
//! let exp = Expectation { region: "us-east-1", service: "bedrock-agentcore", max_skew_secs: 900, now_unix: now };
//! sigv4::check_request(&auth, &req, &exp)?;
//! let secret = lookup_secret(&auth.access_key_id).expect("unknown key is the caller's error");
//! let key = sigv4::derive_signing_key(&secret, &auth.date, &auth.region, &auth.service);
//! sigv4::verify_signature(&auth, &req, &key)?;
//! # Ok(()) }
//! ```

pub mod date;
pub mod jwt;
pub mod sigv4;
pub mod wat;

pub use sigv4::{
    canonical_request, check_request, derive_signing_key, parse_authorization, string_to_sign,
    verify_signature, Authorization, Expectation, RequestParts, SigV4Error,
};
