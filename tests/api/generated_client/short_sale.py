"""A short sale through the Python client that openapi-python-client generates
from Gavel's OpenAPI document (`gavel_client`, on PYTHONPATH).

Signs up a seller and two bidders (each confirms its email address with
the link the API recorded, read from the database at GAVEL_DB), lists a lot that ends in a few seconds,
finds it in the listing, saves and deletes searches, bids, gets `bid_too_low` as a typed error, waits
for the close and reads the winner's invoice; the loser exports her data
and deletes her account. Prints one JSON line with
what it saw; exits non-zero on the first surprise.
"""

import datetime
import json
import os
import subprocess
import sys
import time
import uuid

from gavel_client import AuthenticatedClient, Client
from gavel_client.api.auctions import create_auction, get_auction, list_auctions
from gavel_client.api.auth import (
    delete_my_account,
    export_my_data,
    get_notice_preferences,
    put_notice_preferences,
    register_account,
    request_password_reset,
    unsubscribe_from_notices,
    verify_email,
)
from gavel_client.api.bids import list_bids, place_bid
from gavel_client.api.payments import list_my_invoices
from gavel_client.api.searches import delete_saved_search, list_saved_searches, save_search
from gavel_client.api.watchlist import list_watchlist, unwatch_lot, watch_lot
from gavel_client.models import (
    AccountEmailResponse,
    AntiSnipingInput,
    AuctionPage,
    AuctionResponse,
    AuthResponse,
    BidPage,
    BidResponse,
    CreateAuctionRequest,
    DeleteAccountRequest,
    ExportResponse,
    ErrorBody,
    InvoiceList,
    NoticePreferences,
    PasswordResetRequest,
    PlaceBidRequest,
    RegisterRequest,
    SavedSearchList,
    SavedSearchResponse,
    SaveSearchRequest,
    UnsubscribeRequest,
    Unsubscribed,
    VerifyEmailRequest,
    Watchlist,
)

BASE_URL = os.environ["GAVEL_API"]
anonymous = Client(base_url=BASE_URL, raise_on_unexpected_status=True)


def expect(response, status, kind):
    assert response.status_code == status, (
        f"expected {status}, got {response.status_code}: {response.content!r}"
    )
    assert isinstance(response.parsed, kind), f"not a {kind.__name__}: {response.parsed!r}"
    return response.parsed


