//! Outgoing HTTP clients (ONVIF, node event streams, stream checks, vision-language models): made
//! in one place, so every client speaks TLS through rustls on the ring provider, the one the MQTT
//! bridge uses too (no OpenSSL, no second crypto library).

/// A reqwest client builder with TLS ready.
pub fn client_builder() -> reqwest::ClientBuilder {
    install_crypto();
    reqwest::Client::builder()
}

/// Makes ring the process's rustls provider (once; later calls change nothing).
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
