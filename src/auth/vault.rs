//! Device credentials (camera and node passwords, bot tokens) sealed at rest with
//! ChaCha20-Poly1305 under a key file in the data directory, so a copy of the database alone
//! reveals none of them. Sealed text looks like `v1:<base64 of nonce ‖ ciphertext>`.

use super::secrets::random_bytes;
use crate::error::{Error, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use std::path::{Path, PathBuf};

const PREFIX: &str = "v1:";
const NONCE_LEN: usize = 12;

pub struct Vault {
    cipher: ChaCha20Poly1305,
    key_path: PathBuf,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").field("key_path", &self.key_path).finish_non_exhaustive()
    }
}

impl Vault {
    /// Loads the key file, creating it (owner-only) on first start.
    pub fn open(key_path: &Path) -> Result<Self> {
        let key: [u8; 32] = match std::fs::read(key_path) {
            Ok(bytes) => bytes.try_into().map_err(|_| {
                Error::unavailable(format!(
                    "{} is not a 32-byte key; restore it from a backup (without it, saved camera passwords must be entered again)",
                    key_path.display()
                ))
            })?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let key = random_bytes::<32>();
                crate::media::write_atomic_private(key_path, &key)?;
                tracing::info!(path = %key_path.display(), "created the credential encryption key");
                key
            }
            Err(err) => {
                return Err(Error::unavailable(format!("cannot read the key file {}: {err}", key_path.display())));
            }
        };
        Ok(Self { cipher: ChaCha20Poly1305::new(&Key::from(key)), key_path: key_path.to_path_buf() })
    }

    pub fn seal(&self, plaintext: &str) -> Result<String> {
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let ciphertext = self
            .cipher
            .encrypt(&Nonce::from(nonce_bytes), plaintext.as_bytes())
            .map_err(|_| Error::internal("cannot encrypt a credential"))?;
        let mut sealed = nonce_bytes.to_vec();
        sealed.extend_from_slice(&ciphertext);
        Ok(format!("{PREFIX}{}", STANDARD.encode(sealed)))
    }

    pub fn open_sealed(&self, sealed: &str) -> Result<String> {
        let unreadable = || {
            Error::unavailable(format!(
                "a saved credential cannot be decrypted with {}; was the key file replaced? Enter the password again",
                self.key_path.display()
            ))
        };
        let bytes = sealed.strip_prefix(PREFIX).and_then(|b| STANDARD.decode(b).ok()).ok_or_else(unreadable)?;
        if bytes.len() < NONCE_LEN {
            return Err(unreadable());
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| unreadable())?;
        let plaintext = self.cipher.decrypt(&Nonce::from(nonce), ciphertext).map_err(|_| unreadable())?;
        String::from_utf8(plaintext).map_err(|_| unreadable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_and_refuses_another_key() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(&dir.path().join("keys/credentials.key")).unwrap();
        let sealed = vault.seal("admin:hunter2").unwrap();
        assert!(sealed.starts_with("v1:") && !sealed.contains("hunter2"));
        assert_ne!(sealed, vault.seal("admin:hunter2").unwrap(), "every seal uses a fresh nonce");
        assert_eq!(vault.open_sealed(&sealed).unwrap(), "admin:hunter2");

        let reopened = Vault::open(&dir.path().join("keys/credentials.key")).unwrap();
        assert_eq!(reopened.open_sealed(&sealed).unwrap(), "admin:hunter2", "the key file persists");
        let other = Vault::open(&dir.path().join("other.key")).unwrap();
        assert!(other.open_sealed(&sealed).is_err());
        assert!(vault.open_sealed("v1:!!").is_err());

        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("keys/credentials.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
