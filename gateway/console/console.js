// The marketing console: recent campaigns, a new campaign with its audience, one campaign's progress.
//
// Views are fragments: #/campaigns, #/new, #/campaign/ID. A token may arrive in the
// fragment (#token=...&program=..., as `loyalty demo` prints it; a fragment never
// reaches a server); it is kept in sessionStorage and removed from the address.

import { GatewayError, send } from "./graphql.js";
import { buildAudience, endOfDay, fieldFor, parseIds } from "./audience.js";

const $ = (id) => document.getElementById(id);
const numbers = new Intl.NumberFormat(undefined);
const n = (value) => (value === null || value === undefined ? "—" : numbers.format(value));
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");

const PAGE = 20;
const POLL_MS = 1000;
const PAUSED_POLL_MS = 2000;
const RATE_WINDOW_MS = 10_000;
const OPEN = new Set(["SCHEDULED", "RUNNING", "PAUSED"]);
const STORE = { token: "loyalty.console.token", program: "loyalty.console.program" };

const state = {
  token: sessionStorage.getItem(STORE.token) || "",
  ids: null, // participant ids read from the CSV file
  idsVersion: 0, // counts the files read, for previewKey
  previewKey: null,
  csvName: "",
  programs: new Set(),
  after: null,
  campaign: null,
  samples: [],
  timer: null,
  previewSeq: 0,
  previewTimer: null,
  view: null,
};

// ---------------------------------------------------------------- errors next to their fields

function showError(id, message) {
  const box = $(`${id}-error`);
  if (!box) return false;
  box.textContent = message;
  box.hidden = false;
  const field = $(id);
  if (field && "setAttribute" in field && field.matches("input, textarea, select")) field.setAttribute("aria-invalid", "true");
  return true;
}

function clearErrors(scope) {
  for (const box of scope.querySelectorAll(".error")) {
    box.hidden = true;
    box.textContent = "";
  }
  for (const field of scope.querySelectorAll("[aria-invalid]")) field.removeAttribute("aria-invalid");
}

function describe(error) {
  if (!(error instanceof GatewayError)) return String(error.message || error);
  const rule = error.rule ? ` (${error.rule})` : "";
  return `${error.message}${rule}`;
}

/** Put a gateway error beside the field it concerns, else in `fallback`; the field it used. */
function place(error, fallback, allowed = null) {
  let field = error instanceof GatewayError ? fieldFor(error) : null;
  if (field && field !== "token" && allowed && !allowed.has(field)) field = null;
  if (field === "token") {
    showError("token", describe(error));
    if (fallback !== "token") showError(fallback, "The gateway refused the token: see the token field above.");
    return field;
  }
  if (!field || !showError(field, describe(error))) showError(fallback, describe(error));
  return field;
}

// ---------------------------------------------------------------- the token

function claims(token) {
  try {
    const part = token.split(".")[1].replaceAll("-", "+").replaceAll("_", "/");
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
  } catch {
    return null;
  }
}

function showWho() {
  const who = $("token-who");
  const known = state.token ? claims(state.token) : null;
  if (!state.token) {
    who.textContent = "No token yet.";
  } else if (!known) {
    who.textContent = "A token is set (its claims cannot be read here; the gateway decides).";
  } else {
    const expires = known.exp ? new Date(known.exp * 1000) : null;
    const lapsed = expires && expires.getTime() < Date.now();
    const end = expires ? `${lapsed ? "expired" : "expires"} ${expires.toLocaleString()}` : "has no expiry";
    who.textContent = `Signed in as ${known.sub} (role ${known.role}); the token ${end}.`;
  }
  $("need-token").hidden = Boolean(state.token);
}

function useToken(token) {
  state.token = token.trim();
  if (state.token) sessionStorage.setItem(STORE.token, state.token);
  else sessionStorage.removeItem(STORE.token);
  $("token").value = "";
  $("token-error").hidden = true;
  showWho();
  route();
}

