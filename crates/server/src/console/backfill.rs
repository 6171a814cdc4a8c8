//! Backfill plan review in the console: the plans `fxdesk backfill plan` wrote into the plans
//! directory, each with its per-customer table, its corrections and the price path of the window
//! for an order; approvers approve here (the second approver must be a different person), and
//! every approval is appended to the desk's audit chain.
//!
//! | route | who |
//! |---|---|
//! | `GET /console/backfill` | operator, approver, compliance, admin |
//! | `GET /console/backfill/{name}`, `/chart?order=N` | same |
//! | `POST /console/backfill/{name}/approve` | approver, admin |

use std::path::PathBuf;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use fxdesk_backfill::plan::{self, Plan};
use fxdesk_desk::audit::MoneyAction;
use fxdesk_desk::auth::{self, Permission};
use fxdesk_desk::DeskError;
use serde::Deserialize;

use super::{form_session, session, Console, CsrfForm, Session, Site};

/// Plans listed at most (newest names last).
const PLANS_LISTED_MAX: usize = 200;

/// A plan file name: letters, digits, `.`, `_`, `-`, ending in `.json`; never a path.
fn valid_name(name: &str) -> bool {
    name.len() <= 128
        && name.ends_with(".json")
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn plans_dir(console: &Console) -> Result<&PathBuf, DeskError> {
    console
        .plans_dir
        .as_ref()
        .ok_or_else(|| DeskError::NotFound {
            what: "backfill plans directory (this desk was started without one)".into(),
        })
}

fn load(console: &Console, name: &str) -> Result<(PathBuf, Plan), DeskError> {
    if !valid_name(name) {
        return Err(DeskError::Invalid {
            what: "plan name".into(),
            detail: "not a plan file name".into(),
        });
    }
    let path = plans_dir(console)?.join(name);
    if !path.is_file() {
        return Err(DeskError::NotFound {
            what: format!("backfill plan {name}"),
        });
    }
    let plan = plan::read_plan_file(&path).map_err(|err| DeskError::Invalid {
        what: "backfill plan".into(),
        detail: err.to_string(),
    })?;
    Ok((path, plan))
}

fn price_text(ticks: i64, decimals: u32) -> String {
    let scale = 10_i64.pow(decimals.min(9));
    let sign = if ticks < 0 { "-" } else { "" };
    let ticks = ticks.unsigned_abs();
    let scale = scale.unsigned_abs();
    if decimals == 0 {
        return format!("{sign}{ticks}");
    }
    format!(
        "{sign}{}.{:0width$}",
        ticks / scale,
        ticks % scale,
        width = decimals as usize
    )
}

fn money_text(amounts: &[plan::CurrencyAmount]) -> String {
    if amounts.is_empty() {
        return "nothing".into();
    }
    amounts
        .iter()
        .map(|a| {
            let decimals = if a.currency == "JPY" { 0 } else { 2 };
            format!("{} {}", price_text(a.amount_minor, decimals), a.currency)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn reviewer(console: &Console, headers: &HeaderMap) -> Result<Session, Response> {
    let user = session(console, headers).await?;
    if let Err(err) = auth::require(user.principal.role, Permission::ReviewBackfill) {
        return Err(console.error_page(Some(&user), &err));
    }
    Ok(user)
}

pub(super) async fn list(State(console): Site, headers: HeaderMap) -> Response {
    let user = match reviewer(&console, &headers).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let dir = match plans_dir(&console) {
        Ok(dir) => dir.clone(),
        Err(err) => return console.error_page(Some(&user), &err),
    };
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| valid_name(name))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let skip = names.len().saturating_sub(PLANS_LISTED_MAX);
    let plans: Vec<minijinja::Value> = names[skip..]
        .iter()
        .map(|name| match load(&console, name) {
            Ok((_, plan)) => minijinja::context! {
                name => name,
                from => plan.window.from,
                to => plan.window.to,
                corrections => plan.corrections.len(),
                customers => plan.customers.len(),
                cost => money_text(&plan.broker_cost),
                approvals => plan::approvers(&plan).join(", "),
                problem => plan::check_integrity(&plan).err().map(|e| e.to_string()),
            },
            Err(err) => minijinja::context! { name => name, problem => err.to_string() },
        })
        .collect();
    console.page(
        "backfill_list.html",
        minijinja::context! { user => user.view(), dir => dir.display().to_string(), plans => plans },
    )
}

pub(super) async fn detail(
    State(console): Site,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let user = match reviewer(&console, &headers).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let plan = match load(&console, &name) {
        Ok((_, plan)) => plan,
        Err(err) => return console.error_page(Some(&user), &err),
    };
    let approvers = plan::approvers(&plan);
    let can_approve = auth::allows(user.principal.role, Permission::ApproveBackfill)
        && approvers.len() < plan::APPROVALS_NEEDED
        && !approvers.contains(&user.principal.username);
    let corrections: Vec<minijinja::Value> = plan
        .corrections
        .iter()
        .map(|c| {
            minijinja::context! {
                item => c.item,
                kind => format!("{:?}", c.kind),
                account => c.account,
                order => c.order,
                trigger => c.trigger_time,
                proposed => price_text(c.proposed_price, c.price_decimals),
                reopening => c.reopening_price.map(|p| price_text(p, c.price_decimals)),
                difference => format!("{} {}", c.difference_minor, c.currency),
            }
        })
        .collect();
    console.page(
        "backfill_plan.html",
        minijinja::context! {
            user => user.view(),
            name => name,
            from => plan.window.from,
            to => plan.window.to,
            market_minutes => plan.window.market_minutes,
            ticks => plan.window.ticks_replayed,
            cost => money_text(&plan.broker_cost),
            uncertain => plan.uncertain_orders.len(),
            skipped => plan.skipped.len(),
            approvals => minijinja::Value::from_serialize(&plan.approvals),
            needed => plan::APPROVALS_NEEDED,
            lost => plan.lost_opportunities,
            can_approve => can_approve,
            customers => minijinja::Value::from_serialize(&plan.customers),
            corrections => corrections,
        },
    )
}

#[derive(Deserialize)]
pub(super) struct ChartQuery {
    order: Option<u64>,
}

/// The plan's own HTML report with the price path of the window against the order's level.
pub(super) async fn chart(
    State(console): Site,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(query): Query<ChartQuery>,
) -> Response {
    let user = match reviewer(&console, &headers).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    match load(&console, &name) {
        Ok((_, plan)) => {
            Html(fxdesk_backfill::report::html_page(&plan, query.order)).into_response()
        }
        Err(err) => console.error_page(Some(&user), &err),
    }
}

pub(super) async fn approve(
    State(console): Site,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let user = match form_session(&console, &headers, &form.csrf).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let approved = async {
        auth::require(user.principal.role, Permission::ApproveBackfill)?;
        let _one_writer = console.plan_write.lock().await;
        let (path, mut plan) = load(&console, &name)?;
        let username = user.principal.username.clone();
        plan::approve(&mut plan, &username, jiff::Timestamp::now().to_string()).map_err(|err| {
            DeskError::Conflict {
                detail: err.to_string(),
            }
        })?;
        plan::write_plan_file(&path, &plan).map_err(|err| DeskError::Config {
            what: "backfill plans directory".into(),
            detail: err.to_string(),
        })?;
        console
            .desk
            .record_money_action(
                &format!("user:{username}"),
                MoneyAction::BackfillApprove,
                &format!("backfill-plan:{}", plan.plan_id),
                &serde_json::json!({"plan_sha256": plan.plan_sha256, "file": name,
                                    "approvers": plan::approvers(&plan)}),
            )
            .await?;
        Ok::<_, DeskError>(())
    }
    .await;
    match approved {
        Ok(()) => Redirect::to(&format!("/console/backfill/{name}")).into_response(),
        Err(err) => console.error_page(Some(&user), &err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_names_never_reach_outside_the_directory() {
        assert!(valid_name("backfill-plan.json"));
        assert!(valid_name("plan_2026-12-01.json"));
        for bad in [
            "../x.json",
            "a/b.json",
            ".hidden.json",
            "plan.txt",
            "",
            "x y.json",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn prices_and_money_keep_their_decimals() {
        assert_eq!(price_text(107_583, 5), "1.07583");
        assert_eq!(price_text(-5_460, 2), "-54.60");
        assert_eq!(price_text(490, 0), "490");
    }
}
