//! The public status page: HTML in Japanese and English, an Atom feed, and Statuspage-compatible
//! JSON (`/api/v2/*.json`). No authentication; no JavaScript needed.
//!
//! Every representation is rendered once into memory and served as bytes. The cache is rebuilt
//! only when the desk's change counter moved (or the minute changed, so an ongoing outage's
//! uptime bars advance): under a storm of refreshes the page costs a pointer read and a copy
//! of a reference-counted buffer, and the database is not touched. If a rebuild fails (the
//! database is down), the last good page keeps being served.
//!
//! Each representation carries a strong `ETag` (a hash of its bytes) and `Last-Modified`
//! (when its bytes last changed); `If-None-Match` / `If-Modified-Since` get `304`.
//!
//! | route | what |
//! |---|---|
//! | `GET /` `?lang=ja\|en` (else `Accept-Language`) | the page |
//! | `GET /feed.atom?lang=` | Atom feed |
//! | `GET /status.css` | style sheet |
//! | `GET /api/v2/summary.json`, `status.json`, `components.json`, `incidents.json`, `incidents/unresolved.json`, `scheduled-maintenances.json` (+ `/upcoming.json`, `/active.json`) | Statuspage API v2; update bodies in `?lang=` (default English) |

pub mod html;
pub mod lang;
pub mod snapshot;
pub mod statuspage;
pub mod uptime;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use fxdesk_desk::Desk;
use sha2::{Digest, Sha256};

use lang::Lang;
use snapshot::Snapshot;

/// Rebuild at least this often while anything is shown, so time-based parts advance.
const REBUILD_EVERY_MS: i64 = 60_000;
const CACHE_CONTROL: &str = "public, max-age=5";

/// One thing the page serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    Page(Lang),
    Feed(Lang),
    Summary(Lang),
    Status,
    Components,
    Incidents(Lang),
    Unresolved(Lang),
    Maintenances,
}

impl Resource {
    fn all() -> Vec<Resource> {
        let mut all = vec![
            Resource::Status,
            Resource::Components,
            Resource::Maintenances,
        ];
        for lang in Lang::ALL {
            all.extend([
                Resource::Page(lang),
                Resource::Feed(lang),
                Resource::Summary(lang),
                Resource::Incidents(lang),
                Resource::Unresolved(lang),
            ]);
        }
        all
    }

    fn content_type(self) -> &'static str {
        match self {
            Resource::Page(_) => "text/html; charset=utf-8",
            Resource::Feed(_) => "application/atom+xml; charset=utf-8",
            _ => "application/json",
        }
    }
}

/// A rendered representation with its validators.
#[derive(Debug, Clone)]
struct Rendered {
    body: Bytes,
    etag: HeaderValue,
    last_modified: HeaderValue,
    last_modified_s: i64,
}

#[derive(Debug)]
struct Built {
    version: u64,
    built_at_ms: i64,
    rendered: HashMap<Resource, Rendered>,
}

/// The page's shared state.
pub struct StatusSite {
    desk: Arc<Desk>,
    env: minijinja::Environment<'static>,
    current: RwLock<Option<Arc<Built>>>,
    rebuilding: tokio::sync::Mutex<()>,
}

