//! The Discovery page: cameras found on the LAN, "Scan now", ignore, and adoption of an ONVIF
//! camera (credentials → its streams → a running camera with the chosen stream for detection).
//! Nodes found by the same scans are on the Nodes page (`nodes.rs`).

use super::access::audit;
use super::forms::{field, form_fields};
use super::respond::{PageResult, html, ok, redirect, same_site_path};
use super::view::{Me, format_ago};
use crate::app::state::AppState;
use crate::auth::Identity;
use crate::camera::settings::CameraConfig;
use crate::db::entities::discovered_device;
use crate::discovery::inbox::PendingAdoption;
use crate::discovery::onvif::{OnvifClient, OnvifErrorKind, Profile};
use crate::error::Error;
use crate::recording::settings::RecordMode;
use crate::secret::{Secret, redact_url, with_credentials};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

/// A found device as the page lists it.
struct DeviceView {
    /// The endpoint, encoded for use in a URL path.
    key: String,
    name: String,
    what: String,
    address: String,
    status: String,
    camera_id: String,
    seen: String,
}

impl DeviceView {
    fn of(row: &discovered_device::Model) -> Self {
        let what = [row.manufacturer.as_deref(), row.model.as_deref()].into_iter().flatten().collect::<Vec<_>>();
        Self {
            key: device_key(&row.id),
            name: row.name.clone().unwrap_or_else(|| "(no name)".into()),
            what: what.join(" "),
            address: row.address.clone(),
            status: row.status.clone(),
            camera_id: row.camera_id.clone().unwrap_or_default(),
            seen: format_ago(row.last_seen_ms),
        }
    }
}

/// A found device's id (a URN, spaces and all), encoded for use in a URL path.
pub(super) fn device_key(id: &str) -> String {
    // Form encoding writes a space as `+`, which a path keeps literally: use %20.
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>().replace('+', "%20")
}

#[derive(Template)]
#[template(path = "discovery.html")]
struct DiscoveryPage {
    nav: &'static str,
    me: Me,
    devices: Vec<DeviceView>,
    scanning: bool,
    scan_text: String,
    scan_error: String,
    interfaces: String,
    nodes: usize,
}

pub(super) async fn discovery_page(state: web::Data<AppState>, me: Identity) -> PageResult {
    let scan = state.inbox.state();
    let scan_text = match (scan.running_since_ms, scan.last_finished_ms) {
        (Some(since), _) => format!("Scanning… started {}", format_ago(since)),
        (None, Some(done)) => format!(
            "Last scan {}: {} camera(s) and {} node(s) answered.",
            format_ago(done),
            scan.last_cameras,
            scan.last_nodes
        ),
        (None, None) => "No scan yet.".into(),
    };
    let discovery = &state.config.discovery;
    let interfaces = if discovery.interfaces.is_empty() {
        "every network interface that can send multicast".to_string()
    } else {
        discovery.interfaces.join(", ")
    };
    let devices = state.db.list_discovered().await?.iter().map(DeviceView::of).collect();
    ok(DiscoveryPage {
        nav: "discovery",
        me: Me::of(&me),
        devices,
        scanning: scan.running_since_ms.is_some(),
        scan_text,
        scan_error: scan.last_error.unwrap_or_default(),
        interfaces,
        nodes: state.db.list_nodes().await?.len(),
    }
    .render())
}

/// "Scan now", from the Discovery page or the setup guide (`back`), where the browser returns.
pub(super) async fn scan_now(state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    state.inbox.scan_now();
    let fields = form_fields(&body);
    redirect(&same_site_path(field(&fields, "back")).unwrap_or_else(|| "/discovery".into()))
}

pub(super) async fn discovery_api(state: web::Data<AppState>) -> Result<HttpResponse, super::respond::ApiError> {
    let devices: Vec<serde_json::Value> = state
        .db
        .list_discovered()
        .await?
        .into_iter()
        .map(|d| {
            serde_json::json!({
                "id": d.id, "kind": d.kind, "name": d.name, "manufacturer": d.manufacturer, "model": d.model,
                "address": d.address, "xaddrs": crate::db::stored_json_or_logged::<serde_json::Value>(&d.xaddrs, format_args!("device {}'s addresses", d.id)),
                "status": d.status, "camera": d.camera_id, "first_seen_ms": d.first_seen_ms, "last_seen_ms": d.last_seen_ms,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "scan": state.inbox.state(), "devices": devices })))
}

async fn find_device(state: &AppState, id: &str) -> Result<discovered_device::Model, Error> {
    state.db.get_discovered(id).await?.ok_or_else(|| Error::not_found("That device is not in the discovery list."))
}

