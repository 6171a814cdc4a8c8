//! The band index answers exactly like a naive list of bands, whatever was filed and removed.

use fxdesk_engine::risk::BandIndex;
use fxdesk_engine::state::Band;
use fxdesk_engine::{AccountId, InstrumentId, Price};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// File a fresh band for an account (replacing its old one on that instrument).
    File {
        account: u64,
        instrument: u16,
        low: Price,
        high: Price,
    },
    Remove {
        account: u64,
        instrument: u16,
    },
    Quote {
        instrument: u16,
        bid: Price,
        spread: Price,
    },
}

fn price() -> impl Strategy<Value = Price> {
    prop_oneof![
        8 => 149_000i64..151_000,
        1 => Just(Price::MAX),
        1 => Just(Price::MIN),
        1 => -100i64..100,
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u64..40, 0u16..3, price(), price()).prop_map(|(account, instrument, low, high)| Op::File { account, instrument, low, high }),
        2 => (1u64..40, 0u16..3).prop_map(|(account, instrument)| Op::Remove { account, instrument }),
        4 => (0u16..3, 148_900i64..151_100, 0i64..40).prop_map(|(instrument, bid, spread)| Op::Quote { instrument, bid, spread }),
    ]
}

proptest! {
    #[test]
    fn crossed_accounts_match_a_naive_scan(ops in proptest::collection::vec(op(), 1..200)) {
        let mut index = BandIndex::new(3);
        let mut naive: Vec<(AccountId, Band)> = Vec::new();
        for op in ops {
            match op {
                Op::File { account, instrument, low, high } => {
                    let account = AccountId(account);
                    let instrument = InstrumentId(instrument);
                    if let Some(at) = naive.iter().position(|(a, b)| *a == account && b.instrument == instrument) {
                        let (_, old) = naive.remove(at);
                        index.remove(account, &[old]);
                    }
                    let band = Band { instrument, low, high };
                    index.add(account, &[band]);
                    naive.push((account, band));
                }
                Op::Remove { account, instrument } => {
                    let account = AccountId(account);
                    if let Some(at) = naive.iter().position(|(a, b)| *a == account && b.instrument == InstrumentId(instrument)) {
                        let (_, old) = naive.remove(at);
                        index.remove(account, &[old]);
                    }
                }
                Op::Quote { instrument, bid, spread } => {
                    let ask = bid + spread;
                    let instrument = InstrumentId(instrument);
                    let mut expected: Vec<AccountId> = naive
                        .iter()
                        .filter(|(_, b)| b.instrument == instrument && (bid < b.low || ask > b.high))
                        .map(|(a, _)| *a)
                        .collect();
                    expected.sort_unstable();
                    expected.dedup();
                    prop_assert_eq!(index.crossed(instrument, bid, ask), expected);
                }
            }
            prop_assert_eq!(index.len(), naive.len());
        }
    }
}
