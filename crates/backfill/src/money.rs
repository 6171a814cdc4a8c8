//! Price differences converted into an account's currency, at the mid rates of an engine's
//! quotes (direct pair, else through USD), rounded half away from zero to the minor unit.

use fxdesk_engine::{Currency, Engine, InstrumentId, MoneyMinor, Price, Qty};

/// A rate as a fraction: amount in `to` = amount in `from` x num / den.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rate {
    num: i128,
    den: i128,
}

fn direct(engine: &Engine, from: Currency, to: Currency) -> Option<Rate> {
    for (id, spec) in engine.instruments() {
        let Some(quote) = engine.quote_of(id) else {
            continue;
        };
        let mid2 = i128::from(quote.bid) + i128::from(quote.ask);
        let den = 2 * spec.ticks_per_unit();
        if spec.base == from && spec.quote == to {
            return Some(Rate { num: mid2, den });
        }
        if spec.base == to && spec.quote == from && mid2 > 0 {
            return Some(Rate {
                num: den,
                den: mid2,
            });
        }
    }
    None
}

fn rate(engine: &Engine, from: Currency, to: Currency) -> Option<Rate> {
    if from == to {
        return Some(Rate { num: 1, den: 1 });
    }
    direct(engine, from, to).or_else(|| {
        let a = direct(engine, from, Currency::USD)?;
        let b = direct(engine, Currency::USD, to)?;
        Some(Rate {
            num: a.num * b.num,
            den: a.den * b.den,
        })
    })
}

fn div_round(num: i128, den: i128) -> i128 {
    if den == 0 {
        return 0;
    }
    let (num, den) = if den < 0 { (-num, -den) } else { (num, den) };
    if num >= 0 {
        (num + den / 2) / den
    } else {
        -((-num + den / 2) / den)
    }
}

/// `qty` x `ticks` of `instrument`'s price, in `currency`'s minor unit; `None` when no quote
/// converts the instrument's quote currency into it.
pub fn ticks_to_minor(
    engine: &Engine,
    instrument: InstrumentId,
    qty: Qty,
    ticks: Price,
    currency: Currency,
) -> Option<MoneyMinor> {
    let spec = engine.instrument(instrument)?;
    let rate = rate(engine, spec.quote, currency)?;
    let num = i128::from(qty) * i128::from(ticks) * rate.num * 10i128.pow(currency.minor_digits());
    i64::try_from(div_round(num, spec.ticks_per_unit() * rate.den)).ok()
}

/// Minor units as decimal text: 123456 USD -> "1234.56".
pub fn minor_text(amount: MoneyMinor, currency: Currency) -> String {
    fxdesk_market::price::format_scaled(i128::from(amount), currency.minor_digits())
}