pub(super) async fn toggle_ignore(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    id: web::Path<String>,
) -> PageResult {
    let device = find_device(&state, &id).await?;
    let status = if device.status == "ignored" { "new" } else { "ignored" };
    state.db.set_discovered_status(&device.id, status, device.camera_id.as_deref()).await?;
    audit(&state, &me, &req, "discovery.status", Some(&device.id), status).await;
    Ok(redirect("/discovery"))
}

#[derive(Template)]
#[template(path = "adopt_credentials.html")]
struct CredentialsPage {
    nav: &'static str,
    me: Me,
    device: DeviceView,
    username: String,
    error: String,
}

pub(super) async fn adopt_form(state: web::Data<AppState>, me: Identity, id: web::Path<String>) -> PageResult {
    let device = find_device(&state, &id).await?;
    let page = CredentialsPage {
        nav: "discovery",
        me: Me::of(&me),
        device: DeviceView::of(&device),
        username: "admin".into(),
        error: String::new(),
    };
    ok(page.render())
}

/// Signs in to the camera with the given credentials and lists its usable streams.
pub(super) async fn adopt_connect(
    state: web::Data<AppState>,
    me: Identity,
    id: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    let device = find_device(&state, &id).await?;
    let fields = form_fields(&body);
    let username = field(&fields, "username").trim().to_string();
    let password = field(&fields, "password").to_string();
    let refuse = |error: String| {
        let page = CredentialsPage {
            nav: "discovery",
            me: Me::of(&me),
            device: DeviceView::of(&device),
            username: username.clone(),
            error,
        };
        Ok(html(StatusCode::UNPROCESSABLE_ENTITY, page.render()))
    };
    let xaddrs: Vec<String> = crate::db::stored_json(&device.xaddrs, format_args!("device {}'s addresses", device.id))?;
    let Some(device_url) = xaddrs.first() else { return refuse("The camera gave no address to reach it at.".into()) };
    let result = async {
        let mut client = OnvifClient::connect(device_url, &username, &password).await?;
        let info = client.device_information().await?;
        let profiles = client.profiles().await?;
        let mut streams = Vec::new();
        for profile in profiles.into_iter().filter(|p| p.usable()) {
            let uri = client.stream_uri(&profile.token).await?;
            streams.push((profile, uri));
        }
        Ok::<_, crate::discovery::onvif::OnvifError>((info, streams))
    }
    .await;
    match result {
        Ok((_, streams)) if streams.is_empty() => refuse(
            "The camera has no H.264 or H.265 stream; switch one of its profiles to H.264 in its own settings.".into(),
        ),
        Ok((info, streams)) => {
            // What the camera says it is, for the list (its announcement may not have said).
            state.db.set_discovered_make(&device.id, &info.manufacturer, &info.model).await?;
            let adoption = PendingAdoption::new(
                device.id.clone(),
                username,
                Secret::new(password),
                (info.manufacturer, info.model),
                streams,
            );
            let key = state.inbox.hold(adoption);
            Ok(redirect(&format!("/discovery/adopt/{key}")))
        }
        Err(err) => {
            let hint = match err.kind {
                OnvifErrorKind::WrongCredentials => " Nothing was created.",
                _ => "",
            };
            refuse(format!("{}{hint}", err.message))
        }
    }
}

/// One stream offered for detection.
struct StreamView {
    index: usize,
    /// "Channel 2: " when the device has more than one (an NVR), else empty.
    channel: String,
    /// "Main stream · H.264 2560×1440 at 20 fps".
    text: String,
    /// The profile's own name (`mainStream`, `VS_1`), for those who know it.
    profile: String,
    suggested: bool,
    /// Suggested for recording: the largest stream of the suggested channel.
    suggested_for_recording: bool,
}

#[derive(Template)]
#[template(path = "adopt_streams.html")]
struct StreamsPage {
    nav: &'static str,
    me: Me,
    key: String,
    title: String,
    streams: Vec<StreamView>,
    id: String,
    name: String,
    error: String,
}

fn streams_page(
    me: &Identity,
    key: &str,
    adoption: &PendingAdoption,
    id: String,
    name: String,
    error: String,
) -> StreamsPage {
    // Suggested for detection: the smallest stream of the first channel (a sub-stream); for
    // recording, the largest of the same channel (its main stream).
    let smallest = adoption.streams.iter().enumerate().min_by_key(|(_, (p, _))| p.width * p.height).map(|(i, _)| i);
    let channel = smallest.map(|i| adoption.streams[i].0.source.clone());
    let largest = adoption
        .streams
        .iter()
        .enumerate()
        .filter(|(_, (p, _))| Some(&p.source) == channel.as_ref())
        .max_by_key(|(_, (p, _))| p.width * p.height)
        .map(|(i, _)| i);
    let streams = stream_views(&adoption.streams, smallest, largest);
    StreamsPage {
        nav: "discovery",
        me: Me::of(me),
        key: key.to_string(),
        title: Some(format!("{} {}", adoption.manufacturer, adoption.model).trim().to_string())
            .filter(|title| !title.is_empty())
            .unwrap_or_else(|| "The camera".into()),
        streams,
        id,
        name,
        error,
    }
}

