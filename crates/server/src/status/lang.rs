//! The page's two languages, chosen by `?lang=` or else by `Accept-Language`.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Ja,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Ja, Lang::En];

    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        match code.trim().to_ascii_lowercase().as_str() {
            "ja" | "ja-jp" => Some(Lang::Ja),
            "en" | "en-us" | "en-gb" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Ja => Lang::En,
            Lang::En => Lang::Ja,
        }
    }

    /// The preferred of our languages in an `Accept-Language` header (RFC 9110 weights);
    /// Japanese when the header names neither: the broker's customers are in Japan.
    pub fn negotiate(accept_language: Option<&str>) -> Lang {
        let Some(header) = accept_language else {
            return Lang::Ja;
        };
        let mut best: Option<(u32, usize, Lang)> = None;
        for (position, item) in header.split(',').take(32).enumerate() {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let weight = parts
                .find_map(|param| param.trim().strip_prefix("q="))
                .map_or(1000, parse_weight);
            let primary = tag.split('-').next().unwrap_or("");
            let lang = match primary {
                "ja" => Lang::Ja,
                "en" => Lang::En,
                _ => continue,
            };
            if weight == 0 {
                continue;
            }
            // Higher weight wins; on a tie the earlier entry does.
            let better = match best {
                None => true,
                Some((w, _, _)) => weight > w,
            };
            if better {
                best = Some((weight, position, lang));
            }
        }
        best.map_or(Lang::Ja, |(_, _, lang)| lang)
    }
}

/// `q` value in thousandths; malformed values count as 0 (not acceptable).
fn parse_weight(text: &str) -> u32 {
    let text = text.trim();
    match text.parse::<f32>() {
        Ok(q) if (0.0..=1.0).contains(&q) => (q * 1000.0).round() as u32,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_by_weight_and_defaults_to_japanese() {
        assert_eq!(Lang::negotiate(None), Lang::Ja);
        assert_eq!(Lang::negotiate(Some("fr-FR, de")), Lang::Ja);
        assert_eq!(Lang::negotiate(Some("en-US,en;q=0.9")), Lang::En);
        assert_eq!(Lang::negotiate(Some("en;q=0.5, ja;q=0.8")), Lang::Ja);
        assert_eq!(Lang::negotiate(Some("ja;q=0, en")), Lang::En);
        assert_eq!(Lang::negotiate(Some("ja-JP,ja;q=0.9,en;q=0.8")), Lang::Ja);
        assert_eq!(Lang::negotiate(Some(";;;q=zz,,en;q=abc")), Lang::Ja);
    }
}
