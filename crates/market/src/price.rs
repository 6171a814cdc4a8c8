//! Exact conversion between decimal price text ("156.123") and integer ticks.

/// Longest price text accepted, in bytes.
pub const PRICE_TEXT_LEN_MAX: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    #[error("price is empty")]
    Empty,
    #[error("price is longer than {PRICE_TEXT_LEN_MAX} bytes")]
    TooLong,
    #[error("price {text:?} is not a plain positive decimal number (digits, one optional '.')")]
    Syntax { text: String },
    #[error("price {text:?} has more than {decimals} decimals")]
    TooManyDecimals { text: String, decimals: u32 },
    #[error("price {text:?} is too large")]
    TooLarge { text: String },
    #[error("price {text:?} is not above zero")]
    NotPositive { text: String },
}

/// Parses `text` as a decimal with at most `decimals` fraction digits into ticks of
/// `10^-decimals`. Trailing zeros beyond `decimals` are accepted ("1.10000" with 3 decimals).
/// No sign, no exponent, no spaces: prices are strictly positive.
pub fn parse_ticks(text: &str, decimals: u32) -> Result<i64, PriceError> {
    if text.is_empty() {
        return Err(PriceError::Empty);
    }
    if text.len() > PRICE_TEXT_LEN_MAX {
        return Err(PriceError::TooLong);
    }
    let syntax = || PriceError::Syntax {
        text: text.to_owned(),
    };
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (text, ""),
    };
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits_only(whole) || !digits_only(fraction) {
        return Err(syntax());
    }
    if text.ends_with('.') {
        return Err(syntax());
    }
    let significant = fraction.trim_end_matches('0');
    if significant.len() > decimals as usize {
        return Err(PriceError::TooManyDecimals {
            text: text.to_owned(),
            decimals,
        });
    }
    let too_large = || PriceError::TooLarge {
        text: text.to_owned(),
    };
    let mut ticks: i64 = 0;
    for byte in whole.bytes() {
        ticks = ticks
            .checked_mul(10)
            .and_then(|t| t.checked_add(i64::from(byte - b'0')))
            .ok_or_else(too_large)?;
    }
    for position in 0..decimals as usize {
        let digit = significant.as_bytes().get(position).map_or(0, |b| b - b'0');
        ticks = ticks
            .checked_mul(10)
            .and_then(|t| t.checked_add(i64::from(digit)))
            .ok_or_else(too_large)?;
    }
    if ticks <= 0 {
        return Err(PriceError::NotPositive {
            text: text.to_owned(),
        });
    }
    Ok(ticks)
}

/// Formats ticks as a decimal with exactly `decimals` fraction digits: 156123, 3 -> "156.123".
pub fn format_ticks(ticks: i64, decimals: u32) -> String {
    format_scaled(i128::from(ticks), decimals)
}

/// Formats an integer amount of `10^-decimals` units ("-1234", 2 -> "-12.34").
pub fn format_scaled(value: i128, decimals: u32) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let magnitude = value.unsigned_abs();
    if decimals == 0 {
        return format!("{sign}{magnitude}");
    }
    let scale = 10u128.pow(decimals);
    format!(
        "{sign}{}.{:0width$}",
        magnitude / scale,
        magnitude % scale,
        width = decimals as usize
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // unwrap is how a test fails
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_exact_decimals() {
        assert_eq!(parse_ticks("156.123", 3), Ok(156_123));
        assert_eq!(parse_ticks("156.1", 3), Ok(156_100));
        assert_eq!(parse_ticks("156", 3), Ok(156_000));
        assert_eq!(parse_ticks("1.08123", 5), Ok(108_123));
        assert_eq!(parse_ticks("1.0812300", 5), Ok(108_123));
    }

    #[test]
    fn refuses_what_is_not_a_price() {
        for bad in [
            "", "-1.0", "+1", "1e3", " 1", "1.", ".5", "1.2.3", "abc", "1,5",
        ] {
            assert!(parse_ticks(bad, 3).is_err(), "{bad:?} accepted");
        }
        assert!(matches!(
            parse_ticks("156.1234", 3),
            Err(PriceError::TooManyDecimals { .. })
        ));
        assert!(matches!(
            parse_ticks("0.000", 3),
            Err(PriceError::NotPositive { .. })
        ));
        assert!(matches!(
            parse_ticks("99999999999999999999", 3),
            Err(PriceError::TooLarge { .. })
        ));
    }

    #[test]
    fn formats_with_fixed_decimals() {
        assert_eq!(format_ticks(156_123, 3), "156.123");
        assert_eq!(format_ticks(108_023, 5), "1.08023");
        assert_eq!(format_scaled(-1234, 2), "-12.34");
        assert_eq!(format_scaled(-5, 2), "-0.05");
        assert_eq!(format_scaled(1000, 0), "1000");
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(ticks in 1i64..1_000_000_000_000, decimals in 0u32..8) {
            prop_assert_eq!(parse_ticks(&format_ticks(ticks, decimals), decimals), Ok(ticks));
        }
    }
}