/// The streams as the page offers them; `suggested` and `for_recording` are indexes into `streams`.
fn stream_views(
    streams: &[(Profile, String)],
    suggested: Option<usize>,
    for_recording: Option<usize>,
) -> Vec<StreamView> {
    // Channels numbered in the order the device lists them; within one, streams by size.
    let mut sources: Vec<&str> = Vec::new();
    for (profile, _) in streams {
        if !sources.contains(&profile.source.as_str()) {
            sources.push(&profile.source);
        }
    }
    streams
        .iter()
        .enumerate()
        .map(|(index, (profile, _))| {
            let rank = streams
                .iter()
                .filter(|(other, _)| {
                    other.source == profile.source && other.width * other.height > profile.width * profile.height
                })
                .count();
            let channel = sources.iter().position(|s| *s == profile.source).unwrap_or_default() + 1;
            StreamView {
                index,
                channel: if sources.len() > 1 { format!("Channel {channel}: ") } else { String::new() },
                text: format!(
                    "{} · {} {}×{}{}",
                    stream_rank_name(rank),
                    codec_name(&profile.encoding),
                    profile.width,
                    profile.height,
                    profile.fps.map(|f| format!(" at {f} fps")).unwrap_or_default()
                ),
                profile: profile.name.clone(),
                suggested: Some(index) == suggested,
                suggested_for_recording: Some(index) == for_recording,
            }
        })
        .collect()
}

/// A channel's streams by size, as cameras' own pages name them.
fn stream_rank_name(rank: usize) -> String {
    match rank {
        0 => "Main stream".into(),
        1 => "Sub stream".into(),
        2 => "Third stream".into(),
        n => format!("Stream {}", n + 1),
    }
}

/// ONVIF's encoding names (`H264`, `H265`) as people write them.
fn codec_name(encoding: &str) -> String {
    match encoding.to_ascii_uppercase().as_str() {
        "H264" => "H.264".into(),
        "H265" | "HEVC" => "H.265".into(),
        _ => encoding.to_string(),
    }
}

/// An id for a new camera from its name, with "-2", "-3", … when a camera has it already (the
/// next channel of an NVR, a second camera of one model).
fn unused_id(state: &AppState, name: &str) -> String {
    let base = suggested_id(name);
    (1..)
        .map(|n| if n == 1 { base.clone() } else { format!("{base}-{n}") })
        .find(|id| state.cameras.get(id).is_none())
        .unwrap_or(base)
}

pub(super) fn suggested_id(name: &str) -> String {
    let slug: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let slug: String = slug.chars().take(40).collect();
    if slug.is_empty() { "camera".into() } else { slug }
}

pub(super) async fn adopt_streams(state: web::Data<AppState>, me: Identity, key: web::Path<String>) -> PageResult {
    let adoption = state.inbox.pending(&key).ok_or_else(|| {
        Error::not_found("This adoption has expired (15 minutes); start again from the Discovery page.")
    })?;
    let device = find_device(&state, &adoption.device_id).await?;
    let name = device.name.clone().unwrap_or_else(|| adoption.model.clone());
    ok(streams_page(&me, &key, &adoption, unused_id(&state, &name), name, String::new()).render())
}

