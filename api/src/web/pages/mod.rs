//! The pages: what each shows and what each form does, one file per page.
//! Every form goes through the same service layer the JSON API calls (so
//! the rules, limits and refusals are the API's), signed in by the session
//! cookie and checked against the CSRF token; each typed refusal becomes a
//! sentence by an exhaustive `match`, so a new refusal has no page until it
//! has words.

pub mod account;
pub mod account_email;
pub mod listing;
pub mod lot;
pub mod me;
pub mod notices;
pub mod payout_account;
pub mod said;
pub mod sales;
pub mod sell;
pub mod shared;
pub mod your_data;

pub use account::{sign_in, sign_in_form, sign_out, sign_up, sign_up_form};
pub use listing::index;
pub use lot::{auction, bid, unwatch, watch};
pub use me::{accept, become_seller, decline, me, pay, payment_return, remove_card};
pub use sell::{sell, sell_form};
pub use shared::{Chrome, CsrfForm, message, sentence, signed_in};
