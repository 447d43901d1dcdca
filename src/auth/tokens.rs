//! API tokens: JWTs (HS256) signed with keys kept in `<data-dir>/keys/api-signing.json`.
//!
//! The JWT proves who issued it and when it expires; the `api_tokens` row decides whether it is
//! still honoured (revoked, re-issued with a grace period). Rotating the signing key adds a new key
//! and retires the old one: tokens it signed keep working for the grace period, then must be
//! re-issued.
//!
//! The key file is the one source of truth: the running server and the `watchpost token
//! rotate-key` command both change it, so the keyring notices when the file was replaced
//! ([`Keyring::is_stale`]) and reads it again before it signs, verifies or rotates.

use super::secrets::{random_bytes, random_id};
use crate::error::{Error, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The token id (`api_tokens.id`).
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Clone, Serialize, Deserialize)]
struct SigningKey {
    kid: String,
    /// Base64 of 32 random bytes.
    secret: String,
    created_ms: i64,
    retired_ms: Option<i64>,
}

#[derive(Clone, Default, Serialize, Deserialize)]
struct KeyFile {
    keys: Vec<SigningKey>,
}

/// The signing keys: one current, any number retired.
pub struct Keyring {
    path: PathBuf,
    file: KeyFile,
    /// The key file as it was when last read or written.
    stamp: Option<FileStamp>,
}

/// Tells a replaced or rewritten key file from the one in memory (an atomic write makes a new
/// inode).
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    inode: u64,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl FileStamp {
    fn of(path: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).ok()?;
        Some(Self { inode: meta.ino(), len: meta.len(), modified: meta.modified().ok() })
    }
}

/// What a caller may learn about a key (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub kid: String,
    pub created_ms: i64,
    pub retired_ms: Option<i64>,
}

impl Keyring {
    /// Loads the key file, creating it with a first key on first start.
    pub fn open(path: &Path, now_ms: i64) -> Result<Self> {
        let stamp = FileStamp::of(path);
        let file = read_key_file(path)?.unwrap_or_default();
        let mut ring = Self { path: path.to_path_buf(), file, stamp };
        if ring.current().is_none() {
            ring.add_key(now_ms)?;
        }
        Ok(ring)
    }

    /// True when the key file was changed by someone else (the CLI) since it was last read here.
    pub fn is_stale(&self) -> bool {
        FileStamp::of(&self.path) != self.stamp
    }

    /// Reads the key file again; keeps the keys in memory when it is gone, damaged (the error says
    /// so, once per change of the file) or has no current key.
    pub fn reload(&mut self) -> Result<()> {
        self.stamp = FileStamp::of(&self.path);
        if let Some(file) = read_key_file(&self.path)?.filter(|f| f.keys.iter().any(|k| k.retired_ms.is_none())) {
            self.file = file;
        }
        Ok(())
    }

    fn current(&self) -> Option<&SigningKey> {
        self.file.keys.iter().rev().find(|k| k.retired_ms.is_none())
    }

    fn add_key(&mut self, now_ms: i64) -> Result<()> {
        self.file.keys.push(SigningKey {
            kid: random_id(),
            secret: STANDARD.encode(random_bytes::<32>()),
            created_ms: now_ms,
            retired_ms: None,
        });
        self.save()
    }

    fn save(&mut self) -> Result<()> {
        let json =
            serde_json::to_vec_pretty(&self.file).map_err(|e| Error::internal("cannot encode keys").with_source(e))?;
        crate::media::write_atomic_private(&self.path, &json)?;
        self.stamp = FileStamp::of(&self.path);
        Ok(())
    }

    /// Retires the current key, makes a new one current, and forgets keys retired longer than
    /// `grace_ms` ago. Reads the file first when another process changed it, so its keys are
    /// kept, not written over.
    pub fn rotate(&mut self, now_ms: i64, grace_ms: i64) -> Result<()> {
        if self.is_stale() {
            self.reload()?;
        }
        for key in &mut self.file.keys {
            key.retired_ms.get_or_insert(now_ms);
        }
        self.file.keys.retain(|k| k.retired_ms.is_some_and(|r| now_ms - r <= grace_ms));
        self.add_key(now_ms)
    }

    pub fn keys(&self) -> Vec<KeyInfo> {
        self.file
            .keys
            .iter()
            .map(|k| KeyInfo { kid: k.kid.clone(), created_ms: k.created_ms, retired_ms: k.retired_ms })
            .collect()
    }

