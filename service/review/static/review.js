// The review page: every action is a call under /v1/review/..., so any other front end can drive the same queue.
"use strict";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const state = { session: params.get("session"), item: null, kind: "codes", order: localStorage.getItem("autocode-order") || "rows", options: [], searchHits: [] };

function key() { return sessionStorage.getItem("autocode-key") || ""; }

async function api(method, path, body) {
  const headers = {};
  if (key()) headers["Authorization"] = "Bearer " + key();
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
  const response = await fetch(path, { method, headers, body: payload });
  if (response.status === 401) { $("key-panel").hidden = false; throw new Error("this server needs an API key"); }
  if (!response.ok) {
    let message = response.statusText;
    try { const err = await response.json(); message = (err.error && err.error.message) || JSON.stringify(err); } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

async function json(method, path, body) { return (await api(method, path, body)).json(); }

function notice(text, isError) {
  const box = $("notice");
  box.textContent = text || "";
  box.className = isError ? "error" : "";
}

function showCounts(c) {
  if (!c) return;
  $("counts").textContent = `${c.pending} answers to review (${c.rows_pending} rows) · ${c.decided} decided · ` +
    `${c.uncodable} uncodable · ${c.skipped} skipped · ${c.cleared} cleared by learning · ${c.items} in all`;
}

function sessionPath(suffix) { return `/v1/review/sessions/${state.session}${suffix}`; }

function optionText(o) {
  // An employer option's code is its record id: the name, country and sector are what a reviewer reads.
  const parts = o.record_id !== null && o.record_id !== undefined ? [o.labels.join("|")] : [o.codes.join("|"), o.labels.join("|")];
  if (o.country !== undefined && o.country !== null) parts.push(o.country || "no country");
  if (o.sector) parts.push(o.sector);
  return parts.filter(Boolean).join(" · ");
}

function fillList(list, options, bestFirst) {
  list.replaceChildren();
  options.forEach((o, i) => {
    const li = document.createElement("li");
    li.dataset.index = String(i);
    if (bestFirst && i === 0) li.className = "best";
    li.textContent = optionText(o);
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = o.score.toFixed(3);
    li.append(score);
    li.addEventListener("click", () => choose(o));
    list.append(li);
  });
}

function render(item) {
  state.item = item;
  $("search-form").hidden = true;
  $("record-form").hidden = true;
  $("item").hidden = !item;
  $("done").hidden = !!item;
  if (!item) return;
  $("item-text").textContent = item.text;
  $("item-rows").textContent = `${item.rows} row${item.rows === 1 ? "" : "s"}`;
  $("item-method").textContent = `· ${item.method} ${item.confidence.toFixed(3)}`;
  $("item-status").textContent = item.status === "skipped" ? "· skipped before" : "";
  $("item-variants").textContent = item.variants.length > 1 ? "also written: " + item.variants.slice(1).join(" · ") : "";
  state.options = item.alternatives;
  fillList($("options"), item.alternatives, item.codes.length > 0);
  const evidence = $("evidence");
  evidence.replaceChildren();
  if (item.reason) { const li = document.createElement("li"); li.textContent = "why review: " + item.reason; evidence.append(li); }
  for (const e of item.evidence) {
    const li = document.createElement("li");
    li.textContent = `${e.kind}: ${e.text}` + (e.code ? ` → ${e.code}` : "") + (e.score !== null && e.score !== undefined ? ` (${Number(e.score).toFixed(3)})` : "");
    evidence.append(li);
  }
}

async function loadNext() {
  const data = await json("GET", sessionPath(`/next?order=${state.order}`));
  showCounts(data.counts);
  render(data.item);
}

async function decide(action, extra) {
  if (!state.item) return;
  window.scrollTo(0, 0);  // the next answer and the counts are at the top, wherever the last form was
  const data = await json("POST", sessionPath(`/items/${state.item.item_id}/decision?order=${state.order}`), { action, ...(extra || {}) });
  const cleared = data.cleared.length;
  notice(`${action === "skip" ? "skipped" : "saved"}: “${state.item.text}”` +
    (cleared ? ` · ${cleared} similar answer${cleared === 1 ? "" : "s"} now coded by the model and left the queue: ` +
      data.cleared.map((c) => `“${c.text}” → ${c.labels.join("|")}`).join(", ") : ""));
  showCounts(data.counts);
  render(data.next);
}

function choose(option) {
  if (state.kind === "employers") return decide("choose", { record_id: option.record_id });
  return decide("choose", { codes: option.codes });
}

async function undo() {
  const data = await json("POST", sessionPath("/undo"));
  notice(`undone: “${data.undone.text}” (${data.undone.action})`);
  showCounts(data.counts);
  render(data.item);
}

function openSearch() {
  $("search-form").hidden = false;
  $("search").value = "";
  $("search-results").replaceChildren();
  state.searchHits = [];
  $("search").focus();
}

let searchTimer = null;
async function runSearch() {
  const q = $("search").value;
  const data = await json("GET", sessionPath(`/search?q=${encodeURIComponent(q)}`));
  state.searchHits = data.options;
  fillList($("search-results"), data.options, false);
}

function openRecordForm() {
  if (state.kind !== "employers" || !state.item) return;
  $("record-form").hidden = false;
  $("record-name").value = state.item.text;
  $("record-name").focus();
}

async function createRecord(event) {
  event.preventDefault();
  const record = { name: $("record-name").value.trim(), country: $("record-country").value.trim().toUpperCase(),
    isic_section: $("record-section").value.trim().toUpperCase(), isic_division: $("record-division").value.trim() };
  await decide("choose", { record });
}

async function exportFile() {
  const response = await api("GET", sessionPath("/export"));
  const blob = await response.blob();
  const name = (response.headers.get("Content-Disposition") || "").match(/filename="?([^";]+)"?/);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name ? name[1] : "reviewed.csv";
  document.body.append(link);
  link.click();
  link.remove();
  notice("exported " + link.download);
}

async function showCodes() {
  const panel = $("codes-panel");
  panel.hidden = false;
  const data = await json("GET", sessionPath("/codes"));
  $("codes-why").textContent = data.editable ? `codebook ${data.codebook} v${data.version}: changes rewrite its file` : data.why;
  $("add-code-form").hidden = !data.editable;
  const body = $("codes");
  body.replaceChildren();
  for (const c of data.codes) {
    const tr = document.createElement("tr");
    const code = document.createElement("td");
    code.textContent = c.code;
    const name = document.createElement("td");
    const input = document.createElement("input");
    input.value = c.name;
    input.disabled = !data.editable;
    input.addEventListener("change", guard(async () => { await editCodes({ op: "rename", code: c.code, name: input.value }); }));
    name.append(input);
    const merge = document.createElement("td");
    const select = document.createElement("select");
    select.disabled = !data.editable;
    select.append(new Option("—", ""));
    for (const other of data.codes) if (other.code !== c.code) select.append(new Option(other.code, other.code));
    select.addEventListener("change", guard(async () => {
      if (select.value) await editCodes({ op: "merge", code: c.code, into: select.value });
    }));
    merge.append(select);
    tr.append(code, name, merge);
    body.append(tr);
  }
}

async function editCodes(change) {
  await json("POST", sessionPath("/codes"), change);
  notice(`codes: ${change.op} ${change.code}` + (change.into ? ` into ${change.into}` : ""));
  await showCodes();
  await loadNext();
}

function guard(fn) {
  return (...args) => Promise.resolve(fn(...args)).catch((err) => notice(err.message, true));
}

function onKey(event) {
  const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
  if (typing) {
    if (document.activeElement.id === "search") {
      if (event.key === "Escape") { $("search-form").hidden = true; document.activeElement.blur(); }
      else if (event.key === "Enter") { event.preventDefault(); if (state.searchHits[0]) guard(choose)(state.searchHits[0]); }
      else if (/^[1-9]$/.test(event.key) && event.altKey) { event.preventDefault(); const o = state.searchHits[Number(event.key) - 1]; if (o) guard(choose)(o); }
    }
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const actions = {
    Enter: () => decide("accept"), u: () => decide("uncodable"), s: () => decide("skip"), z: undo, "/": openSearch,
    n: openRecordForm, e: exportFile, o: toggleOrder, c: () => ($("codes-panel").hidden ? showCodes() : ($("codes-panel").hidden = true)),
  };
  if (/^[1-9]$/.test(event.key)) {
    const o = state.options[Number(event.key) - 1];
    if (o) { event.preventDefault(); guard(choose)(o); }
    return;
  }
  const action = actions[event.key];
  if (action) { event.preventDefault(); guard(action)(); }
}

function toggleOrder() {
  state.order = state.order === "rows" ? "uncertain" : "rows";
  $("order").value = state.order;
  localStorage.setItem("autocode-order", state.order);
  return loadNext();
}

async function showSessions() {
  $("sessions-panel").hidden = false;
  const data = await json("GET", "/v1/review/sessions");
  const list = $("sessions");
  list.replaceChildren();
  for (const s of data.sessions) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = `/review?session=${s.session_id}`;
    a.textContent = `${s.file} · ${s.column} · ${s.target}`;
    li.append(a);
    list.append(li);
  }
}

async function upload(event) {
  event.preventDefault();
  const file = $("upload-file").files[0];
  const form = new FormData();
  form.append("file", file);
  form.append("filename", file.name);
  form.append("column", $("upload-column").value);
  if ($("upload-codebook").value) form.append("codebook", $("upload-codebook").value);
  if ($("upload-model").value) form.append("model", $("upload-model").value);
  if ($("upload-employers").checked) form.append("employers", "true");
  const session = await json("POST", "/v1/review/sessions", form);
  location.href = session.page_url;
}

async function start() {
  $("order").value = state.order;
  if (!state.session) return showSessions();
  const session = await json("GET", sessionPath(""));
  state.kind = session.kind;
  document.body.classList.add(session.kind);
  document.title = `autocode review · ${session.column}`;
  $("review-panel").hidden = false;
  await loadNext();
}

document.addEventListener("keydown", onKey);
$("order").addEventListener("change", guard(() => { state.order = $("order").value; localStorage.setItem("autocode-order", state.order); return loadNext(); }));
$("export").addEventListener("click", guard(exportFile));
$("search").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(guard(runSearch), 120); });
$("search-form").addEventListener("submit", (e) => e.preventDefault());
$("record-form").addEventListener("submit", guard(createRecord));
$("record-cancel").addEventListener("click", () => { $("record-form").hidden = true; });
$("upload-form").addEventListener("submit", guard(upload));
$("add-code-form").addEventListener("submit", guard(async (e) => {
  e.preventDefault();
  await editCodes({ op: "add", code: $("add-code").value.trim(), name: $("add-name").value.trim() || $("add-code").value.trim() });
}));
$("key-form").addEventListener("submit", (e) => { e.preventDefault(); sessionStorage.setItem("autocode-key", $("key").value.trim()); $("key-panel").hidden = true; guard(start)(); });
document.querySelectorAll(".actions button").forEach((b) => b.addEventListener("click", guard(() => {
  const a = b.dataset.action;
  if (a === "undo") return undo();
  if (a === "search") return openSearch();
  if (a === "record") return openRecordForm();
  if (a === "codes") return showCodes();
  return decide(a);
})));
guard(start)();
