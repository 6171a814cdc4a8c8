//! The plan's journal side: the state before the outage and what came after it, read through
//! the journal crate; and `apply`, which writes an approved plan's commands through the
//! journal (durable before applied), once.

use std::path::{Path, PathBuf};

use fxdesk_engine::{Command, CommandKind, Engine, Event, InstrumentId, Price, Side, TimeNs};
use fxdesk_journal::{At, Durable, JournalOptions};

use crate::error::BackfillError;
use crate::guard_flags::{self, FlagFile};
use crate::plan::{
    approvers, build_plan, check_integrity, BadTickClose, BadTickFill, GuardFlagsInput,
    JournalInputs, JournaledRollover, LiveAfter, LiveClose, LiveFill, OffMarketConversion,
    OffMarketEvidence, Plan, PlanInput, APPROVALS_NEEDED,
};
use crate::policy::{BadTickEvidence, Policy};
use crate::ticks::{window_ticks, WindowTicks};

/// What `fxdesk backfill plan` asks for.
pub struct PlanRequest {
    pub journal_dir: PathBuf,
    pub from_ns: TimeNs,
    pub to_ns: TimeNs,
    pub tick_sources: Vec<PathBuf>,
    pub policy: Policy,
    /// The price-jump guard's flag file (`guard_flags::path_in(DATA_DIR)`), read with policy
    /// `bad_tick_evidence = "guard"`; `None` is the same as no file there.
    pub guard_flags: Option<PathBuf>,
}

/// Reads the guard's flag file for a plan: the file (if any) and what the plan records of it.
/// Every span must name an instrument of this engine by its symbol: a file from another
/// set-up would mark the wrong quotes.
fn read_guard_flags(
    path: Option<&Path>,
    engine: &Engine,
) -> Result<(Option<FlagFile>, GuardFlagsInput), BackfillError> {
    let shown = path.map_or_else(|| "(none given)".to_owned(), |p| p.display().to_string());
    let file = match path {
        Some(path) => guard_flags::read(path)?,
        None => None,
    };
    let Some(file) = file else {
        return Ok((
            None,
            GuardFlagsInput {
                path: shown,
                sha256: None,
                lines: 0,
                spans: 0,
                torn_tail_at: None,
                note: "no price-jump guard flag file: no journaled quote is off-market".to_owned(),
            },
        ));
    };
    for span in &file.spans {
        let symbol = engine
            .instrument(span.instrument)
            .map(|s| s.symbol.as_str());
        if symbol != Some(span.symbol.as_str()) {
            return Err(BackfillError::Input(format!(
                "{shown}: an off-market span names instrument {} as {}, the journal's engine has {}",
                span.instrument.0,
                span.symbol,
                symbol.unwrap_or("no such instrument")
            )));
        }
    }
    let mut note = format!(
        "{} off-market span(s) of the price-jump guard; journaled quotes inside them are off-market",
        file.spans.len()
    );
    if let Some(at) = file.torn_tail_at {
        note.push_str(&format!(
            "; a torn last line at byte {at} was skipped (the server stopped mid-write)"
        ));
    }
    let input = GuardFlagsInput {
        path: shown,
        sha256: Some(file.sha256.clone()),
        lines: file.lines,
        spans: file.spans.len() as u64,
        torn_tail_at: file.torn_tail_at,
        note,
    };
    Ok((Some(file), input))
}

fn hash_text(hash: u64) -> String {
    format!("{hash:016x}")
}

