// scripts/chat-page-test's browser half: drives the demo's chat page
// (test-harness/src/bin/demo/page.html, served by Envoy at /) in headless Chromium
// and checks what the page shows:
//   1. analyst, an allowed tool (search_filings): the answer streams in (at
//      least two different intermediate states of the answer element are seen
//      before the turn completes), then the whole answer and the tool result;
//   2. analyst, the admin-only tool (delete_filing): the page shows toolguard's
//      error, `tool "delete_filing" is not allowed`, and nothing of the tool;
//   3. admin, the same prompt: the tool runs and the answer is shown;
// then the same three in the page's WebSocket mode (/ws, the token in the
// `access_token` query parameter): the answer streams in message by message
// and the socket closes with 1000; the denied tool call closes it with 1008
// and the page shows the reason, `tool "delete_filing" is not allowed`.
// Then a full-page screenshot, for humans.
//
//   node chat-page-test.cjs INFO_JSON SCREENSHOT_PNG
//
// INFO_JSON is what `demo --serve-only --info-file` writes ({"url": ...}).
// CHROMIUM: the browser (default /usr/bin/chromium). playwright-core comes from
// NODE_PATH (scripts/chat-page-test installs it into .tools/browser-test).
// Exits 1 if any check fails, 2 if the page could not be driven at all.

"use strict";

const fs = require("fs");
const { chromium } = require("playwright-core");

// The demo agent's script for each prompt (test-harness/src/bin/demo/script.rs, `plan`).
const SEARCH = {
  prompt: "Find the latest annual filing for ACME",
  tool: "search_filings",
  toolResult: "3 filings: 10-K 2024 (2025-02-14), 10-K 2023, 10-K 2022",
  answer:
    "ACME's latest annual report is its 10-K for 2024, filed on 2025-02-14; revenue grew 12% year over year.",
};
const DELETE = {
  prompt: "Delete the ACME 2023 10-K filing",
  tool: "delete_filing",
  toolResult: "deleted ACME-10-K-2023",
  answer: "Done: the ACME 2023 10-K filing has been deleted.",
};
const TURN_TIMEOUT_MS = 30000;

const [infoFile, screenshot] = process.argv.slice(2);
if (!infoFile || !screenshot) {
  console.error("usage: node chat-page-test.cjs INFO_JSON SCREENSHOT_PNG");
  process.exit(2);
}
const info = JSON.parse(fs.readFileSync(infoFile, "utf8"));

let checks = 0;
const failures = [];
function check(ok, what) {
  checks += 1;
  console.log(`    ${ok ? "✓" : "✗"} ${what}`);
  if (!ok) failures.push(what);
  return ok;
}
const short = (s, n = 110) => (s.length > n ? s.slice(0, n) + "…" : s);

// Installed in the page before each send: records every change of the newest
// turn (the page prepends turns to #log) with its time, until the turn's
// `.meta` line appears (the page appends it when the stream has ended).
function watchNextTurn() {
  const log = document.querySelector("#log");
  const before = log.firstElementChild;
  const rec = { t0: performance.now(), states: [], done: false };
  window.__turn = rec;
  const snap = () => {
    const turn = log.firstElementChild;
    if (!turn || turn === before) return;
    const answers = [...turn.querySelectorAll(".answer")].map((a) => a.textContent);
    const meta = turn.querySelector(".meta");
    rec.states.push({ t: Math.round(performance.now() - rec.t0), answers, done: !!meta });
    if (meta) {
      rec.done = true;
      obs.disconnect();
    }
  };
  const obs = new MutationObserver(snap);
  obs.observe(log, { childList: true, subtree: true, characterData: true });
}

