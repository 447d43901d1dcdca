//! How handlers answer: HTML pages and their error page, JSON errors, redirects, and the one
//! mapping from error kinds to HTTP statuses ([`status_for`]). Every handler module uses these;
//! they name no handler.

use super::view::Me;
use crate::error::{Error, ErrorKind};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

/// The one mapping from error kinds to HTTP statuses.
pub fn status_for(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Logs the full error (with its cause) and returns the message a user may see.
pub fn user_message(err: &Error) -> String {
    if err.kind == ErrorKind::Internal || err.source.is_some() {
        tracing::error!(error = %err, "request failed");
    }
    match err.kind {
        ErrorKind::Internal => "Something went wrong on the server; the log has the details.".into(),
        _ => err.message.clone(),
    }
}

/// An error shown as a page, with the kind's status.
#[derive(Debug)]
pub struct PageError(pub Error);

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<Error> for PageError {
    fn from(err: Error) -> Self {
        Self(err)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    nav: &'static str,
    me: Me,
    title: String,
    message: String,
}

/// What an error page said, kept on the response so [`super::guard`] can render it again with the
/// signed-in user's navigation (the handler that failed does not know who asked).
#[derive(Debug, Clone)]
pub struct ShownError {
    pub status: actix_web::http::StatusCode,
    pub message: String,
}

/// An error as a page, without navigation until the guard adds it.
pub fn error_page(err: &Error) -> HttpResponse {
    let shown = ShownError { status: status_for(err.kind), message: user_message(err) };
    let mut response = render_error(&shown, Me::default());
    response.extensions_mut().insert(shown);
    response
}

/// The error page for `me`.
pub fn render_error(shown: &ShownError, me: Me) -> HttpResponse {
    let page = ErrorPage {
        nav: "",
        me,
        title: shown.status.canonical_reason().unwrap_or("Error").to_string(),
        message: shown.message.clone(),
    };
    html(shown.status, page.render())
}

impl ResponseError for PageError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        status_for(self.0.kind)
    }

    fn error_response(&self) -> HttpResponse {
        error_page(&self.0)
    }
}

pub type PageResult = Result<HttpResponse, PageError>;

pub fn html(status: actix_web::http::StatusCode, rendered: Result<String, askama::Error>) -> HttpResponse {
    match rendered {
        Ok(body) => HttpResponse::build(status).content_type("text/html; charset=utf-8").body(body),
        Err(err) => {
            tracing::error!(error = %err, "template failed");
            HttpResponse::InternalServerError().content_type("text/plain").body("template error")
        }
    }
}

pub fn ok(rendered: Result<String, askama::Error>) -> PageResult {
    Ok(html(actix_web::http::StatusCode::OK, rendered))
}

pub fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish()
}

/// `target` as a path on this site (`/events?day=…`), to go back to after a sign-in or a form;
/// `None` for anything a browser could take to another site (`//host`, `/\host`, or a tab or
/// newline inside, which browsers drop: `/\t/host`) or that is not a path. The answer is resolved
/// against a base URL and must keep its origin; it is plain ASCII, so it is always a valid
/// `Location`.
pub fn same_site_path(target: &str) -> Option<String> {
    if !target.starts_with('/') || target.chars().any(|c| c.is_control() || c == '\\') {
        return None;
    }
    let base = url::Url::parse("http://watchpost.invalid/").ok()?;
    let resolved = base.join(target).ok()?;
    (resolved.origin() == base.origin()).then(|| resolved[url::Position::BeforePath..].to_string())
}

pub async fn not_found() -> HttpResponse {
    PageError(Error::not_found("There is no page at this address.")).error_response()
}

/// An error answered as `{"error": "..."}` with the kind's status.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        status_for(self.0.kind)
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).json(serde_json::json!({ "error": user_message(&self.0) }))
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        Self(err)
    }
}

pub type ApiResult = Result<HttpResponse, ApiError>;