/// Reads the journal (the state just before `from`, and everything after the window) and the
/// tick sources, and builds the plan.
pub fn plan_from_journal(
    request: &PlanRequest,
    initial: impl Fn() -> Engine,
) -> Result<Plan, BackfillError> {
    let dir = &request.journal_dir;
    if !dir.is_dir() {
        return Err(BackfillError::Input(format!(
            "no journal directory at {}",
            dir.display()
        )));
    }
    let pre = fxdesk_journal::state_at(dir, At::Time(request.from_ns), &initial)?;
    let pre_seq = pre.seq;
    let pre_engine = pre.state;
    let (flags, guard_flags) = match request.policy.bad_tick_evidence {
        BadTickEvidence::Guard => {
            let (file, input) = read_guard_flags(request.guard_flags.as_deref(), &pre_engine)?;
            (file, Some(input))
        }
        BadTickEvidence::Jump => (None, None),
    };
    let mut live = pre_engine.clone();
    let mut after = LiveAfter {
        reopening: vec![None; live.instruments().count()],
        ..LiveAfter::default()
    };
    let mut last_seq = pre_seq;
    let mut events = Vec::new();
    let ticks = window_ticks(
        &request.tick_sources,
        &pre_engine,
        request.from_ns,
        request.to_ns,
        request.policy.bad_tick_jump_ticks,
    )?;
    let mut last_good = market_before_reopening(&live, &ticks);
    for record in fxdesk_journal::records::<Engine>(dir, pre_seq + 1)? {
        let record = record?;
        if record.time_ns < request.to_ns {
            return Err(BackfillError::Input(format!(
                "the journal has a command inside the window (seq {} at {}): the system was not down then; choose the window from `fxdesk backfill gaps`",
                record.seq,
                crate::calendar::rfc3339(record.time_ns)
            )));
        }
        // An off-market quote, and the evidence for it (policy `bad_tick_evidence`).
        let off_market = match record.command.kind {
            CommandKind::Quote {
                instrument,
                bid,
                ask,
                source_time_ns,
            } => {
                let good = last_good.get(usize::from(instrument.0)).copied().flatten();
                let jump = good.map_or(0, |(b, a)| ((bid + ask) / 2 - (b + a) / 2).abs());
                let evidence = match request.policy.bad_tick_evidence {
                    BadTickEvidence::Guard => flags
                        .as_ref()
                        .and_then(|f| f.span_for(instrument, source_time_ns))
                        .map(|span| OffMarketEvidence::Guard {
                            flags: span.flags.clone(),
                            by: span.by.clone(),
                            from_ns: span.from_ns,
                            until_ns: span.until_ns,
                            jump_ticks: jump,
                        }),
                    BadTickEvidence::Jump => request
                        .policy
                        .bad_tick_jump_ticks
                        .filter(|&limit| jump > limit)
                        .map(|limit| OffMarketEvidence::Jump {
                            jump_ticks: jump,
                            limit_ticks: limit,
                        }),
                };
                Some(evidence)
            }
            _ => None,
        };
        // What a fill or loss-cut on it closed is read from the state just before it (rare:
        // only off-market quotes pay for the copy).
        let before = matches!(off_market, Some(Some(_))).then(|| live.clone());
        events.clear();
        live.apply_into(&record.command, &mut events);
        last_seq = record.seq;
        if let (
            CommandKind::Quote {
                instrument,
                bid,
                ask,
                ..
            },
            Some(evidence),
        ) = (&record.command.kind, off_market)
        {
            let off_market = evidence.is_some();
            let accepted = !matches!(events.first(), Some(Event::Rejected(_)));
            let i = usize::from(instrument.0);
            if let (Some(before), Some(evidence)) = (&before, evidence) {
                bad_tick_findings(
                    before,
                    *instrument,
                    &events,
                    record.time_ns,
                    &evidence,
                    &last_good,
                    &mut after,
                );
            } else if accepted {
                if let Some(slot) = last_good.get_mut(i) {
                    *slot = Some((*bid, *ask));
                }
            }
            if let Some(slot) = after.reopening.get_mut(i) {
                if slot.is_none() && accepted && !off_market {
                    *slot = Some((*bid, *ask, record.time_ns));
                }
            }
        }
        if let CommandKind::Rollover { weekly, .. } = record.command.kind {
            if !matches!(events.first(), Some(Event::Rejected(_))) {
                record_rollover(
                    JournaledRollover {
                        time_ns: record.time_ns,
                        weekly,
                    },
                    &mut after,
                );
            }
        }
        record_fills_and_closes(&events, record.time_ns, &mut after);
    }
    let journal = JournalInputs {
        dir: dir.display().to_string(),
        pre_outage_seq: pre_seq,
        pre_outage_state_hash: hash_text(pre_engine.state_hash()),
        last_seq,
        last_state_hash: hash_text(live.state_hash()),
    };
    build_plan(PlanInput {
        pre: pre_engine,
        live: Some(&live),
        after: &after,
        journal,
        from_ns: request.from_ns,
        to_ns: request.to_ns,
        ticks: &ticks,
        policy: &request.policy,
        guard_flags,
    })
}

