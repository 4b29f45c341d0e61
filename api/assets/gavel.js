// Gavel's pages, made live: local times, countdowns, and on an auction's
// page the live stream (SSE), the bid form and the price chart. Plain
// JavaScript, no build step; every page works without it, only less live.
"use strict";

const SYMBOLS = { NGN: "₦", GHS: "GH₵", ZAR: "R", KES: "KSh ", USD: "$" };

/** Minor units as money: ₦12,500 or ₦12,500.50. */
function money(minor, currency) {
  const negative = minor < 0;
  const abs = Math.abs(minor);
  const major = Math.floor(abs / 100).toLocaleString("en-US");
  const cents = abs % 100;
  const text = (SYMBOLS[currency] || currency + " ") + major + (cents ? "." + String(cents).padStart(2, "0") : "");
  return negative ? "-" + text : text;
}

/** "2d 3h", "4m 10s": what is left until `end`. */
function left(end) {
  let secs = Math.max(0, Math.round((end - Date.now()) / 1000));
  if (secs === 0) return "ending now";
  const d = Math.floor(secs / 86400); secs -= d * 86400;
  const h = Math.floor(secs / 3600); secs -= h * 3600;
  const m = Math.floor(secs / 60); secs -= m * 60;
  if (d) return `${d}d ${h}h left`;
  if (h) return `${h}h ${m}m left`;
  if (m) return `${m}m ${secs}s left`;
  return `${secs}s left`;
}

function localTimes(root) {
  for (const el of root.querySelectorAll("time[datetime]")) {
    const at = new Date(el.getAttribute("datetime"));
    if (!isNaN(at)) el.textContent = at.toLocaleString();
  }
}

function countdowns() {
  for (const el of document.querySelectorAll("[data-ends-at]")) {
    if (el.dataset.over === "1") continue;
    el.textContent = left(new Date(el.dataset.endsAt));
  }
}

/** Fills a hidden RFC 3339 field from a `datetime-local` one, in this zone. */
function zoneFields(form) {
  for (const input of form.querySelectorAll("input[type=datetime-local][data-target]")) {
    const target = form.querySelector(`input[name="${input.dataset.target}"]`);
    if (!target) continue;
    if (!input.value) { target.value = ""; continue; }
    const at = new Date(input.value);
    const offset = -at.getTimezoneOffset();
    const sign = offset >= 0 ? "+" : "-";
    const pad = (n) => String(Math.floor(Math.abs(n))).padStart(2, "0");
    target.value = input.value.length === 16 ? input.value + ":00" : input.value;
    target.value += `${sign}${pad(offset / 60)}:${pad(offset % 60)}`;
  }
}

const STATUS_WORDS = {
  scheduled: "Not open yet", open: "Open", closed: "Closed", awaiting_payment: "Sold — awaiting payment",
  settled: "Sold and paid", no_sale: "Closed without a sale", unsold: "Unsold", cancelled: "Cancelled",
};

