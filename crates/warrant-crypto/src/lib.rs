//! Envelope encryption for every secret warrant keeps at rest, and the secret types that
//! keep plaintext out of logs.
//!
//! Each sealed value gets its own random 256-bit data key (DEK). The value is encrypted
//! with the DEK (AES-256-GCM) and the DEK is wrapped with the master key (the KEK, also
//! AES-256-GCM). Both layers authenticate the same associated data, which names the row
//! the value belongs to (account, kind, resource), so a ciphertext copied into another
//! row does not decrypt. The KEK's id travels in the blob, so a keyring can hold several
//! KEKs and keys can rotate without downtime; a KMS-backed KEK slots in behind the same
//! interface later.

mod envelope;
mod master;
mod secret;

pub use envelope::{Aad, Keyring};
pub use master::{write_private, MasterKey, MasterKeyError, MasterKeySource};
pub use secret::{random_token, ExposeSecret, SecretBytes, SecretString};

/// Why a sealed value could not be opened or produced. Never carries key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed value uses an unknown key (key id {0})")]
    UnknownKey(String),
    #[error("sealed value failed authentication: wrong key or wrong row")]
    Authentication,
    #[error("encryption failed")]
    Encryption,
}