function fromFragment() {
  const fragment = location.hash.replace(/^#/, "");
  if (!/(^|&)(token|program)=/.test(fragment)) return;
  const params = new URLSearchParams(fragment);
  if (params.get("program")) sessionStorage.setItem(STORE.program, params.get("program"));
  if (params.get("token")) {
    state.token = params.get("token");
    sessionStorage.setItem(STORE.token, state.token);
  }
  // Keep the token out of the address bar and the history.
  history.replaceState(null, "", `${location.pathname}${location.search}#/campaigns`);
}

async function call(operation, variables) {
  return send(operation, variables, state.token);
}

// ---------------------------------------------------------------- views

function route() {
  stopPolling();
  const hash = location.hash || "#/campaigns";
  const match = hash.match(/^#\/campaign\/([^/]+)$/);
  const view = match ? "campaign" : hash === "#/new" ? "new" : "campaigns";
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== `view-${view}`;
  for (const link of document.querySelectorAll("[data-view-link]")) {
    if (link.dataset.viewLink === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const changed = state.view !== hash;
  state.view = hash;
  if (view === "campaigns") showCampaigns();
  else if (view === "new") showNew();
  else showCampaign(decodeURIComponent(match[1]));
  if (changed) $(`${view}-title`).focus();
}

// ---------------------------------------------------------------- recent campaigns

function statusBadge(status) {
  const badge = document.createElement("span");
  badge.className = `status status-${status.toLowerCase()}`;
  badge.textContent = status.charAt(0) + status.slice(1).toLowerCase();
  return badge;
}

function row(node, figures) {
  const tr = document.createElement("tr");
  const name = document.createElement("th");
  name.scope = "row";
  const link = document.createElement("a");
  link.href = `#/campaign/${encodeURIComponent(node.id)}`;
  link.textContent = node.name;
  name.append(link);
  const status = document.createElement("td");
  status.append(statusBadge(node.status));
  tr.append(name, status);
  status.dataset.label = "Status";
  for (const [label, value] of [
    ["Audience", node.audienceSize],
    ["Granted", node.granted],
    ["Skipped", figures?.skipped],
    ["Bonuses granted", figures?.bonusGranted],
    ["Spent", figures?.bonusSpent],
    ["Burned", figures?.bonusBurned],
  ]) {
    const td = document.createElement("td");
    td.className = "num";
    td.dataset.label = label; // the column's name, shown beside the figure at a phone's width
    td.textContent = n(value);
    tr.append(td);
  }
  tr.dataset.campaignId = node.id;
  return tr;
}

async function loadCampaigns(append) {
  clearErrors($("view-campaigns"));
  const body = $("campaigns").tBodies[0];
  if (!append) state.after = null;
  try {
    const data = await call("Campaigns", { first: PAGE, after: state.after });
    const { edges, pageInfo } = data.campaigns;
    // The list carries counts; the CA-05 figures come from each campaign's own document.
    const figures = await Promise.all(edges.map(({ node }) => call("Campaign", { id: node.id })));
    if (!append) body.replaceChildren();
    edges.forEach(({ node }, i) => {
      const full = figures[i].campaign;
      if (full?.programId) rememberProgram(full.programId);
      body.append(row(node, full));
    });
    state.after = pageInfo.endCursor;
    $("campaigns-more").hidden = !pageInfo.hasNextPage;
    $("campaigns-empty").hidden = body.rows.length > 0;
  } catch (error) {
    place(error, "campaigns");
  }
}

function showCampaigns() {
  if (!state.token) return;
  loadCampaigns(false);
}

// ---------------------------------------------------------------- new campaign: audience

function rememberProgram(id) {
  if (!id || state.programs.has(id)) return;
  state.programs.add(id);
  const option = document.createElement("option");
  option.value = id;
  $("programs").append(option);
}

function filters() {
  return {
    all: $("all").checked,
    tier: $("tier").value,
    category: $("category").value,
    since: $("since").value,
    ids: state.ids,
    segment: $("segment").value,
    segmentParams: $("segment-params").value,
  };
}

const AUDIENCE_FIELDS = new Set(["program", "tier", "category", "since", "csv", "segment", "segment-params", "audience"]);

function clearAudienceErrors() {
  for (const id of AUDIENCE_FIELDS) {
    const box = $(`${id}-error`);
    if (box) {
      box.hidden = true;
      box.textContent = "";
    }
    $(id)?.removeAttribute?.("aria-invalid");
  }
}

function schedulePreview() {
  clearTimeout(state.previewTimer);
  state.previewTimer = setTimeout(preview, 250);
}

// What a preview asked: the same filters again are not counted again (a list of
// 100,000 ids is a large request), nor do they clear an error shown since.
function previewKey(program, audience) {
  const { participantIds, ...rest } = audience;
  return JSON.stringify([state.token, program, rest, participantIds ? state.idsVersion : null]);
}

async function preview() {
  const program = $("program").value.trim();
  const { audience, problems, ready } = buildAudience(filters());
  const key = previewKey(program, audience);
  if (key === state.previewKey) return;
  state.previewKey = key;
  const seq = ++state.previewSeq;
  const output = $("audience-size");
  clearAudienceErrors();
  for (const [field, message] of Object.entries(problems)) showError(field, message);
  if (!program || !ready || Object.keys(problems).length) {
    output.value = "—";
    output.dataset.count = "";
    if (!program) output.value = "choose a program";
    else if (!ready) output.value = "set at least one filter";
    return;
  }
  if (!state.token) {
    output.value = "paste a token first";
    return;
  }
  output.value = "counting…";
  output.dataset.count = "";
  try {
    const data = await call("PreviewAudience", { programId: program, audience });
    if (seq !== state.previewSeq) return; // the filters changed meanwhile
    const count = data.previewAudience.count;
    output.value = `${n(count)} participant${count === 1 ? "" : "s"}`;
    output.dataset.count = String(count);
    sessionStorage.setItem(STORE.program, program);
  } catch (error) {
    if (seq !== state.previewSeq) return;
    state.previewKey = null; // the same filters may be asked again (a new token, the gateway back)
    output.value = "—";
    place(error, "audience", AUDIENCE_FIELDS);
  }
}

async function readCsv() {
  const input = $("csv");
  const file = input.files?.[0];
  $("csv-error").hidden = true;
  input.removeAttribute("aria-invalid");
  state.ids = null;
  state.idsVersion += 1;
  state.csvName = "";
  $("csv-status").textContent = "";
  $("csv-clear").hidden = true;
  if (!file) {
    schedulePreview();
    return;
  }
  try {
    const parsed = parseIds(await file.text());
    if (!parsed.ids.length) throw new Error("the file holds no participant id");
    state.ids = parsed.ids;
    state.csvName = file.name;
    const extra = [
      parsed.header ? "header line skipped" : null,
      parsed.duplicates ? `${n(parsed.duplicates)} duplicate${parsed.duplicates === 1 ? "" : "s"} dropped` : null,
    ].filter(Boolean);
    $("csv-status").textContent = `${n(parsed.ids.length)} participant ids read from ${file.name}${extra.length ? ` (${extra.join(", ")})` : ""}.`;
    $("csv-clear").hidden = false;
  } catch (error) {
    input.value = "";
    showError("csv", `${file.name}: ${error.message}`);
  }
  schedulePreview();
}

function clearCsv() {
  $("csv").value = "";
  readCsv();
  $("csv").focus();
}

function showNew() {
  const program = $("program");
  if (!program.value) program.value = sessionStorage.getItem(STORE.program) || "";
  rememberProgram(sessionStorage.getItem(STORE.program));
  schedulePreview();
}

// ---------------------------------------------------------------- new campaign: the gift

function campaignInput() {
  const problems = {};
  const { audience, problems: audienceProblems, ready } = buildAudience(filters());
  Object.assign(problems, audienceProblems);
  const program = $("program").value.trim();
  if (!program) problems.program = "choose the program the gift is in";
  if (!ready) problems.audience = "set at least one audience filter";
  const name = $("name").value.trim();
  if (!name) problems.name = "give the campaign a name";
  const amount = Number($("amount").value);
  if (!$("amount").value || !Number.isInteger(amount) || amount <= 0) problems.amount = "give a whole, positive number of bonuses";
  const input = { name, programId: program, amount, audience };
  if (document.querySelector("input[name=validity]:checked").value === "days") {
    const days = Number($("valid-days").value);
    if (!Number.isInteger(days) || days <= 0) problems["valid-days"] = "give a whole, positive number of days";
    input.validDays = days;
  } else if (!$("expires").value) {
    problems.expires = "choose the last day the gift is valid";
  } else {
    input.expiresAt = endOfDay($("expires").value);
  }
  if (document.querySelector("input[name=start]:checked").value === "at") {
    const starts = $("starts").value;
    if (!starts || Number.isNaN(new Date(starts).getTime())) problems.starts = "choose when the campaign starts";
    else input.startsAt = new Date(starts).toISOString();
  }
  const message = $("message").value.trim();
  if (message) input.message = message;
  return { input, problems };
}

async function createCampaign(event) {
  event.preventDefault();
  const form = $("campaign-form");
  clearErrors(form);
  const { input, problems } = campaignInput();
  const fields = Object.entries(problems);
  if (fields.length) {
    for (const [field, message] of fields) showError(field, message);
    $(fields[0][0] === "audience" ? "all" : fields[0][0])?.focus();
    return;
  }
  const button = $("create");
  button.disabled = true;
  try {
    const data = await call("CreateGiftCampaign", { input });
    const campaign = data.createGiftCampaign.campaign;
    sessionStorage.setItem(STORE.program, input.programId);
    location.hash = `#/campaign/${encodeURIComponent(campaign.id)}`;
  } catch (error) {
    const field = place(error, "form");
    if (field && field !== "token") $(field === "audience" ? "all" : field)?.focus();
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- one campaign

function duration(seconds) {
  if (!Number.isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

function pace(campaign) {
  const done = campaign.granted + campaign.skipped;
  const now = performance.now();
  if (campaign.status !== "RUNNING") state.samples = [];
  else {
    state.samples.push({ at: now, done });
    while (state.samples.length > 2 && now - state.samples[0].at > RATE_WINDOW_MS) state.samples.shift();
  }
  const first = state.samples[0];
  const last = state.samples[state.samples.length - 1];
  if (!first || last.at === first.at) return { rate: null, left: null };
  const rate = ((last.done - first.done) * 1000) / (last.at - first.at);
  const remaining = campaign.audienceSize - done;
  return { rate, left: rate > 0 ? remaining / rate : null };
}

function render(campaign) {
  const previous = state.campaign;
  state.campaign = campaign;
  rememberProgram(campaign.programId);
  $("campaign-title").textContent = campaign.name;
  $("campaign-status").replaceChildren(statusBadge(campaign.status));
  if (previous && previous.id === campaign.id && previous.status !== campaign.status) {
    $("campaign-announce").textContent = `The campaign is now ${campaign.status.toLowerCase()}.`;
  }
  const done = campaign.granted + campaign.skipped;
  const size = campaign.audienceSize;
  const bar = $("campaign-progress");
  bar.max = Math.max(size, 1);
  bar.value = size ? done : campaign.status === "FINISHED" ? 1 : 0;
  const percent = size ? Math.floor((done * 100) / size) : campaign.status === "FINISHED" ? 100 : 0;
  $("campaign-progress-text").textContent =
    campaign.status === "DRAFT"
      ? `Not launched: ${n(size)} participants counted when it was created.`
      : `${n(done)} of ${n(size)} participants (${percent} %)`;
  const { rate, left } = pace(campaign);
  $("c-granted").textContent = n(campaign.granted);
  $("c-skipped").textContent = n(campaign.skipped);
  $("c-rate").textContent =
    campaign.status === "RUNNING" ? (rate === null ? "measuring…" : `${n(Math.round(rate))} per second`) : "—";
  $("c-left").textContent =
    campaign.status === "FINISHED"
      ? "none"
      : campaign.status === "PAUSED"
        ? "paused"
        : campaign.status === "RUNNING"
          ? left === null
            ? "measuring…"
            : duration(left)
          : "—";
  $("c-audience").textContent = n(size);
  $("c-amount").textContent = n(campaign.amount);
  $("c-bonus-granted").textContent = n(campaign.bonusGranted);
  $("c-bonus-spent").textContent = n(campaign.bonusSpent);
  $("c-bonus-burned").textContent = n(campaign.bonusBurned);
  $("c-program").textContent = campaign.programId;
  $("c-started").textContent = when(campaign.startedAt);
  $("c-finished").textContent = when(campaign.finishedAt);
  const status = campaign.status;
  $("launch").hidden = status !== "DRAFT";
  $("pause").hidden = !(status === "RUNNING" || status === "SCHEDULED");
  $("resume").hidden = status !== "PAUSED";
  $("cancel").hidden = !(status === "DRAFT" || OPEN.has(status));
  document.querySelector("#view-campaign").dataset.status = status;
}

function stopPolling() {
  clearTimeout(state.timer);
  state.timer = null;
}

function poll(id) {
  stopPolling();
  const status = state.campaign?.status;
  if (!OPEN.has(status)) return;
  state.timer = setTimeout(() => refresh(id), status === "PAUSED" ? PAUSED_POLL_MS : POLL_MS);
}

async function refresh(id) {
  try {
    const data = await call("Campaign", { id });
    if (state.view !== `#/campaign/${encodeURIComponent(id)}` && state.view !== `#/campaign/${id}`) return;
    if (!data.campaign) {
      showError("campaign", `The gateway knows no campaign ${id}.`);
      return;
    }
    render(data.campaign);
  } catch (error) {
    place(error, "campaign");
  }
  poll(id);
}

function showCampaign(id) {
  clearErrors($("view-campaign"));
  if (state.campaign?.id !== id) {
    state.campaign = null;
    state.samples = [];
    $("campaign-title").textContent = `Campaign ${id}`;
  }
  if (!state.token) return;
  refresh(id);
}

async function act(operation, button) {
  const campaign = state.campaign;
  if (!campaign) return;
  if (operation === "CancelCampaign" && !confirm(`Cancel “${campaign.name}”? Gifts already granted stay.`)) return;
  clearErrors($("view-campaign"));
  button.disabled = true;
  stopPolling();
  try {
    await call(operation, { id: campaign.id });
  } catch (error) {
    place(error, "campaign");
  } finally {
    button.disabled = false;
  }
  // Show the campaign as it is now, refused or not; the error, if any, stays beside the buttons.
  await refresh(campaign.id);
  const visible = ["pause", "resume", "launch"].map($).find((b) => !b.hidden);
  (visible ?? $("campaign-title")).focus();
}

// ---------------------------------------------------------------- start-up

function start() {
  fromFragment();
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    useToken($("token").value);
  });
  $("token-forget").addEventListener("click", () => useToken(""));
  $("campaigns-refresh").addEventListener("click", () => loadCampaigns(false));
  $("campaigns-more").addEventListener("click", () => loadCampaigns(true));
  const form = $("campaign-form");
  form.addEventListener("submit", createCampaign);
  for (const id of ["program", "all", "tier", "category", "since", "segment", "segment-params"]) {
    $(id).addEventListener("input", schedulePreview);
    $(id).addEventListener("change", schedulePreview);
  }
  $("csv").addEventListener("change", readCsv);
  $("csv-clear").addEventListener("click", clearCsv);
  // Typing a date or a count picks its option.
  $("valid-days").addEventListener("input", () => ($("validity-days").checked = true));
  $("expires").addEventListener("input", () => ($("validity-until").checked = true));
  $("starts").addEventListener("input", () => ($("start-at").checked = true));
  $("launch").addEventListener("click", (event) => act("LaunchCampaign", event.currentTarget));
  $("pause").addEventListener("click", (event) => act("PauseCampaign", event.currentTarget));
  $("resume").addEventListener("click", (event) => act("ResumeCampaign", event.currentTarget));
  $("cancel").addEventListener("click", (event) => act("CancelCampaign", event.currentTarget));
  window.addEventListener("hashchange", () => {
    fromFragment();
    route();
  });
  showWho();
  route();
  document.documentElement.dataset.ready = "true";
}

start();
