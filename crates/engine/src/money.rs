//! Exchange rates and rounding. The written rules:
//!
//! - **Conversion rate.** Money in currency X becomes money in the account currency A at the
//!   *mid* of the last quote: through the pair X/A (or A/X inverted) when the engine lists one,
//!   otherwise through USD (X/USD or USD/X, then USD/A or A/USD). EUR/USD P&L in a JPY account is
//!   converted at USD/JPY's mid; EUR notional in a JPY account at EUR/JPY's mid.
//! - **Valuation.** A long position is valued at the bid, a short one at the ask (what closing it
//!   would get now).
//! - **Rounding.** Realised and unrealised P&L and swaps are rounded to the account currency's
//!   minor unit half away from zero, once, at the end of the exact computation. Required margin is
//!   rounded up (in the broker's favour, so a position is never under-margined by rounding).
//!   The booked, rounded amount is what moves the balance, so the balance always equals
//!   deposits - withdrawals + booked P&L + booked swaps to the unit.

use crate::types::{Currency, Price, Qty, Side};

/// A positive exchange rate `num / den`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub num: i128,
    pub den: i128,
}

impl Rate {
    pub const ONE: Rate = Rate { num: 1, den: 1 };

    /// The mid of a quote in ticks, as currency units: (bid + ask) / (2 * 10^decimals).
    pub fn mid_of(bid: i64, ask: i64, ticks_per_unit: i128) -> Rate {
        debug_assert!(bid > 0 && ask >= bid);
        Rate {
            num: i128::from(bid) + i128::from(ask),
            den: 2 * ticks_per_unit,
        }
    }

    pub fn inverse(self) -> Rate {
        Rate {
            num: self.den,
            den: self.num,
        }
    }

    pub fn times(self, other: Rate) -> Rate {
        Rate {
            num: self.num * other.num,
            den: self.den * other.den,
        }
    }
}

/// The P&L of `qty` on a `side` position moved from `entry` to `exit` (prices in ticks of an
/// instrument with `ticks_per_unit`), converted at `rate` from the instrument's quote currency
/// into `currency`'s minor unit and rounded half away from zero once, at the end.
pub fn pnl_minor(
    side: Side,
    qty: Qty,
    (entry, exit): (Price, Price),
    ticks_per_unit: i128,
    rate: Rate,
    currency: Currency,
) -> i128 {
    let move_ticks = i128::from(side.sign()) * (i128::from(exit) - i128::from(entry));
    let num = i128::from(qty) * move_ticks * rate.num * pow10(currency.minor_digits());
    div_round(num, ticks_per_unit * rate.den)
}

/// `10^digits` as i128.
pub fn pow10(digits: u32) -> i128 {
    // A table: this sits under every conversion and margin figure, and `i128::pow` is a loop
    // of 128-bit multiplications.
    const TABLE: [i128; 19] = {
        let mut table = [1i128; 19];
        let mut i = 1;
        while i < table.len() {
            table[i] = table[i - 1] * 10;
            i += 1;
        }
        table
    };
    match TABLE.get(digits as usize) {
        Some(&power) => power,
        None => 10i128.pow(digits),
    }
}

/// `(n / d, n % d)`, truncating. Amounts are i128 only so that products cannot overflow; the
/// operands nearly always fit in 64 bits, where one machine division gives both results, while
/// a 128-bit division is a library call (two of them for quotient and remainder). Valuing an
/// account divides a dozen times, so this sits under every margin check and review.
#[inline]
fn div_rem(n: i128, d: i128) -> (i128, i128) {
    match (i64::try_from(n), i64::try_from(d)) {
        (Ok(n), Ok(d)) if d != -1 => (i128::from(n / d), i128::from(n % d)),
        _ => (n / d, n % d),
    }
}

/// n / d truncated towards zero (Rust's `/`), with the 64-bit fast path of [`div_rem`].
pub fn div_trunc(n: i128, d: i128) -> i128 {
    div_rem(n, d).0
}

/// n / d rounded half away from zero; `d` must be positive.
pub fn div_round(n: i128, d: i128) -> i128 {
    debug_assert!(d > 0);
    let half = d / 2;
    if n >= 0 {
        div_trunc(n + half, d)
    } else {
        -div_trunc(-n + half, d)
    }
}

/// n / d rounded towards positive infinity; `d` must be positive.
pub fn div_ceil(n: i128, d: i128) -> i128 {
    debug_assert!(d > 0);
    let (q, r) = div_rem(n, d);
    if r > 0 {
        q + 1
    } else {
        q
    }
}

/// n / d rounded towards negative infinity; `d` must be positive.
pub fn div_floor(n: i128, d: i128) -> i128 {
    debug_assert!(d > 0);
    let (q, r) = div_rem(n, d);
    if r < 0 {
        q - 1
    } else {
        q
    }
}

/// Clamps an i128 amount into i64 money; amounts are bounded far below this by the limits, so
/// saturation only guards against a bug turning into a panic.
pub fn to_money(amount: i128) -> i64 {
    debug_assert!(amount >= i128::from(i64::MIN) && amount <= i128::from(i64::MAX));
    amount.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// How to get from one currency to another with the listed pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ConversionPath {
    Same,
    /// Through pair index `.0`, multiplying (pair is FROM/TO) or dividing (pair is TO/FROM).
    Direct(u16, bool),
    /// Two legs through USD.
    ViaUsd((u16, bool), (u16, bool)),
}