/// The last good quote per instrument when the system came back, which journaled quotes
/// after the window are measured against (policy `bad_tick_jump_ticks`) and an off-market
/// execution is paid back to: the tick files' first tick at or after the window's end, else
/// the window's last good tick, else the quote before the outage. A market that moved while
/// the system was down has moved: the quote before the outage is no measure of the first
/// one after it.
fn market_before_reopening(pre: &Engine, ticks: &WindowTicks) -> Vec<Option<(Price, Price)>> {
    let mut good: Vec<Option<(Price, Price)>> = pre
        .instruments()
        .map(|(id, _)| pre.quote_of(id).map(|q| (q.bid, q.ask)))
        .collect();
    for tick in &ticks.ticks {
        if let Some(slot) = good.get_mut(usize::from(tick.instrument.0)) {
            *slot = Some((tick.bid, tick.ask));
        }
    }
    for (slot, after) in good.iter_mut().zip(&ticks.after) {
        if let Some(tick) = after {
            *slot = Some((tick.bid, tick.ask));
        }
    }
    good
}

/// Records a rollover the live engine applied on every off-market finding so far (they all
/// came before it, in journal order): the day/week orders they would put back, working when
/// it came, would have expired there.
fn record_rollover(rollover: JournaledRollover, after: &mut LiveAfter) {
    for fill in &mut after.bad_tick_fills {
        fill.rollovers_after.push(rollover);
        for close in &mut fill.closes {
            close.rollovers_after.push(rollover);
        }
    }
    for cut in &mut after.bad_tick_cuts {
        cut.rollovers_after.push(rollover);
    }
}

/// The closing side of a quote for a position on `side`.
fn closing_price(side: Side, (bid, ask): (Price, Price)) -> Price {
    match side {
        Side::Buy => bid,
        Side::Sell => ask,
    }
}

/// Which `PositionClosed` events of one command a loss-cut made: the engine reports a
/// loss-cut's closes first, then the `LossCut` event that counts them.
fn loss_cut_closes(events: &[Event]) -> Vec<bool> {
    let mut by_cut = vec![false; events.len()];
    for (i, event) in events.iter().enumerate() {
        if let Event::LossCut {
            account,
            positions_closed,
            ..
        } = event
        {
            let mut left = *positions_closed;
            for j in (0..i).rev() {
                if left == 0 {
                    break;
                }
                if matches!(&events[j], Event::PositionClosed { account: a, .. } if a == account)
                    && !by_cut[j]
                {
                    by_cut[j] = true;
                    left -= 1;
                }
            }
        }
    }
    by_cut
}

