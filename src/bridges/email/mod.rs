//! E-mail alerts over SMTP (lettre, rustls): one message per alert to every `[email] to` address,
//! HTML with the snapshot inline (and a plain-text part), sent from the alerts outbox
//! ([`super::delivery`]) so a mail server that is down gets the alert later, once.

pub mod settings;

use super::delivery::{self, AlertSender, SendFailure};
use super::{Bridge, BridgeContext, BridgeHealth, HealthCell};
use crate::alerts::AlertView;
use crate::config::Config;
use crate::supervise::CancellationToken;
use askama::Template;
use futures_util::future::BoxFuture;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, Mailboxes, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use settings::EmailConfig;
use std::sync::Arc;
use std::time::Duration;

pub struct EmailBridge {
    config: EmailConfig,
    context: BridgeContext,
    health: HealthCell,
}

impl EmailBridge {
    /// The e-mail bridge when `[email] smtp_host` is set.
    pub fn from_config(config: &Config, context: &BridgeContext) -> Option<Arc<dyn Bridge>> {
        let config = config.email.clone();
        if !config.enabled() {
            return None;
        }
        let scheme = match (config.tls, config.starttls) {
            (false, _) => "smtp",
            (true, true) => "smtp+starttls",
            (true, false) => "smtps",
        };
        let health = HealthCell::new(BridgeHealth::new(
            crate::model::Channel::Email,
            format!("{scheme}://{}:{}", config.smtp_host, config.smtp_port),
        ));
        Some(Arc::new(Self { config, context: context.clone(), health }))
    }
}

impl Bridge for EmailBridge {
    fn channel(&self) -> crate::model::Channel {
        crate::model::Channel::Email
    }

    fn health(&self) -> BridgeHealth {
        self.health.get()
    }

    fn run(self: Arc<Self>, cancel: CancellationToken) -> BoxFuture<'static, ()> {
        let bus = self.context.bus.subscribe();
        Box::pin(async move {
            let sender = match Mailer::new(&self.config) {
                Ok(sender) => Arc::new(sender),
                Err(reason) => return self.health.fail_until_cancelled(reason, &cancel).await,
            };
            // Sign in once now, so the Integrations page says at once whether the settings work.
            match sender.transport.test_connection().await {
                Ok(true) => {
                    tracing::info!(server = %self.health.get().target, "the mail server accepts Watchpost");
                    self.health.set_state(super::LinkState::Connected, None);
                }
                Ok(false) => self
                    .health
                    .set_state(super::LinkState::Disconnected, Some("the mail server closed the connection".into())),
                Err(err) => {
                    let reason = describe(&err);
                    tracing::warn!(reason = %reason, "the mail server does not accept Watchpost yet");
                    self.health.set_state(super::LinkState::Disconnected, Some(reason));
                }
            }
            let (context, health) = (self.context.clone(), self.health.clone());
            delivery::serve(sender, context, health, self.config.give_up_hours, bus, cancel).await;
            tracing::info!("e-mail bridge stopped");
        })
    }

    fn send_test(&self, alert: AlertView) -> Option<BoxFuture<'static, Result<String, String>>> {
        let config = self.config.clone();
        Some(Box::pin(async move {
            let mailer = Mailer::new(&config)?;
            let to = config.to.join(", ");
            match mailer.send(&alert, &to).await {
                Ok(_) => Ok(format!("Test alert sent to {to}.")),
                Err(failure) => Err(format!("Test alert not sent: {}", failure.reason)),
            }
        }))
    }
}

/// TLS that trusts only the CA in `path` (PEM), for `[email] ca_file`.
fn tls_with_ca(host: &str, path: &std::path::Path) -> Result<TlsParameters, String> {
    let pem = std::fs::read(path)
        .map_err(|e| format!("cannot read the CA file {} ([email] ca_file): {e}", path.display()))?;
    let certificate = Certificate::from_pem(&pem)
        .map_err(|e| format!("the CA file {} ([email] ca_file) is not a PEM certificate: {e}", path.display()))?;
    TlsParameters::builder(host.to_string())
        .certificate_store(CertificateStore::None)
        .add_root_certificate(certificate)
        .build_rustls()
        .map_err(|e| format!("TLS set-up with [email] ca_file failed: {e}"))
}

