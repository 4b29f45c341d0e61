//! Text hygiene for what people type: titles, descriptions, names, reasons.
//! Characters [`gavel_workflows::text`] forbids are refused with 422
//! `invalid_text`, naming the field.

use crate::input_error::{InputError, InputKind};

use gavel_workflows::text::{Lines, forbidden};

/// Refuses `text` (the request's `field`) if it holds a character people
/// should not be shown.
pub fn check(field: &str, text: &str, lines: Lines) -> Result<(), InputError> {
    match forbidden(text, lines) {
        None => Ok(()),
        Some(c) => Err(InputError::of(
            InputKind::InvalidText,
            field,
            format!(
                "{field} holds U+{:04X}, a character that is not allowed in text",
                u32::from(c)
            ),
        )),
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
            assert_eq!(err.code(), "invalid_text", "{text:?}");
        }
        assert!(check("title", "two\nlines", Lines::One).is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        const HIDDEN: [char; 12] = [
            '\0', '\u{1}', '\u{1B}', '\u{7F}', '\u{9F}', '\u{202A}', '\u{202E}', '\u{2066}',
            '\u{2069}', '\u{200B}', '\u{2060}', '\u{FEFF}',
        ];

        proptest! {
            /// Letters, digits, punctuation, symbols and spaces of any script pass.
            #[test]
            fn readable_text_passes(text in "[\\p{L}\\p{M}\\p{N}\\p{P}\\p{S} ]{0,80}") {
                prop_assert!(check("title", &text, Lines::One).is_ok());
            }

            /// One hidden character anywhere, in any text, is refused and named.
            #[test]
            fn a_hidden_character_anywhere_is_refused(
                before in "\\PC{0,20}",
                after in "\\PC{0,20}",
                hidden in proptest::sample::select(HIDDEN.to_vec()),
                lines in proptest::sample::select(vec![Lines::One, Lines::Many]),
            ) {
                let text = format!("{before}{hidden}{after}");
                let err = check("reason", &text, lines).unwrap_err();
                prop_assert_eq!(err.code(), "invalid_text");
                prop_assert_eq!(err.field.as_deref(), Some("reason"));
            }

            /// Newlines and tabs: only where text may have lines.
            #[test]
            fn line_breaks_only_in_long_text(text in "[a-z ]{0,10}[\\n\\t][a-z ]{0,10}") {
                prop_assert!(check("description", &text, Lines::Many).is_ok());
                prop_assert!(check("title", &text, Lines::One).is_err());
            }
        }
    }
}
