//! warrant's core: the domain (types, rules, the vendor catalog, policies; no I/O) and
//! the service (one function per operation: authorization, orchestration).

pub mod domain;
pub mod error;
pub mod service;

pub use error::{Error, Result};

/// Secret types, re-exported so upper layers handle secrets without the crypto crate.
pub use warrant_crypto::{ExposeSecret, SecretString};
