//! Sealing and opening values with per-value data keys wrapped by a master key.
//!
//! Blob layout (version 1):
//! ```text
//! 0      1       9          21                 69          81
//! | 'W' | 0x01 | kek id (8) | wrap nonce (12) | wrapped DEK (32+16) | data nonce (12) | ciphertext+tag |
//! ```

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use rand::RngCore;
use zeroize::Zeroizing;

use crate::{CryptoError, MasterKey};

const MAGIC: u8 = b'W';
const VERSION: u8 = 1;
const HEADER: usize = 2 + 8;
const NONCE: usize = 12;
const WRAPPED_DEK: usize = 32 + 16;
const MIN_LEN: usize = HEADER + NONCE + WRAPPED_DEK + NONCE + 16;

/// The row a sealed value belongs to. Both encryption layers authenticate it, so a
/// ciphertext moved to another account, kind or resource fails to open.
#[derive(Debug, Clone, Copy)]
pub struct Aad<'a> {
    pub account: &'a str,
    pub kind: &'a str,
    pub resource: &'a str,
}

impl Aad<'_> {
    fn encode(&self, layer: u8) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(16 + self.account.len() + self.kind.len() + self.resource.len());
        out.extend_from_slice(b"warrant/v1");
        out.push(layer);
        for part in [self.account, self.kind, self.resource] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

/// The active master key plus any older ones still able to open values.
#[derive(Clone, Debug)]
pub struct Keyring {
    active: MasterKey,
    older: Vec<MasterKey>,
}

impl Keyring {
    pub fn new(active: MasterKey) -> Self {
        Self {
            active,
            older: Vec::new(),
        }
    }

    /// Add a retired key that can still open values sealed under it.
    pub fn with_older(mut self, key: MasterKey) -> Self {
        self.older.push(key);
        self
    }

    pub fn active_id_hex(&self) -> String {
        self.active.id_hex()
    }

    fn key_for(&self, id: &[u8]) -> Option<&MasterKey> {
        std::iter::once(&self.active)
            .chain(self.older.iter())
            .find(|k| k.id() == id)
    }

    /// Seal `plaintext` for the row named by `aad`.
    pub fn seal(&self, aad: &Aad<'_>, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut rng = rand::rngs::OsRng;
        let mut dek = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(dek.as_mut());
        let mut wrap_nonce = [0u8; NONCE];
        rng.fill_bytes(&mut wrap_nonce);
        let mut data_nonce = [0u8; NONCE];
        rng.fill_bytes(&mut data_nonce);

        let kek = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(self.active.bytes()));
        let wrapped = kek
            .encrypt(
                Nonce::from_slice(&wrap_nonce),
                Payload {
                    msg: dek.as_ref(),
                    aad: &aad.encode(0),
                },
            )
            .map_err(|_| CryptoError::Encryption)?;
        let data = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(dek.as_ref()));
        let ct = data
            .encrypt(
                Nonce::from_slice(&data_nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad.encode(1),
                },
            )
            .map_err(|_| CryptoError::Encryption)?;

        let mut out = Vec::with_capacity(MIN_LEN + plaintext.len());
        out.push(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&self.active.id());
        out.extend_from_slice(&wrap_nonce);
        out.extend_from_slice(&wrapped);
        out.extend_from_slice(&data_nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Open a value sealed by [`Keyring::seal`] for the same row.
    pub fn open(&self, aad: &Aad<'_>, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if blob.len() < MIN_LEN || blob[0] != MAGIC || blob[1] != VERSION {
            return Err(CryptoError::Malformed);
        }
        let id = &blob[2..HEADER];
        let key = self
            .key_for(id)
            .ok_or_else(|| CryptoError::UnknownKey(hex::encode(id)))?;
        let mut at = HEADER;
        let wrap_nonce = &blob[at..at + NONCE];
        at += NONCE;
        let wrapped = &blob[at..at + WRAPPED_DEK];
        at += WRAPPED_DEK;
        let data_nonce = &blob[at..at + NONCE];
        at += NONCE;
        let ct = &blob[at..];

        let kek = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.bytes()));
        let dek = Zeroizing::new(
            kek.decrypt(
                Nonce::from_slice(wrap_nonce),
                Payload {
                    msg: wrapped,
                    aad: &aad.encode(0),
                },
            )
            .map_err(|_| CryptoError::Authentication)?,
        );
        if dek.len() != 32 {
            return Err(CryptoError::Malformed);
        }
        let data = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&dek));
        data.decrypt(
            Nonce::from_slice(data_nonce),
            Payload {
                msg: ct,
                aad: &aad.encode(1),
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Authentication)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aad<'a>(account: &'a str, resource: &'a str) -> Aad<'a> {
        Aad {
            account,
            kind: "apikey",
            resource,
        }
    }

    #[test]
    fn round_trip_and_no_plaintext_in_blob() {
        let ring = Keyring::new(MasterKey::generate());
        let blob = ring.seal(&aad("1", "a"), b"super-secret-value").unwrap();
        assert!(!blob
            .windows(b"super-secret-value".len())
            .any(|w| w == b"super-secret-value"));
        assert_eq!(
            &ring.open(&aad("1", "a"), &blob).unwrap()[..],
            b"super-secret-value"
        );
    }

    #[test]
    fn moved_ciphertext_does_not_open() {
        let ring = Keyring::new(MasterKey::generate());
        let blob = ring.seal(&aad("1", "a"), b"v").unwrap();
        assert_eq!(
            ring.open(&aad("1", "b"), &blob),
            Err(CryptoError::Authentication)
        );
        assert_eq!(
            ring.open(&aad("2", "a"), &blob),
            Err(CryptoError::Authentication)
        );
        let other_kind = Aad {
            account: "1",
            kind: "oauth2",
            resource: "a",
        };
        assert_eq!(
            ring.open(&other_kind, &blob),
            Err(CryptoError::Authentication)
        );
    }

    #[test]
    fn aad_parts_are_length_prefixed() {
        // ("ab","c") and ("a","bc") must not collide.
        let ring = Keyring::new(MasterKey::generate());
        let a = Aad {
            account: "ab",
            kind: "c",
            resource: "x",
        };
        let b = Aad {
            account: "a",
            kind: "bc",
            resource: "x",
        };
        let blob = ring.seal(&a, b"v").unwrap();
        assert!(ring.open(&b, &blob).is_err());
    }

    #[test]
    fn wrong_key_tamper_and_truncation_fail() {
        let ring = Keyring::new(MasterKey::generate());
        let other = Keyring::new(MasterKey::generate());
        let blob = ring.seal(&aad("1", "a"), b"value").unwrap();
        assert!(matches!(
            other.open(&aad("1", "a"), &blob),
            Err(CryptoError::UnknownKey(_))
        ));
        for i in 0..blob.len() {
            let mut t = blob.clone();
            t[i] ^= 0x01;
            assert!(ring.open(&aad("1", "a"), &t).is_err(), "byte {i}");
        }
        assert_eq!(
            ring.open(&aad("1", "a"), &blob[..MIN_LEN - 1]),
            Err(CryptoError::Malformed)
        );
    }

    #[test]
    fn older_keys_still_open() {
        let old = MasterKey::generate();
        let blob = Keyring::new(old.clone())
            .seal(&aad("1", "a"), b"v")
            .unwrap();
        let ring = Keyring::new(MasterKey::generate()).with_older(old);
        assert_eq!(&ring.open(&aad("1", "a"), &blob).unwrap()[..], b"v");
    }
}
