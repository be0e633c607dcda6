// Unit tests of the formatting helpers: `npm test` (scripts/test.mjs
// bundles each src/*.test.ts and runs it with node --test).
import test from "node:test";
import assert from "node:assert/strict";
import { fill, queueLines, waitWords, whenWords } from "./fmt";
import { STRINGS } from "./strings";

const S = {
  waiting: STRINGS.waiting,
  connecting: STRINGS.connecting,
  queue: STRINGS.queue,
  wait: STRINGS.wait,
  waitSoon: STRINGS.waitSoon,
};

test("fill replaces the placeholders", () => {
  assert.equal(fill("You are number {n} in the queue", 3), "You are number 3 in the queue");
  assert.equal(fill("{name} is typing…", undefined, "Alice"), "Alice is typing…");
  assert.equal(fill("Uploading {name}… {n}%", 40, "a.png"), "Uploading a.png… 40%");
});

test("estimate wording", () => {
  const w = (s: number | undefined, l = "en-US") => waitWords(s, STRINGS.wait, STRINGS.waitSoon, l);
  assert.equal(w(undefined), "");
  assert.equal(w(0), "");
  assert.equal(w(-5), "");
  assert.equal(w(1), "Estimated wait: less than a minute");
  assert.equal(w(59), "Estimated wait: less than a minute");
  assert.equal(w(60), "Estimated wait: about 1 minute");
  assert.equal(w(89), "Estimated wait: about 1 minute");
  assert.equal(w(90), "Estimated wait: about 2 minutes");
  assert.equal(w(125), "Estimated wait: about 2 minutes");
  assert.equal(w(59 * 60), "Estimated wait: about 59 minutes");
  assert.equal(w(60 * 60), "Estimated wait: about 1 hour");
  assert.equal(w(150 * 60), "Estimated wait: about 3 hours");
  // The unit follows the locale, the sentence the site's strings.
  assert.equal(waitWords(120, "Geschätzte Wartezeit: etwa {n}", "bald", "de-DE"), "Geschätzte Wartezeit: etwa 2 Minuten");
  // A locale Intl refuses falls back to the browser's, not an exception.
  assert.match(waitWords(120, "{n}", "", "not a locale!"), /2/);
});

test("next opening time", () => {
  const now = new Date("2025-03-05T22:00:00Z"); // a Wednesday
  const w = (iso: string | undefined, l = "en-US", tz = "UTC") => whenWords(iso, now, l, tz);
  assert.equal(w(undefined), "");
  assert.equal(w("not a time"), "");
  assert.equal(w("2025-03-05T23:30:00Z"), "11:30 PM"); // later today
  assert.equal(w("2025-03-06T09:00:00Z"), "Thursday 9:00 AM");
  assert.equal(w("2025-03-11T09:00:00Z"), "Tuesday 9:00 AM"); // six days on
  assert.match(w("2025-03-20T09:00:00Z"), /^Thursday, March 20(,| at) 9:00 AM$/);
  // The visitor's own zone decides what "today" is: in Tokyo it is already Thursday.
  assert.equal(w("2025-03-06T00:00:00Z", "en-US", "Asia/Tokyo"), "9:00 AM");
  assert.equal(w("2025-03-06T09:00:00Z", "en-GB"), "Thursday 09:00");
});

test("queue lines follow the site's queue_display", () => {
  const q = { chat_id: 7, position: 2, estimate_seconds: 120, message: "Thanks for your patience." };
  assert.deepEqual(queueLines("waiting", q, "position_and_estimate", S, "en-US"), [
    "Waiting for an agent to join…",
    "You are number 2 in the queue",
    "Estimated wait: about 2 minutes",
    "Thanks for your patience.",
  ]);
  assert.deepEqual(queueLines("waiting", q, "position", S, "en-US"), [
    "Waiting for an agent to join…",
    "You are number 2 in the queue",
    "Thanks for your patience.",
  ]);
  assert.deepEqual(queueLines("waiting", q, "estimate", S, "en-US"), [
    "Waiting for an agent to join…",
    "Estimated wait: about 2 minutes",
    "Thanks for your patience.",
  ]);
  assert.deepEqual(queueLines("waiting", q, "none", S, "en-US"), ["Waiting for an agent to join…", "Thanks for your patience."]);
  // Unknown display (an older cache): whatever the server sent.
  assert.deepEqual(queueLines("waiting", { chat_id: 7, position: 1 }, undefined, S), [
    "Waiting for an agent to join…",
    "You are number 1 in the queue",
  ]);
  assert.deepEqual(queueLines("waiting", null, "position", S), ["Waiting for an agent to join…"]);
  assert.deepEqual(queueLines("pending", q, "position", S), ["Connecting you to an agent…"]);
});