fn etag_of(body: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(body);
    let tag = format!("\"{}\"", hex::encode(&digest[..12]));
    HeaderValue::from_str(&tag).unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

fn http_date(at_s: i64) -> HeaderValue {
    let text = jiff::Timestamp::from_second(at_s)
        .map(|t| jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&t))
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

impl StatusSite {
    pub fn new(desk: Arc<Desk>) -> Result<Arc<StatusSite>, minijinja::Error> {
        Ok(Arc::new(StatusSite {
            desk,
            env: html::environment()?,
            current: RwLock::new(None),
            rebuilding: tokio::sync::Mutex::new(()),
        }))
    }

    fn cached(&self) -> Option<Arc<Built>> {
        self.current.read().ok().and_then(|built| built.clone())
    }

    fn is_fresh(&self, built: &Built) -> bool {
        built.version == self.desk.change_version()
            && self.desk.now_ms() - built.built_at_ms < REBUILD_EVERY_MS
    }

    /// The current build, rebuilding first if the desk changed since.
    async fn built(&self) -> Option<Arc<Built>> {
        if let Some(built) = self.cached() {
            if self.is_fresh(&built) {
                return Some(built);
            }
        }
        let _one_rebuild_at_a_time = self.rebuilding.lock().await;
        let previous = self.cached();
        if let Some(built) = &previous {
            if self.is_fresh(built) {
                return previous;
            }
        }
        match self.build(previous.as_deref()).await {
            Ok(built) => {
                let built = Arc::new(built);
                if let Ok(mut slot) = self.current.write() {
                    *slot = Some(built.clone());
                }
                Some(built)
            }
            Err(err) => {
                tracing::error!("status page rebuild failed, serving the last good page: {err}");
                previous
            }
        }
    }

    async fn build(&self, previous: Option<&Built>) -> Result<Built, String> {
        // Read the version before the data: a change during the read triggers another build.
        let version = self.desk.change_version();
        let snapshot = Snapshot::load(&self.desk)
            .await
            .map_err(|err| err.to_string())?;
        let now_s = snapshot.now_ms.div_euclid(1000);
        let mut rendered = HashMap::new();
        for resource in Resource::all() {
            let body = self.render(resource, &snapshot)?;
            let etag = etag_of(&body);
            let unchanged = previous
                .and_then(|p| p.rendered.get(&resource))
                .filter(|old| old.etag == etag);
            let (last_modified, last_modified_s) = match unchanged {
                Some(old) => (old.last_modified.clone(), old.last_modified_s),
                None => (http_date(now_s), now_s),
            };
            rendered.insert(
                resource,
                Rendered {
                    body: Bytes::from(body),
                    etag,
                    last_modified,
                    last_modified_s,
                },
            );
        }
        Ok(Built {
            version,
            built_at_ms: snapshot.now_ms,
            rendered,
        })
    }

    fn render(&self, resource: Resource, snapshot: &Snapshot) -> Result<Vec<u8>, String> {
        let json =
            |value: serde_json::Value| serde_json::to_vec(&value).map_err(|err| err.to_string());
        match resource {
            Resource::Page(lang) => html::page(&self.env, snapshot, lang)
                .map(String::into_bytes)
                .map_err(|err| format!("rendering the page: {err:#}")),
            Resource::Feed(lang) => html::feed(&self.env, snapshot, lang)
                .map(String::into_bytes)
                .map_err(|err| format!("rendering the feed: {err:#}")),
            Resource::Summary(lang) => json(statuspage::summary(snapshot, lang)),
            Resource::Status => json(statuspage::status_json(snapshot)),
            Resource::Components => json(statuspage::components_json(snapshot)),
            Resource::Incidents(lang) => json(statuspage::incidents_json(snapshot, lang)),
            Resource::Unresolved(lang) => json(statuspage::unresolved_json(snapshot, lang)),
            Resource::Maintenances => json(statuspage::scheduled_maintenances_json(snapshot)),
        }
    }

    /// Answers a request for `resource`, honouring conditional headers.
    pub async fn respond(&self, resource: Resource, request: &HeaderMap) -> Response {
        let Some(built) = self.built().await else {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "5")],
                "status page unavailable",
            )
                .into_response();
        };
        let Some(rendered) = built.rendered.get(&resource) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let not_modified = match request.get(header::IF_NONE_MATCH) {
            Some(tags) => etag_matches(tags, &rendered.etag),
            None => request
                .get(header::IF_MODIFIED_SINCE)
                .and_then(|value| value.to_str().ok())
                .and_then(|text| jiff::fmt::rfc2822::parse(text).ok())
                .is_some_and(|since| rendered.last_modified_s <= since.timestamp().as_second()),
        };
        let mut response = if not_modified {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let mut response = Response::new(Body::from(rendered.body.clone()));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(resource.content_type()),
            );
            response
        };
        let headers = response.headers_mut();
        headers.insert(header::ETAG, rendered.etag.clone());
        headers.insert(header::LAST_MODIFIED, rendered.last_modified.clone());
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(CACHE_CONTROL),
        );
        if let Resource::Page(lang) = resource {
            headers.insert(header::VARY, HeaderValue::from_static("Accept-Language"));
            headers.insert(
                header::CONTENT_LANGUAGE,
                HeaderValue::from_static(lang.code()),
            );
        }
        response
    }
}

/// `If-None-Match` against our strong tag (weak comparison, as RFC 9110 asks for GET).
fn etag_matches(header: &HeaderValue, etag: &HeaderValue) -> bool {
    let Ok(text) = header.to_str() else {
        return false;
    };
    let ours = etag.to_str().unwrap_or("");
    text.split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == ours)
}