def sign_up(role):
    body = RegisterRequest(
        email=f"{role}-{uuid.uuid4().hex}@example.com",
        password="correct horse battery staple",
        name=f"Generated {role.title()}",
        role=role,
    )
    auth = expect(register_account.sync_detailed(client=anonymous, body=body), 201, AuthResponse)
    # Without Brevo the verification email is only recorded: its link is there.
    token = subprocess.run(
        ["psql", os.environ["GAVEL_DB"], "-Atc",
         "SELECT substring(text_body from 'token=([0-9a-f]+)') FROM emails "
         f"WHERE kind = 'verify_email' AND recipient_email = '{body.email}'"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    verified = expect(
        verify_email.sync_detailed(client=anonymous, body=VerifyEmailRequest(token=token)),
        200,
        AccountEmailResponse,
    )
    assert verified.status == "verified", verified
    return auth, AuthenticatedClient(base_url=BASE_URL, token=auth.token, raise_on_unexpected_status=True)


# A password reset answers alike for any address.
reset = expect(
    request_password_reset.sync_detailed(
        client=anonymous, body=PasswordResetRequest(email="nobody@example.com")
    ),
    202,
    AccountEmailResponse,
)
assert reset.status == "accepted", reset

seller, as_seller = sign_up("seller")
ada, as_ada = sign_up("bidder")
bola, as_bola = sign_up("bidder")

ends_at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=4)
lot = expect(
    create_auction.sync_detailed(
        client=as_seller,
        body=CreateAuctionRequest(
            title="Generated-client stool",
            description="Sold through a generated client",
            currency="NGN",
            starting_price=1_000,
            ends_at=ends_at,
            anti_sniping=AntiSnipingInput(window_secs=1, extension_secs=1),
        ),
        idempotency_key=uuid.uuid4().hex,
    ),
    201,
    AuctionResponse,
)

# Ada watches the lot, sees it on her watchlist with its price, and unwatches.
assert watch_lot.sync_detailed(lot.id, client=as_ada).status_code == 204
assert watch_lot.sync_detailed(lot.id, client=as_ada).status_code == 204, "again is fine"
watched = expect(list_watchlist.sync_detailed(client=as_ada), 200, Watchlist)
assert [item.auction_id for item in watched.items] == [lot.id], watched
assert watched.items[0].current_price == 1_000, watched
missing = expect(watch_lot.sync_detailed(uuid.uuid4(), client=as_ada), 404, ErrorBody)
assert missing.error.code == "auction_not_found", missing
assert unwatch_lot.sync_detailed(lot.id, client=as_ada).status_code == 204
assert expect(list_watchlist.sync_detailed(client=as_ada), 200, Watchlist).items == []

page = expect(list_auctions.sync_detailed(client=anonymous, status="open", limit=100), 200, AuctionPage)
assert lot.id in [item.id for item in page.items], "the new lot is in the listing"

# Saved searches: one kept, a repeat refused with its code, one deleted.
kept = expect(
    save_search.sync_detailed(client=as_ada, body=SaveSearchRequest(q="stool", status="open")),
    201,
    SavedSearchResponse,
)
repeat = expect(
    save_search.sync_detailed(client=as_ada, body=SaveSearchRequest(q="stool", status="open")),
    409,
    ErrorBody,
)
assert repeat.error.code == "saved_search_exists", repeat
dropped = expect(
    save_search.sync_detailed(client=as_ada, body=SaveSearchRequest(q="lamp")),
    201,
    SavedSearchResponse,
)
gone = delete_saved_search.sync_detailed(dropped.id, client=as_ada)
assert gone.status_code == 204, gone
searches = expect(list_saved_searches.sync_detailed(client=as_ada), 200, SavedSearchList)
assert [s.id for s in searches.items] == [kept.id], searches

first = expect(
    place_bid.sync_detailed(lot.id, client=as_ada, body=PlaceBidRequest(amount=1_000), idempotency_key=uuid.uuid4().hex),
    201,
    BidResponse,
)
assert first.status == "leading", first

refused = expect(
    place_bid.sync_detailed(lot.id, client=as_bola, body=PlaceBidRequest(amount=1_000), idempotency_key=uuid.uuid4().hex),
    409,
    ErrorBody,
)
assert refused.error.code == "bid_too_low", refused

winning = expect(
    place_bid.sync_detailed(lot.id, client=as_bola, body=PlaceBidRequest(amount=1_500), idempotency_key=uuid.uuid4().hex),
    201,
    BidResponse,
)
assert winning.status == "leading", winning

history = expect(list_bids.sync_detailed(lot.id, client=anonymous, limit=10), 200, BidPage)
assert len(history.items) == 2, history

deadline = time.monotonic() + 60
while True:
    closed = expect(get_auction.sync_detailed(lot.id, client=anonymous), 200, AuctionResponse)
    if closed.status == "awaiting_payment" and not closed.live:
        break
    assert time.monotonic() < deadline, f"the lot did not close: {closed.status}"
    time.sleep(0.2)

deadline = time.monotonic() + 30
while True:
    invoices = expect(list_my_invoices.sync_detailed(client=as_bola), 200, InvoiceList)
    if invoices.items:
        break
    assert time.monotonic() < deadline, "no invoice for the winner"
    time.sleep(0.2)
(invoice,) = invoices.items
assert invoice.auction_id == lot.id and invoice.buyer_id == bola.user.id, invoice
assert invoice.total == 1_500 and invoice.currency == "NGN" and invoice.status == "open", invoice

# Notice choices: the defaults, replaced whole, a lead out of range refused.
choices = expect(get_notice_preferences.sync_detailed(client=as_ada), 200, NoticePreferences)
assert choices.outbid and choices.ending_soon_lead_secs == 3600, choices
choices.ending_soon_lead_secs = 600
choices.watched_lots = False
chosen = expect(put_notice_preferences.sync_detailed(client=as_ada, body=choices), 200, NoticePreferences)
assert chosen.ending_soon_lead_secs == 600 and not chosen.watched_lots, chosen
choices.ending_soon_lead_secs = 30
too_short = expect(put_notice_preferences.sync_detailed(client=as_ada, body=choices), 422, ErrorBody)
assert too_short.error.code == "invalid_ending_soon_lead", too_short

# Ada's outbid email (recorded: no Brevo here) carries her unsubscribe link.
deadline = time.monotonic() + 30
while True:
    link_token = subprocess.run(
        ["psql", os.environ["GAVEL_DB"], "-Atc",
         "SELECT substring(text_body from 'unsubscribe[?]token=([0-9a-z_.]+)') FROM emails "
         f"WHERE kind = 'outbid' AND auction_id = '{lot.id}'"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    if link_token:
        break
    assert time.monotonic() < deadline, "no outbid email recorded"
    time.sleep(0.2)
forged = expect(
    unsubscribe_from_notices.sync_detailed(client=anonymous, body=UnsubscribeRequest(token=link_token[:-1] + "x")),
    400,
    ErrorBody,
)
assert forged.error.code == "invalid_unsubscribe_link", forged
stopped = expect(
    unsubscribe_from_notices.sync_detailed(client=anonymous, body=UnsubscribeRequest(token=link_token)),
    200,
    Unsubscribed,
)
assert stopped.stopped == "outbid", stopped
after = expect(get_notice_preferences.sync_detailed(client=as_ada), 200, NoticePreferences)
assert not after.outbid and after.ending_soon and after.ending_soon_lead_secs == 600, after

# Ada lost: she exports her data, then deletes her account.
mine = expect(export_my_data.sync_detailed(client=as_ada), 200, ExportResponse)
assert mine.account["email"] == ada.user.email and len(mine.saved_searches) == 1, mine
assert len(mine.bids) == 1 and mine.watchlist == [], mine
wrong = expect(
    delete_my_account.sync_detailed(client=as_ada, body=DeleteAccountRequest(password="not hers")),
    403,
    ErrorBody,
)
assert wrong.error.code == "wrong_password", wrong
deleted = delete_my_account.sync_detailed(
    client=as_ada, body=DeleteAccountRequest(password="correct horse battery staple")
)
assert deleted.status_code == 204, deleted

print(
    json.dumps(
        {
            "auction_id": str(lot.id),
            "refusal": refused.error.code,
            "status": closed.status,
            "invoice_id": str(invoice.id),
            "invoice_total": invoice.total,
            "buyer_id": str(invoice.buyer_id),
            "saved_search_id": str(kept.id),
            "deleted_user_id": str(ada.user.id),
        }
    )
)
sys.exit(0)
