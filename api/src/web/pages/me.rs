//! `GET /me`: the signed-in account's invoices (pay, answer an offer),
//! saved cards, bids and lots, and a seller's payout account
//! ([`super::payout_account`]); and the forms on it, each through the
//! invoices or accounts service.

use askama::Template;
use axum::{
    Form,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use chrono::Utc;
use gavel_store::auctions::{self as store, ListFilter};
use gavel_store::invoices::{self as stored_invoices, InvoiceStatus};
use gavel_workflows::{contract::view::SeenStatus, settlement::desk::PaymentRefusal};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    account::{account_sentence, signed_in_to},
    notices::{self, NoticesSection},
    payout_account::{self, PayoutSection},
    said::MeSaid,
    sales::{self, SalesSection},
    shared::{
        BUSY, Chrome, CsrfForm, SaidQuery, database_sentence, message, page, sentence, signed_in,
        status_words,
    },
};
use crate::{
    auctions::view::AuctionResponse,
    auth::AuthUser,
    cards::SavedCard,
    error::ApiError,
    service::{
        account_email, accounts,
        invoices::{self, CardError, InvoiceError},
        lots::{self, MyStanding},
        watchlist,
    },
    state::AppState,
    web::{money, session::Visitor},
};

pub struct InvoiceLine {
    pub id: Uuid,
    pub number: String,
    pub auction_id: Uuid,
    pub lot: String,
    pub total: String,
    pub state: String,
    pub payable: bool,
    pub offered: bool,
}

pub struct BidLine {
    pub auction_id: Uuid,
    pub title: String,
    pub price: String,
    pub my_max: String,
    pub standing: &'static str,
}

pub struct LotLine {
    pub id: Uuid,
    pub title: String,
    pub price: String,
    pub state: &'static str,
    pub buyer: String,
}

/// A watched lot on `/me`, priced as the read model has it now.
pub struct WatchedLine {
    pub id: Uuid,
    pub title: String,
    pub price: String,
    pub state: &'static str,
    pub ends_at: String,
}

#[derive(Template)]
#[template(path = "web/me.html")]
struct MePage {
    chrome: Chrome,
    name: String,
    handle: String,
    invoices: Vec<InvoiceLine>,
    bids: Vec<BidLine>,
    watched: Vec<WatchedLine>,
    can_sell: bool,
    selling: Vec<LotLine>,
    cards: Vec<SavedCard>,
    sales: SalesSection,
    /// Sellers' payout account section (`None` for bidders).
    payout: Option<PayoutSection>,
    /// Bidding and selling wait for the emailed link.
    unverified: bool,
    searches: Vec<super::listing::SearchLine>,
    /// Which optional emails the account gets.
    notices: NoticesSection,
}