/// Creates the camera from the chosen stream, with the credentials sealed like any camera's.
pub(super) async fn adopt_create(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    key: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    let adoption = state.inbox.pending(&key).ok_or_else(|| {
        Error::not_found("This adoption has expired (15 minutes); start again from the Discovery page.")
    })?;
    let fields = form_fields(&body);
    let id = field(&fields, "id").trim().to_string();
    let name = field(&fields, "name").trim().to_string();
    let chosen = field(&fields, "stream").parse::<usize>().ok().and_then(|i| adoption.streams.get(i));
    let again = |error: String| {
        Ok(html(
            StatusCode::UNPROCESSABLE_ENTITY,
            streams_page(&me, &key, &adoption, id.clone(), name.clone(), error).render(),
        ))
    };
    let Some((profile, uri)) = chosen else { return again("Choose the stream to watch.".into()) };
    if state.cameras.get(&id).is_some() {
        return again(format!("{id:?} is already used by another camera; choose another id."));
    }
    let url = with_credentials(uri, &adoption.username, adoption.password.expose());
    let mut camera = CameraConfig::new(id.clone(), name.clone(), url);
    if let Some(fps) = profile.fps {
        camera.detect.fps = camera.detect.fps.min(fps.max(1));
    }
    // The record stream is stored without credentials: the camera's are used for it.
    let record_stream = field(&fields, "record_stream").parse::<usize>().ok().and_then(|i| adoption.streams.get(i));
    if let Some((_, record_uri)) = record_stream {
        camera.record.mode = match field(&fields, "record_mode") {
            "continuous" => RecordMode::Continuous,
            _ => RecordMode::Events,
        };
        camera.record.url = (record_uri != uri).then(|| record_uri.clone());
    }
    if let Some(problems) = camera.problems_in_words() {
        return again(problems);
    }
    let camera_id = camera.id.clone();
    let started = start_adopted_camera(&state, &me, &req, camera, "discovery").await?;
    state.db.set_discovered_status(&adoption.device_id, "adopted", Some(&camera_id)).await?;
    state.inbox.finish(&key);
    Ok(started)
}

/// Stores an adopted camera like one added by hand (credentials sealed), records it in the audit
/// log, starts it, and sends the browser to its page.
pub(super) async fn start_adopted_camera(
    state: &AppState,
    me: &Identity,
    req: &HttpRequest,
    camera: CameraConfig,
    from: &str,
) -> Result<HttpResponse, Error> {
    let (id, url) = (camera.id.clone(), redact_url(&camera.url));
    state.camera_manager.create(camera).await?;
    audit(state, me, req, "camera.adopt", Some(&id), &url).await;
    tracing::info!(camera = %id, %url, from, "camera adopted");
    Ok(redirect(&format!("/cameras/{id}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_keys_are_path_safe_and_ids_become_camera_slugs() {
        let row = discovered_device::Model {
            id: "urn:uuid:a b/c+d".into(),
            kind: "onvif".into(),
            name: None,
            manufacturer: Some("Axis".into()),
            model: None,
            address: "10.0.0.2".into(),
            xaddrs: "[]".into(),
            status: "new".into(),
            camera_id: None,
            first_seen_ms: 0,
            last_seen_ms: 0,
        };
        let view = DeviceView::of(&row);
        assert_eq!(view.key, "urn%3Auuid%3Aa%20b%2Fc%2Bd");
        assert_eq!((view.name.as_str(), view.what.as_str()), ("(no name)", "Axis"));
        assert_eq!(suggested_id("HIKVISION DS-2CD2143G0-I"), "hikvision-ds-2cd2143g0-i");
        assert_eq!(suggested_id("***"), "camera");
    }

    #[test]
    fn an_nvr_s_streams_are_named_by_channel_and_size_not_by_token() {
        let profile = |token: &str, source: &str, encoding: &str, width: u32, fps: Option<u32>| {
            let height = width * 9 / 16;
            let profile = Profile {
                token: token.into(),
                name: token.into(),
                encoding: encoding.into(),
                width,
                height,
                fps,
                source: source.into(),
            };
            (profile, format!("rtsp://nvr/{token}"))
        };
        let streams = [
            profile("VS_1_main", "VS_1", "H265", 2560, Some(20)),
            profile("VS_1_sub", "VS_1", "H264", 640, Some(10)),
            profile("VS_2_sub", "VS_2", "H264", 704, None),
            profile("VS_2_main", "VS_2", "H264", 1920, Some(25)),
            profile("VS_2_third", "VS_2", "H264", 1280, Some(25)),
        ];
        let views = stream_views(&streams, Some(1), Some(0));
        let shown: Vec<String> = views.iter().map(|v| format!("{}{}", v.channel, v.text)).collect();
        assert_eq!(
            shown,
            [
                "Channel 1: Main stream · H.265 2560×1440 at 20 fps",
                "Channel 1: Sub stream · H.264 640×360 at 10 fps",
                "Channel 2: Third stream · H.264 704×396",
                "Channel 2: Main stream · H.264 1920×1080 at 25 fps",
                "Channel 2: Sub stream · H.264 1280×720 at 25 fps",
            ]
        );
        assert!(views.iter().all(|v| !v.text.contains("VS_")), "no ONVIF tokens in the words");
        assert_eq!(views[0].profile, "VS_1_main", "the profile's own name is kept for a tooltip");
        assert!(views[1].suggested && views[0].suggested_for_recording);
        assert_eq!(views.iter().filter(|v| v.suggested || v.suggested_for_recording).count(), 2);
    }
}
