//! The far ends of push notifications, over real HTTP on 127.0.0.1: a push service as browsers'
//! vendors run it (RFC 8030: a POST of an encrypted body, answered 201, or a scripted 429 with
//! `Retry-After`, 404 or 410), an ntfy server, and a webhook receiver; each records what it got.
//! [`TestDevice`] is a browser's side of a subscription: its own P-256 key and secret, so a test
//! can read what was pushed to it (RFC 8291 decryption) and check the VAPID signature (RFC 8292).

use super::http_wire::{HttpRequest, read_request};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// A scripted answer: status and extra headers.
pub type Answer = (u16, Vec<(String, String)>);

#[derive(Default)]
struct State {
    received: Vec<HttpRequest>,
    script: VecDeque<Answer>,
}

/// An HTTP server that records every request and answers from a script, then `ok`.
pub struct Recorder {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl Recorder {
    /// Answers `ok_status` with `ok_body` once the script is used up.
    pub fn start(ok_status: u16, ok_body: &'static str) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state: Arc<Mutex<State>> = Arc::default();
        std::thread::spawn({
            let state = state.clone();
            move || {
                for mut stream in listener.incoming().flatten() {
                    let state = state.clone();
                    std::thread::spawn(move || {
                        while let Some(request) = read_request(&mut stream) {
                            let (status, headers) = {
                                let mut state = state.lock().unwrap();
                                state.received.push(request);
                                state.script.pop_front().unwrap_or((ok_status, Vec::new()))
                            };
                            let body = if (200..300).contains(&status) { ok_body } else { "{\"error\":\"scripted\"}" };
                            let mut head = format!("HTTP/1.1 {status} Scripted\r\nContent-Length: {}\r\n", body.len());
                            for (name, value) in headers {
                                head.push_str(&format!("{name}: {value}\r\n"));
                            }
                            head.push_str("Content-Type: application/json\r\n\r\n");
                            if stream
                                .write_all(head.as_bytes())
                                .and_then(|_| stream.write_all(body.as_bytes()))
                                .is_err()
                            {
                                break;
                            }
                        }
                    });
                }
            }
        });
        Self { port, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The next requests are answered like this, in order.
    pub fn script(&self, answers: &[(u16, &[(&str, &str)])]) {
        let mut state = self.state.lock().unwrap();
        for (status, headers) in answers {
            let headers = headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
            state.script.push_back((*status, headers));
        }
    }

    /// How many requests came.
    pub fn count(&self) -> usize {
        self.state.lock().unwrap().received.len()
    }

    /// Request `index` (in arrival order): method, path, headers, body.
    pub fn request(&self, index: usize) -> (String, String, Vec<(String, String)>, Vec<u8>) {
        let state = self.state.lock().unwrap();
        let r = &state.received[index];
        (r.method.clone(), r.path.clone(), r.headers.clone(), r.body.clone())
    }
}

/// A header's value among `headers` (names are lowercase).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// A browser's push subscription: its key pair and authentication secret.
pub struct TestDevice {
    secret: p256::SecretKey,
    auth: [u8; 16],
}

impl TestDevice {
    pub fn new(seed: u8) -> Self {
        let mut bytes = [seed; 32];
        bytes[0] = 1;
        Self { secret: p256::SecretKey::from_slice(&bytes).unwrap(), auth: [seed.wrapping_add(7); 16] }
    }

    /// `PushSubscription.toJSON()` for `endpoint`.
    pub fn subscription(&self, endpoint: &str) -> serde_json::Value {
        serde_json::json!({
            "endpoint": endpoint,
            "keys": { "p256dh": self.p256dh(), "auth": URL_SAFE_NO_PAD.encode(self.auth) },
        })
    }

    pub fn p256dh(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.secret.public_key().to_encoded_point(false).as_bytes())
    }

    /// The plaintext of an `aes128gcm` push body (RFC 8291 §3.4, RFC 8188), read as the browser
    /// reads it.
    pub fn decrypt(&self, body: &[u8]) -> Vec<u8> {
        use hkdf::Hkdf;
        use sha2::Sha256;
        let salt = &body[..16];
        let record_size = u32::from_be_bytes(body[16..20].try_into().unwrap());
        assert_eq!(record_size, 4096);
        let id_len = body[20] as usize;
        assert_eq!(id_len, 65, "the key id is the sender's public key");
        let sender_public = p256::PublicKey::from_sec1_bytes(&body[21..21 + id_len]).unwrap();
        let mut record = body[21 + id_len..].to_vec();
        let shared = p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), sender_public.as_affine());
        let mut key_info = b"WebPush: info\0".to_vec();
        key_info.extend_from_slice(self.secret.public_key().to_encoded_point(false).as_bytes());
        key_info.extend_from_slice(&body[21..21 + id_len]);
        let mut ikm = [0u8; 32];
        Hkdf::<Sha256>::new(Some(&self.auth), shared.raw_secret_bytes()).expand(&key_info, &mut ikm).unwrap();
        let content = Hkdf::<Sha256>::new(Some(salt), &ikm);
        let (mut cek, mut nonce) = ([0u8; 16], [0u8; 12]);
        content.expand(b"Content-Encoding: aes128gcm\0", &mut cek).unwrap();
        content.expand(b"Content-Encoding: nonce\0", &mut nonce).unwrap();
        let key = ring::aead::LessSafeKey::new(ring::aead::UnboundKey::new(&ring::aead::AES_128_GCM, &cek).unwrap());
        let plain = key
            .open_in_place(ring::aead::Nonce::assume_unique_for_key(nonce), ring::aead::Aad::empty(), &mut record)
            .expect("the body decrypts with the subscription's key");
        let end = plain.iter().rposition(|b| *b != 0).unwrap();
        assert_eq!(plain[end], 2, "one record, marked last");
        plain[..end].to_vec()
    }
}

/// The claims of a VAPID `Authorization` header, after checking that its public key is
/// `public_key` and that the ES256 signature is good.
pub fn vapid_claims(authorization: &str, public_key: &str) -> serde_json::Value {
    use p256::ecdsa::signature::Verifier;
    let rest = authorization.strip_prefix("vapid t=").expect("the vapid scheme");
    let (jwt, key) = rest.split_once(", k=").expect("t= and k=");
    assert_eq!(key, public_key, "k= is the server's public key");
    let (signed, signature) = jwt.rsplit_once('.').unwrap();
    let verifying = p256::ecdsa::VerifyingKey::from_sec1_bytes(&URL_SAFE_NO_PAD.decode(key).unwrap()).unwrap();
    let signature = p256::ecdsa::Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
    verifying.verify(signed.as_bytes(), &signature).expect("the JWT is signed with the server's key");
    let (header, claims) = signed.split_once('.').unwrap();
    let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap()
}
