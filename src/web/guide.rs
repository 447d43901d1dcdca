//! The guided first setup, after the administrator account is made: (1) cameras: scan, adopt or
//! add by URL, (2) where alerts go, (3) home/away and quiet hours, (4) done. Each step can be
//! skipped and come back to. The unfinished guide is kept in the database as a draft (the setting
//! `setup-guide`), so it survives a restart and the dashboard offers "Continue setup". Only a
//! first run without cameras opens it; config-file users never see it unless they go to it.

use super::access::visible_cameras;
use super::respond::{PageResult, ok, redirect};
use super::view::{CameraView, Me};
use crate::app::state::AppState;
use crate::auth::Identity;
use crate::camera::CameraSource;
use crate::error::{Error, Result};
use crate::model::Channel;
use actix_web::web;
use askama::Template;
use serde::{Deserialize, Serialize};

/// The setting that holds the draft.
const DRAFT_KEY: &str = "setup-guide";

/// The steps, in order: (name in URLs and the draft, title).
pub(super) const STEPS: [(&str, &str); 4] = [
    ("cameras", "Find cameras"),
    ("alerts", "Where alerts go"),
    ("home", "Home, away and quiet hours"),
    ("done", "Done"),
];

/// Where a started guide stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct GuideDraft {
    /// The step to come back to.
    pub step: String,
    /// Steps left out with "Skip", offered again at the end.
    pub skipped: Vec<String>,
    pub finished: bool,
}

impl GuideDraft {
    /// The draft, if a guide was ever started.
    pub async fn load(state: &AppState) -> Result<Option<Self>> {
        let Some(text) = state.db.setting(DRAFT_KEY).await? else { return Ok(None) };
        Ok(Some(serde_json::from_str(&text).unwrap_or_else(|err| {
            tracing::warn!(error = %err, "the setup guide's draft cannot be read; starting it again");
            Self::start()
        })))
    }

    pub fn start() -> Self {
        Self { step: STEPS[0].0.into(), ..Self::default() }
    }

    pub async fn save(&self, state: &AppState) -> Result<()> {
        let text =
            serde_json::to_string(self).map_err(|e| Error::internal("cannot encode the guide").with_source(e))?;
        state.db.put_setting(DRAFT_KEY, &text).await
    }

    /// The step's number, 1–4.
    pub fn number(&self) -> usize {
        step_index(&self.step).unwrap_or(0) + 1
    }

    pub fn title(&self) -> &'static str {
        STEPS[step_index(&self.step).unwrap_or(0)].1
    }
}

fn step_index(name: &str) -> Option<usize> {
    STEPS.iter().position(|(step, _)| *step == name)
}

/// After the first administrator is made: the guide when there is no camera yet, else the
/// dashboard (the cameras came from the config file).
pub(super) async fn after_first_admin(state: &AppState) -> Result<&'static str> {
    if !state.cameras.list().is_empty() {
        return Ok("/");
    }
    GuideDraft::start().save(state).await?;
    Ok("/setup/guide")
}

/// A step as the progress list shows it.
struct StepView {
    name: &'static str,
    number: usize,
    title: &'static str,
    current: bool,
    skipped: bool,
}

/// An alert channel and whether it is set up.
struct ChannelView {
    /// The name in config and forms (`telegram`).
    name: &'static str,
    title: &'static str,
    set_up: bool,
}

impl ChannelView {
    /// "Send test alert" is offered for a channel set up; Home Assistant's test is the
    /// connection test on the Integrations page.
    fn testable(&self) -> bool {
        self.set_up && self.name != Channel::Mqtt.as_str()
    }
}

/// A found camera not adopted yet.
struct FoundView {
    key: String,
    what: String,
    address: String,
}

#[derive(Template)]
#[template(path = "guide.html")]
struct GuidePage {
    nav: &'static str,
    me: Me,
    step: &'static str,
    steps: Vec<StepView>,
    cameras: Vec<CameraView>,
    /// Cameras from the config file, whose quiet hours are set there.
    from_file: Vec<String>,
    found: Vec<FoundView>,
    scanning: bool,
    channels: Vec<ChannelView>,
    /// The channels set up, in words, for the summary.
    channels_set_up: String,
    armed: bool,
}