/// `GET /me`: my invoices (with Pay and offer buttons), my bids, my lots.
pub async fn me(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<SaidQuery<MeSaid>>,
) -> Result<Response, ApiError> {
    let user = match signed_in(&visitor, "/me") {
        Ok(user) => user,
        Err(to_sign_in) => return Ok(to_sign_in.into_response()),
    };
    let Some(viewer) = visitor.viewer.clone() else {
        return Ok(Redirect::to("/signin").into_response());
    };
    let invoice_rows = stored_invoices::of_user(&state.db, user.id, 100).await?;
    let invoices = invoice_rows
        .into_iter()
        .filter(|i| i.buyer_id == user.id)
        .map(|i| InvoiceLine {
            id: i.id,
            number: i.number.clone(),
            auction_id: i.auction_id,
            lot: i
                .line_items
                .0
                .first()
                .map_or_else(|| "the lot".to_owned(), |l| l.description.clone()),
            total: money::format(i.total, &i.currency),
            state: match i.status {
                InvoiceStatus::Offered => format!(
                    "offered to you until {}",
                    i.due_at.format("%e %b %H:%M UTC")
                ),
                InvoiceStatus::Open => format!("to pay by {}", i.due_at.format("%e %b %H:%M UTC")),
                InvoiceStatus::Paid => "paid".to_owned(),
                InvoiceStatus::Void => "void (unpaid in time)".to_owned(),
                InvoiceStatus::Declined => "declined".to_owned(),
                InvoiceStatus::Expired => "offer lapsed".to_owned(),
                InvoiceStatus::CancelledUnshipped => {
                    "cancelled: never shipped, refunded".to_owned()
                }
            },
            payable: i.status == InvoiceStatus::Open,
            offered: i.status == InvoiceStatus::Offered,
        })
        .collect();
    let bids = lots::lots_bid_on(&state, user.id.into())
        .await?
        .into_iter()
        .map(|(b, standing)| BidLine {
            auction_id: b.auction_id,
            standing: match standing {
                MyStanding::Leading => "leading",
                MyStanding::Outbid => "outbid",
                MyStanding::Cancelled => "cancelled",
                MyStanding::NoSale => "no sale",
                MyStanding::Won => "won",
                MyStanding::Lost => "lost",
            },
            price: money::format(b.price, &b.currency),
            my_max: money::format(b.my_max, &b.currency),
            title: b.title,
        })
        .collect();
    let watched = watchlist::list(&state, user.id)
        .await?
        .into_iter()
        .map(|lot| WatchedLine {
            id: lot.auction_id,
            price: money::format(lot.price, &lot.currency),
            state: status_words(Some(lot.seen_status(Utc::now()))),
            ends_at: lot.ends_at.format("%e %b %H:%M UTC").to_string(),
            title: lot.title,
        })
        .collect();
    let selling = if viewer.can_sell {
        let filter = ListFilter {
            seller_id: Some(user.id),
            limit: 50,
            ..ListFilter::default()
        };
        store::list(&state.db, &filter)
            .await?
            .iter()
            .map(|row| {
                let now = Utc::now();
                (row.seen_status(now), AuctionResponse::from_row_at(row, now))
            })
            .map(|(status, lot)| LotLine {
                id: lot.id,
                price: money::format(
                    lot.current_price.unwrap_or(lot.starting_price),
                    &lot.currency,
                ),
                state: status_words(Some(status)),
                buyer: lot
                    .outcome
                    .as_ref()
                    .and_then(|o| o.winner.clone())
                    .unwrap_or_else(|| "—".into()),
                title: lot.title,
            })
            .collect()
    } else {
        Vec::new()
    };
    let chrome = match query.said.map(said_banner) {
        Some((text, tone)) => Chrome::of(&visitor).saying(text, tone),
        None => Chrome::of(&visitor),
    };
    let cards = invoices::saved_cards(&state, user.id.into()).await?;
    let sales = sales::section(&state, &user).await?;
    let payout = if viewer.can_sell {
        payout_account::section(&state, &user).await?
    } else {
        None
    };
    Ok(page(&MePage {
        chrome,
        name: viewer.name.clone(),
        handle: viewer.handle.clone(),
        invoices,
        bids,
        watched,
        can_sell: viewer.can_sell,
        selling,
        cards,
        sales,
        payout,
        unverified: !account_email::may_trade(&state, user.id).await?,
        searches: super::listing::search_lines(&state, user.id).await?,
        notices: notices::section(&state, &user).await?,
    }))
}

/// The banner for a form on `/me` that went through (`/me?said=…`), and
/// its tone.
fn said_banner(said: MeSaid) -> (&'static str, &'static str) {
    match said {
        MeSaid::Accepted => ("Offer accepted: the invoice is yours to pay.", "good"),
        MeSaid::Declined => ("Offer declined.", ""),
        MeSaid::SearchDeleted => (
            "Saved search deleted: its new lots are no longer emailed to you.",
            "good",
        ),
        MeSaid::CardRemoved => (
            "Card removed: it will not be charged again; your next win gets a pay link.",
            "good",
        ),
        MeSaid::NoticesSaved => ("Your email choices are saved.", "good"),
        MeSaid::Shipped => ("Marked shipped: the buyer has been told.", "good"),
        MeSaid::Received => (
            "Thank you: the seller is paid once the claim window closes.",
            "good",
        ),
        MeSaid::ClaimOpened => (
            "Claim opened: the seller answers, or an admin decides.",
            "good",
        ),
        MeSaid::ClaimAccepted => ("Claim accepted: the refund goes back to the buyer.", "good"),
        MeSaid::ClaimContested => ("Claim contested: an admin decides.", "good"),
    }
}

/// The signed-in user behind a form on `/me`, or the page to answer instead
/// (sign in; the form expired).
pub(super) fn me_form_user(visitor: &Visitor, csrf: &str) -> Result<AuthUser, Box<Response>> {
    let user = signed_in(visitor, "/me").map_err(|to| Box::new(to.into_response()))?;
    visitor.check_csrf(csrf).map_err(|err| {
        Box::new(message(
            visitor,
            StatusCode::FORBIDDEN,
            "Try again",
            &sentence(&err),
            "/me",
        ))
    })?;
    Ok(user)
}

#[derive(Template)]
#[template(path = "web/pay.html")]
struct PayPage {
    chrome: Chrome,
    url: String,
    /// Whether the buyer asked to keep the card that pays.
    save_card: bool,
}

#[derive(Debug, Deserialize)]
pub struct PayForm {
    #[serde(default)]
    pub csrf: String,
    /// The "use this card for my future wins" box: present only when ticked.
    #[serde(default)]
    pub save_card: Option<String>,
}