// Picks the mode and the user, types the prompt, clicks Send; waits for the
// turn to end. Returns what the newest turn shows, and the recorded states.
async function ask(page, mode, user, prompt) {
  await page.selectOption("#mode", mode);
  await page.selectOption("#user", user);
  await page.fill("#prompt", prompt);
  await page.evaluate(watchNextTurn);
  await page.click("#form button[type=submit]");
  await page.waitForFunction(() => window.__turn && window.__turn.done, null, {
    timeout: TURN_TIMEOUT_MS,
    polling: 50,
  });
  return page.evaluate(() => {
    const turn = document.querySelector("#log").firstElementChild;
    const texts = (sel) => [...turn.querySelectorAll(sel)].map((e) => e.textContent);
    return {
      who: texts(".who")[0] || "",
      prompt: texts(".prompt")[0] || "",
      answers: texts(".answer"),
      chips: [...turn.querySelectorAll(".chip")].map((c) => ({ cls: c.className, text: c.textContent })),
      blocked: texts(".blocked"),
      meta: texts(".meta")[0] || "",
      text: turn.innerText,
      states: window.__turn.states,
    };
  });
}

// Distinct texts the answer element (the last `.answer`) had before the turn
// ended that are proper prefixes of its final text: the streamed steps.
function intermediateStates(turn) {
  const final = turn.answers[turn.answers.length - 1] || "";
  const seen = [];
  for (const s of turn.states) {
    if (s.done || s.answers.length !== turn.answers.length) continue;
    const text = s.answers[s.answers.length - 1];
    if (text && text !== final && final.startsWith(text) && !seen.some((x) => x.text === text)) {
      seen.push({ t: s.t, text });
    }
  }
  return seen;
}

// How each mode ends a turn in the page's meta line: after an allowed
// answer, and after toolguard refused a tool call.
const MODES = [
  { name: "SSE (POST /chat)", value: "sse", step: 1, ended: /stream ended/, denied: /never reached the browser/ },
  {
    name: "WebSocket (/ws)",
    value: "ws",
    step: 4,
    ended: /socket closed 1000/,
    denied: new RegExp(`socket closed 1008 tool "${DELETE.tool}" is not allowed — the tool call never reached the browser`),
  },
];

// The answer (streamed in, if `progressive`), the tool ran, and the turn
// ended as the mode does.
function checkAllowed(turn, spec, mode, progressive) {
  if (progressive) checkProgressive(turn);
  check(turn.answers[turn.answers.length - 1] === spec.answer, `final answer shown: ${short(spec.answer, 60)}`);
  check(
    turn.chips.length === 1 && turn.chips[0].cls.includes("done") && turn.chips[0].text.includes(spec.tool) && turn.chips[0].text.includes(spec.toolResult),
    `tool chip: ${turn.chips.map((c) => c.text).join(" | ") || "none"}`
  );
  check(turn.blocked.length === 0, `no error shown${turn.blocked.length ? ": " + turn.blocked.join(" | ") : ""}`);
  check(mode.ended.test(turn.meta), `meta: ${turn.meta}`);
}

// At least two intermediate states of the answer, at different times.
function checkProgressive(turn) {
  const steps = intermediateStates(turn);
  console.log(
    `      streamed states of the answer: ${steps.map((s) => `+${s.t}ms ${JSON.stringify(short(s.text, 40))}`).join(", ")}`
  );
  check(
    steps.length >= 2,
    `the answer appeared progressively: ${steps.length} intermediate states before the end (want ≥ 2)`
  );
  check(
    steps.length >= 2 && steps[steps.length - 1].t > steps[0].t,
    "the intermediate states arrived at different times"
  );
}

// 1 / 4. analyst, an allowed tool.
async function allowedTurn(page, mode) {
  console.log(`\n  ${mode.step}. analyst: "${SEARCH.prompt}" (${SEARCH.tool}, allowed for analysts)`);
  const turn = await ask(page, mode.value, "analyst", SEARCH.prompt);
  showTurn(turn);
  check(turn.who.startsWith("ana — analysts"), `turn by "${turn.who}"`);
  checkAllowed(turn, SEARCH, mode, true);
}

