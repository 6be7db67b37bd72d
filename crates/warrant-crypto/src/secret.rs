//! Secret wrappers. `Debug` prints `[REDACTED]`, memory is zeroized on drop, and the
//! plaintext is reachable only through `expose_secret`, which is easy to grep for.

pub use secrecy::{ExposeSecret, SecretBox, SecretString};

/// Secret bytes (keys, sealed-value plaintexts).
pub type SecretBytes = SecretBox<[u8]>;

/// `n` random bytes from the OS CSPRNG, as URL-safe base64 without padding.
pub fn random_token(n: usize) -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut buf = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = SecretString::from("hunter2-very-secret".to_string());
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(s.expose_secret(), "hunter2-very-secret");
    }

    #[test]
    fn random_tokens_differ() {
        let a = random_token(16);
        assert_eq!(a.len(), 22);
        assert_ne!(a, random_token(16));
        // 256 bits (session URIs, OAuth state, PKCE verifiers, node ids): 43 characters.
        assert_eq!(random_token(32).len(), 43);
    }
}