/// `POST /me/invoices/{id}/pay`: the invoice's checkout, to continue to,
/// with the buyer's answer about keeping the card recorded first.
pub async fn pay(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
    Form(form): Form<PayForm>,
) -> Result<Response, ApiError> {
    let user = match me_form_user(&visitor, &form.csrf) {
        Ok(user) => user,
        Err(answer) => return Ok(*answer),
    };
    let save_card = form.save_card.is_some();
    match invoices::pay(&state, &user, id, Some(save_card)).await {
        Ok(link) => Ok(page(&PayPage {
            chrome: Chrome::of(&visitor),
            url: link.authorization_url,
            save_card,
        })),
        Err(InvoiceError::Refused(PaymentRefusal::PaymentsNotConfigured)) => Ok(message(
            &visitor,
            StatusCode::OK,
            "Pay the seller directly",
            "This auction house takes no card payments (no Paystack key is configured): pay the seller as agreed, and an admin marks the invoice paid.",
            "/me",
        )),
        Err(err) => Ok(refused(&visitor, "Payment", err)),
    }
}

/// The sentence a buyer reads for an invoice not paid or answered.
fn invoice_sentence(error: &InvoiceError) -> String {
    match error {
        InvoiceError::NotFound => "no such invoice".to_owned(),
        InvoiceError::Refused(refusal) => refusal_sentence(refusal),
        InvoiceError::Unavailable(_) => BUSY.to_owned(),
        InvoiceError::Database(err) => database_sentence(err),
    }
}

/// The payment desk's own words for each refusal.
fn refusal_sentence(refusal: &PaymentRefusal) -> String {
    match refusal {
        PaymentRefusal::NotTheBuyer
        | PaymentRefusal::InvoiceNotCurrent
        | PaymentRefusal::InvoicePaid
        | PaymentRefusal::InvoiceVoid
        | PaymentRefusal::OfferDeclined
        | PaymentRefusal::OfferExpired
        | PaymentRefusal::OfferNotAccepted { .. }
        | PaymentRefusal::NotAnOffer
        | PaymentRefusal::PaymentPending
        | PaymentRefusal::PaymentsNotConfigured
        | PaymentRefusal::PaymentUnavailable => refusal.to_string(),
    }
}

/// The message page for a refused invoice form, with the API's status.
fn refused(visitor: &Visitor, heading: &str, err: InvoiceError) -> Response {
    let text = invoice_sentence(&err);
    message(visitor, ApiError::from(err).status, heading, &text, "/me")
}

/// `POST /me/cards/{id}/remove`: forgets a saved card.
pub async fn remove_card(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ApiError> {
    let user = match me_form_user(&visitor, &form.csrf) {
        Ok(user) => user,
        Err(answer) => return Ok(*answer),
    };
    match invoices::remove_card(&state, user.id.into(), id).await {
        Ok(()) => Ok(Redirect::to(&MeSaid::CardRemoved.link()).into_response()),
        Err(CardError::NotFound) => Ok(message(
            &visitor,
            StatusCode::NOT_FOUND,
            "Saved cards",
            "No saved card of yours has this number: it may be removed already.",
            "/me",
        )),
        Err(CardError::Database(err)) => Err(err.into()),
    }
}

async fn answer_offer(
    state: AppState,
    visitor: Visitor,
    id: Uuid,
    form: CsrfForm,
    accept: bool,
) -> Result<Response, ApiError> {
    let user = match me_form_user(&visitor, &form.csrf) {
        Ok(user) => user,
        Err(answer) => return Ok(*answer),
    };
    Ok(
        match invoices::answer_offer(&state, &user, id, accept).await {
            Ok(_) => Redirect::to(
                &if accept {
                    MeSaid::Accepted
                } else {
                    MeSaid::Declined
                }
                .link(),
            )
            .into_response(),
            Err(err) => refused(&visitor, "The offer", err),
        },
    )
}

/// `POST /me/invoices/{id}/accept`.
pub async fn accept(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ApiError> {
    answer_offer(state, visitor, id, form, true).await
}

/// `POST /me/invoices/{id}/decline`.
pub async fn decline(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ApiError> {
    answer_offer(state, visitor, id, form, false).await
}

/// `POST /me/seller`: this account starts selling (it bids as before).
pub async fn become_seller(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ApiError> {
    let user = match me_form_user(&visitor, &form.csrf) {
        Ok(user) => user,
        Err(answer) => return Ok(*answer),
    };
    match accounts::become_seller(&state, user).await {
        Ok(auth) => Ok(signed_in_to(&state, &auth.token, auth.expires_at, "/sell")),
        Err(err) => {
            let text = account_sentence(&err);
            Ok(message(
                &visitor,
                ApiError::from(err).status,
                "Selling",
                &text,
                "/me",
            ))
        }
    }
}

/// `GET /payments/return`: where Paystack's checkout sends the buyer back.
pub async fn payment_return(visitor: Visitor) -> Response {
    message(
        &visitor,
        StatusCode::OK,
        "Thank you",
        "Your payment is being confirmed with Paystack; your invoice shows it as paid within a minute.",
        "/me",
    )
}
