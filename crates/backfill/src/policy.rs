//! The backfill policy: how fills are priced per order kind, how corrections are made, and what
//! is left alone. Read from TOML; the defaults are `policy.default.toml` at the crate root
//! (tested to equal [`Policy::default`]).

use serde::{Deserialize, Serialize};

/// Where a backfilled fill is priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FillPrice {
    /// The order's own level: a stop's stop price, a limit's limit price.
    OrderPrice,
    /// The first tick that reached the order: what the live engine would have done.
    FirstTickBeyond,
    /// Whichever of the two is better for the customer.
    BetterForCustomer,
}

/// How a correction is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrectionMode {
    /// Change the execution: a fill at the backfilled price, a back-dated close.
    Rewrite,
    /// Execute at the reopening price and book the difference to the account as cash.
    Cash,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossCuts {
    /// A loss-cut found inside the window happens at the tick that triggered it.
    BackDated,
    /// No loss-cut inside the window; the engine evaluates the account when trading resumes.
    AtReopening,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UncertainAction {
    /// Listed for a person to decide; no correction is proposed.
    Hold,
    /// Corrected like any other order.
    Fill,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FillPrices {
    pub limit: FillPrice,
    pub stop: FillPrice,
    pub stop_limit: FillPrice,
    pub trailing_stop: FillPrice,
    pub take_profit: FillPrice,
    pub stop_loss: FillPrice,
}

impl Default for FillPrices {
    fn default() -> Self {
        FillPrices {
            limit: FillPrice::OrderPrice,
            stop: FillPrice::FirstTickBeyond,
            stop_limit: FillPrice::OrderPrice,
            trailing_stop: FillPrice::FirstTickBeyond,
            take_profit: FillPrice::OrderPrice,
            stop_loss: FillPrice::FirstTickBeyond,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Corrections {
    pub fill: CorrectionMode,
    pub loss_cut: CorrectionMode,
    /// Re-pricing an execution made after reopening at a price the policy says is wrong:
    /// `cash` (the default) books the difference as a cash adjustment; `rewrite` re-prices the
    /// execution (an open position it opened gets the backfilled entry price; one whose P&L
    /// is booked gets the difference booked as that execution's realised P&L).
    pub reprice: CorrectionMode,
    /// A fill or loss-cut made after reopening on an off-market quote: `cash` pays the
    /// difference to the last good price (only in the customer's favour; the default),
    /// `rewrite` cancels the execution (the opened position is closed at its entry price, the
    /// closed positions are restored with their orders, the booked P&L is taken back).
    pub bad_tick: CorrectionMode,
}

impl Default for Corrections {
    fn default() -> Self {
        Corrections {
            fill: CorrectionMode::Rewrite,
            loss_cut: CorrectionMode::Rewrite,
            reprice: CorrectionMode::Cash,
            bad_tick: CorrectionMode::Cash,
        }
    }
}

/// What marks a journaled quote (after the window) off-market.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BadTickEvidence {
    /// The server price-jump guard's flag file (`DATA_DIR/price-guard/flags.jsonl`): a quote
    /// inside an off-market span the guard recorded (the market came back within its revert
    /// window) or an operator marked.
    Guard,
    /// The plan's own rule: a quote more than `bad_tick_jump_ticks` from the last good quote
    /// of its instrument.
    Jump,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    pub minimum_outage_minutes: i64,
    pub uncertain_window_ms: i64,
    pub uncertain_action: UncertainAction,
    pub slippage_cap_ticks: Option<i64>,
    pub loss_cuts: LossCuts,
    pub rollover_in_window: bool,
    pub bad_tick_jump_ticks: Option<i64>,
    pub bad_tick_evidence: BadTickEvidence,
    pub fill_price: FillPrices,
    pub correction: Corrections,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            minimum_outage_minutes: 30,
            uncertain_window_ms: 2_000,
            uncertain_action: UncertainAction::Hold,
            slippage_cap_ticks: None,
            loss_cuts: LossCuts::BackDated,
            rollover_in_window: true,
            bad_tick_jump_ticks: None,
            bad_tick_evidence: BadTickEvidence::Guard,
            fill_price: FillPrices::default(),
            correction: Corrections::default(),
        }
    }
}

/// The documented defaults, as shipped.
pub const DEFAULT_POLICY_TOML: &str = include_str!("../policy.default.toml");

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("policy: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("policy: {0}")]
    Invalid(String),
}

impl Policy {
    /// Reads a policy; missing keys take the defaults, unknown keys and bad values are refused.
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        let policy: Policy = toml::from_str(text)?;
        policy.validate()?;
        Ok(policy)
    }

    pub fn validate(&self) -> Result<(), PolicyError> {
        let bad = |what: &str| Err(PolicyError::Invalid(what.to_owned()));
        if !(0..=7 * 24 * 60).contains(&self.minimum_outage_minutes) {
            return bad("minimum_outage_minutes must be between 0 and a week");
        }
        if !(0..=3_600_000).contains(&self.uncertain_window_ms) {
            return bad("uncertain_window_ms must be between 0 and one hour");
        }
        if self.slippage_cap_ticks.is_some_and(|c| c < 0) {
            return bad("slippage_cap_ticks must not be negative");
        }
        if self.bad_tick_jump_ticks.is_some_and(|c| c <= 0) {
            return bad("bad_tick_jump_ticks must be positive");
        }
        if self.bad_tick_evidence == BadTickEvidence::Jump && self.bad_tick_jump_ticks.is_none() {
            return bad("bad_tick_evidence = \"jump\" needs bad_tick_jump_ticks");
        }
        Ok(())
    }

    /// The policy as the canonical JSON the plan hashes.
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_default_file_is_the_default_policy() {
        assert_eq!(
            Policy::from_toml(DEFAULT_POLICY_TOML).unwrap(),
            Policy::default()
        );
        assert_eq!(Policy::from_toml("").unwrap(), Policy::default());
    }

    #[test]
    fn keys_override_and_bad_policies_are_refused_with_a_reason() {
        let p = Policy::from_toml(
            "minimum_outage_minutes = 0\nloss_cuts = \"at_reopening\"\n[fill_price]\nstop = \"order_price\"\n",
        )
        .unwrap();
        assert_eq!(p.minimum_outage_minutes, 0);
        assert_eq!(p.loss_cuts, LossCuts::AtReopening);
        assert_eq!(p.fill_price.stop, FillPrice::OrderPrice);
        assert_eq!(p.fill_price.limit, FillPrice::OrderPrice);
        assert!(Policy::from_toml("nonsense = 1").is_err());
        assert!(Policy::from_toml("[fill_price]\nstop = \"cheapest\"").is_err());
        let p = Policy::from_toml("[correction]\nbad_tick = \"rewrite\"").unwrap();
        assert_eq!(p.correction.bad_tick, CorrectionMode::Rewrite);
        assert_eq!(Policy::default().correction.bad_tick, CorrectionMode::Cash);
        let p = Policy::from_toml("[correction]\nreprice = \"rewrite\"").unwrap();
        assert_eq!(p.correction.reprice, CorrectionMode::Rewrite);
        assert_eq!(Policy::default().correction.reprice, CorrectionMode::Cash);
        assert!(Policy::from_toml("slippage_cap_ticks = -1").is_err());
        assert_eq!(Policy::default().bad_tick_evidence, BadTickEvidence::Guard);
        let e = Policy::from_toml("bad_tick_evidence = \"jump\"").unwrap_err();
        assert!(e.to_string().contains("needs bad_tick_jump_ticks"), "{e}");
        let p =
            Policy::from_toml("bad_tick_evidence = \"jump\"\nbad_tick_jump_ticks = 500").unwrap();
        assert_eq!(p.bad_tick_evidence, BadTickEvidence::Jump);
    }
}
