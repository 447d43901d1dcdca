//! What the Telegram bot answers to its commands and buttons. The words and the actions live
//! here, apart from the Bot API, so they are the same however the bot is reached.

use crate::bridges::BridgeContext;
use crate::db::EventFilter;
use std::time::Duration;

/// What the bot says back.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Text(String),
    Photo { jpeg: Vec<u8>, caption: String },
}

pub const HELP: &str = "Watchpost commands:\n\
/status – armed or not, cameras online, alerts waiting\n\
/cameras – every camera and its alerts\n\
/snapshot <camera> – the camera's picture now\n\
/events – the latest events\n\
/mute <camera> <duration> – no alerts from it for 30m, 2h, 1d…\n\
/unmute <camera>\n\
/arm – alerts on (away)\n\
/disarm – alerts paused (home)";

/// `30m`, `2h`, `1d`, `45s` or plain minutes (`90`), up to 30 days.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim().to_ascii_lowercase();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok().filter(|n| *n > 0)?;
    let unit_seconds: u64 = match unit.trim() {
        "" | "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "s" | "sec" | "secs" => 1,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        _ => return None,
    };
    // Checked: a huge number (found by fuzzing) must be refused, not wrapped round to a short one.
    let seconds = number.checked_mul(unit_seconds)?;
    (seconds <= 30 * 86_400).then(|| Duration::from_secs(seconds))
}

/// Splits `/mute@my_bot drive 2h` into `("mute", ["drive", "2h"])`.
pub fn parse_command(text: &str) -> Option<(String, Vec<String>)> {
    let mut words = text.split_whitespace();
    let first = words.next()?.strip_prefix('/')?;
    let name = first.split('@').next().unwrap_or(first).to_ascii_lowercase();
    Some((name, words.map(str::to_string).collect()))
}

/// The answer to a command from a listed chat.
pub async fn answer(context: &BridgeContext, text: &str) -> Reply {
    let Some((name, args)) = parse_command(text) else { return Reply::Text(HELP.into()) };
    let controls = context.cameras.controls();
    match (name.as_str(), args.as_slice()) {
        ("status", _) => Reply::Text(status(context).await),
        ("cameras", _) => Reply::Text(cameras(context)),
        ("snapshot", [camera]) => snapshot(context, camera).await,
        ("events", _) => Reply::Text(events(context).await),
        ("mute", [camera, duration]) => match (known_camera(context, camera), parse_duration(duration)) {
            (Err(reply), _) => reply,
            (Ok(name), Some(duration)) => {
                let until = chrono::Utc::now() + duration;
                let until_ms = until.timestamp_millis();
                match controls.change(camera, |c| c.mute_until_ms = Some(until_ms)).await {
                    Ok(_) => {
                        tracing::info!(%camera, until = %until.to_rfc3339(), "muted from Telegram");
                        Reply::Text(format!("{name} is muted until {}.", clock(until_ms)))
                    }
                    Err(err) => Reply::Text(format!("Could not mute {name}: {err}")),
                }
            }
            (Ok(_), None) => Reply::Text(format!("{duration:?} is not a duration; try 30m, 2h or 1d.")),
        },
        ("unmute", [camera]) => match known_camera(context, camera) {
            Err(reply) => reply,
            Ok(name) => match controls.change(camera, |c| c.mute_until_ms = None).await {
                Ok(_) => {
                    tracing::info!(%camera, "unmuted from Telegram");
                    Reply::Text(format!("{name} alerts again."))
                }
                Err(err) => Reply::Text(format!("Could not unmute {name}: {err}")),
            },
        },
        ("arm", _) | ("disarm", _) => {
            let armed = name == "arm";
            match controls.set_armed(armed).await {
                Ok(()) => {
                    tracing::info!(armed, "arm/disarm from Telegram");
                    Reply::Text(crate::alerts::armed_text(armed).into())
                }
                Err(err) => Reply::Text(format!("Could not change it: {err}")),
            }
        }
        ("snapshot", _) => Reply::Text(format!("Which camera? /snapshot <camera>. {}", camera_list(context))),
        ("mute", _) => Reply::Text("Use /mute <camera> <duration>, e.g. /mute drive 2h.".into()),
        ("unmute", _) => Reply::Text("Use /unmute <camera>.".into()),
        _ => Reply::Text(HELP.into()),
    }
}

/// What a button under an alert does: `resolve:<event>`, or `mute-event:<event>` (its camera, for
/// an hour; `mute:<camera>` on buttons sent by earlier versions).
pub async fn press(context: &BridgeContext, data: &str) -> String {
    match data.split_once(':') {
        Some(("mute-event", id)) => match id.parse::<i64>() {
            Ok(id) => match context.db.get_event(id).await {
                Ok(Some(event)) => answer_text(answer(context, &format!("/mute {} 1h", event.camera_id)).await),
                Ok(None) => format!("Event {id} no longer exists."),
                Err(err) => format!("Could not mute it: {err}"),
            },
            Err(_) => "That button is broken.".into(),
        },
        Some(("resolve", id)) => match id.parse::<i64>() {
            Ok(id) => match context.db.set_events_status(&[id], crate::model::EventStatus::Resolved, None).await {
                Ok(1) => {
                    tracing::info!(event = id, "resolved from Telegram");
                    format!("Event {id} resolved.")
                }
                Ok(_) => format!("Event {id} no longer exists."),
                Err(err) => format!("Could not resolve it: {err}"),
            },
            Err(_) => "That button is broken.".into(),
        },
        Some(("mute", camera)) => answer_text(answer(context, &format!("/mute {camera} 1h")).await),
        _ => "That button is not known.".into(),
    }
}

