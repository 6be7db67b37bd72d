//! Compatibility tests: the official AWS SDK for Rust
//! (`aws-sdk-bedrockagentcorecontrol` and the data-plane
//! `aws-sdk-bedrockagentcore`) against the real `warrant` binary.
//!
//! Each test starts its own server (fresh data dir, ephemeral port) and
//! shuts it down with SIGTERM at the end, checking it exits 0.

mod harness;
mod testkit;

mod api_keys;
mod data_plane;
mod errors;
mod inbound_jwt;
mod oauth2;
mod tagging;
mod token_vault;
mod user_federation;
mod workload_identities;
