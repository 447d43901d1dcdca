//! The Reports page and API: the reports made (scheduled and asked for), each downloadable as its
//! PDF, and "Generate now" with its progress. A user sees a report only when they may see every
//! camera it covers, so a viewer limited to some cameras never sees the others in a report.

use super::forms::{field, form_fields};
use super::respond::{ApiError, PageResult, redirect};
use crate::app::state::AppState;
use crate::auth::Identity;
use crate::db::entities::report;
use crate::error::Error;
use crate::reports::Progress;
use crate::reports::data::ReportRequest;
use crate::reports::settings::Period;
use actix_web::{HttpRequest, HttpResponse, web};

/// The newest reports the page and the API list.
const LISTED: u64 = 200;

fn cameras_of(report: &report::Model) -> Vec<String> {
    crate::db::stored_json_or_logged(&report.cameras, format_args!("report {}'s cameras", report.id))
}

fn may_see(me: &Identity, report: &report::Model) -> bool {
    let cameras = cameras_of(report);
    match &me.cameras {
        crate::model::CameraScope::All => true,
        _ => !cameras.is_empty() && cameras.iter().all(|c| me.can_see(c)),
    }
}

async fn visible_reports(state: &AppState, me: &Identity) -> Result<Vec<report::Model>, Error> {
    Ok(state.db.list_reports(LISTED).await?.into_iter().filter(|r| may_see(me, r)).collect())
}

struct ReportRow {
    id: i64,
    name: String,
    period: String,
    span: String,
    made: String,
    events: i64,
    pages: i32,
    size: String,
    by: String,
    /// Each delivery: "e-mail sent", "Telegram 123: waiting (…)".
    deliveries: Vec<String>,
}

#[derive(askama::Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    nav: &'static str,
    me: super::view::Me,
    rows: Vec<ReportRow>,
    schedules: Vec<String>,
    /// What "Generate now" is doing, in words; `working` while it runs.
    progress: Option<String>,
    working: bool,
    /// The report just made, to point at.
    made: Option<i64>,
    today: String,
}

pub(super) async fn reports_page(state: web::Data<AppState>, me: Identity) -> PageResult {
    use askama::Template;
    let mut rows = Vec::new();
    for report in visible_reports(&state, &me).await? {
        let deliveries = state
            .db
            .report_deliveries_of(report.id)
            .await?
            .into_iter()
            .map(|d| {
                let status = match (d.status, &d.last_error) {
                    (crate::model::DeliveryStatus::Pending, Some(error)) => format!("waiting ({error})"),
                    (crate::model::DeliveryStatus::Failed, Some(error)) => format!("not sent: {error}"),
                    (status, _) => status.as_str().to_string(),
                };
                format!("{}: {status}", d.channel.title())
            })
            .collect();
        rows.push(ReportRow {
            id: report.id,
            span: crate::reports::stored_period_words(&report),
            made: super::view::format_time(report.created_ms),
            by: report.requested_by.clone().unwrap_or_else(|| "schedule".into()),
            name: report.name,
            period: report.period,
            events: report.events,
            pages: report.pages,
            size: format!("{:.0} KB", report.bytes as f64 / 1000.0),
            deliveries,
        });
    }
    let schedules = state
        .config
        .reports
        .iter()
        .map(|r| {
            let when = match r.period {
                Period::Daily => format!("daily at {}", r.at),
                Period::Weekly => format!("weekly on {} at {}", r.weekday, r.at),
            };
            let cameras = if r.cameras.is_empty() { "all cameras".to_string() } else { r.cameras.join(", ") };
            let to: Vec<&str> = r.send_to.iter().map(|c| c.title()).collect();
            let to = if to.is_empty() { "kept here".to_string() } else { format!("sent by {}", to.join(" and ")) };
            format!("{}: {when}, {cameras}, {to}", r.name)
        })
        .collect();
    let progress = state.reports.progress();
    let page = ReportsPage {
        nav: "reports",
        me: super::view::Me::of(&me),
        rows,
        schedules,
        working: matches!(progress, Some(Progress::Working { .. })),
        made: match progress {
            Some(Progress::Done { report_id }) => Some(report_id),
            _ => None,
        },
        progress: progress.map(|p| match p {
            Progress::Working { step, .. } => format!("Making the report: {step}…"),
            Progress::Done { report_id } => format!("Report {report_id} is ready."),
            Progress::Failed { reason } => format!("The report could not be made: {reason}"),
        }),
        today: chrono::Local::now().date_naive().to_string(),
    };
    super::respond::ok(page.render())
}

/// "Generate now": the period, its first day and the cameras from the form.
pub(super) async fn generate(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    body: web::Bytes,
) -> PageResult {
    let fields = form_fields(&body);
    let period =
        Period::parse(field(&fields, "period")).ok_or_else(|| Error::invalid("Choose a daily or a weekly report."))?;
    let first_day = chrono::NaiveDate::parse_from_str(field(&fields, "date"), "%Y-%m-%d")
        .map_err(|_| Error::invalid("Choose the report's first day."))?;
    let request = ReportRequest {
        name: "manual".into(),
        period,
        first_day,
        zone: crate::camera::settings::TimeZone::default(),
        cameras: Vec::new(),
        top_events: 6,
    };
    if !state.reports.generate_now(request, me.name.clone(), chrono::Utc::now().timestamp_millis()) {
        return Err(Error::conflict("A report is being made already; wait for it to finish.").into());
    }
    let detail = format!("{} report from {first_day}", period.as_str());
    super::access::audit(&state, &me, &req, "report.generate", None, &detail).await;
    Ok(redirect("/reports"))
}

pub(super) async fn reports_api(state: web::Data<AppState>, me: Identity) -> Result<HttpResponse, ApiError> {
    let mut listed = Vec::new();
    for report in visible_reports(&state, &me).await? {
        let deliveries: Vec<serde_json::Value> = state
            .db
            .report_deliveries_of(report.id)
            .await?
            .into_iter()
            .map(|d| {
                serde_json::json!({
                    "channel": d.channel, "recipient": d.recipient, "status": d.status, "attempts": d.attempts,
                    "last_error": d.last_error, "sent_ms": d.sent_ms,
                })
            })
            .collect();
        listed.push(serde_json::json!({
            "id": report.id, "name": report.name, "period": report.period, "from_ms": report.from_ms,
            "to_ms": report.to_ms, "timezone": report.timezone, "cameras": cameras_of(&report),
            "created_ms": report.created_ms, "pages": report.pages, "bytes": report.bytes, "events": report.events,
            "requested_by": report.requested_by, "pdf": format!("/api/reports/{}.pdf", report.id),
            "deliveries": deliveries,
        }));
    }
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({ "reports": listed, "progress": state.reports.progress().map(|p| format!("{p:?}")) })))
}

/// `GET /api/reports/{id}.pdf`.
pub(super) async fn report_pdf(
    state: web::Data<AppState>,
    me: Identity,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || Error::not_found("There is no such report.");
    let id: i64 = path.strip_suffix(".pdf").and_then(|id| id.parse().ok()).ok_or_else(not_found)?;
    let report = state.db.get_report(id).await?.filter(|r| may_see(&me, r)).ok_or_else(not_found)?;
    let file = state.reports.file_of(&report).ok_or_else(|| Error::not_found("The report's file is gone."))?;
    let name = format!("watchpost-{}-{}.pdf", report.period, report.id);
    super::ranges::serve_file(&req, &file, "application/pdf", Some(&name)).await
}
