//! Reading the config: TOML file, then `${VAR}` substitution, then environment overrides.
//!
//! Order of precedence (last wins): built-in defaults, the file, `WATCHPOST__SECTION__KEY`
//! variables. `${VAR}` inside a string value is replaced by the environment variable `VAR`, or by
//! the contents of the file `/run/secrets/VAR` (Docker and compose secrets) when no such variable is
//! set. Array items are addressed by index: `WATCHPOST__CAMERAS__0__URL`.

use super::Config;
use crate::checks::ConfigIssue;
use std::path::{Path, PathBuf};
use toml::Value;

/// Files tried, in order, when no `--config` is given.
pub const DEFAULT_CONFIG_PATHS: [&str; 2] = ["./watchpost.toml", "/config/watchpost.toml"];

const ENV_PREFIX: &str = "WATCHPOST__";

/// Where values for the config come from besides the file: variables and the secrets folder.
#[derive(Debug, Clone)]
pub struct Environment {
    pub vars: Vec<(String, String)>,
    pub secrets_dir: PathBuf,
}

impl Environment {
    /// The process environment; `WATCHPOST_SECRETS_DIR` moves the secrets folder from `/run/secrets`.
    pub fn from_process() -> Self {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        let secrets_dir = vars
            .iter()
            .find(|(k, _)| k == "WATCHPOST_SECRETS_DIR")
            .map(|(_, v)| PathBuf::from(v))
            .unwrap_or_else(|| PathBuf::from("/run/secrets"));
        Self { vars, secrets_dir }
    }

    fn var(&self, name: &str) -> Option<String> {
        self.vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    fn resolve(&self, name: &str) -> Option<String> {
        self.var(name).or_else(|| {
            let safe =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
            if !safe {
                return None;
            }
            std::fs::read_to_string(self.secrets_dir.join(name))
                .ok()
                .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
        })
    }
}

/// Loads the config from `path`, or from the first default path that exists, or built-in defaults.
/// Returns the config and the file it came from.
pub fn load(path: Option<&Path>) -> Result<(Config, Option<PathBuf>), Vec<ConfigIssue>> {
    let env = Environment::from_process();
    let file = match path {
        Some(p) => Some(p.to_path_buf()),
        None => DEFAULT_CONFIG_PATHS.iter().map(PathBuf::from).find(|p| p.is_file()),
    };
    let text = match &file {
        Some(p) => std::fs::read_to_string(p).map_err(|err| {
            vec![ConfigIssue { key: "(file)".into(), message: format!("cannot read {}: {err}", p.display()) }]
        })?,
        None => String::new(),
    };
    let config = parse(&text, &env)?;
    config.validate()?;
    Ok((config, file))
}

/// Parses config text with the given environment; does not validate values.
pub fn parse(text: &str, env: &Environment) -> Result<Config, Vec<ConfigIssue>> {
    let mut root: toml::Table = toml::from_str(text)
        .map_err(|err| vec![ConfigIssue { key: "(file)".into(), message: format!("is not valid TOML: {err}") }])?;
    let mut issues = Vec::new();
    for (key, value) in root.iter_mut() {
        substitute(value, key, env, &mut issues);
    }
    for (name, raw) in &env.vars {
        if let Some(path) = name.strip_prefix(ENV_PREFIX) {
            apply_override(&mut root, path, raw, name, &mut issues);
        }
    }
    if !issues.is_empty() {
        return Err(issues);
    }
    let deserializer = Value::Table(root);
    serde_path_to_error::deserialize::<_, Config>(deserializer).map_err(|err| {
        let key = err.path().to_string();
        let key = if key == "." { "(file)".to_string() } else { key };
        vec![ConfigIssue { key, message: explain_serde(&err.into_inner().to_string()) }]
    })
}

/// Turns serde's wording into a sentence that also says what to do.
fn explain_serde(message: &str) -> String {
    if message.starts_with("unknown field") {
        format!("{message}; remove it or check its spelling (see docs/config.md)")
    } else if message.starts_with("missing field") {
        format!("{message}; add it (see docs/config.md)")
    } else {
        message.to_string()
    }
}

fn substitute(value: &mut Value, key: &str, env: &Environment, issues: &mut Vec<ConfigIssue>) {
    match value {
        Value::String(s) if s.contains("${") => match substitute_str(s, env) {
            Ok(new) => *s = new,
            Err(name) => issues.push(ConfigIssue {
                key: key.to_string(),
                message: format!(
                    "refers to ${{{name}}}, but neither the environment variable {name} nor the secret file {} exists",
                    env.secrets_dir.join(&name).display()
                ),
            }),
        },
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                substitute(item, &format!("{key}[{i}]"), env, issues);
            }
        }
        Value::Table(table) => {
            for (k, v) in table.iter_mut() {
                substitute(v, &format!("{key}.{k}"), env, issues);
            }
        }
        _ => {}
    }
}

/// Replaces each `${NAME}`; returns the first name that cannot be resolved.
fn substitute_str(input: &str, env: &Environment) -> Result<String, String> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = &after[..end];
        out.push_str(&env.resolve(name).ok_or_else(|| name.to_string())?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Sets `SECTION__KEY` (case-insensitive, `__`-separated, numbers index arrays) to `raw`,
/// read as a TOML value when it parses as one (numbers, booleans, arrays) and as a string otherwise.
fn apply_override(root: &mut toml::Table, path: &str, raw: &str, var_name: &str, issues: &mut Vec<ConfigIssue>) {
    let segments: Vec<String> = path.split("__").map(|s| s.to_ascii_lowercase()).collect();
    if segments.iter().any(String::is_empty) {
        issues.push(ConfigIssue {
            key: var_name.into(),
            message: "has an empty key segment; use e.g. WATCHPOST__SERVER__BIND".into(),
        });
        return;
    }
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_string()));

    let fail =
        |issues: &mut Vec<ConfigIssue>, message: String| issues.push(ConfigIssue { key: var_name.into(), message });
    let (first, rest) = segments.split_first().expect("split yields at least one segment");
    let Some((last, middle)) = rest.split_last() else {
        root.insert(first.clone(), value);
        return;
    };
    let mut current: &mut Value = root.entry(first.clone()).or_insert_with(|| Value::Table(toml::Table::new()));
    for segment in middle {
        current = match current {
            Value::Table(table) => table.entry(segment.clone()).or_insert_with(|| Value::Table(toml::Table::new())),
            Value::Array(items) => {
                let len = items.len();
                match segment.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                    Some(item) => item,
                    None => return fail(issues, format!("index {segment} does not exist in a list of {len} item(s)")),
                }
            }
            _ => return fail(issues, format!("cannot set a key below {segment:?}, which is a plain value")),
        };
    }
    match current {
        Value::Table(table) => {
            table.insert(last.clone(), value);
        }
        Value::Array(items) => {
            let len = items.len();
            match last.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                Some(item) => *item = value,
                None => fail(issues, format!("index {last} does not exist in a list of {len} item(s)")),
            }
        }
        _ => fail(issues, "cannot set a key below a plain value".into()),
    }
}
