//! How every Gavel email looks: one branded layout (inline styles, since mail
//! clients drop `<style>`; one column that reads at 375 px; colours that
//! hold in dark mode), the lot's photo and title, one call to action as a
//! button to Gavel's own pages, the invoice, and a plain-text twin rendered
//! from the same [`Body`].

use askama::Template;
use chrono::{DateTime, Utc};
use gavel_store::invoices::Invoice;
use gavel_workflows::rules::display_money;

use super::{EmailLink, MailError};

/// What an email says, shared by its HTML and plain-text bodies.
pub(super) struct Body<'a> {
    /// Empty: the greeting names nobody ("Hello,").
    pub name: &'a str,
    pub lines: &'a [String],
    /// The call to action, after the first line: a button in the HTML body,
    /// the label and address in the text.
    pub link: Option<&'a EmailLink>,
    /// A list of links after the paragraphs (a digest's lots).
    pub links: &'a [EmailLink],
    /// Paragraphs after the links.
    pub closing: &'a [String],
    pub invoice: Option<InvoiceLines>,
    /// The lot the email is about, shown above the greeting.
    pub lot: Option<LotCard>,
    /// The reader's account page, named in the footer.
    pub account_url: String,
    /// An optional notice's "stop these" link, in the footer.
    pub unsubscribe: Option<&'a EmailLink>,
}

/// A lot as an email shows it: its cover photo and title, linked to its page.
pub(super) struct LotCard {
    pub title: String,
    pub url: String,
    /// The cover photo's address (display size), when the lot has one.
    pub photo: Option<String>,
}

/// An invoice as an email shows it, money already formatted.
pub(super) struct InvoiceLines {
    pub number: String,
    pub items: Vec<ItemLine>,
    pub total: String,
    pub due: String,
}

pub(super) struct ItemLine {
    pub description: String,
    pub amount: String,
}

impl InvoiceLines {
    pub fn of(invoice: &Invoice, now: DateTime<Utc>) -> Self {
        Self {
            number: invoice.number.clone(),
            items: invoice
                .line_items
                .iter()
                .map(|item| ItemLine {
                    description: item.description.clone(),
                    amount: display_money(item.amount, &invoice.currency),
                })
                .collect(),
            total: display_money(invoice.total, &invoice.currency),
            due: deadline(invoice.due_at, now),
        }
    }
}

/// The HTML body: every value escaped by the template.
#[derive(Template)]
#[template(path = "email.html")]
struct HtmlBody<'a> {
    subject: &'a str,
    body: &'a Body<'a>,
}

#[derive(Template)]
#[template(path = "email.txt")]
struct TextBody<'a> {
    body: &'a Body<'a>,
}

/// The HTML and plain-text bodies of an email titled `subject`.
pub(super) fn render(subject: &str, body: &Body<'_>) -> Result<(String, String), MailError> {
    Ok((
        HtmlBody { subject, body }.render()?,
        TextBody { body }.render()?,
    ))
}

/// A moment in words and in UTC, with how far off it is from `now`:
/// "Tuesday 8 December, 14:00 UTC (in 2 days)".
pub(super) fn deadline(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let left = at - now;
    let (minutes, hours, days) = (left.num_minutes(), left.num_hours(), left.num_days());
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    let distance = if minutes < 1 {
        "now".to_owned()
    } else if minutes < 120 {
        format!("in {}", plural(minutes, "minute"))
    } else if hours < 48 {
        format!("in {}", plural(hours, "hour"))
    } else {
        format!("in {}", plural(days, "day"))
    };
    format!("{} UTC ({distance})", at.format("%A %-d %B, %H:%M"))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn body<'a>(lines: &'a [String], link: Option<&'a EmailLink>) -> Body<'a> {
        Body {
            name: "O'Brien",
            lines,
            link,
            links: &[],
            closing: &[],
            invoice: Some(InvoiceLines {
                number: "GV-<1>".into(),
                items: vec![ItemLine {
                    description: "<script>x</script>".into(),
                    amount: "₦1".into(),
                }],
                total: "₦1".into(),
                due: "Tuesday 1 December, 10:00 UTC (in 2 days)".into(),
            }),
            lot: Some(LotCard {
                title: "A \"lamp\" <b>".into(),
                url: "https://gavel.test/auctions/1".into(),
                photo: Some("https://gavel.test/images/1/display.jpg".into()),
            }),
            account_url: "https://gavel.test/me".into(),
            unsubscribe: None,
        }
    }

    #[test]
    fn the_html_body_escapes_every_value_and_the_text_keeps_it_as_written() {
        let lines = vec!["Tom's <b>lamp</b> & \"shade\"".to_owned()];
        let link = EmailLink {
            text: "Pay now".into(),
            url: "https://gavel.test/me?x=\"><b>".into(),
        };
        let (html, text) = render("Sub<ject>", &body(&lines, Some(&link))).expect("renders");
        for raw in [
            "O'Brien",
            "Tom's",
            "<b>",
            "\"shade\"",
            "<script>",
            "GV-<1>",
            "Sub<ject>",
        ] {
            assert!(!html.contains(raw), "{raw} unescaped in {html}");
        }
        assert!(html.contains("&#60;b&#62;lamp&#60;/b&#62; &#38;"), "{html}");
        assert!(
            html.contains("href=\"https://gavel.test/me?x=&#34;&#62;&#60;b&#62;\""),
            "{html}"
        );
        assert!(
            text.starts_with(
                "A \"lamp\" <b>\nhttps://gavel.test/auctions/1\n\nHello O'Brien,\n\nTom's <b>lamp</b> & \"shade\"\n\nPay now: https://gavel.test/me?x=\"><b>\n"
            ),
            "{text}"
        );
        assert!(text.contains("Invoice GV-<1>"), "{text}");
        assert!(
            text.contains("  <script>x</script>: ₦1\n  Total: ₦1\n"),
            "{text}"
        );
        assert!(text.trim_end().ends_with("https://gavel.test/me"), "{text}");
    }

    #[test]
    fn the_layout_has_its_button_photo_and_dark_mode_and_fits_a_phone() {
        let lines = vec!["One.".to_owned(), "Two.".to_owned()];
        let link = EmailLink {
            text: "See the lot".into(),
            url: "https://gavel.test/auctions/1".into(),
        };
        let (html, _) = render("Subject", &body(&lines, Some(&link))).expect("renders");
        assert!(html.contains("<meta name=\"color-scheme\" content=\"light dark\">"));
        assert!(html.contains("max-width:560px"), "{html}");
        assert!(html.contains("src=\"https://gavel.test/images/1/display.jpg\""));
        let button = html.find(">See the lot</a>").expect("a button");
        assert!(html.find("One.").unwrap() < button && button < html.find("Two.").unwrap());
    }

    #[test]
    fn deadlines_are_in_words_and_utc_with_how_far_off_they_are() {
        let now = Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap();
        let at = |h: i64| now + chrono::Duration::minutes(h);
        assert_eq!(
            deadline(at(2 * 24 * 60 + 120), now),
            "Tuesday 8 December, 14:00 UTC (in 2 days)"
        );
        assert_eq!(
            deadline(at(60 * 5), now),
            "Sunday 6 December, 17:00 UTC (in 5 hours)"
        );
        assert_eq!(
            deadline(at(1), now),
            "Sunday 6 December, 12:01 UTC (in 1 minute)"
        );
        assert_eq!(deadline(at(-5), now), "Sunday 6 December, 11:55 UTC (now)");
    }
}