    pub fn sign(&self, claims: &Claims) -> Result<String> {
        let key = self.current().ok_or_else(|| Error::internal("no current signing key"))?;
        let secret = STANDARD.decode(&key.secret).map_err(|_| Error::internal("signing key is not base64"))?;
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(&secret))
            .map_err(|e| Error::internal("cannot sign a token").with_source(e))
    }

    /// Checks the signature and expiry; a key retired `grace_ms` or more ago no longer counts (with no
    /// grace period, from the moment it is retired).
    pub fn verify(&self, token: &str, now_ms: i64, grace_ms: i64) -> Result<Claims> {
        let refused = |why: &str| Error::unauthenticated(format!("API token refused: {why}"));
        let header = jsonwebtoken::decode_header(token).map_err(|_| refused("it is not a Watchpost token"))?;
        let kid = header.kid.ok_or_else(|| refused("it is not a Watchpost token"))?;
        let key = self
            .file
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| refused("its signing key was rotated out; re-issue the token"))?;
        if key.retired_ms.is_some_and(|r| now_ms - r >= grace_ms) {
            return Err(refused("its signing key was rotated out; re-issue the token"));
        }
        let secret = STANDARD.decode(&key.secret).map_err(|_| Error::internal("signing key is not base64"))?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        // Expiry is checked below against `now_ms` (the caller's clock), not the system's.
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "sub", "jti"]);
        let data = jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(&secret), &validation).map_err(
            |e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => refused("it has expired"),
                _ => refused("its signature is not valid"),
            },
        )?;
        if data.claims.exp * 1000 <= now_ms {
            return Err(refused("it has expired"));
        }
        Ok(data.claims)
    }
}

/// The key file, or `None` when there is none yet.
fn read_key_file(path: &Path) -> Result<Option<KeyFile>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice::<KeyFile>(&bytes).map(Some).map_err(|e| {
            Error::unavailable(format!(
                "{} is damaged ({e}); restore it from a backup or delete it (every API token must then be re-issued)",
                path.display()
            ))
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(Error::unavailable(format!("cannot read {}: {err}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clock the tests' keyrings go by, in milliseconds, and claims expiring relative to it.
    const NOW_MS: i64 = 1_000_000;

    fn claims(exp_in_s: i64) -> Claims {
        let now = NOW_MS / 1000;
        Claims { sub: "1".into(), jti: "abc".into(), iat: now, exp: now + exp_in_s }
    }

    #[test]
    fn signs_verifies_and_honours_rotation_grace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/api-signing.json");
        let now = NOW_MS;
        let mut ring = Keyring::open(&path, now).unwrap();
        let token = ring.sign(&claims(3600)).unwrap();
        assert_eq!(ring.verify(&token, now, 0).unwrap().jti, "abc");
        assert!(ring.verify(&format!("{token}x"), now, 0).is_err());
        assert!(ring.verify(&ring.sign(&claims(-10)).unwrap(), now, 0).unwrap_err().message.contains("expired"));

        ring.rotate(now, 60_000).unwrap();
        assert!(ring.verify(&token, now + 30_000, 60_000).is_ok(), "old key works within the grace period");
        assert!(ring.verify(&token, now + 61_000, 60_000).is_err(), "and not after");
        let reloaded = Keyring::open(&path, now).unwrap();
        assert_eq!(reloaded.keys().len(), 2);
        assert!(reloaded.verify(&ring.sign(&claims(60)).unwrap(), now, 0).is_ok());
    }

    #[test]
    fn a_rotation_by_another_process_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api-signing.json");
        let now = NOW_MS;
        let mut server = Keyring::open(&path, now).unwrap();
        assert!(!server.is_stale());
        let mut cli = Keyring::open(&path, now).unwrap();
        cli.rotate(now, 60_000).unwrap();
        assert!(server.is_stale(), "the file the CLI wrote is noticed");
        server.reload().unwrap();
        assert!(!server.is_stale());
        assert!(server.verify(&cli.sign(&claims(60)).unwrap(), now, 60_000).is_ok(), "the CLI's new key is known");
        assert_eq!(server.keys(), cli.keys());
        // The CLI rotates again; the server's own rotation then keeps the CLI's key.
        cli.rotate(now + 1, 60_000).unwrap();
        let cli_key = cli.keys().last().unwrap().kid.clone();
        server.rotate(now + 2, 60_000).unwrap();
        assert!(server.keys().iter().any(|k| k.kid == cli_key), "not written over from memory");
        assert_eq!(Keyring::open(&path, now).unwrap().keys(), server.keys());
    }
}
