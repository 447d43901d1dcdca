//! The MQTT topic layout, in one place: state and commands under `<base>/<camera>/…`, the hub under
//! `<base>/hub/…`, availability on `<base>/status`, discovery under `<prefix>/…`.

/// Builds every topic Watchpost publishes or listens to.
#[derive(Debug, Clone)]
pub struct Topics {
    base: String,
    prefix: String,
}

/// Commands a camera accepts on `<base>/<camera>/<command>/set`.
pub const COMMANDS: [&str; 5] = ["detect", "alerts", "record", "mute_until", "armed"];

impl Topics {
    pub fn new(base: &str, prefix: &str) -> Self {
        Self { base: base.to_string(), prefix: prefix.to_string() }
    }

    /// `online` / `offline` (retained; the broker publishes `offline` as Watchpost's last will).
    pub fn status(&self) -> String {
        format!("{}/status", self.base)
    }

    pub fn camera(&self, camera: &str, leaf: &str) -> String {
        format!("{}/{camera}/{leaf}", self.base)
    }

    /// Watchpost's own device; no camera may take its id.
    pub fn hub(&self, leaf: &str) -> String {
        format!("{}/{}/{leaf}", self.base, crate::camera::settings::RESERVED_CAMERA_ID)
    }

    /// Every event as it starts, changes and ends.
    pub fn events(&self) -> String {
        format!("{}/events", self.base)
    }

    /// Every alert, for all cameras.
    pub fn alerts(&self) -> String {
        format!("{}/alerts", self.base)
    }

    pub fn discovery(&self, component: &str, node: &str, object: &str) -> String {
        format!("{}/{component}/{node}/{object}/config", self.prefix)
    }

    /// `(node, object)` from `<prefix>/<component>/<node>/<object>/config`.
    pub fn parse_discovery<'a>(&self, topic: &'a str) -> Option<(&'a str, &'a str)> {
        let rest = topic.strip_prefix(self.prefix.as_str())?.strip_prefix('/')?.strip_suffix("/config")?;
        let mut parts = rest.split('/');
        let (_component, node, object) = (parts.next()?, parts.next()?, parts.next()?);
        parts.next().is_none().then_some((node, object))
    }

    /// Home Assistant announces itself here (`online`) after it starts.
    pub fn home_assistant_status(&self) -> String {
        format!("{}/status", self.prefix)
    }

    /// The subscription covering every camera command.
    pub fn command_filter(&self) -> String {
        format!("{}/+/+/set", self.base)
    }

    /// `(camera, command)` when `topic` is a camera command.
    pub fn parse_command<'a>(&self, topic: &'a str) -> Option<(&'a str, &'a str)> {
        let rest = topic.strip_prefix(self.base.as_str())?.strip_prefix('/')?;
        let mut parts = rest.split('/');
        let (camera, command, set) = (parts.next()?, parts.next()?, parts.next()?);
        (set == "set" && parts.next().is_none() && COMMANDS.contains(&command)).then_some((camera, command))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_recognised_only_in_their_exact_shape() {
        let topics = Topics::new("home/watchpost", "homeassistant");
        assert_eq!(topics.parse_command("home/watchpost/drive/detect/set"), Some(("drive", "detect")));
        assert_eq!(topics.parse_command("home/watchpost/drive/mute_until/set"), Some(("drive", "mute_until")));
        assert_eq!(topics.parse_command("home/watchpost/drive/detect/state"), None);
        assert_eq!(topics.parse_command("home/watchpost/drive/reboot/set"), None);
        assert_eq!(topics.parse_command("other/drive/detect/set"), None);
    }
}
