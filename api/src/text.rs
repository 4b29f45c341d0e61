//! Text hygiene for what people type: titles, descriptions, names, reasons.
//! Control characters (newline and tab allowed in long text only), NUL,
//! bidirectional overrides and zero-width characters are refused with 422
//! `invalid_text`: they hide or reorder what others read, and a NUL cannot be
//! stored by PostgreSQL at all.

use serde_json::json;

use crate::error::ApiError;

/// Whether a newline or tab may appear (descriptions), or not (one-line fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    One,
    Many,
}

/// The first character `text` may not hold, if any.
fn forbidden(text: &str, lines: Lines) -> Option<char> {
    text.chars().find(|&c| {
        let allowed_space = lines == Lines::Many && (c == '\n' || c == '\t');
        (c.is_control() && !allowed_space)
            // Bidirectional embeddings, overrides and isolates.
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
            // Zero-width spaces and joiners, word joiner, byte-order mark.
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2060}' | '\u{FEFF}')
    })
}

/// Refuses `text` (the request's `field`) if it holds a character people
/// should not be shown.
pub fn check(field: &str, text: &str, lines: Lines) -> Result<(), ApiError> {
    match forbidden(text, lines) {
        None => Ok(()),
        Some(c) => Err(ApiError::unprocessable(
            "invalid_text",
            format!(
                "{field} holds U+{:04X}, a character that is not allowed in text",
                u32::from(c)
            ),
        )
        .with_details(json!({ "field": field }))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_text_of_any_script_passes() {
        for text in [
            "Carved stool",
            "Ìrókò, hand carved",
            "李小龍",
            "🦀 crab",
            "Tom's",
        ] {
            assert!(check("title", text, Lines::One).is_ok(), "{text}");
        }
        assert!(check("description", "line one\nline\ttwo", Lines::Many).is_ok());
    }

    #[test]
    fn hidden_and_reordering_characters_are_refused() {
        for text in [
            "nul\0byte",
            "bell\u{7}",
            "evil\u{202E}txt.exe",
            "isolate\u{2066}x\u{2069}",
            "zero\u{200B}width",
            "bom\u{FEFF}",
            "escape\u{1B}[31m",
        ] {
            let err = check("title", text, Lines::Many).unwrap_err();
            assert_eq!(err.code, "invalid_text", "{text:?}");
        }
        assert!(check("title", "two\nlines", Lines::One).is_err());
    }
}
