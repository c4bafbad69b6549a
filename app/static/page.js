// The demo page: plain JavaScript over the service's own routes (no external assets). Public API:
// /recommend, /session/next, /events, /models; read-only page routes: /items, /users/examples,
// /users/{id}/history, /models/plots/{name}. Every text from the data is set with textContent.
"use strict";

const TOKEN_KEY = "recsys-events-token";
const TASKS = { rating: "Ratings (lower is better)", retrieval: "Recommendations (higher is better)",
                session: "Next item in a session (higher is better)" };
const COUNTS = new Set(["users", "ratings", "events"]);
const state = { user: null, session: [] };

const $ = (id) => document.getElementById(id);

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${response.status}`);
  }
  return body;
}

function postJson(path, payload, headers = {}) {
  return api(path, { method: "POST", headers: { "content-type": "application/json", ...headers },
                     body: JSON.stringify(payload) });
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function say(id, text, isError = false) {
  const node = $(id);
  node.textContent = text;
  node.className = isError ? "message error" : "message";
}

function itemLine(item, details) {
  const line = element("li");
  line.dataset.itemId = item.item_id;
  line.append(element("span", item.title || item.item_id, "title"), " ", element("span", item.item_id, "id"));
  for (const detail of details) {
    if (detail) line.append(" ", detail);
  }
  return line;
}

function figure(label, value, digits = 2) {
  return value === null || value === undefined ? null : element("span", `${label} ${value.toFixed(digits)}`, "figure");
}

// --- a user: history, recommendations, events -------------------------------------------------

async function showUser(user) {
  state.user = user;
  $("user-input").value = user;
  say("user-message", "");
  try {
    const [history, recommended] = await Promise.all([
      api(`/users/${encodeURIComponent(user)}/history?limit=20`),
      api(`/recommend/${encodeURIComponent(user)}?k=10`),
    ]);
    renderHistory(history);
    renderRecommendations(recommended);
  } catch (error) {
    say("user-message", String(error.message || error), true);
  }
}

function renderHistory(history) {
  const list = $("history");
  list.replaceChildren(...history.items.map((item) => itemLine(item, [
    figure("rating", item.rating, 1), element("span", item.source, `badge ${item.source}`)])));
  if (!history.items.length) list.append(element("li", history.known ? "no history" : "unknown user, no events yet"));
}

function renderRecommendations(recommended) {
  $("strategy").textContent = `(strategy: ${recommended.strategy}, version ${recommended.model_version})`;
  const token = sessionStorage.getItem(TOKEN_KEY);
  $("recommendations").replaceChildren(...recommended.items.map((item) => itemLine(item, [
    figure("score", item.score), figure("rating", item.rating), token ? eventButtons(item) : null])));
}

function eventButtons(item) {
  const box = element("span", null, "actions");
  for (const type of ["view", "purchase"]) {
    const button = element("button", type);
    button.type = "button";
    button.dataset.event = type;
    button.addEventListener("click", () => recordEvent(item, type, null));
    box.append(button);
  }
  const stars = element("select");
  stars.setAttribute("aria-label", `rating for ${item.item_id}`);
  for (const value of [5, 4, 3, 2, 1]) stars.append(new Option(`${value}★`, value));
  const rate = element("button", "rate");
  rate.type = "button";
  rate.dataset.event = "rating";
  rate.addEventListener("click", () => recordEvent(item, "rating", Number(stars.value)));
  box.append(stars, rate);
  return box;
}

async function recordEvent(item, type, value) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  try {
    const answer = await postJson("/events", { events: [{ user_id: state.user, item_id: item.item_id, type, value }] },
                                  { Authorization: `Bearer ${token}` });
    if (answer.rejected.length) throw new Error(answer.rejected[0].reason);
    await showUser(state.user);
    say("user-message", `logged: ${state.user} ${type} ${item.title || item.item_id}${value ? ` (${value})` : ""}`);
  } catch (error) {
    say("user-message", `event not logged: ${error.message || error}`, true);
  }
}

// --- the session playground ------------------------------------------------------------------

let searchTimer = null;

async function search() {
  try {
    const found = await api(`/items?limit=10&q=${encodeURIComponent($("search-input").value)}`);
    $("search-results").replaceChildren(...found.items.map((item) => pickable(item)));
  } catch (error) {
    $("search-results").replaceChildren(element("li", String(error.message || error)));
  }
}

function pickable(item, details = []) {
  const line = element("li");
  const button = element("button", item.title || item.item_id, "pick");
  button.type = "button";
  button.addEventListener("click", () => addToSession(item));
  line.dataset.itemId = item.item_id;
  line.append(button, " ", element("span", item.item_id, "id"), ...details);
  return line;
}

async function addToSession(item) {
  state.session.push(item);
  await refreshSession();
}

async function refreshSession() {
  $("session-items").replaceChildren(...state.session.map((item) => element("span", item.title || item.item_id)));
  if (!state.session.length) {
    $("session-next").replaceChildren();
    return;
  }
  const next = await postJson("/session/next", { items: state.session.map((item) => item.item_id), k: 10 });
  $("session-next").replaceChildren(...next.items.map((item) => pickable(item, [" ", figure("score", item.score, 3)])));
}

// --- the loaded version ----------------------------------------------------------------------

function metricsTable(task, results, served) {
  const models = Object.keys(results);
  const metrics = Object.keys(results[models[0]] || {}).filter((name) => !COUNTS.has(name));
  const table = element("table");
  const head = element("tr");
  head.append(element("th", "model"), ...metrics.map((name) => element("th", name)));
  table.append(element("caption", TASKS[task] || task), head);
  for (const model of models) {
    const row = element("tr", null, model === served ? "served" : "");
    row.append(element("td", model === served ? `${model} (served)` : model),
               ...metrics.map((name) => element("td", (results[model][name] ?? NaN).toFixed(4))));
    table.append(row);
  }
  return table;
}

async function loadVersion() {
  const manifest = await api("/models");
  $("version").textContent = manifest.version;
  const served = manifest.served || {};
  $("metrics").replaceChildren(...Object.entries(manifest.metrics || {}).map(
    ([task, results]) => metricsTable(task, results, served[task])));
  $("plot-metrics").src = `/models/plots/metrics.png?version=${encodeURIComponent(manifest.version)}`;
  $("plot-curves").src = `/models/plots/training_curves.png?version=${encodeURIComponent(manifest.version)}`;
}

async function loadExamples() {
  const examples = await api("/users/examples?limit=6");
  $("example-users").replaceChildren(...examples.users.map((user) => new Option(user, user)));
  $("example-links").replaceChildren(...examples.users.map((user) => {
    const link = element("button", user, "pick");
    link.type = "button";
    link.addEventListener("click", () => showUser(user));
    return link;
  }).flatMap((link) => [link, " "]));
}

document.addEventListener("DOMContentLoaded", () => {
  $("user-form").addEventListener("submit", (event) => {
    event.preventDefault();
    showUser($("user-input").value.trim());
  });
  $("token-input").value = sessionStorage.getItem(TOKEN_KEY) || "";
  $("token-input").addEventListener("input", () => {
    sessionStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
    if (state.user) showUser(state.user);
  });
  $("search-input").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(search, 200);
  });
  $("session-clear").addEventListener("click", () => {
    state.session = [];
    refreshSession();
  });
  loadVersion().catch((error) => say("user-message", `no model version: ${error.message}`, true));
  loadExamples().catch(() => {});
  search();
});
