//! The operator console: server-rendered HTML (minijinja templates in `templates/console/`),
//! a cookie session after password login, a little JavaScript that refreshes the page's main
//! part when the desk changes (server-sent events on `/console/events`); everything also works
//! with JavaScript off (plain forms and links).
//!
//! Role-aware: buttons and forms that need the operator role are not rendered for viewers,
//! and the desk checks the role again on every action.
//!
//! | route | what |
//! |---|---|
//! | `GET/POST /console/login`, `POST /console/logout` | session |
//! | `GET /console` | open and recent incidents, who is on call now, monitors that are down |
//! | `GET /console/incidents/{id}` | detail: timeline, notices (page, email, phone script), actions |
//! | `POST /console/incidents/{id}/ack`, `/notice`, `/resolve` | acknowledge, publish a notice from a template (or preview it), resolve |
//! | `GET /console/monitors` | every monitor and its last result |
//! | `GET /console/templates`, `POST /console/templates/{kind}/{lang}` | notice templates (operators edit) |
//! | `GET /console/events` | server-sent events: `change` with the desk's change counter |
//! | `GET /console/reports` | regulator reports missing, late or due (not for viewers) |
//! | `GET /console/backfill`, `/console/backfill/{name}`, `POST .../approve` | backfill plan review and approval (see `backfill.rs`) |
//! | `POST /api/incidents/{id}/notices` | the notice form as JSON, with a bearer token (automation) |

mod backfill;
mod session;
mod views;

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header::{self, HeaderMap};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use fxdesk_desk::auth::{allows, Permission};
use fxdesk_desk::notices::{NewNotice, NOTICE_KINDS, POSTMORTEM};
use fxdesk_desk::{Desk, DeskError, IncidentState, Principal};
use minijinja::Environment;
use serde::Deserialize;

use crate::notices::{self, BackfillSummary, NoticeInputs};
use crate::status::lang::Lang;

/// The console's shared state.
pub struct Console {
    desk: Arc<Desk>,
    env: Environment<'static>,
    /// Where `fxdesk backfill plan` writes plans for review (`None`: no backfill pages).
    plans_dir: Option<std::path::PathBuf>,
    /// Held across read-approve-write of a plan file, so two approvers pressing at once cannot
    /// overwrite each other's approval.
    plan_write: tokio::sync::Mutex<()>,
}

impl Console {
    pub fn new(desk: Arc<Desk>) -> Result<Arc<Console>, minijinja::Error> {
        Console::with_plans_dir(desk, None)
    }

    /// A console that also reviews the backfill plans in `plans_dir`.
    pub fn with_plans_dir(
        desk: Arc<Desk>,
        plans_dir: Option<std::path::PathBuf>,
    ) -> Result<Arc<Console>, minijinja::Error> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        for (name, source) in [
            (
                "base.html",
                include_str!("../../templates/console/base.html"),
            ),
            (
                "login.html",
                include_str!("../../templates/console/login.html"),
            ),
            (
                "dashboard.html",
                include_str!("../../templates/console/dashboard.html"),
            ),
            (
                "incident.html",
                include_str!("../../templates/console/incident.html"),
            ),
            (
                "monitors.html",
                include_str!("../../templates/console/monitors.html"),
            ),
            (
                "templates.html",
                include_str!("../../templates/console/templates.html"),
            ),
            (
                "reports.html",
                include_str!("../../templates/console/reports.html"),
            ),
            (
                "backfill_list.html",
                include_str!("../../templates/console/backfill_list.html"),
            ),
            (
                "backfill_plan.html",
                include_str!("../../templates/console/backfill_plan.html"),
            ),
            (
                "error.html",
                include_str!("../../templates/console/error.html"),
            ),
        ] {
            env.add_template(name, source)?;
        }
        Ok(Arc::new(Console {
            desk,
            env,
            plans_dir,
            plan_write: tokio::sync::Mutex::new(()),
        }))
    }

    fn page(&self, name: &str, context: minijinja::Value) -> Response {
        match self.env.get_template(name).and_then(|t| t.render(context)) {
            Ok(html) => Html(html).into_response(),
            Err(err) => {
                tracing::error!("console template {name} failed: {err:#}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "console page failed; see the server log",
                )
                    .into_response()
            }
        }
    }

    fn error_page(&self, user: Option<&Session>, err: &DeskError) -> Response {
        let status = match err {
            DeskError::Invalid { .. } => StatusCode::BAD_REQUEST,
            DeskError::NotFound { .. } => StatusCode::NOT_FOUND,
            DeskError::Conflict { .. } => StatusCode::CONFLICT,
            DeskError::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            DeskError::Forbidden { .. } => StatusCode::FORBIDDEN,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!("console action failed: {err}");
            "internal error; see the server log".to_owned()
        } else {
            err.to_string()
        };
        self.message_page(user, status, &message)
    }

    fn message_page(&self, user: Option<&Session>, status: StatusCode, message: &str) -> Response {
        let mut response = self.page(
            "error.html",
            minijinja::context! { user => user.map(Session::view), message => message, code => status.as_u16() },
        );
        *response.status_mut() = status;
        response
    }
}

