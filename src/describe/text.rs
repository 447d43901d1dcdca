//! The words around a description: the request sent with the snapshot (placeholders filled, the
//! site's context and the JSON answer asked for), reading the model's answer (JSON or plain
//! text), and the description written from the detections when no model does it.

use crate::db::Description;

/// The request's facts about an event.
pub struct Facts<'a> {
    pub camera: &'a str,
    pub label: &'a str,
    pub zones: &'a [String],
    pub start_ms: i64,
}

/// Fills `{camera}`, `{label}`, `{zones}`, `{time}` and `{weekday}` (in the server's time zone).
pub fn fill(template: &str, facts: &Facts) -> String {
    let local =
        chrono::DateTime::from_timestamp_millis(facts.start_ms).unwrap_or_default().with_timezone(&chrono::Local);
    let zones = if facts.zones.is_empty() { "none".to_string() } else { facts.zones.join(", ") };
    template
        .replace("{camera}", facts.camera)
        .replace("{label}", facts.label)
        .replace("{zones}", &zones)
        .replace("{time}", &local.format("%H:%M").to_string())
        .replace("{weekday}", &local.format("%A").to_string())
}

/// The instructions sent before every request: the site's normal, and the answer's shape.
pub fn system_text(site_context: &str) -> String {
    let mut text = String::from("You describe snapshots from home security cameras for the people who live there. ");
    if !site_context.trim().is_empty() {
        text.push_str("What is normal at this site: ");
        text.push_str(site_context.trim());
        text.push(' ');
    }
    text.push_str(
        "Answer with one JSON object and nothing else: {\"title\": \"at most six words\", \
         \"description\": \"one or two sentences\", \"threat_level\": 0, \"reason\": \"why that level\"}. \
         threat_level 0 = normal (residents, deliveries, passers-by), 1 = worth a look, \
         2 = a threat (forcing entry, a weapon, someone trying doors at night).",
    );
    text
}

/// Longest description kept from a model.
const MAX_DESCRIPTION: usize = 2000;
const MAX_TITLE: usize = 120;

fn bounded(text: &str, max: usize) -> String {
    text.trim().chars().filter(|c| !c.is_control() || *c == '\n').take(max).collect()
}

/// Reads a model's answer: the JSON asked for (also inside a ``` fence or after a preamble), else
/// the whole answer as plain text. `None` for an empty answer.
pub fn read_answer(answer: &str, by: String, took_ms: i64) -> Option<Description> {
    let json = answer
        .find('{')
        .zip(answer.rfind('}'))
        .filter(|(start, end)| start < end)
        .and_then(|(start, end)| serde_json::from_str::<serde_json::Value>(&answer[start..=end]).ok());
    let field = |json: &serde_json::Value, key: &str| json.get(key).and_then(|v| v.as_str()).map(str::to_string);
    if let Some(json) = json
        && let Some(description) = field(&json, "description").filter(|d| !d.trim().is_empty())
    {
        let threat_level = match json.get("threat_level") {
            Some(serde_json::Value::Number(n)) => n.as_i64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        return Some(Description {
            title: field(&json, "title").map(|t| bounded(&t, MAX_TITLE)).filter(|t| !t.is_empty()),
            text: bounded(&description, MAX_DESCRIPTION),
            threat_level: threat_level.map(|t| t.clamp(0, 2) as i32),
            by,
            took_ms: Some(took_ms),
        });
    }
    let text = bounded(answer, MAX_DESCRIPTION);
    (!text.is_empty()).then_some(Description { title: None, text, threat_level: None, by, took_ms: Some(took_ms) })
}

/// "Person in Driveway at 22:14, stayed 40 s": what the detections say, without AI.
pub fn from_detections(
    label: Option<&str>,
    zones: &[String],
    camera: &str,
    start_ms: i64,
    end_ms: Option<i64>,
) -> String {
    let what = match label {
        Some(label) => {
            let mut chars = label.chars();
            chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
        }
        None => "Motion".to_string(),
    };
    let place = if zones.is_empty() { format!("on {camera}") } else { format!("in {} ({camera})", zones.join(", ")) };
    let local = chrono::DateTime::from_timestamp_millis(start_ms).unwrap_or_default().with_timezone(&chrono::Local);
    let mut text = format!("{what} {place} at {}", local.format("%H:%M"));
    if let Some(end) = end_ms {
        let seconds = ((end - start_ms).max(0) + 500) / 1000;
        text.push_str(&match seconds {
            0..60 => format!(", stayed {seconds} s"),
            _ => format!(", stayed {} min", (seconds + 30) / 60),
        });
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled() {
        let zones = ["driveway".to_string(), "porch".to_string()];
        let facts = Facts { camera: "Front", label: "person", zones: &zones, start_ms: 0 };
        let filled = fill("{label} on {camera} in {zones} at {time}, {weekday}", &facts);
        assert!(filled.starts_with("person on Front in driveway, porch at "), "{filled}");
        assert!(!filled.contains('{'), "{filled}");
        assert!(fill("{zones}", &Facts { zones: &[], ..facts }).contains("none"));
    }

    #[test]
    fn answers_are_read_as_json_or_kept_as_text() {
        let read = |answer: &str| read_answer(answer, "openai:m".into(), 5);
        let json = read("```json\n{\"title\":\"Courier at the door\",\"description\":\"A courier leaves a parcel.\",\"threat_level\":0,\"reason\":\"daytime delivery\"}\n```").unwrap();
        assert_eq!(
            (json.title.as_deref(), json.text.as_str(), json.threat_level),
            (Some("Courier at the door"), "A courier leaves a parcel.", Some(0))
        );
        let high = read("Sure! {\"description\":\"Someone tries the handle.\",\"threat_level\":\"7\"}").unwrap();
        assert_eq!((high.title, high.threat_level), (None, Some(2)), "levels are clamped to 0–2");
        let plain = read("  A man walks a dog past the gate.  ").unwrap();
        assert_eq!(
            (plain.text.as_str(), plain.title, plain.threat_level),
            ("A man walks a dog past the gate.", None, None)
        );
        assert_eq!(read("{\"title\":\"no description\"}").unwrap().text, "{\"title\":\"no description\"}");
        assert!(read("   ").is_none());
        assert_eq!(read(&"x".repeat(10_000)).unwrap().text.len(), MAX_DESCRIPTION);
    }

    #[test]
    fn detections_make_a_sentence() {
        let zones = ["Driveway".to_string()];
        let text = from_detections(Some("person"), &zones, "Front", 0, Some(40_000));
        assert!(text.starts_with("Person in Driveway (Front) at ") && text.ends_with(", stayed 40 s"), "{text}");
        let text = from_detections(Some("car"), &[], "Yard", 0, Some(185_000));
        assert!(text.starts_with("Car on Yard at ") && text.ends_with(", stayed 3 min"), "{text}");
        assert!(!from_detections(None, &[], "Yard", 0, None).contains("stayed"));
    }
}
