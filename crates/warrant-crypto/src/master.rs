//! The root of trust: a 256-bit master key (the key-encryption key).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// A 256-bit key-encryption key. Its bytes are zeroized on drop and never printed.
#[derive(Clone)]
pub struct MasterKey {
    bytes: Zeroizing<[u8; 32]>,
    id: [u8; 8],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey(id={})", self.id_hex())
    }
}

/// Where the master key came from, for the start-up log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    /// `WARRANT_MASTER_KEY` (base64).
    Env,
    /// An existing key file.
    File(PathBuf),
    /// A key file generated on this start.
    Generated(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("WARRANT_MASTER_KEY is not valid base64 of exactly 32 bytes")]
    BadEnv,
    #[error("master key file {0} does not hold base64 of exactly 32 bytes")]
    BadFile(PathBuf),
    #[error("cannot read master key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write master key file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl MasterKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let mut h = Sha256::new();
        h.update(b"warrant master key id v1");
        h.update(bytes);
        let digest = h.finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        Self {
            bytes: Zeroizing::new(bytes),
            id,
        }
    }

    pub fn generate() -> Self {
        let mut b = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut b);
        let k = Self::from_bytes(b);
        b.iter_mut().for_each(|x| *x = 0);
        k
    }

    /// Parse base64 (standard or URL-safe, padding optional) of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Option<Self> {
        let text = text.trim();
        let engines = [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::URL_SAFE,
        ];
        for e in engines {
            let padded = pad(text);
            if let Ok(v) = e.decode(padded.as_bytes()) {
                let v = Zeroizing::new(v);
                if v.len() == 32 {
                    let mut b = [0u8; 32];
                    b.copy_from_slice(&v);
                    return Some(Self::from_bytes(b));
                }
            }
        }
        None
    }

    fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(*self.bytes))
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    pub fn id(&self) -> [u8; 8] {
        self.id
    }

    /// A public fingerprint of the key, safe to log.
    pub fn id_hex(&self) -> String {
        hex::encode(self.id)
    }

    /// The key from `env_value` when given, else from `DATA_DIR/master.key`, which is
    /// created (mode 0600) with a fresh random key when absent.
    pub fn load_or_create(
        env_value: Option<&str>,
        data_dir: &Path,
    ) -> Result<(Self, MasterKeySource), MasterKeyError> {
        if let Some(v) = env_value {
            return Self::from_base64(v)
                .map(|k| (k, MasterKeySource::Env))
                .ok_or(MasterKeyError::BadEnv);
        }
        let path = data_dir.join("master.key");
        match fs::read_to_string(&path) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                Self::from_base64(&text)
                    .map(|k| (k, MasterKeySource::File(path.clone())))
                    .ok_or(MasterKeyError::BadFile(path))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                write_private(&path, key.to_base64().as_bytes()).map_err(|source| {
                    MasterKeyError::Write {
                        path: path.clone(),
                        source,
                    }
                })?;
                Ok((key, MasterKeySource::Generated(path)))
            }
            Err(source) => Err(MasterKeyError::Read { path, source }),
        }
    }
}

fn pad(s: &str) -> String {
    let mut s = s.to_string();
    while !s.len().is_multiple_of(4) {
        s.push('=');
    }
    s
}

/// Create `path` exclusively with mode 0600 and write `contents` plus a newline, synced.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(contents)?;
    f.write_all(b"\n")?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_key_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let (k1, src) = MasterKey::load_or_create(None, dir.path()).unwrap();
        assert!(matches!(src, MasterKeySource::Generated(_)));
        let (k2, src) = MasterKey::load_or_create(None, dir.path()).unwrap();
        assert!(matches!(src, MasterKeySource::File(_)));
        assert_eq!(k1.id(), k2.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("master.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn env_key_wins_and_is_validated() {
        let dir = tempfile::tempdir().unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let (k, src) = MasterKey::load_or_create(Some(&b64), dir.path()).unwrap();
        assert_eq!(src, MasterKeySource::Env);
        assert_eq!(k.id(), MasterKey::from_bytes([7u8; 32]).id());
        assert!(!dir.path().join("master.key").exists());
        assert!(matches!(
            MasterKey::load_or_create(Some("c2hvcnQ="), dir.path()),
            Err(MasterKeyError::BadEnv)
        ));
    }

    #[test]
    fn debug_shows_only_the_id() {
        let k = MasterKey::from_bytes([9u8; 32]);
        let s = format!("{k:?}");
        assert!(s.starts_with("MasterKey(id="), "{s}");
        assert!(!s.contains("0909"), "{s}");
    }
}