/// A logged-in user of the console.
pub struct Session {
    principal: Principal,
    token: String,
}

impl Session {
    fn can_manage(&self) -> bool {
        allows(self.principal.role, Permission::ManageIncidents)
    }

    fn view(&self) -> minijinja::Value {
        minijinja::context! {
            username => self.principal.username,
            role => self.principal.role.as_str(),
            can_manage => self.can_manage(),
            csrf => session::csrf_token(&self.token),
        }
    }
}

type Site = State<Arc<Console>>;

/// The session of a request, or the response to send instead (to the login page).
async fn session(console: &Console, headers: &HeaderMap) -> Result<Session, Response> {
    let Some(token) = session::token_from(headers) else {
        return Err(Redirect::to("/console/login").into_response());
    };
    match console.desk.authenticate(Some(&token)).await {
        Ok(principal) => Ok(Session { principal, token }),
        Err(DeskError::Unauthenticated { .. }) => {
            let mut response = Redirect::to("/console/login").into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, session::clear_cookie());
            Err(response)
        }
        Err(err) => Err(console.error_page(None, &err)),
    }
}

/// The session of a form post, with its CSRF token checked.
async fn form_session(
    console: &Console,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<Session, Response> {
    let session = session(console, headers).await?;
    if !session::csrf_ok(&session.token, csrf) {
        return Err(console.message_page(
            Some(&session),
            StatusCode::FORBIDDEN,
            "the form is stale or came from another site; reload the page and try again",
        ));
    }
    Ok(session)
}

// ------------------------------------------------------------------ login

async fn login_form(State(console): Site) -> Response {
    console.page(
        "login.html",
        minijinja::context! { error => None::<String> },
    )
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

async fn login(State(console): Site, Form(form): Form<LoginForm>) -> Response {
    match console.desk.login(&form.username, &form.password).await {
        Ok(issued) => {
            let max_age_s = issued.expires_at_ms.map_or(86_400, |at| {
                (at - console.desk.now_ms()).div_euclid(1000).max(0)
            });
            let mut response = Redirect::to("/console").into_response();
            response.headers_mut().insert(
                header::SET_COOKIE,
                session::set_cookie(&issued.token, max_age_s),
            );
            response
        }
        Err(DeskError::Unauthenticated { detail }) => {
            let mut response = console.page("login.html", minijinja::context! { error => detail });
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            response
        }
        Err(err) => console.error_page(None, &err),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(State(console): Site, headers: HeaderMap, Form(form): Form<CsrfForm>) -> Response {
    let user = match form_session(&console, &headers, &form.csrf).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    if let Err(err) = console
        .desk
        .revoke_token(&user.principal, &user.token)
        .await
    {
        return console.error_page(Some(&user), &err);
    }
    let mut response = Redirect::to("/console/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session::clear_cookie());
    response
}

// ------------------------------------------------------------------ pages

async fn dashboard(State(console): Site, headers: HeaderMap) -> Response {
    let user = match session(&console, &headers).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    match views::dashboard(&console.desk, &user.principal).await {
        Ok(data) => console.page(
            "dashboard.html",
            minijinja::context! { user => user.view(), ..data },
        ),
        Err(err) => console.error_page(Some(&user), &err),
    }
}

fn parse_id(text: &str) -> Result<i64, DeskError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| DeskError::NotFound {
            what: format!("incident {text:?}"),
        })
}

async fn incident_page(
    console: &Console,
    user: &Session,
    id: i64,
    preview: Option<minijinja::Value>,
    form: Option<&NoticeForm>,
) -> Response {
    match views::incident(&console.desk, &user.principal, id).await {
        Ok(data) => console.page(
            "incident.html",
            minijinja::context! { user => user.view(), preview => preview, form => form, ..data },
        ),
        Err(err) => console.error_page(Some(user), &err),
    }
}

async fn incident(State(console): Site, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let user = match session(&console, &headers).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    match parse_id(&id) {
        Ok(id) => incident_page(&console, &user, id, None, None).await,
        Err(err) => console.error_page(Some(&user), &err),
    }
}

async fn monitors(State(console): Site, headers: HeaderMap) -> Response {
    let user = match session(&console, &headers).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    match views::monitors(&console.desk, &user.principal).await {
        Ok(data) => console.page(
            "monitors.html",
            minijinja::context! { user => user.view(), ..data },
        ),
        Err(err) => console.error_page(Some(&user), &err),
    }
}

/// The completeness check of regulator reports (what `fxdesk report check` prints).
async fn reports(State(console): Site, headers: HeaderMap) -> Response {
    let user = match session(&console, &headers).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let checked = match console.desk.check_reports(&user.principal).await {
        Ok(checked) => checked,
        Err(err) => return console.error_page(Some(&user), &err),
    };
    let when = |ms: Option<i64>| -> String {
        ms.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
            .map_or_else(String::new, |t| {
                t.strftime("%Y-%m-%d %H:%M UTC").to_string()
            })
    };
    let rows = |items: &[fxdesk_desk::reports::service::CheckItem]| -> Vec<minijinja::Value> {
        items
            .iter()
            .map(|item| {
                minijinja::context! {
                    incident_id => item.incident_id,
                    title => item.title,
                    regulator => item.obligation.regulator.as_str(),
                    kind => item.obligation.kind.as_str(),
                    due => when(item.obligation.due_at_ms),
                    submitted => when(item.obligation.submitted_at_ms),
                    status => format!("{:?}", item.obligation.status),
                    basis => item.obligation.basis,
                }
            })
            .collect()
    };
    console.page(
        "reports.html",
        minijinja::context! {
            user => user.view(),
            checked_at => when(Some(checked.checked_at_ms)),
            incidents_checked => checked.incidents_checked,
            problems => rows(&checked.problems),
            pending => rows(&checked.pending),
        },
    )
}

async fn templates(State(console): Site, headers: HeaderMap) -> Response {
    let user = match session(&console, &headers).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    templates_page(&console, &user, None).await
}

async fn templates_page(
    console: &Console,
    user: &Session,
    error: Option<(String, String, String)>,
) -> Response {
    match console.desk.notice_templates().await {
        Ok(list) => {
            let list: Vec<minijinja::Value> = list
                .iter()
                .map(|t| {
                    minijinja::context! {
                        kind => t.kind, lang => t.lang, body => t.body,
                        updated_at => crate::status::snapshot::human_time(t.updated_at_ms, Lang::En),
                        updated_by => t.updated_by,
                    }
                })
                .collect();
            let (error_key, error_message, error_body) = match error {
                Some((key, message, body)) => (Some(key), Some(message), Some(body)),
                None => (None, None, None),
            };
            let mut response = console.page(
                "templates.html",
                minijinja::context! {
                    user => user.view(), templates => list,
                    error_key => error_key, error_message => error_message, error_body => error_body,
                },
            );
            if error_key.is_some() {
                *response.status_mut() = StatusCode::BAD_REQUEST;
            }
            response
        }
        Err(err) => console.error_page(Some(user), &err),
    }
}

// ------------------------------------------------------------------ actions

async fn acknowledge(
    State(console): Site,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let user = match form_session(&console, &headers, &form.csrf).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let result = match parse_id(&id) {
        Ok(id) => console
            .desk
            .acknowledge(&user.principal, id)
            .await
            .map(|i| i.id),
        Err(err) => Err(err),
    };
    match result {
        Ok(id) => Redirect::to(&format!("/console/incidents/{id}")).into_response(),
        Err(err) => console.error_page(Some(&user), &err),
    }
}

#[derive(Deserialize)]
struct ResolveForm {
    #[serde(default)]
    csrf: String,
    message: String,
}

async fn resolve(
    State(console): Site,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ResolveForm>,
) -> Response {
    let user = match form_session(&console, &headers, &form.csrf).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let result = match parse_id(&id) {
        Ok(id) => console
            .desk
            .resolve(&user.principal, id, &form.message)
            .await
            .map(|i| i.id),
        Err(err) => Err(err),
    };
    match result {
        Ok(id) => Redirect::to(&format!("/console/incidents/{id}")).into_response(),
        Err(err) => console.error_page(Some(&user), &err),
    }
}

/// The notice form: the template kind, the status to move the incident to, and the inputs.
#[derive(Debug, Deserialize, serde::Serialize)]
struct NoticeForm {
    #[serde(default)]
    csrf: String,
    kind: String,
    #[serde(default)]
    state: String,
    /// `preview` renders without publishing.
    #[serde(default)]
    action: String,
    #[serde(default)]
    message_ja: String,
    #[serde(default)]
    message_en: String,
    #[serde(default)]
    cause_ja: String,
    #[serde(default)]
    cause_en: String,
    #[serde(default)]
    measures_ja: String,
    #[serde(default)]
    measures_en: String,
    #[serde(default)]
    next_update: String,
    #[serde(default)]
    backfill_orders: String,
    #[serde(default)]
    backfill_customers: String,
    #[serde(default)]
    backfill_rule_ja: String,
    #[serde(default)]
    backfill_rule_en: String,
}

impl NoticeForm {
    fn inputs(&self) -> Result<NoticeInputs, DeskError> {
        let number = |what: &str, text: &str| -> Result<u64, DeskError> {
            text.trim().parse::<u64>().map_err(|_| DeskError::Invalid {
                what: what.to_owned(),
                detail: format!("{text:?} is not a whole number"),
            })
        };
        let backfill = if self.backfill_orders.trim().is_empty() {
            None
        } else {
            if self.backfill_rule_ja.trim().is_empty() || self.backfill_rule_en.trim().is_empty() {
                return Err(DeskError::Invalid {
                    what: "backfill rule".into(),
                    detail: "give the rule in Japanese and English".into(),
                });
            }
            Some(BackfillSummary {
                orders_executed: number("orders executed", &self.backfill_orders)?,
                customers: number("customers", &self.backfill_customers)?,
                rule_ja: self.backfill_rule_ja.trim().to_owned(),
                rule_en: self.backfill_rule_en.trim().to_owned(),
            })
        };
        Ok(NoticeInputs {
            message_ja: self.message_ja.clone(),
            message_en: self.message_en.clone(),
            cause_ja: self.cause_ja.clone(),
            cause_en: self.cause_en.clone(),
            measures_ja: self.measures_ja.clone(),
            measures_en: self.measures_en.clone(),
            next_update: self.next_update.clone(),
            backfill,
        })
    }

    /// The status the notice moves the incident to: fixed by the kind except for updates.
    fn state(&self) -> Result<String, DeskError> {
        let state = match self.kind.as_str() {
            "first" => IncidentState::Investigating.as_str(),
            "recovery" => IncidentState::Resolved.as_str(),
            "explanation" => POSTMORTEM,
            "update" => {
                let state = IncidentState::parse(&self.state)?;
                if state == IncidentState::Resolved {
                    return Err(DeskError::Invalid {
                        what: "state".into(),
                        detail: "use the recovery notice to resolve".into(),
                    });
                }
                state.as_str()
            }
            other => {
                return Err(DeskError::Invalid {
                    what: "notice kind".into(),
                    detail: format!("{other:?} is not one of {NOTICE_KINDS:?}"),
                })
            }
        };
        Ok(state.to_owned())
    }
}

async fn notice(
    State(console): Site,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<NoticeForm>,
) -> Response {
    let user = match form_session(&console, &headers, &form.csrf).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(err) => return console.error_page(Some(&user), &err),
    };
    let prepared = async {
        let inputs = form.inputs()?;
        let state = form.state()?;
        let rendered = views::render_notice(&console.desk, id, &form.kind, &inputs).await?;
        Ok::<_, DeskError>((inputs, state, rendered))
    }
    .await;
    let (inputs, state, rendered) = match prepared {
        Ok(prepared) => prepared,
        Err(err) => return console.error_page(Some(&user), &err),
    };
    if form.action == "preview" {
        let preview = views::preview_value(&rendered);
        return incident_page(&console, &user, id, Some(preview), Some(&form)).await;
    }
    let published = console
        .desk
        .publish_notice(
            &user.principal,
            id,
            NewNotice {
                kind: form.kind.clone(),
                state,
                body_ja: rendered.page_ja,
                body_en: rendered.page_en,
                inputs: serde_json::to_value(&inputs).unwrap_or(serde_json::Value::Null),
            },
        )
        .await;
    match published {
        Ok(_) => Redirect::to(&format!("/console/incidents/{id}")).into_response(),
        Err(err) => console.error_page(Some(&user), &err),
    }
}

/// `POST /api/incidents/{id}/notices` with a bearer token (operator or above): the console's
/// notice form as JSON (`{"kind": "first", "message_en": ...}`, no `csrf`), for automation such
/// as `fxdesk demo`. Answers 201 with the published notice.
async fn publish_notice_api(
    State(console): Site,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let published = async {
        let token = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim);
        let principal = console.desk.authenticate(token).await?;
        let form: NoticeForm = serde_json::from_slice(&body).map_err(|err| DeskError::Invalid {
            what: "notice".into(),
            detail: err.to_string(),
        })?;
        let id = parse_id(&id)?;
        let inputs = form.inputs()?;
        let state = form.state()?;
        let rendered = views::render_notice(&console.desk, id, &form.kind, &inputs).await?;
        console
            .desk
            .publish_notice(
                &principal,
                id,
                NewNotice {
                    kind: form.kind.clone(),
                    state,
                    body_ja: rendered.page_ja,
                    body_en: rendered.page_en,
                    inputs: serde_json::to_value(&inputs).unwrap_or(serde_json::Value::Null),
                },
            )
            .await
    }
    .await;
    match published {
        Ok(notice) => (StatusCode::CREATED, axum::Json(notice)).into_response(),
        Err(err) => crate::desk::error::ApiError::from(err).into_response(),
    }
}

#[derive(Deserialize)]
struct TemplateForm {
    #[serde(default)]
    csrf: String,
    body: String,
}

async fn save_template(
    State(console): Site,
    headers: HeaderMap,
    Path((kind, lang)): Path<(String, String)>,
    Form(form): Form<TemplateForm>,
) -> Response {
    let user = match form_session(&console, &headers, &form.csrf).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let Some(parsed_lang) = Lang::parse(&lang) else {
        return console.message_page(Some(&user), StatusCode::BAD_REQUEST, "unknown language");
    };
    // Normalise line ends: browsers post CRLF.
    let body = form.body.replace("\r\n", "\n");
    if let Err(problem) = notices::check_template(&body, parsed_lang) {
        return templates_page(
            &console,
            &user,
            Some((
                format!("{kind}.{lang}"),
                format!("the template does not render: {problem}"),
                body,
            )),
        )
        .await;
    }
    match console
        .desk
        .set_notice_template(&user.principal, &kind, parsed_lang.code(), &body)
        .await
    {
        Ok(_) => {
            Redirect::to(&format!("/console/templates#template-{kind}-{lang}")).into_response()
        }
        Err(err) => console.error_page(Some(&user), &err),
    }
}

// ------------------------------------------------------------------ live updates

async fn events(State(console): Site, headers: HeaderMap) -> Response {
    if let Err(response) = session(&console, &headers).await {
        return response;
    }
    let changes = console.desk.subscribe_changes();
    let stream = futures_util::stream::unfold(changes, |mut changes| async move {
        changes.changed().await.ok()?;
        let version = *changes.borrow_and_update();
        let event = Event::default().event("change").data(version.to_string());
        Some((Ok::<Event, Infallible>(event), changes))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

async fn script(headers: HeaderMap) -> Response {
    crate::status::static_file(
        &headers,
        include_str!("../../static/console.js"),
        "text/javascript; charset=utf-8",
    )
}

async fn style_sheet(headers: HeaderMap) -> Response {
    crate::status::static_file(
        &headers,
        include_str!("../../static/console.css"),
        "text/css; charset=utf-8",
    )
}

/// The console's routes.
pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/console", get(dashboard))
        .route("/console/login", get(login_form).post(login))
        .route("/console/logout", post(logout))
        .route("/console/incidents/{id}", get(incident))
        .route("/console/incidents/{id}/ack", post(acknowledge))
        .route("/console/incidents/{id}/resolve", post(resolve))
        .route("/console/incidents/{id}/notice", post(notice))
        .route("/api/incidents/{id}/notices", post(publish_notice_api))
        .route("/console/monitors", get(monitors))
        .route("/console/reports", get(reports))
        .route("/console/backfill", get(backfill::list))
        .route("/console/backfill/{name}", get(backfill::detail))
        .route("/console/backfill/{name}/chart", get(backfill::chart))
        .route("/console/backfill/{name}/approve", post(backfill::approve))
        .route("/console/templates", get(templates))
        .route("/console/templates/{kind}/{lang}", post(save_template))
        .route("/console/events", get(events))
        .route("/console/console.js", get(script))
        .route("/console/console.css", get(style_sheet))
        .with_state(console)
}