impl GuidePage {
    fn is_from_file(&self, id: &str) -> bool {
        self.from_file.iter().any(|f| f == id)
    }
}

#[derive(Deserialize)]
pub(super) struct GuideQuery {
    step: Option<String>,
}

/// `GET /setup/guide[?step=]`: the step asked for, else the draft's; visiting starts a draft.
pub(super) async fn guide_page(state: web::Data<AppState>, me: Identity, query: web::Query<GuideQuery>) -> PageResult {
    let saved = GuideDraft::load(&state).await?;
    let mut draft = saved.clone().unwrap_or_else(GuideDraft::start);
    if let Some(step) = query.step.as_deref().filter(|s| step_index(s).is_some()) {
        draft.step = step.to_string();
    }
    let index = step_index(&draft.step).unwrap_or(0);
    draft.step = STEPS[index].0.into();
    draft.finished = false;
    if saved.as_ref() != Some(&draft) {
        draft.save(&state).await?;
    }

    let runtimes = visible_cameras(&state, &me);
    let cameras = runtimes.iter().map(|c| CameraView::of(c)).collect();
    let from_file = runtimes.iter().filter(|c| c.source == CameraSource::Config).map(|c| c.id().to_string()).collect();
    let found = state
        .db
        .list_discovered()
        .await?
        .into_iter()
        .filter(|d| d.status == "new")
        .map(|d| FoundView {
            key: super::discovery::device_key(&d.id),
            what: [d.name.as_deref(), d.manufacturer.as_deref(), d.model.as_deref()]
                .into_iter()
                .flatten()
                .next()
                .unwrap_or("An ONVIF camera")
                .to_string(),
            address: d.address,
        })
        .collect();
    let running = super::view::channels_in_use(&state).await;
    let channels = Channel::ALL
        .into_iter()
        .map(|c| ChannelView { name: c.as_str(), title: c.title(), set_up: running.contains(&c) })
        .collect();
    let channels_set_up = match super::view::channels_in_words(&running) {
        words if words.is_empty() => "none yet".to_string(),
        words => words,
    };
    let steps = STEPS
        .iter()
        .enumerate()
        .map(|(i, (name, title))| StepView {
            name,
            number: i + 1,
            title,
            current: i == index,
            skipped: draft.skipped.iter().any(|s| s == name),
        })
        .collect();
    ok(GuidePage {
        nav: "",
        me: Me::of(&me),
        step: STEPS[index].0,
        steps,
        cameras,
        from_file,
        found,
        scanning: state.inbox.state().running_since_ms.is_some(),
        channels,
        channels_set_up,
        armed: state.cameras.controls().armed(),
    }
    .render())
}

#[derive(Deserialize)]
pub(super) struct GuideAction {
    /// The step the page showed.
    step: String,
    /// `next`, `skip`, `back`, `later` (keep the draft, go to the dashboard) or `finish`.
    action: String,
}

/// `POST /setup/guide`: moves through the steps, keeping the draft.
pub(super) async fn guide_action(state: web::Data<AppState>, form: web::Form<GuideAction>) -> PageResult {
    let index = step_index(&form.step).ok_or_else(|| Error::invalid(format!("there is no step {:?}", form.step)))?;
    let mut draft = GuideDraft::load(&state).await?.unwrap_or_else(GuideDraft::start);
    let last = STEPS.len() - 1;
    let to = match form.action.as_str() {
        "next" => {
            draft.skipped.retain(|s| s != STEPS[index].0);
            (index + 1).min(last)
        }
        "skip" => {
            if !draft.skipped.iter().any(|s| s == STEPS[index].0) {
                draft.skipped.push(STEPS[index].0.into());
            }
            (index + 1).min(last)
        }
        "back" => index.saturating_sub(1),
        "later" => index,
        "finish" => {
            draft.finished = true;
            index
        }
        other => return Err(Error::invalid(format!("there is no action {other:?}")).into()),
    };
    draft.step = STEPS[to].0.into();
    draft.save(&state).await?;
    Ok(match form.action.as_str() {
        "later" | "finish" => redirect("/"),
        _ => redirect(&format!("/setup/guide?step={}", STEPS[to].0)),
    })
}