fn answer_text(reply: Reply) -> String {
    match reply {
        Reply::Text(text) => text,
        Reply::Photo { caption, .. } => caption,
    }
}

/// The camera's display name, or the reply naming the cameras there are.
fn known_camera(context: &BridgeContext, id: &str) -> Result<String, Reply> {
    match context.cameras.get(id) {
        Some(camera) => Ok(camera.config.display_name().to_string()),
        None => Err(no_such_camera(context, id)),
    }
}

fn no_such_camera(context: &BridgeContext, id: &str) -> Reply {
    Reply::Text(format!("There is no camera {id:?}. {}", camera_list(context)))
}

fn camera_list(context: &BridgeContext) -> String {
    let ids: Vec<String> = context.cameras.list().iter().map(|c| c.id().to_string()).collect();
    if ids.is_empty() { "No cameras are set up.".into() } else { format!("Cameras: {}.", ids.join(", ")) }
}

/// `HH:MM` on the server's clock, with the date when it is not today.
fn clock(ms: i64) -> String {
    let local = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().with_timezone(&chrono::Local);
    if local.date_naive() == chrono::Local::now().date_naive() {
        local.format("%H:%M").to_string()
    } else {
        local.format("%a %d %b %H:%M").to_string()
    }
}

async fn status(context: &BridgeContext) -> String {
    let armed = context.cameras.controls().armed();
    let (online, all) = (context.cameras.online_count(), context.cameras.list().len());
    let waiting = context
        .db
        .count_deliveries(crate::model::Channel::Telegram, crate::model::DeliveryStatus::Pending)
        .await
        .unwrap_or(0);
    format!(
        "{}\nCameras online: {online} of {}\nAlerts waiting to be sent here: {waiting}",
        crate::alerts::armed_text(armed),
        all
    )
}

fn cameras(context: &BridgeContext) -> String {
    let controls = context.cameras.controls();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut lines = Vec::new();
    for camera in context.cameras.list() {
        let switches = controls.get(camera.id());
        let alerts = match switches.mute_until_ms {
            _ if !switches.alerts => "alerts off".to_string(),
            Some(until) if until > now_ms => format!("muted until {}", clock(until)),
            _ => "alerts on".to_string(),
        };
        lines.push(format!(
            "• {} ({}): {}, {alerts}",
            camera.config.display_name(),
            camera.id(),
            camera.status().state.as_str()
        ));
    }
    if lines.is_empty() { "No cameras are set up.".into() } else { lines.join("\n") }
}

async fn snapshot(context: &BridgeContext, id: &str) -> Reply {
    // One look-up: a camera deleted meanwhile is simply not there.
    let Some(camera) = context.cameras.get(id) else { return no_such_camera(context, id) };
    let name = camera.config.display_name().to_string();
    match camera.latest_jpeg().await {
        Ok(Some(jpeg)) => Reply::Photo {
            jpeg: jpeg.to_vec(),
            caption: format!("{name}, {}", clock(chrono::Utc::now().timestamp_millis())),
        },
        Ok(None) => Reply::Text(format!("{name} has no picture yet ({}).", camera.status().state.as_str())),
        Err(err) => Reply::Text(format!("Could not take a picture from {name}: {err}")),
    }
}

async fn events(context: &BridgeContext) -> String {
    let filter = EventFilter { limit: 5, ..Default::default() };
    let events = match context.db.list_events(&filter).await {
        Ok(events) => events,
        Err(err) => return format!("Could not read the events: {err}"),
    };
    if events.is_empty() {
        return "No events yet.".into();
    }
    let lines: Vec<String> = events
        .iter()
        .map(|e| {
            let what =
                e.title.clone().unwrap_or_else(|| e.label.clone().unwrap_or_else(|| e.kind.as_str().to_string()));
            format!(
                "#{} {} — {}, {} ({}, {})",
                e.id,
                what,
                e.camera_id,
                clock(e.start_ms),
                e.severity.as_str(),
                e.status.as_str()
            )
        })
        .collect();
    format!("{}\n{}/events", lines.join("\n"), context.ui_url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("30m"), Some(Duration::from_secs(1800)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2 hours"), Some(Duration::from_secs(7200)));
        // 307445734561825861 minutes wrap round to 44 s in unchecked arithmetic (found by fuzzing).
        for bad in ["", "0", "h", "2x", "-1h", "31d", "1.5h", "307445734561825861m", "99999999999999999999d"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn commands_lose_the_bot_name_and_keep_their_arguments() {
        assert_eq!(parse_command("/mute@watch_bot drive 2h"), Some(("mute".into(), vec!["drive".into(), "2h".into()])));
        assert_eq!(parse_command("/STATUS"), Some(("status".into(), vec![])));
        assert_eq!(parse_command("hello"), None);
    }
}
