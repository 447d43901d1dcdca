//! Outgoing HTTP clients (ONVIF, node event streams, stream checks, vision-language models, the
//! WhatsApp Cloud API): made in one place, so every client speaks TLS through rustls on the ring
//! provider, the one the MQTT bridge uses too (no OpenSSL, no second crypto library); and what their
//! answers share (`Retry-After`).

/// A reqwest client builder with TLS ready.
pub fn client_builder() -> reqwest::ClientBuilder {
    install_crypto();
    reqwest::Client::builder()
}

/// Makes ring the process's rustls provider (once; later calls change nothing).
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The seconds a response's `Retry-After` header asks to wait (the number form; a date is ignored).
pub fn retry_after(response: &reqwest::Response) -> Option<std::time::Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(std::time::Duration::from_secs)
}
