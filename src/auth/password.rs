//! Password hashing with argon2id (OWASP parameters, the crate's defaults) and the password rules.

use crate::error::{Error, Result};
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use std::sync::OnceLock;

pub const MIN_LENGTH: usize = 8;
const MAX_LENGTH: usize = 1024;

/// Why a new password is not accepted, in words for the form.
pub fn check_rules(password: &str) -> Result<()> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(Error::invalid(format!("The password needs at least {MIN_LENGTH} characters.")));
    }
    if length > MAX_LENGTH {
        return Err(Error::invalid(format!("The password is longer than {MAX_LENGTH} characters.")));
    }
    Ok(())
}

/// Hashes on a blocking thread (argon2id takes tens of milliseconds by design).
pub async fn hash(password: &str) -> Result<String> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .map_err(|e| Error::internal("password hashing failed").with_source(e))?
}

fn hash_now(password: &str) -> Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(format!("password hashing failed: {e}")))
}

/// Checks a password against a stored hash; `None` (unknown user) still spends the same time, so
/// response times do not tell which user names exist.
pub async fn verify(password: &str, stored_hash: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let password = password.to_string();
    let known = stored_hash.is_some();
    let stored = stored_hash.map(str::to_string);
    tokio::task::spawn_blocking(move || {
        let hash = match &stored {
            Some(hash) => hash.as_str(),
            None => DUMMY.get_or_init(|| hash_now("not a password anyone has").unwrap_or_default()).as_str(),
        };
        let matches = PasswordHash::new(hash)
            .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false);
        matches && known
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let hash = hash("correct horse").await.unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify("correct horse", Some(&hash)).await);
        assert!(!verify("wrong horse", Some(&hash)).await);
        assert!(!verify("correct horse", None).await);
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(check_rules("1234567").is_err());
        assert!(check_rules("12345678").is_ok());
    }
}
