//! Text hygiene for what people type: titles, descriptions, names, reasons.
//! Characters [`gavel_workflows::text`] forbids are refused with 422
//! `invalid_text`, naming the field.

use serde_json::json;

use crate::error::ApiError;

pub use gavel_workflows::text::Lines;
use gavel_workflows::text::forbidden;

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