/// Finds the conversion path between two currencies given the listed pairs (base, quote).
pub fn find_path(
    pairs: &[(Currency, Currency)],
    from: Currency,
    to: Currency,
) -> Option<ConversionPath> {
    if from == to {
        return Some(ConversionPath::Same);
    }
    let leg = |a: Currency, b: Currency| -> Option<(u16, bool)> {
        pairs
            .iter()
            .enumerate()
            .find_map(|(index, &(base, quote))| {
                let index = u16::try_from(index).ok()?;
                if base == a && quote == b {
                    Some((index, true))
                } else if base == b && quote == a {
                    Some((index, false))
                } else {
                    None
                }
            })
    };
    if let Some(direct) = leg(from, to) {
        return Some(ConversionPath::Direct(direct.0, direct.1));
    }
    if from != Currency::USD && to != Currency::USD {
        if let (Some(first), Some(second)) = (leg(from, Currency::USD), leg(Currency::USD, to)) {
            return Some(ConversionPath::ViaUsd(first, second));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powers_of_ten_match_the_loop_everywhere() {
        for digits in 0..=38 {
            assert_eq!(pow10(digits), 10i128.pow(digits), "10^{digits}");
        }
    }

    #[test]
    fn rounding_rules() {
        assert_eq!(div_round(5, 2), 3);
        assert_eq!(div_round(-5, 2), -3);
        assert_eq!(div_round(4, 3), 1);
        assert_eq!(div_round(-4, 3), -1);
        assert_eq!(div_ceil(4, 3), 2);
        assert_eq!(div_ceil(-4, 3), -1);
        assert_eq!(div_floor(-4, 3), -2);
        assert_eq!(div_floor(4, 3), 1);
    }

    /// Operands of every size: small, around the 64-bit boundary, and wide.
    fn operand() -> impl proptest::strategy::Strategy<Value = i128> {
        use proptest::prelude::*;
        prop_oneof![
            any::<i32>().prop_map(i128::from),
            any::<i64>().prop_map(i128::from),
            (any::<i64>(), 0u32..4).prop_map(|(v, k)| i128::from(v) + i128::from(k) - 2),
            (any::<i64>(), 1u32..60).prop_map(|(v, k)| i128::from(v) << k),
            Just(i128::from(i64::MIN)),
            Just(i128::from(i64::MAX)),
        ]
    }

    proptest::proptest! {
        /// The 64-bit fast path gives exactly what 128-bit division gives.
        #[test]
        fn fast_division_equals_128_bit_division(n in operand(), d in operand()) {
            proptest::prop_assume!(d > 0);
            proptest::prop_assert_eq!(div_rem(n, d), (n / d, n % d));
            let ceil = if n % d > 0 { n / d + 1 } else { n / d };
            let floor = if n % d < 0 { n / d - 1 } else { n / d };
            proptest::prop_assert_eq!(div_ceil(n, d), ceil);
            proptest::prop_assert_eq!(div_floor(n, d), floor);
            let half = d / 2;
            let round = if n >= 0 { (n + half) / d } else { -((-n + half) / d) };
            proptest::prop_assert_eq!(div_round(n, d), round);
        }
    }

    #[test]
    fn division_by_minus_one_does_not_overflow_the_fast_path() {
        assert_eq!(
            div_rem(i128::from(i64::MIN), -1),
            (-i128::from(i64::MIN), 0)
        );
        assert_eq!(div_rem(-9, -2), (4, -1));
    }

    #[test]
    fn pnl_is_converted_at_the_rate_and_rounded_once_half_away_from_zero() {
        // 10,000 EUR/USD bought at 1.10005, sold at 1.08000: -200.50 USD; at USD/JPY mid
        // 150.0025 that is -30,075.50125 JPY, rounded once: -30,076.
        let usdjpy = Rate::mid_of(150_000, 150_005, 1_000);
        let pnl = |side, rate| {
            pnl_minor(
                side,
                10_000,
                (110_005, 108_000),
                100_000,
                rate,
                Currency::JPY,
            )
        };
        assert_eq!(pnl(Side::Buy, usdjpy), -30_076);
        assert_eq!(pnl(Side::Sell, usdjpy), 30_076);
        // In USD (two minor digits) at rate one: -200.50 USD exactly.
        assert_eq!(
            pnl_minor(
                Side::Buy,
                10_000,
                (110_005, 108_000),
                100_000,
                Rate::ONE,
                Currency::USD
            ),
            -20_050
        );
        // A half unit rounds away from zero: 1 unit moved 0.5 yen in JPY.
        assert_eq!(
            pnl_minor(
                Side::Buy,
                1,
                (150_000, 150_500),
                1_000,
                Rate::ONE,
                Currency::JPY
            ),
            1
        );
        assert_eq!(
            pnl_minor(
                Side::Sell,
                1,
                (150_000, 150_500),
                1_000,
                Rate::ONE,
                Currency::JPY
            ),
            -1
        );
    }

    #[test]
    fn paths_prefer_direct_pairs_then_usd() {
        use Currency::*;
        let pairs = [(USD, JPY), (EUR, USD), (EUR, JPY), (GBP, USD)];
        assert_eq!(
            find_path(&pairs, EUR, JPY),
            Some(ConversionPath::Direct(2, true))
        );
        assert_eq!(
            find_path(&pairs, JPY, USD),
            Some(ConversionPath::Direct(0, false))
        );
        assert_eq!(
            find_path(&pairs, GBP, JPY),
            Some(ConversionPath::ViaUsd((3, true), (0, true)))
        );
        assert_eq!(find_path(&pairs, AUD, JPY), None);
        assert_eq!(find_path(&pairs, JPY, JPY), Some(ConversionPath::Same));
    }
}