/// Records each order's first fill after reopening with the positions it closed and opened
/// (the engine reports a fill, then its closes, then the position it opens), and each
/// position's close that left nothing.
fn record_fills_and_closes(events: &[Event], time_ns: TimeNs, after: &mut LiveAfter) {
    use std::collections::hash_map::Entry;
    let any_fill = events
        .iter()
        .any(|e| matches!(e, Event::OrderFilled { .. }));
    let by_cut = if any_fill {
        loss_cut_closes(events)
    } else {
        Vec::new()
    };
    // The fill whose closes and opened position the next events report.
    let mut current: Option<fxdesk_engine::OrderId> = None;
    for (i, event) in events.iter().enumerate() {
        match event {
            Event::OrderFilled {
                order, qty, price, ..
            } => {
                current = None;
                if let Entry::Vacant(slot) = after.fills.entry(*order) {
                    slot.insert(LiveFill {
                        price: *price,
                        time_ns,
                        qty: *qty,
                        closed: Vec::new(),
                        opened: None,
                    });
                    current = Some(*order);
                }
            }
            Event::PositionOpened { position, qty, .. } => {
                if let Some(fill) = current.and_then(|o| after.fills.get_mut(&o)) {
                    if fill.opened.is_none() {
                        fill.opened = Some((*position, *qty));
                    }
                }
                current = None;
            }
            Event::PositionClosed {
                position,
                price,
                qty,
                qty_remaining,
                ..
            } => {
                let by_fill = !by_cut.get(i).copied().unwrap_or(false);
                if let Some(fill) = current
                    .filter(|_| by_fill)
                    .and_then(|o| after.fills.get_mut(&o))
                {
                    fill.closed.push((*position, *qty));
                }
                if *qty_remaining == 0 {
                    after.closes.entry(*position).or_insert(LiveClose {
                        price: *price,
                        time_ns,
                        qty: *qty,
                    });
                }
            }
            _ => {}
        }
    }
}

/// Records the fills and loss-cuts an off-market quote caused: each fill with the positions
/// it closed and opened, each loss-cut close on its own, with what a restore needs (from
/// `before`, the state just before the quote).
fn bad_tick_findings(
    before: &Engine,
    quoted: InstrumentId,
    events: &[Event],
    time_ns: TimeNs,
    evidence: &OffMarketEvidence,
    last_good: &[Option<(Price, Price)>],
    after: &mut LiveAfter,
) {
    let by_cut = loss_cut_closes(events);
    let good =
        |instrument: InstrumentId| last_good.get(usize::from(instrument.0)).copied().flatten();
    let mut current: Option<usize> = None;
    for (i, event) in events.iter().enumerate() {
        match event {
            Event::OrderFilled {
                order,
                account,
                instrument,
                side,
                qty,
                price,
            } => {
                let Some(quote) = good(*instrument) else {
                    current = None;
                    continue;
                };
                current = Some(after.bad_tick_fills.len());
                after.bad_tick_fills.push(BadTickFill {
                    order: *order,
                    account: *account,
                    instrument: *instrument,
                    side: *side,
                    qty: *qty,
                    price: *price,
                    time_ns,
                    // The fill's side of the last good quote: a buy pays the ask.
                    good_price: closing_price(side.opposite(), quote),
                    evidence: evidence.clone(),
                    closes: Vec::new(),
                    opened: None,
                    reopen: before.restore_orders_of(*order),
                    rollovers_after: Vec::new(),
                });
            }
            Event::PositionOpened { position, qty, .. } => {
                if let Some(fill) = current.and_then(|c| after.bad_tick_fills.get_mut(c)) {
                    if fill.opened.is_none() {
                        fill.opened = Some((*position, *qty));
                    }
                }
            }
            Event::PositionClosed {
                position,
                account,
                qty,
                price,
                realised_pnl_minor,
                qty_remaining,
                ..
            } => {
                let Some(p) = before.position(*position) else {
                    continue;
                };
                let Some(quote) = good(p.instrument) else {
                    continue;
                };
                let good_price = closing_price(p.side, quote);
                // A cut of a position on another instrument whose P&L the off-market quote
                // converted: the same close at the last good price of its instrument and the
                // last good quote of every conversion leg (a position closed at a price that
                // was not the market's, e.g. the quote before the outage, keeps what the price
                // rule pays it).
                let conversion = by_cut[i]
                    .then_some(p)
                    .filter(|p| p.instrument != quoted)
                    .and_then(|p| before.account(p.account))
                    .filter(|a| {
                        before
                            .pnl_conversion_instruments(p.instrument, a.currency)
                            .contains(&quoted)
                    })
                    .and_then(|_| before.close_pnl_at(*position, *qty, good_price, good))
                    .map(|good_pnl_minor| OffMarketConversion {
                        instrument: quoted,
                        good_pnl_minor,
                    });
                let close = BadTickClose {
                    position: *position,
                    account: *account,
                    instrument: p.instrument,
                    side: p.side,
                    qty: *qty,
                    price: *price,
                    realised_pnl_minor: *realised_pnl_minor,
                    qty_remaining: *qty_remaining,
                    time_ns,
                    good_price,
                    evidence: evidence.clone(),
                    restore: (*qty_remaining == 0)
                        .then(|| before.restore_of(*position, *realised_pnl_minor))
                        .flatten(),
                    conversion,
                    rollovers_after: Vec::new(),
                };
                if by_cut[i] {
                    after.bad_tick_cuts.push(close);
                } else if let Some(fill) = current.and_then(|c| after.bad_tick_fills.get_mut(c)) {
                    fill.closes.push(close);
                }
            }
            _ => {}
        }
    }
}

