//! MQTT settings entered on the Integrations page, kept in the database (the password sealed
//! with the credentials key). The config file's `[mqtt]` wins when it sets a host.

use crate::auth::Vault;
use crate::bridges::mqtt::settings::MqttConfig;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};

const KEY: &str = "mqtt-settings";

/// The stored form: everything in clear except the password.
#[derive(Serialize, Deserialize)]
struct Stored {
    settings: MqttConfig,
    sealed_password: Option<String>,
}

/// The settings saved from the UI, if any; a password that can no longer be unsealed is left
/// out (and logged), so the user is asked for it again rather than locked out.
pub async fn load(db: &Db, vault: &Vault) -> Result<Option<MqttConfig>> {
    let Some(text) = db.setting(KEY).await? else { return Ok(None) };
    let stored: Stored = serde_json::from_str(&text)
        .map_err(|e| Error::invalid("the saved MQTT settings cannot be read; enter them again").with_source(e))?;
    let mut settings = stored.settings;
    settings.password = match stored.sealed_password {
        Some(sealed) => match vault.open_sealed(&sealed) {
            Ok(password) => Some(Secret::new(password)),
            Err(err) => {
                tracing::error!(error = %err, "the saved MQTT password cannot be decrypted; enter it again");
                None
            }
        },
        None => None,
    };
    Ok(Some(settings))
}

pub async fn save(db: &Db, vault: &Vault, settings: &MqttConfig) -> Result<()> {
    let sealed_password =
        settings.password.as_ref().filter(|p| !p.expose().is_empty()).map(|p| vault.seal(p.expose())).transpose()?;
    let stored = Stored { settings: MqttConfig { password: None, ..settings.clone() }, sealed_password };
    let text =
        serde_json::to_string(&stored).map_err(|e| Error::internal("cannot encode MQTT settings").with_source(e))?;
    db.put_setting(KEY, &text).await
}
