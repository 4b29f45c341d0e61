//! Which characters text people typed may hold, shared by the API (which
//! answers 422 `invalid_text`) and the workflows (which refuse a signal whose
//! text the API would have refused, since anyone reaching Temporal can send
//! one). Control characters (newline and tab allowed in long text), NUL,
//! bidirectional overrides and zero-width characters hide or reorder what
//! others read, and PostgreSQL cannot store a NUL at all.

/// Whether a newline or tab may appear (descriptions), or not (one-line fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    One,
    Many,
}

/// The first character `text` may not hold, if any.
pub fn forbidden(text: &str, lines: Lines) -> Option<char> {
    text.chars().find(|&c| {
        let allowed_space = lines == Lines::Many && (c == '\n' || c == '\t');
        (c.is_control() && !allowed_space)
            // Bidirectional embeddings, overrides and isolates.
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
            // Zero-width spaces and joiners, word joiner, byte-order mark.
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2060}' | '\u{FEFF}')
    })
}

/// Longest idempotency key a bid may carry (the API's 200 plus the bidder
/// id it scopes keys with).
pub const MAX_KEY_LEN: usize = 256;

/// A key is 1 to [`MAX_KEY_LEN`] visible ASCII characters.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic())
}