/// What `apply` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ApplyReport {
    pub plan_id: u64,
    /// Commands written to the journal by this run.
    pub executed: u32,
    /// Commands found applied already (an earlier run).
    pub already_applied: u32,
    pub resumed: bool,
    pub last_seq: u64,
    pub approvers: Vec<String>,
}

/// True when a journaled command is one of this plan's (or the Resume that ends an apply).
fn belongs_to_plan(plan: &Plan, kind: &CommandKind) -> bool {
    if let Some(correction) = kind.correction() {
        return correction.plan == plan.plan_id;
    }
    match kind {
        CommandKind::Resume { instrument: None } => true,
        other => plan
            .corrections
            .iter()
            .any(|c| c.commands.iter().any(|k| k == other)),
    }
}

/// Checks that the journal is still the one the plan was made from: the state before the
/// outage and at the plan's end are the same, and nothing but this plan's own commands came
/// after. Returns the reason when not.
pub fn check_inputs(
    plan: &Plan,
    dir: &Path,
    guard_flags: Option<&Path>,
    initial: impl Fn() -> Engine,
) -> Result<(), BackfillError> {
    check_guard_flags(plan, guard_flags)?;
    let inputs = &plan.inputs.journal;
    let pre =
        fxdesk_journal::state_at(dir, At::Seq(inputs.pre_outage_seq), &initial).map_err(|e| {
            BackfillError::Refused(format!(
                "cannot rebuild the state before the outage (seq {}): {e}",
                inputs.pre_outage_seq
            ))
        })?;
    let hash = hash_text(pre.state.state_hash());
    if hash != inputs.pre_outage_state_hash {
        return Err(BackfillError::Refused(format!(
            "the state before the outage (seq {}) has hash {hash}, the plan was made on {}",
            inputs.pre_outage_seq, inputs.pre_outage_state_hash
        )));
    }
    let last = fxdesk_journal::state_at(dir, At::Seq(inputs.last_seq), &initial).map_err(|e| {
        BackfillError::Refused(format!(
            "the journal no longer reaches the plan's seq {}: {e}",
            inputs.last_seq
        ))
    })?;
    let hash = hash_text(last.state.state_hash());
    if hash != inputs.last_state_hash {
        return Err(BackfillError::Refused(format!(
            "the state at seq {} has hash {hash}, the plan was made on {}",
            inputs.last_seq, inputs.last_state_hash
        )));
    }
    for record in fxdesk_journal::records::<Engine>(dir, inputs.last_seq + 1)? {
        let record = record?;
        if !belongs_to_plan(plan, &record.command.kind) {
            let text = format!("{:?}", record.command.kind);
            let short: String = text.chars().take(80).collect();
            return Err(BackfillError::Refused(format!(
                "the journal moved on after the plan was made: seq {} ({short}) at {} is not part of plan {}; make a new plan",
                record.seq,
                crate::calendar::rfc3339(record.time_ns),
                plan.plan_id
            )));
        }
    }
    Ok(())
}

