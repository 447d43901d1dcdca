//! Connecting to the broker: client options from `[mqtt]` (credentials, last will, TLS with
//! rustls), failures put in words a user can act on, and the one-off "test connection".

use super::topics::Topics;
use crate::bridges::mqtt::settings::MqttConfig;
use rumqttc::{AsyncClient, ConnectReturnCode, ConnectionError, Event, LastWill, MqttOptions, Packet, QoS, Transport};
use std::sync::Arc;
use std::time::Duration;

/// Seconds between keep-alive pings; a silent broker is noticed within about 1.5× this.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Seconds to wait for the broker to accept a connection.
pub const CONNECT_TIMEOUT_SECS: u64 = 5;
/// Big enough for a camera picture; commands coming in are tiny.
const MAX_OUTGOING_PACKET: usize = 8 * 1024 * 1024;
const MAX_INCOMING_PACKET: usize = 256 * 1024;

/// `mqtt://host:port` (or `mqtts://`), for pages and logs; never carries credentials.
pub fn target(config: &MqttConfig) -> String {
    let scheme = if config.tls { "mqtts" } else { "mqtt" };
    let host = if config.host.contains(':') { format!("[{}]", config.host) } else { config.host.clone() };
    format!("{scheme}://{host}:{}", config.port)
}

/// Client options: clean session, `offline` (retained) as the last will, TLS when asked.
pub fn options(config: &MqttConfig, client_id: &str) -> Result<MqttOptions, String> {
    let topics = Topics::new(&config.base_topic, &config.discovery_prefix);
    let mut options = MqttOptions::new(client_id, config.host.trim(), config.port);
    options
        .set_keep_alive(KEEP_ALIVE)
        .set_clean_session(true)
        .set_max_packet_size(MAX_INCOMING_PACKET, MAX_OUTGOING_PACKET)
        .set_last_will(LastWill::new(topics.status(), "offline", QoS::AtLeastOnce, true));
    if !config.username.is_empty() {
        let password = config.password.as_ref().map(|p| p.expose().to_string()).unwrap_or_default();
        options.set_credentials(config.username.clone(), password);
    }
    if config.tls {
        options.set_transport(Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(Arc::new(tls(config)?))));
    }
    Ok(options)
}

fn tls(config: &MqttConfig) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match &config.ca_file {
        Some(path) => {
            let certificates = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("cannot read the CA file {} ([mqtt] ca_file): {e}", path.display()))?;
            if certificates.is_empty() {
                return Err(format!("the CA file {} ([mqtt] ca_file) holds no certificate", path.display()));
            }
            for certificate in certificates {
                roots.add(certificate).map_err(|e| format!("the CA file {} is not usable: {e}", path.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err("no system certificates found; set [mqtt] ca_file to the broker's CA".into());
            }
        }
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up failed: {e}"))
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
}

/// A connection failure as a sentence that says what to check.
pub fn describe(error: &ConnectionError, config: &MqttConfig) -> String {
    let target = target(config);
    match error {
        ConnectionError::ConnectionRefused(code) => match code {
            ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized => {
                format!("The broker at {target} refused the user name or password; check them.")
            }
            ConnectReturnCode::BadClientId => {
                format!("The broker at {target} refused the client id {:?}; choose another.", config.client_id)
            }
            ConnectReturnCode::RefusedProtocolVersion => {
                format!("The broker at {target} does not speak MQTT 3.1.1.")
            }
            ConnectReturnCode::ServiceUnavailable | ConnectReturnCode::Success => {
                format!("The broker at {target} is not accepting clients right now.")
            }
        },
        ConnectionError::Io(io) => describe_io(io, &target, &config.host),
        ConnectionError::Tls(tls) => {
            format!("The TLS connection to {target} failed ({tls}); check tls, ca_file and the broker's certificate.")
        }
        ConnectionError::NetworkTimeout => {
            format!("No answer from {target} within {CONNECT_TIMEOUT_SECS} s; check the address and any firewall.")
        }
        ConnectionError::MqttState(rumqttc::StateError::Io(io)) => describe_io(io, &target, &config.host),
        ConnectionError::MqttState(rumqttc::StateError::ConnectionAborted) => {
            format!("The broker at {target} closed the connection; reconnecting.")
        }
        ConnectionError::MqttState(rumqttc::StateError::AwaitPingResp) => {
            format!("The broker at {target} stopped answering.")
        }
        other => format!("The connection to {target} broke: {other}."),
    }
}

fn describe_io(io: &std::io::Error, target: &str, host: &str) -> String {
    use std::io::ErrorKind;
    match io.kind() {
        ErrorKind::ConnectionRefused => {
            format!("Nothing accepts connections at {target}; is the broker running, and is the port right?")
        }
        ErrorKind::TimedOut => format!("No answer from {target}; check the address and any firewall."),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::UnexpectedEof => {
            format!("The broker at {target} closed the connection.")
        }
        _ if io.to_string().contains("lookup") || io.to_string().contains("resolve") => {
            format!("Cannot find the host {host:?}; check the broker's name or use its address.")
        }
        _ => format!("Cannot reach {target}: {io}."),
    }
}

/// Connects once with `config` (under its own client id, so the running bridge is not thrown off)
/// and disconnects: `Ok` with a line to show, or the reason it failed.
pub async fn test_connection(config: &MqttConfig) -> Result<String, String> {
    let client_id = format!("{}-test-{}", config.client_id, std::process::id());
    let mut options = options(config, &client_id)?;
    options.set_last_will(LastWill::new(format!("{}/test", config.base_topic), "", QoS::AtMostOnce, false));
    let (client, mut eventloop) = AsyncClient::new(options, 4);
    eventloop.network_options.set_connection_timeout(CONNECT_TIMEOUT_SECS);
    let attempt = async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(error) => return Err(describe(&error, config)),
            }
        }
    };
    let result = match tokio::time::timeout(Duration::from_secs(CONNECT_TIMEOUT_SECS + 1), attempt).await {
        Ok(result) => result,
        Err(_) => Err(format!("No answer from {} within {CONNECT_TIMEOUT_SECS} s.", target(config))),
    };
    if result.is_ok() {
        let _ = client.try_disconnect();
        let _ = tokio::time::timeout(Duration::from_secs(1), eventloop.poll()).await;
    }
    result.map(|()| format!("Connected to {} and signed in.", target(config)))
}