/// `?lang=` if it names one of ours.
fn query_lang(uri: &Uri) -> Option<Lang> {
    uri.query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("lang="))
        .and_then(Lang::parse)
}

fn page_lang(uri: &Uri, headers: &HeaderMap) -> Lang {
    query_lang(uri).unwrap_or_else(|| {
        Lang::negotiate(
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok()),
        )
    })
}

type Site = State<Arc<StatusSite>>;

async fn page(State(site): Site, uri: Uri, headers: HeaderMap) -> Response {
    let lang = page_lang(&uri, &headers);
    site.respond(Resource::Page(lang), &headers).await
}

async fn feed(State(site): Site, uri: Uri, headers: HeaderMap) -> Response {
    let lang = page_lang(&uri, &headers);
    site.respond(Resource::Feed(lang), &headers).await
}

fn json_lang(uri: &Uri) -> Lang {
    query_lang(uri).unwrap_or(Lang::En)
}

async fn summary(State(site): Site, uri: Uri, headers: HeaderMap) -> Response {
    site.respond(Resource::Summary(json_lang(&uri)), &headers)
        .await
}

async fn status(State(site): Site, headers: HeaderMap) -> Response {
    site.respond(Resource::Status, &headers).await
}

async fn components(State(site): Site, headers: HeaderMap) -> Response {
    site.respond(Resource::Components, &headers).await
}

async fn incidents(State(site): Site, uri: Uri, headers: HeaderMap) -> Response {
    site.respond(Resource::Incidents(json_lang(&uri)), &headers)
        .await
}

async fn unresolved(State(site): Site, uri: Uri, headers: HeaderMap) -> Response {
    site.respond(Resource::Unresolved(json_lang(&uri)), &headers)
        .await
}

async fn maintenances(State(site): Site, headers: HeaderMap) -> Response {
    site.respond(Resource::Maintenances, &headers).await
}

const STYLE_SHEET: &str = include_str!("../../static/status.css");

async fn style_sheet(headers: HeaderMap) -> Response {
    static_file(&headers, STYLE_SHEET, "text/css; charset=utf-8")
}

/// A file compiled into the binary, with an ETag of its bytes.
pub fn static_file(
    headers: &HeaderMap,
    text: &'static str,
    content_type: &'static str,
) -> Response {
    let etag = etag_of(text.as_bytes());
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|tags| etag_matches(tags, &etag));
    let cache = (
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    if not_modified {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag), cache]).into_response();
    }
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::ETAG, etag),
            cache,
        ],
        text,
    )
        .into_response()
}

/// The public routes.
pub fn router(site: Arc<StatusSite>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/feed.atom", get(feed))
        .route("/status.css", get(style_sheet))
        .route("/api/v2/summary.json", get(summary))
        .route("/api/v2/status.json", get(status))
        .route("/api/v2/components.json", get(components))
        .route("/api/v2/incidents.json", get(incidents))
        .route("/api/v2/incidents/unresolved.json", get(unresolved))
        .route("/api/v2/scheduled-maintenances.json", get(maintenances))
        .route(
            "/api/v2/scheduled-maintenances/upcoming.json",
            get(maintenances),
        )
        .route(
            "/api/v2/scheduled-maintenances/active.json",
            get(maintenances),
        )
        .with_state(site)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_match_lists_weak_forms_and_star() {
        let ours = HeaderValue::from_static("\"abc\"");
        assert!(etag_matches(&HeaderValue::from_static("\"abc\""), &ours));
        assert!(etag_matches(
            &HeaderValue::from_static("\"x\", W/\"abc\""),
            &ours
        ));
        assert!(etag_matches(&HeaderValue::from_static("*"), &ours));
        assert!(!etag_matches(&HeaderValue::from_static("\"abd\""), &ours));
    }

    #[test]
    fn http_dates_round_trip() {
        let value = http_date(1_795_435_200);
        assert_eq!(value.to_str().unwrap(), "Mon, 23 Nov 2026 12:00:00 GMT");
        let parsed = jiff::fmt::rfc2822::parse(value.to_str().unwrap()).unwrap();
        assert_eq!(parsed.timestamp().as_second(), 1_795_435_200);
    }
}
