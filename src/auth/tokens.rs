//! API tokens: JWTs (HS256) signed with keys kept in `<data-dir>/keys/api-signing.json`.
//!
//! The JWT proves who issued it and when it expires; the `api_tokens` row decides whether it is
//! still honoured (revoked, re-issued with a grace period). Rotating the signing key adds a new key
//! and retires the old one: tokens it signed keep working for the grace period, then must be
//! re-issued.

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
}

/// What a caller may learn about a key (never the secret).
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub kid: String,
    pub created_ms: i64,
    pub retired_ms: Option<i64>,
}

impl Keyring {
    /// Loads the key file, creating it with a first key on first start.
    pub fn open(path: &Path, now_ms: i64) -> Result<Self> {
        let file = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice::<KeyFile>(&bytes).map_err(|e| {
                Error::unavailable(format!(
                    "{} is damaged ({e}); restore it from a backup or delete it (every API token must then be re-issued)",
                    path.display()
                ))
            })?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => KeyFile::default(),
            Err(err) => return Err(Error::unavailable(format!("cannot read {}: {err}", path.display()))),
        };
        let mut ring = Self { path: path.to_path_buf(), file };
        if ring.current().is_none() {
            ring.add_key(now_ms)?;
        }
        Ok(ring)
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

    fn save(&self) -> Result<()> {
        let json =
            serde_json::to_vec_pretty(&self.file).map_err(|e| Error::internal("cannot encode keys").with_source(e))?;
        crate::media::write_atomic_private(&self.path, &json)
    }

    /// Retires the current key, makes a new one current, and forgets keys retired longer than
    /// `grace_ms` ago.
    pub fn rotate(&mut self, now_ms: i64, grace_ms: i64) -> Result<()> {
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

    /// Checks the signature and expiry; a key retired more than `grace_ms` ago no longer counts.
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
        if key.retired_ms.is_some_and(|r| now_ms - r > grace_ms) {
            return Err(refused("its signing key was rotated out; re-issue the token"));
        }
        let secret = STANDARD.decode(&key.secret).map_err(|_| Error::internal("signing key is not base64"))?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub", "jti"]);
        let data = jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(&secret), &validation).map_err(
            |e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => refused("it has expired"),
                _ => refused("its signature is not valid"),
            },
        )?;
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp_in_s: i64) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims { sub: "1".into(), jti: "abc".into(), iat: now, exp: now + exp_in_s }
    }

    #[test]
    fn signs_verifies_and_honours_rotation_grace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/api-signing.json");
        let now = 1_000_000;
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
}