function auctionPage(page) {
  const id = page.dataset.id;
  const currency = page.dataset.currency;
  const me = page.dataset.me || "";
  const $ = (sel) => page.querySelector(sel);
  const price = $("#price"), leader = $("#leader"), count = $("#bid-count"), minimum = $("#minimum");
  const reserve = $("#reserve"), ends = $("#ends"), status = $("#status"), said = $("#said");
  const history = $("#history tbody"), form = $("#bid-form"), chart = $("#chart");
  const points = JSON.parse(page.dataset.points || "[]");
  let leading = page.dataset.leader || "";
  let lastPrice = Number(page.dataset.price || 0);
  const increment = Number(page.dataset.increment || 0);
  const bands = JSON.parse(page.dataset.bands || '{"bands":[],"top":1}');

  const say = (text, tone) => {
    said.textContent = text;
    said.className = "said " + (tone || "");
  };

  const clock = (t, span) => new Date(t).toLocaleTimeString([], span < 3_600_000
    ? { hour: "2-digit", minute: "2-digit", second: "2-digit" }
    : { hour: "2-digit", minute: "2-digit" });
  const drawChart = () => {
    if (!chart) return;
    const range = $("#chart-range");
    if (points.length < 2) { chart.innerHTML = ""; if (range) range.textContent = ""; return; }
    const t0 = points[0][0], t1 = points[points.length - 1][0] || t0 + 1;
    const lo = Math.min(...points.map((p) => p[1])), hi = Math.max(...points.map((p) => p[1]));
    const x = (t) => ((t - t0) / Math.max(1, t1 - t0)) * 290 + 5;
    const y = (v) => 95 - ((v - lo) / Math.max(1, hi - lo)) * 90;
    const line = points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
    chart.innerHTML = `<polyline points="${line}"></polyline>`;
    // The drawing is stretched to fit, so its scale is said in words beside it.
    const from = clock(t0, t1 - t0), to = clock(t1, t1 - t0);
    const words = `From ${money(lo, currency)} to ${money(hi, currency)}, ` + (from === to ? `at ${to}` : `${from} to ${to}`);
    chart.setAttribute("aria-label", "The price over time. " + words);
    if (range) range.textContent = words;
  };

  const showEnd = (at) => {
    ends.dataset.endsAt = at;
    const when = $("#ends-at");
    if (when) { when.setAttribute("datetime", at); when.textContent = new Date(at).toLocaleString(); }
  };

  const over = (word) => {
    status.textContent = word;
    ends.dataset.over = "1";
    ends.textContent = "ended";
    if (form) form.hidden = true;
  };

  const onBid = (data) => {
    price.textContent = money(data.current_price, currency);
    count.textContent = String(data.bid_count);
    leader.textContent = data.leader || "—";
    if (reserve && data.reserve_met) reserve.textContent = "Reserve met";
    showEnd(data.ends_at);
    const next = data.current_price + (increment || incrementFor(data.current_price, bands));
    if (minimum) { minimum.textContent = money(next, currency); minimum.dataset.minor = String(next); }
    const row = document.createElement("tr");
    const at = new Date();
    row.innerHTML = "<td></td><td></td><td></td>";
    row.children[0].textContent = me && data.leader === me ? "you" : data.leader || "—";
    row.children[1].textContent = money(data.current_price, currency);
    row.children[2].textContent = at.toLocaleTimeString();
    history.prepend(row);
    points.push([at.getTime(), data.current_price]);
    drawChart();
    if (me && leading === me && data.leader !== me) say("You have been outbid: someone bid more than your maximum.", "bad");
    else if (me && data.leader === me && leading !== me) say("You lead.", "good");
    else if (me && data.leader === me && data.current_price !== lastPrice) {
      say(`You still lead, now at ${money(data.current_price, currency)}: your maximum answered another bid.`, "good");
    }
    lastPrice = data.current_price;
    leading = data.leader || "";
  };

  const events = new EventSource(`/api/v1/auctions/${id}/events`);
  events.addEventListener("bid", (e) => onBid(JSON.parse(e.data)));
  events.addEventListener("extended", (e) => {
    const data = JSON.parse(e.data);
    showEnd(data.ends_at);
    say("A late bid extended the auction.", "");
  });
  events.addEventListener("opened", () => { status.textContent = STATUS_WORDS.open; });
  events.addEventListener("closed", (e) => {
    const data = JSON.parse(e.data);
    over(STATUS_WORDS[data.status] || "Closed");
    const outcome = data.outcome || {};
    if (outcome.result === "sold") {
      say(outcome.winner === me && me ? "You won! Your invoice is on your page." : `Sold to ${outcome.winner} for ${money(outcome.price, currency)}.`, outcome.winner === me ? "good" : "");
    } else {
      say("The auction closed without a sale.", "");
    }
  });
  events.addEventListener("cancelled", (e) => { over(STATUS_WORDS.cancelled); say("Cancelled: " + JSON.parse(e.data).reason, "bad"); });
  for (const kind of ["awaiting_payment", "settled", "unsold"]) {
    events.addEventListener(kind, () => over(STATUS_WORDS[kind]));
  }
  // EventSource reconnects by itself and resumes after the last event id.

  if (form) {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = new URLSearchParams(new FormData(form));
      say("Placing your bid…", "");
      try {
        const response = await fetch(form.action, {
          method: "POST",
          headers: { "x-csrf-token": body.get("csrf"), "idempotency-key": crypto.randomUUID(), accept: "application/json" },
          body,
        });
        const answer = await response.json();
        say(answer.message, answer.ok ? (answer.standing === "leading" ? "good" : "bad") : "bad");
        if (answer.ok && answer.standing === "leading") leading = me;
        // This bid's own live event (if it comes after) is no news.
        if (answer.ok && answer.price > lastPrice) lastPrice = answer.price;
      } catch (err) {
        say("Your bid could not be sent; check your connection and try again.", "bad");
      }
    });
  }
  drawChart();
}

/** The increment by price band, from the table the page carries. */
function incrementFor(price, table) {
  for (const [below, step] of table.bands) if (price < below) return step;
  return table.top;
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  countdowns();
  setInterval(countdowns, 1000);
  for (const form of document.querySelectorAll("form[data-zones]")) {
    form.addEventListener("submit", () => zoneFields(form));
  }
  const page = document.querySelector("#auction");
  if (page) auctionPage(page);
});
