//! The Web Push wire format, on the P-256, HKDF and AES-GCM code already in the tree (p256 from
//! jsonwebtoken, ring from rustls): payloads encrypted for one browser subscription with
//! `aes128gcm` (RFC 8291 over RFC 8188), and the VAPID `Authorization` header that proves to a
//! push service which server sends (RFC 8292).
//!
//! [`PushKeys`] is this server's VAPID key pair, made once and kept in `<data>/keys/vapid.key`, and
//! the key that signs the tokens a notification's actions carry ([`PushKeys::action_token`]).

use crate::error::{Error, Result};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use ring::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The one record's size as the header states it (RFC 8188 `rs`); a payload must fit in it.
const RECORD_SIZE: u32 = 4096;
/// What a payload may hold: the record less the delimiter and the AEAD tag (RFC 8291 §4 asks
/// push services to take 4096 bytes of body; the header takes 86 of them).
pub const MAX_PAYLOAD: usize = 4096 - 86 - 16 - 1;
/// How long a VAPID token is good for (RFC 8292 allows up to 24 hours).
const TOKEN_SECS: i64 = 12 * 3600;

/// A browser's subscription keys, as `PushSubscription.toJSON().keys` gives them.
pub struct SubscriptionKeys {
    /// The browser's P-256 public key (65 bytes, uncompressed).
    pub p256dh: PublicKey,
    /// The shared authentication secret (16 bytes).
    pub auth: [u8; 16],
}

impl SubscriptionKeys {
    /// From the base64url texts a browser hands over; why not, in words.
    pub fn parse(p256dh: &str, auth: &str) -> std::result::Result<Self, String> {
        let decode = |text: &str| URL_SAFE_NO_PAD.decode(text.trim().trim_end_matches('='));
        let point = decode(p256dh).map_err(|_| "keys.p256dh is not base64url".to_string())?;
        let p256dh = PublicKey::from_sec1_bytes(&point).map_err(|_| "keys.p256dh is not a P-256 public key")?;
        let auth = decode(auth).map_err(|_| "keys.auth is not base64url".to_string())?;
        let auth = auth.try_into().map_err(|_| "keys.auth is not 16 bytes".to_string())?;
        Ok(Self { p256dh, auth })
    }
}

/// `payload` encrypted for `to`, as the body of a push message (`Content-Encoding: aes128gcm`).
pub fn encrypt(payload: &[u8], to: &SubscriptionKeys) -> Result<Vec<u8>> {
    if payload.len() > MAX_PAYLOAD {
        return Err(Error::invalid(format!(
            "a push message holds at most {MAX_PAYLOAD} bytes; this one has {}",
            payload.len()
        )));
    }
    let sender = random_secret_key();
    encrypt_with(payload, to, &sender, crate::auth::random_bytes::<16>())
}

/// [`encrypt`] with a given sender key and salt (RFC 8291 §3.4), so the RFC's example can be
/// checked byte for byte.
fn encrypt_with(payload: &[u8], to: &SubscriptionKeys, sender: &SecretKey, salt: [u8; 16]) -> Result<Vec<u8>> {
    let failed = || Error::internal("push message encryption failed");
    let ua_public = to.p256dh.to_encoded_point(false);
    let as_public = sender.public_key().to_encoded_point(false);
    let shared = p256::ecdh::diffie_hellman(sender.to_nonzero_scalar(), to.p256dh.as_affine());
    // IKM = HKDF(auth_secret, ecdh_secret, "WebPush: info" ‖ 0 ‖ ua_public ‖ as_public, 32)
    let mut key_info = b"WebPush: info\0".to_vec();
    key_info.extend_from_slice(ua_public.as_bytes());
    key_info.extend_from_slice(as_public.as_bytes());
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(&to.auth), shared.raw_secret_bytes()).expand(&key_info, &mut ikm).map_err(|_| failed())?;
    let content = Hkdf::<Sha256>::new(Some(&salt), &ikm);
    let mut cek = [0u8; 16];
    content.expand(b"Content-Encoding: aes128gcm\0", &mut cek).map_err(|_| failed())?;
    let mut nonce = [0u8; 12];
    content.expand(b"Content-Encoding: nonce\0", &mut nonce).map_err(|_| failed())?;
    // One record: the payload, then 0x02 (the last record's delimiter), sealed with its tag.
    let mut record = payload.to_vec();
    record.push(2);
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek).map_err(|_| failed())?);
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut record)
        .map_err(|_| failed())?;
    let mut body = Vec::with_capacity(86 + record.len());
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(as_public.as_bytes().len() as u8);
    body.extend_from_slice(as_public.as_bytes());
    body.extend_from_slice(&record);
    Ok(body)
}

fn random_secret_key() -> SecretKey {
    loop {
        // Nearly every 32 random bytes are a valid scalar; the loop only skips 0 and ≥ n.
        if let Ok(key) = SecretKey::from_slice(&crate::auth::random_bytes::<32>()) {
            return key;
        }
    }
}

/// This server's VAPID key pair and the key of the notification action tokens.
pub struct PushKeys {
    signing: SigningKey,
    /// `applicationServerKey` for browsers and `k=` for push services (base64url, 65 bytes).
    public_b64: String,
    action_key: [u8; 32],
}

impl std::fmt::Debug for PushKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushKeys").field("public", &self.public_b64).finish_non_exhaustive()
    }
}