// 2 / 5. analyst, the admin-only tool: toolguard's reason shown, nothing of the call.
async function deniedTurn(page, mode) {
  console.log(`\n  ${mode.step + 1}. analyst: "${DELETE.prompt}" (${DELETE.tool}, admins only)`);
  const turn = await ask(page, mode.value, "analyst", DELETE.prompt);
  showTurn(turn);
  const blocked = turn.blocked.join(" | ");
  check(blocked.includes("is not allowed"), `error shown: ${blocked || "none"}`);
  check(
    blocked.includes(`tool "${DELETE.tool}" is not allowed`) && blocked.startsWith("Blocked by toolguard"),
    `the error names the tool: Blocked by toolguard: tool "${DELETE.tool}" is not allowed`
  );
  check(
    !turn.text.includes(DELETE.toolResult) && !turn.text.includes(DELETE.answer) && turn.chips.length === 0,
    "nothing of the tool call reached the page (no tool chip, result or answer)"
  );
  check(mode.denied.test(turn.meta), `meta: ${turn.meta}`);
}

// 3 / 6. admin, the same prompt: the tool runs.
async function adminTurn(page, mode) {
  console.log(`\n  ${mode.step + 2}. admin: "${DELETE.prompt}" (admins may use every tool)`);
  const turn = await ask(page, mode.value, "admin", DELETE.prompt);
  showTurn(turn);
  check(turn.who.startsWith("adam — admins"), `turn by "${turn.who}"`);
  checkAllowed(turn, DELETE, mode, false);
}

function showTurn(turn) {
  for (const line of turn.text.split("\n").filter((l) => l.trim())) console.log(`      | ${short(line)}`);
}

async function main() {
  const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
  // playwright-core's launch() adds --headless and a fresh temporary
  // --user-data-dir (removed on close) itself.
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    timeout: 60000,
  });
  let page;
  try {
    console.log(`  browser: ${executablePath} ${browser.version()}`);
    page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const pageErrors = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    page.on("console", (m) => {
      // Expected: a 401 for /favicon.ico (only / and /ping need no token) and
      // ERR_INCOMPLETE_CHUNKED_ENCODING when toolguard cuts a stream.
      if (m.type() === "error") console.log(`  [page console] ${m.text()} (${m.location().url})`);
    });

    console.log(`\n  open ${info.url}`);
    const resp = await page.goto(info.url, { waitUntil: "load" });
    check(resp && resp.status() === 200, `GET / → ${resp ? resp.status() : "no response"}`);
    check((await page.title()) === "toolguard demo", `page title "${await page.title()}"`);
    const tokens = await page.evaluate(() => Object.keys(TOKENS));
    check(
      tokens.includes("analyst") && tokens.includes("admin"),
      `the page carries tokens for ${tokens.join(", ")}`
    );

    for (const mode of MODES) {
      console.log(`\n  --- ${mode.name} ---`);
      await allowedTurn(page, mode);
      await deniedTurn(page, mode);
      await adminTurn(page, mode);
    }

    check(pageErrors.length === 0, `no script errors in the page${pageErrors.length ? ": " + pageErrors.join(" | ") : ""}`);
  } finally {
    if (page) {
      try {
        await page.screenshot({ path: screenshot, fullPage: true });
        console.log(`\n  screenshot: ${screenshot}`);
      } catch (e) {
        console.log(`\n  no screenshot: ${e}`);
      }
    }
    await browser.close();
  }
}

main().then(
  () => {
    if (failures.length === 0) {
      console.log(`\n  all ${checks} checks passed`);
      process.exit(0);
    }
    console.log(`\n  ${failures.length} of ${checks} checks failed:`);
    for (const f of failures) console.log(`    ✗ ${f}`);
    process.exit(1);
  },
  (e) => {
    console.error(`\n  error driving the page: ${e && e.stack ? e.stack : e}`);
    if (failures.length) console.error(`  failed before that: ${failures.join("; ")}`);
    process.exit(2);
  }
);