/// The guard's flag file must be as it was when the plan was made: a flag added since may mark
/// another quote off-market (or a span the plan relied on may be gone).
fn check_guard_flags(plan: &Plan, path: Option<&Path>) -> Result<(), BackfillError> {
    let Some(recorded) = &plan.inputs.guard_flags else {
        return Ok(());
    };
    let now = match path {
        Some(path) => guard_flags::read(path)
            .map_err(|e| {
                BackfillError::Refused(format!(
                    "cannot re-read the price-jump guard's flag file: {e}"
                ))
            })?
            .map(|f| f.sha256),
        None => None,
    };
    if now != recorded.sha256 {
        let text = |h: &Option<String>| h.clone().unwrap_or_else(|| "no file".to_owned());
        return Err(BackfillError::Refused(format!(
            "the price-jump guard's flag file {} changed since the plan was made (now {}, the plan was made on {}): quotes may have been flagged off-market since; make a new plan",
            path.map_or_else(|| "(none given)".to_owned(), |p| p.display().to_string()),
            text(&now),
            text(&recorded.sha256)
        )));
    }
    Ok(())
}

/// Applies an approved plan to the journal in `dir` (the server must be stopped: the journal's
/// lock is taken). Each command is durable before it is applied; commands applied by an
/// earlier run are skipped, so applying twice changes nothing. Ends with a global Resume when
/// the engine is halted. `now_ns`: the time stamped on the commands (never before the journal's
/// last record).
pub fn apply(
    plan: &Plan,
    dir: &Path,
    guard_flags: Option<&Path>,
    initial: impl Fn() -> Engine,
    now_ns: TimeNs,
) -> Result<ApplyReport, BackfillError> {
    check_integrity(plan)?;
    let approved_by = approvers(plan);
    if approved_by.len() < APPROVALS_NEEDED {
        return Err(BackfillError::Refused(format!(
            "the plan needs approvals by {APPROVALS_NEEDED} different users; approved by: {}",
            if approved_by.is_empty() {
                "nobody".to_owned()
            } else {
                approved_by.join(", ")
            }
        )));
    }
    check_inputs(plan, dir, guard_flags, &initial)?;
    let (mut durable, _) =
        Durable::open(dir, JournalOptions::default(), &initial).map_err(|e| {
            BackfillError::Refused(format!(
                "cannot open the journal for writing (is `fxdesk serve` still running?): {e}"
            ))
        })?;
    let mut report = ApplyReport {
        plan_id: plan.plan_id,
        approvers: approved_by,
        ..ApplyReport::default()
    };
    let execute =
        |durable: &mut Durable<Engine>, kind: CommandKind| -> Result<Vec<Event>, BackfillError> {
            let time_ns = now_ns.max(durable.state().now_ns());
            let (_, events) = durable.execute(&Command { time_ns, kind })?;
            Ok(events)
        };
    for correction in &plan.corrections {
        for kind in &correction.commands {
            let done = match (kind.correction(), kind) {
                (Some(correction), _) => durable.state().correction_applied(correction),
                (None, CommandKind::CancelOrder { order, .. }) => {
                    durable.state().order(*order).is_none()
                }
                (None, _) => false,
            };
            if done {
                report.already_applied += 1;
                continue;
            }
            let events = execute(&mut durable, kind.clone())?;
            if let Some(Event::Rejected(reason)) =
                events.iter().find(|e| matches!(e, Event::Rejected(_)))
            {
                return Err(BackfillError::Refused(format!(
                    "correction {} ({:?} of account {}) was refused by the engine: {reason}; {} commands were applied before it and stay applied (applying again continues from here)",
                    correction.item, correction.kind, correction.account, report.executed
                )));
            }
            report.executed += 1;
        }
    }
    if durable.state().is_halted_globally() {
        execute(&mut durable, CommandKind::Resume { instrument: None })?;
        report.resumed = true;
    }
    report.last_seq = durable.applied_seq();
    durable.close();
    Ok(report)
}