impl PushKeys {
    /// Loads the key file (the 32-byte private key, base64url), creating it owner-only on first
    /// start. A new key would end every subscription, so a broken file is an error, not replaced.
    pub fn open(path: &Path) -> Result<Self> {
        let secret = match std::fs::read_to_string(path) {
            Ok(text) => URL_SAFE_NO_PAD
                .decode(text.trim())
                .ok()
                .and_then(|bytes| SecretKey::from_slice(&bytes).ok())
                .ok_or_else(|| {
                    Error::unavailable(format!(
                        "{} is not a VAPID private key; restore it from a backup, or delete it (every device must then turn notifications on again)",
                        path.display()
                    ))
                })?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let secret = random_secret_key();
                crate::media::write_atomic_private(path, URL_SAFE_NO_PAD.encode(secret.to_bytes()).as_bytes())?;
                tracing::info!(path = %path.display(), "created the Web Push (VAPID) key");
                secret
            }
            Err(err) => return Err(Error::unavailable(format!("cannot read {}: {err}", path.display()))),
        };
        let public_b64 = URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(false).as_bytes());
        let mut derive = Sha256::new();
        derive.update(b"watchpost push action tokens\0");
        derive.update(secret.to_bytes());
        Ok(Self { signing: SigningKey::from(&secret), public_b64, action_key: derive.finalize().into() })
    }

    /// The public key, base64url: the browser's `applicationServerKey`.
    pub fn public_key(&self) -> &str {
        &self.public_b64
    }

    /// The `Authorization` header for a message to `endpoint` (RFC 8292 §3): an ES256 JWT for the
    /// endpoint's origin, good for 12 hours, and the public key.
    pub fn authorization(&self, endpoint: &url::Url, subject: &str, now_s: i64) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({
            "aud": endpoint.origin().ascii_serialization(),
            "exp": now_s + TOKEN_SECS,
            "sub": subject,
        });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = format!("{header}.{claims}");
        let signature: Signature = self.signing.sign(signed.as_bytes());
        format!("vapid t={signed}.{}, k={}", URL_SAFE_NO_PAD.encode(signature.to_bytes()), self.public_b64)
    }

    /// A token that lets the holder of a notification act on event `event_id` (see its
    /// snapshot, resolve it, mute its camera) as subscription `subscription_id`, until
    /// `expires_s`: `<subscription>.<expires>.<hmac>`.
    pub fn action_token(&self, subscription_id: i64, event_id: i64, expires_s: i64) -> String {
        let mac = self.action_mac(subscription_id, event_id, expires_s);
        format!("{subscription_id}.{expires_s}.{}", URL_SAFE_NO_PAD.encode(mac))
    }

    /// The subscription a token for `event_id` was made for, if it is genuine and not expired.
    pub fn check_action_token(&self, token: &str, event_id: i64, now_s: i64) -> Option<i64> {
        let mut parts = token.trim().splitn(3, '.');
        let subscription_id: i64 = parts.next()?.parse().ok()?;
        let expires_s: i64 = parts.next()?.parse().ok()?;
        let sent = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
        let expected = self.action_mac(subscription_id, event_id, expires_s);
        (crate::auth::constant_time_eq(&sent, &expected) && now_s < expires_s).then_some(subscription_id)
    }

    fn action_mac(&self, subscription_id: i64, event_id: i64, expires_s: i64) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.action_key).expect("HMAC takes any key length");
        mac.update(format!("{subscription_id}.{event_id}.{expires_s}").as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(text).unwrap()
    }

    #[test]
    fn the_rfc_8291_example_encrypts_byte_for_byte() {
        // RFC 8291, section 5 and appendix A.
        let to = SubscriptionKeys::parse(
            "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
            "BTBZMqHH6r4Tts7J_aSIgg",
        )
        .unwrap();
        let sender = SecretKey::from_slice(&b64("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw")).unwrap();
        let salt: [u8; 16] = b64("DGv6ra1nlYgDCS1FRnbzlw").try_into().unwrap();
        let body = encrypt_with(b"When I grow up, I want to be a watermelon", &to, &sender, salt).unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.encode(body),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        );
    }

    #[test]
    fn bad_subscription_keys_are_refused_in_words() {
        assert_eq!(
            SubscriptionKeys::parse("!!", "BTBZMqHH6r4Tts7J_aSIgg").err().unwrap(),
            "keys.p256dh is not base64url"
        );
        let point = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
        assert_eq!(SubscriptionKeys::parse(point, "AAAA").err().unwrap(), "keys.auth is not 16 bytes");
        assert!(SubscriptionKeys::parse("BAAA", "BTBZMqHH6r4Tts7J_aSIgg").is_err());
        let to = SubscriptionKeys::parse(point, "BTBZMqHH6r4Tts7J_aSIgg").unwrap();
        assert!(encrypt(&vec![b'x'; MAX_PAYLOAD + 1], &to).is_err());
        assert_eq!(encrypt(&vec![b'x'; MAX_PAYLOAD], &to).unwrap().len(), 4096);
    }

    #[test]
    fn the_key_is_kept_and_action_tokens_are_bound_to_their_event() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vapid.key");
        let first = PushKeys::open(&path).unwrap();
        let again = PushKeys::open(&path).unwrap();
        assert_eq!(first.public_key(), again.public_key(), "the same key after a restart");
        assert_eq!(b64(first.public_key()).len(), 65);
        let token = first.action_token(3, 42, 1_000);
        assert_eq!(again.check_action_token(&token, 42, 999), Some(3));
        assert_eq!(again.check_action_token(&token, 43, 999), None, "another event");
        assert_eq!(again.check_action_token(&token, 42, 1_000), None, "expired");
        assert_eq!(again.check_action_token(&token.replacen("3.", "4.", 1), 42, 999), None, "another subscription");
        std::fs::write(&path, "not a key").unwrap();
        assert!(PushKeys::open(&path).unwrap_err().to_string().contains("VAPID"));
    }
}
