//! The plan for people: a terminal table, and an HTML page whose chart shows a chosen order's
//! instrument through the window (bid and ask) against the order's level, with the trigger, the
//! proposed price and the reopening price marked. The page is self-contained (inline SVG, no
//! scripts), built from the plan file alone.

use std::fmt::Write;

use fxdesk_engine::{Currency, Side};

use crate::calendar::rfc3339;
use crate::plan::{Correction, Plan, PricePath};

fn price_text(ticks: i64, decimals: u32) -> String {
    fxdesk_market::price::format_ticks(ticks, decimals)
}

fn money_text(minor: i64, currency: &str) -> String {
    match Currency::from_code(currency) {
        Some(c) => format!("{} {currency}", crate::money::minor_text(minor, c)),
        None => format!("{minor} (minor) {currency}"),
    }
}

fn side_text(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

/// The plan as a fixed-width table with a summary.
pub fn terminal_table(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Backfill plan {} — window {} .. {} ({} market minutes){}",
        plan.plan_id,
        plan.window.from,
        plan.window.to,
        plan.window.market_minutes,
        if plan.window.below_minimum {
            " — below the policy minimum: no corrections"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "inputs {} | journal seq {}..{} | {} ticks replayed",
        &plan.inputs.input_sha256[..16.min(plan.inputs.input_sha256.len())],
        plan.inputs.journal.pre_outage_seq,
        plan.inputs.journal.last_seq,
        plan.window.ticks_replayed
    );
    let _ = writeln!(
        out,
        "{:>5} {:<8} {:<7} {:>8} {:>8} {:<8} {:<4} {:>10} {:<13} {:<24} {:>10} {:>10} {:>10} {:>16}",
        "item", "kind", "mode", "account", "order", "instr", "side", "qty", "order kind", "trigger", "market", "proposed", "reopening", "difference"
    );
    for c in &plan.corrections {
        let p = |v: i64| price_text(v, c.price_decimals);
        let _ = writeln!(
            out,
            "{:>5} {:<8} {:<7} {:>8} {:>8} {:<8} {:<4} {:>10} {:<13} {:<24} {:>10} {:>10} {:>10} {:>16}",
            c.item,
            format!("{:?}", c.kind).to_lowercase(),
            format!("{:?}", c.mode).to_lowercase(),
            c.account,
            c.order.map_or_else(|| c.position.map_or_else(String::new, |p| format!("P{p}")), |o| o.to_string()),
            c.instrument,
            side_text(c.side),
            c.qty,
            c.order_kind,
            c.trigger_time,
            if c.market_price > 0 { p(c.market_price) } else { String::new() },
            if c.proposed_price > 0 { p(c.proposed_price) } else { String::new() },
            c.live_price.or(c.reopening_price).map_or_else(String::new, p),
            money_text(c.difference_minor, &c.currency),
        );
    }
    let _ = writeln!(out, "\nPer customer:");
    for t in &plan.customers {
        let _ = writeln!(
            out,
            "  account {:>8}: {} corrections, difference {}, cash {}",
            t.account,
            t.corrections,
            money_text(t.difference_minor, &t.currency),
            money_text(t.cash_minor, &t.currency)
        );
    }
    let cost: Vec<String> = plan
        .broker_cost
        .iter()
        .map(|c| money_text(c.amount_minor, &c.currency))
        .collect();
    let _ = writeln!(
        out,
        "Broker's total cost vs. reopening: {}",
        if cost.is_empty() {
            "nothing".to_owned()
        } else {
            cost.join(", ")
        }
    );
    let _ = writeln!(out, "Uncertain orders: {}", plan.uncertain_orders.len());
    for u in &plan.uncertain_orders {
        let _ = writeln!(
            out,
            "  order {} of account {}: placed {} ms before the outage{}",
            u.order,
            u.account,
            u.ms_before_outage,
            if u.fills_in_window {
                ", fills in the window"
            } else {
                ""
            }
        );
    }
    let _ = writeln!(out, "Skipped: {}", plan.skipped.len());
    for s in plan.skipped.iter().take(50) {
        let what = s.order.map_or_else(
            || {
                s.position
                    .map_or_else(String::new, |p| format!("position {p}"))
            },
            |o| format!("order {o}"),
        );
        let _ = writeln!(out, "  {what} of account {}: {}", s.account, s.reason);
    }
    if plan.skipped.len() > 50 {
        let _ = writeln!(
            out,
            "  ... and {} more (see the plan file)",
            plan.skipped.len() - 50
        );
    }
    if !plan.loss_cuts_at_reopening.is_empty() {
        let _ = writeln!(
            out,
            "Loss-cuts expected at reopening: {}",
            plan.loss_cuts_at_reopening
                .iter()
                .map(|a| a.account.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !plan.held_ticks.is_empty() {
        let _ = writeln!(out, "Ticks held as off-market: {}", plan.held_ticks.len());
    }
    let _ = writeln!(out, "{}", plan.lost_opportunities);
    let approvers: Vec<&str> = plan.approvals.iter().map(|a| a.user.as_str()).collect();
    let _ = writeln!(
        out,
        "Approvals: {}",
        if approvers.is_empty() {
            "none".to_owned()
        } else {
            approvers.join(", ")
        }
    );
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An SVG chart of `path` with the correction's level, proposed and reopening prices.
pub fn chart_svg(path: &PricePath, correction: &Correction, from_ns: i64, to_ns: i64) -> String {
    const W: f64 = 900.0;
    const H: f64 = 360.0;
    const PAD: f64 = 60.0;
    let mut prices: Vec<i64> = path.points.iter().flat_map(|p| [p.1, p.2]).collect();
    prices.extend(correction.order_level);
    prices.extend(correction.reopening_price);
    if correction.proposed_price > 0 {
        prices.push(correction.proposed_price);
    }
    let (Some(&low), Some(&high)) = (prices.iter().min(), prices.iter().max()) else {
        return "<p>No ticks of this instrument in the window.</p>".to_owned();
    };
    let span = ((high - low) as f64).max(1.0);
    let (low, span) = (low as f64 - span * 0.05, span * 1.1);
    let t_span = ((to_ns - from_ns) as f64).max(1.0);
    let x = |t: i64| PAD + (t - from_ns) as f64 / t_span * (W - 2.0 * PAD);
    let y = |p: i64| H - PAD + -((p as f64 - low) / span) * (H - 2.0 * PAD);
    let line = |points: Vec<(f64, f64)>, colour: &str, name: &str| {
        let d: Vec<String> = points
            .iter()
            .map(|(a, b)| format!("{a:.1},{b:.1}"))
            .collect();
        format!("<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"><title>{name}</title></polyline>", d.join(" "))
    };
    let mut svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\" aria-label=\"price path of {} through the window\">", escape(&path.instrument));
    let _ = write!(svg, "<rect x=\"{PAD}\" y=\"{PAD}\" width=\"{}\" height=\"{}\" fill=\"#fafafa\" stroke=\"#ccc\"/>", W - 2.0 * PAD, H - 2.0 * PAD);
    svg.push_str(&line(
        path.points.iter().map(|p| (x(p.0), y(p.1))).collect(),
        "#1f77b4",
        "bid",
    ));
    svg.push_str(&line(
        path.points.iter().map(|p| (x(p.0), y(p.2))).collect(),
        "#ff7f0e",
        "ask",
    ));
    let mut hline = |price: i64, colour: &str, label: &str| {
        let _ = write!(svg, "<line x1=\"{PAD}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{colour}\" stroke-dasharray=\"6 4\"/><text x=\"{}\" y=\"{:.1}\" font-size=\"12\" fill=\"{colour}\">{label} {}</text>", W - PAD, y(price), y(price), W - PAD + 4.0 - 120.0, y(price) - 4.0, price_text(price, path.price_decimals));
    };
    if let Some(level) = correction.order_level {
        hline(level, "#d62728", "order level");
    }
    if correction.proposed_price > 0 {
        hline(correction.proposed_price, "#2ca02c", "proposed");
    }
    if let Some(r) = correction.reopening_price {
        hline(r, "#9467bd", "reopening");
    }
    let _ = write!(svg, "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\" fill=\"#d62728\"><title>trigger {}</title></circle>", x(correction.trigger_time_ns), y(correction.market_price), escape(&correction.trigger_time));
    let _ = write!(svg, "<text x=\"{PAD}\" y=\"{}\" font-size=\"12\">{}</text><text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\">{}</text>", H - PAD + 18.0, escape(&rfc3339(from_ns)), W - PAD, H - PAD + 18.0, escape(&rfc3339(to_ns)));
    svg.push_str("</svg>");
    svg
}

/// A self-contained HTML page: summary, corrections, and a chart for `order` (an order id or
/// position id of a correction; default: the first correction with a price).
pub fn html_page(plan: &Plan, order: Option<u64>) -> String {
    let mut html = String::new();
    let _ = write!(html, "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Backfill plan {}</title><style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px;font-size:13px}}td.n{{text-align:right}}</style></head><body>", plan.plan_id);
    let _ = write!(
        html,
        "<h1>Outage backfill plan {}</h1><p>Window {} to {} ({} market minutes){}.</p>",
        plan.plan_id,
        escape(&plan.window.from),
        escape(&plan.window.to),
        plan.window.market_minutes,
        if plan.window.below_minimum {
            ", shorter than the policy minimum: no corrections"
        } else {
            ""
        }
    );
    let chosen = plan.corrections.iter().find(|c| match order {
        Some(id) => c.order == Some(id) || c.position == Some(id),
        None => c.market_price > 0,
    });
    match chosen {
        Some(c) => {
            let _ = write!(
                html,
                "<h2>{} {} of account {}: {} {} {} at {}</h2>",
                escape(&c.order_kind),
                c.order.map_or_else(
                    || format!("position {}", c.position.unwrap_or(0)),
                    |o| format!("order {o}")
                ),
                c.account,
                side_text(c.side),
                c.qty,
                escape(&c.instrument),
                escape(&c.trigger_time)
            );
            match plan
                .price_paths
                .iter()
                .find(|p| p.instrument == c.instrument)
            {
                Some(path) => {
                    html.push_str(&chart_svg(path, c, plan.window.from_ns, plan.window.to_ns))
                }
                None => html.push_str("<p>No ticks of this instrument in the window.</p>"),
            }
        }
        None => html.push_str("<p>No correction matches the chosen order.</p>"),
    }
    html.push_str("<h2>Corrections</h2><table><tr><th>item</th><th>kind</th><th>mode</th><th>account</th><th>order</th><th>instrument</th><th>side</th><th>qty</th><th>order kind</th><th>level</th><th>trigger</th><th>market</th><th>proposed</th><th>reopening</th><th>difference</th></tr>");
    for c in &plan.corrections {
        let p = |v: i64| price_text(v, c.price_decimals);
        let _ = write!(html, "<tr><td class=n>{}</td><td>{:?}</td><td>{:?}</td><td class=n>{}</td><td class=n>{}</td><td>{}</td><td>{}</td><td class=n>{}</td><td>{}</td><td class=n>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            c.item, c.kind, c.mode, c.account,
            c.order.map_or_else(|| c.position.map_or_else(String::new, |p| format!("P{p}")), |o| o.to_string()),
            escape(&c.instrument), side_text(c.side), c.qty, escape(&c.order_kind),
            c.order_level.map_or_else(String::new, p), escape(&c.trigger_time),
            if c.market_price > 0 { p(c.market_price) } else { String::new() },
            if c.proposed_price > 0 { p(c.proposed_price) } else { String::new() },
            c.live_price.or(c.reopening_price).map_or_else(String::new, p),
            escape(&money_text(c.difference_minor, &c.currency)));
    }
    html.push_str("</table><h2>Per customer</h2><table><tr><th>account</th><th>corrections</th><th>difference</th><th>cash</th></tr>");
    for t in &plan.customers {
        let _ = write!(
            html,
            "<tr><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            t.account,
            t.corrections,
            escape(&money_text(t.difference_minor, &t.currency)),
            escape(&money_text(t.cash_minor, &t.currency))
        );
    }
    html.push_str("</table>");
    let cost: Vec<String> = plan
        .broker_cost
        .iter()
        .map(|c| money_text(c.amount_minor, &c.currency))
        .collect();
    let _ = write!(
        html,
        "<p>Broker's total cost compared with the reopening prices: <b>{}</b>.</p>",
        escape(&if cost.is_empty() {
            "nothing".to_owned()
        } else {
            cost.join(", ")
        })
    );
    let _ = write!(
        html,
        "<h2>Uncertain orders ({})</h2><ul>",
        plan.uncertain_orders.len()
    );
    for u in &plan.uncertain_orders {
        let _ = write!(
            html,
            "<li>order {} of account {}, placed {} ms before the outage</li>",
            u.order, u.account, u.ms_before_outage
        );
    }
    let _ = write!(html, "</ul><h2>Skipped ({})</h2><ul>", plan.skipped.len());
    for s in plan.skipped.iter().take(500) {
        let what = s.order.map_or_else(
            || {
                s.position
                    .map_or_else(String::new, |p| format!("position {p}"))
            },
            |o| format!("order {o}"),
        );
        let _ = write!(
            html,
            "<li>{} of account {}: {}</li>",
            escape(&what),
            s.account,
            escape(&s.reason)
        );
    }
    let _ = write!(
        html,
        "</ul><p>{}</p><p>Inputs hash {}; approvals: {}.</p></body></html>",
        escape(&plan.lost_opportunities),
        escape(&plan.inputs.input_sha256),
        escape(
            &plan
                .approvals
                .iter()
                .map(|a| a.user.clone())
                .collect::<Vec<_>>()
                .join(", ")
        )
    );
    html
}
