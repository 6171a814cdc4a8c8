//! Outage words: the posts that say the broker is down ("鯖落ち", "ログインできない", ...).
//!
//! When a broker goes down, most of the extra posts about it are complaints that name the
//! failure, while on an ordinary evening only a few posts do. Counting those posts as a stream of
//! their own (our thread's outage-word posts against the peers' threads' outage-word posts) turns
//! a doubling of all posts into a rise of ten times or more in the posts that matter, which is
//! found in two or three minutes even at a quiet hour. The comparison with the peers stays: a
//! flash crash makes customers of every broker complain of slippage and frozen screens.
//!
//! Matching is a substring test on a lightly normalised text (full-width ASCII folded to ASCII,
//! ASCII lowercased), so `ＥＲＲＯＲ` and `error` match the same term. Half-width katakana are not
//! folded; the default list carries the common half-width spellings itself.

use serde::{Deserialize, Serialize};

use crate::error::SignalsError;

/// The derived stream of a stream's outage-word posts is named `<stream><suffix>`.
pub const OUTAGE_WORDS_SUFFIX: &str = "#outage-words";
/// Terms one configuration may list, and the longest term.
pub const OUTAGE_TERMS_MAX: usize = 200;
pub const OUTAGE_TERM_BYTES_MAX: usize = 64;

/// The default terms: how Japanese retail traders say on a board that their broker is down.
/// Deliberately absent: "落ちた" alone (prices fall too: "ドル円落ちた"), "重い" alone (used of
/// charts and markets), "503" alone (a price such as 150.503; "503エラー" matches "エラー").
pub const DEFAULT_OUTAGE_TERMS: &[&str] = &[
    "鯖落ち",
    "鯖死",
    "サバ落ち",
    "サーバー落ち",
    "サーバ落ち",
    "サーバーダウン",
    "落ちてる",
    "落ちてない？",
    "ログインできない",
    "ログイン出来ない",
    "ログインできん",
    "入れない",
    "繋がらない",
    "つながらない",
    "接続できない",
    "接続出来ない",
    "注文できない",
    "注文出来ない",
    "注文が通らない",
    "決済できない",
    "決済出来ない",
    "約定しない",
    "固まった",
    "フリーズ",
    "ﾌﾘｰｽﾞ",
    "障害",
    "不具合",
    "エラー",
    "ｴﾗｰ",
    "メンテ中",
    "error",
    "service unavailable",
];

/// Which groups are also watched for outage words, and the terms (TOML-friendly):
///
/// ```toml
/// [outage_words]
/// groups = ["5ch"]          # each must be a configured group
/// terms = ["鯖落ち", "..."]  # optional; the default list when absent or empty
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutageWordsConfig {
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub terms: Vec<String>,
}

/// A compiled term list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutageWords {
    /// Normalised, non-empty, without duplicates.
    terms: Vec<String>,
}

impl Default for OutageWords {
    fn default() -> Self {
        OutageWords::new(DEFAULT_OUTAGE_TERMS.iter().copied())
            .unwrap_or(OutageWords { terms: Vec::new() })
    }
}

impl OutageWords {
    /// Compiles `terms`; refuses an empty list, an empty or over-long term, or too many terms.
    pub fn new<'a>(terms: impl IntoIterator<Item = &'a str>) -> Result<Self, SignalsError> {
        let mut normalised: Vec<String> = Vec::new();
        for term in terms {
            if term.trim().is_empty() || term.len() > OUTAGE_TERM_BYTES_MAX {
                return Err(SignalsError::Config(format!(
                    "outage word {:?} must be 1..={OUTAGE_TERM_BYTES_MAX} bytes and not blank",
                    term.chars().take(20).collect::<String>()
                )));
            }
            let term = normalise(term.trim());
            if !normalised.contains(&term) {
                normalised.push(term);
            }
            if normalised.len() > OUTAGE_TERMS_MAX {
                return Err(SignalsError::Config(format!(
                    "more than {OUTAGE_TERMS_MAX} outage words"
                )));
            }
        }
        if normalised.is_empty() {
            return Err(SignalsError::Config("no outage words".to_owned()));
        }
        Ok(OutageWords { terms: normalised })
    }

    /// The configured terms, or the default list when none are given.
    pub fn from_config(config: &OutageWordsConfig) -> Result<Self, SignalsError> {
        if config.terms.is_empty() {
            OutageWords::new(DEFAULT_OUTAGE_TERMS.iter().copied())
        } else {
            OutageWords::new(config.terms.iter().map(String::as_str))
        }
    }

    /// Whether any of `texts` contains a term.
    pub fn matches(&self, texts: &[&str]) -> bool {
        texts.iter().any(|text| {
            let text = normalise(text);
            self.terms.iter().any(|term| text.contains(term.as_str()))
        })
    }

    pub fn terms(&self) -> &[String] {
        &self.terms
    }
}

/// The derived stream name for `stream`'s outage-word posts.
pub fn outage_words_stream(stream: &str) -> String {
    format!("{stream}{OUTAGE_WORDS_SUFFIX}")
}

/// Full-width ASCII (U+FF01..=U+FF5E) and the ideographic space folded to ASCII, ASCII
/// lowercased.
fn normalise(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            _ => c,
        })
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn default_terms_match_complaints_and_not_market_talk() {
        let words = OutageWords::default();
        for complaint in [
            "また鯖落ちかよ",
            "ログインできないんだけど",
            "注文が通らない！！",
            "アプリがﾌﾘｰｽﾞした",
            "ＥＲＲＯＲって出る",
            "503 Service Unavailable",
        ] {
            assert!(words.matches(&[complaint]), "{complaint}");
        }
        for chatter in [
            "ドル円落ちたな",
            "雇用統計で爆益",
            "チャート重いけど相場も重い",
            "ドル円 150.503 で利確",
            "",
        ] {
            assert!(!words.matches(&[chatter]), "{chatter}");
        }
        assert!(
            words.matches(&["普通の本文", "【悲報】鯖落ち"]),
            "title counts too"
        );
    }

    #[test]
    fn configured_terms_replace_the_default_and_bad_lists_are_refused() {
        let config = OutageWordsConfig {
            groups: vec![],
            terms: vec!["ＤＯＷＮ".to_owned(), "down".to_owned()],
        };
        let words = OutageWords::from_config(&config).unwrap();
        assert_eq!(words.terms(), ["down"]);
        assert!(words.matches(&["site is DOWN"]));
        assert!(!words.matches(&["鯖落ち"]));
        assert!(OutageWords::new([" "]).is_err());
        assert!(OutageWords::new(std::iter::empty()).is_err());
        let long = "x".repeat(OUTAGE_TERM_BYTES_MAX + 1);
        assert!(OutageWords::new([long.as_str()]).is_err());
    }
}