/// The SMTP client and the sender's address.
struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    fn new(config: &EmailConfig) -> Result<Self, String> {
        let host = config.smtp_host.trim();
        let builder = match (config.tls, config.starttls) {
            (false, _) => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)),
            (true, true) => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
            (true, false) => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
        }
        .map_err(|err| format!("[email] smtp_host {host:?} cannot be used: {err}"))?;
        let mut builder =
            builder.port(config.smtp_port).timeout(Some(Duration::from_secs(u64::from(config.timeout_secs))));
        if let Some(path) = config.ca_file.as_ref().filter(|_| config.tls) {
            let parameters = tls_with_ca(host, path)?;
            builder = builder.tls(if config.starttls { Tls::Required(parameters) } else { Tls::Wrapper(parameters) });
        }
        if !config.username.is_empty() {
            let password = config.password.as_ref().map(|p| p.expose().to_string()).unwrap_or_default();
            builder = builder.credentials(Credentials::new(config.username.clone(), password));
        }
        let from = config
            .from
            .parse::<Mailbox>()
            .map_err(|err| format!("[email] from {:?} is not an address: {err}", config.from))?;
        Ok(Self { transport: builder.build(), from })
    }

    fn message(&self, alert: &AlertView, recipients: &str) -> Result<Message, SendFailure> {
        let permanent = |reason: String| SendFailure { reason, retry_after: None, permanent: true };
        let to: Mailboxes = recipients.parse().map_err(|err| permanent(format!("{recipients:?}: {err}")))?;
        let mut builder = Message::builder().from(self.from.clone()).subject(format!(
            "[{}] {}",
            alert.severity.as_str().to_uppercase(),
            alert.headline()
        ));
        for mailbox in to {
            builder = builder.to(mailbox);
        }
        let html = AlertEmail { alert, has_snapshot: alert.snapshot.is_some() }
            .render()
            .map_err(|err| permanent(format!("the e-mail cannot be written: {err}")))?;
        let mut related = MultiPart::related().singlepart(SinglePart::html(html));
        if let Some(jpeg) = &alert.snapshot {
            related = related.singlepart(
                Attachment::new_inline("snapshot".into())
                    .body(jpeg.clone(), ContentType::parse("image/jpeg").expect("a MIME type")),
            );
        }
        let body = MultiPart::alternative().singlepart(SinglePart::plain(alert.text(usize::MAX))).multipart(related);
        builder.multipart(body).map_err(|err| permanent(format!("the e-mail cannot be written: {err}")))
    }
}

impl AlertSender for Mailer {
    fn channel(&self) -> crate::model::Channel {
        crate::model::Channel::Email
    }

    fn send<'a>(
        &'a self,
        alert: &'a AlertView,
        recipient: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, SendFailure>> {
        Box::pin(async move {
            let message = self.message(alert, recipient)?;
            let id = message.headers().get_raw("Message-ID").map(str::to_string);
            match self.transport.send(message).await {
                Ok(_) => Ok(id),
                // Every failure is tried again until `give_up_hours`: a wrong password or a full
                // mailbox can be mended meanwhile.
                Err(err) => Err(SendFailure::retry(describe(&err))),
            }
        })
    }
    fn send_report<'a>(
        &'a self,
        report: &'a delivery::ReportFile,
        recipients: &'a str,
    ) -> BoxFuture<'a, Result<(), SendFailure>> {
        Box::pin(async move {
            let permanent = |reason: String| SendFailure { reason, retry_after: None, permanent: true };
            let to: Mailboxes = recipients.parse().map_err(|err| permanent(format!("{recipients:?}: {err}")))?;
            let mut builder = Message::builder().from(self.from.clone()).subject(report.title.clone());
            for mailbox in to {
                builder = builder.to(mailbox);
            }
            let pdf = Attachment::new(report.file_name.clone())
                .body(report.pdf.clone(), ContentType::parse("application/pdf").expect("a MIME type"));
            let body = MultiPart::mixed()
                .singlepart(SinglePart::plain(format!("{}\n\n{}\n", report.title, report.text)))
                .singlepart(pdf);
            let message =
                builder.multipart(body).map_err(|err| permanent(format!("the e-mail cannot be written: {err}")))?;
            self.transport.send(message).await.map(|_| ()).map_err(|err| SendFailure::retry(describe(&err)))
        })
    }
}

/// An SMTP failure in words (lettre's errors never hold the password).
fn describe(err: &lettre::transport::smtp::Error) -> String {
    if err.is_timeout() {
        "the mail server did not answer in time".into()
    } else if err.is_tls() {
        format!("TLS with the mail server failed: {err}")
    } else if let Some(code) = err.status() {
        format!("the mail server refused ({code}): {err}")
    } else {
        format!("cannot reach the mail server: {err}")
    }
}

/// The HTML body.
#[derive(Template)]
#[template(path = "alert_email.html")]
struct AlertEmail<'a> {
    alert: &'a AlertView,
    has_snapshot: bool,
}
