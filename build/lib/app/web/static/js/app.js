// Entry point: login, the session list, the model picker, and wiring of every control.

import { auth, call, raw, setUnauthorizedHandler } from "./api.js";
import { chat, clearMessages, send, showHistory, stop } from "./chat.js";
import { initAdmin, initKeys, initRag, refreshFiles } from "./panels.js";
import { $, clearError, el, guarded, showError } from "./ui.js";

let backendModels = [];
let pendingFiles = [];

// -- login -------------------------------------------------------------------------------

function showLogin(message = "") {
  auth.clear();
  chat.sessionId = null;
  if (chat.run) chat.run.controller.abort();
  document.querySelectorAll("dialog[open]").forEach((d) => d.close());
  $("#app-view").hidden = true;
  $("#login-view").hidden = false;
  $("#login-error").textContent = message;
  $("#login-error").hidden = !message;
  $("#login-username").focus();
}

async function authenticate(path) {
  const username = $("#login-username").value.trim();
  const password = $("#login-password").value;
  try {
    const result = await call("POST", path, { username, password });
    auth.save(result.access_token, result.user);
    $("#login-password").value = "";
    await showApp();
  } catch (error) {
    $("#login-error").textContent = error.message;
    $("#login-error").hidden = false;
  }
}

// -- sessions ----------------------------------------------------------------------------

function sessionItem(s) {
  const title = s.title || "(untitled)";
  const open = el("button", { type: "button", class: "session-open", title: s.id,
    onclick: guarded(() => openSession(s.id), "Opening the session") },
    el("span", { class: "title", text: title }),
    el("span", { class: "muted when", text: new Date(s.updated_at).toLocaleString() }));
  const item = el("li", { class: "session", dataset: { id: s.id } }, open);
  if (s.id === chat.sessionId) item.classList.add("current");
  const rename = el("button", { type: "button", class: "icon", text: "✎", "aria-label": `Rename ${title}`,
    onclick: () => startRename(item, s) });
  const remove = el("button", { type: "button", class: "icon danger", text: "×", "aria-label": `Delete ${title}`,
    onclick: guarded(async () => {
      if (!window.confirm(`Delete "${title}" with its history and files?`)) return;
      await call("DELETE", `/api/chat/sessions/${encodeURIComponent(s.id)}`);
      if (chat.sessionId === s.id) newChat();
      await refreshSessions();
    }, "Deleting the session") });
  item.append(rename, remove);
  return item;
}

function startRename(item, s) {
  const input = el("input", { class: "rename", value: s.title, "aria-label": "New title", maxlength: 200 });
  let finished = false; // Enter or Escape, then the blur of the removed input: act once
  const finish = guarded(async (save) => {
    if (finished) return;
    finished = true;
    if (save && input.value.trim() && input.value.trim() !== s.title) {
      await call("PATCH", `/api/chat/sessions/${encodeURIComponent(s.id)}`, { title: input.value.trim() });
    }
    await refreshSessions();
  }, "Renaming the session");
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") { event.preventDefault(); finish(true); }
    if (event.key === "Escape") { event.preventDefault(); finish(false); }
  });
  input.addEventListener("blur", () => finish(true), { once: true });
  item.replaceChildren(input);
  input.focus();
  input.select();
}

async function refreshSessions() {
  const result = await call("GET", "/api/chat/sessions?limit=200");
  $("#session-list").replaceChildren(...result.data.map(sessionItem));
  $("#sessions-empty").hidden = result.data.length > 0;
  const current = result.data.find((s) => s.id === chat.sessionId);
  if (current) $("#chat-title").textContent = current.title || "(untitled)";
}

async function openSession(id) {
  const history = await call("GET", `/api/chat/history/${encodeURIComponent(id)}`);
  chat.sessionId = id;
  $("#chat-title").textContent = history.title || "(untitled)";
  showHistory(history.messages);
  document.querySelectorAll("#session-list .session").forEach((li) => li.classList.toggle("current", li.dataset.id === id));
  closeSidebarOnPhone();
  refreshFiles().catch((error) => showError(error, "Listing files"));
  $("#prompt").focus();
}

function newChat() {
  chat.sessionId = null;
  clearMessages();
  $("#chat-title").textContent = "New chat";
  document.querySelectorAll("#session-list .current").forEach((li) => li.classList.remove("current"));
  refreshFiles().catch(() => {});
  $("#prompt").focus();
}

function closeSidebarOnPhone() {
  document.body.classList.remove("sidebar-open");
  $("#toggle-sidebar").setAttribute("aria-expanded", "false");
}

// -- models ------------------------------------------------------------------------------

async function loadModels() {
  const result = await call("GET", "/v1/models");
  const agents = result.data.filter((m) => m.x_kind !== "backend_model");
  backendModels = result.data.filter((m) => m.x_kind === "backend_model").map((m) => m.id);
  const select = $("#model-select");
  const previous = select.value || sessionStorage.getItem("llmapi.model") || "auto";
  select.replaceChildren(
    el("optgroup", { label: "Agents" }, ...agents.map((m) => el("option", { value: m.id, text: m.id }))),
    backendModels.length
      ? el("optgroup", { label: "Backend models (plain chat)" }, ...backendModels.map((m) => el("option", { value: m, text: m })))
      : null,
  );
  if ([...select.options].some((o) => o.value === previous)) select.value = previous;
}

// -- the app -----------------------------------------------------------------------------

async function showApp() {
  const user = auth.user;
  $("#login-view").hidden = true;
  $("#app-view").hidden = false;
  $("#whoami").textContent = user ? user.username : "";
  $("#open-admin").hidden = !(user && user.role === "admin");
  clearError();
  newChat();
  await Promise.all([loadModels(), refreshSessions()]);
}

function renderAttachments() {
  $("#attachments").replaceChildren(
    ...pendingFiles.map((f, i) => el("span", { class: "chip" }, f.name,
      el("button", { type: "button", class: "icon", text: "×", "aria-label": `Remove ${f.name}`,
        onclick: () => { pendingFiles.splice(i, 1); renderAttachments(); } }))),
  );
}

async function submit() {
  const text = $("#prompt").value.trim();
  if (!text || chat.run) return;
  const files = pendingFiles;
  pendingFiles = [];
  renderAttachments();
  $("#prompt").value = "";
  clearError();
  await send(text, files, $("#model-select").value);
}

function wire() {
  $("#login-form").addEventListener("submit", (event) => { event.preventDefault(); authenticate("/api/auth/login"); });
  $("#signup-submit").addEventListener("click", () => {
    if ($("#login-form").reportValidity()) authenticate("/api/auth/signup");
  });
  $("#logout").addEventListener("click", () => showLogin());
  $("#banner-close").addEventListener("click", clearError);
  $("#new-chat").addEventListener("click", newChat);
  $("#composer").addEventListener("submit", (event) => { event.preventDefault(); submit(); });
  $("#prompt").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); submit(); }
  });
  $("#stop").addEventListener("click", () => stop());
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && chat.run && !document.querySelector("dialog[open]")) stop();
  });
  $("#attach").addEventListener("change", () => {
    pendingFiles.push(...$("#attach").files);
    $("#attach").value = "";
    renderAttachments();
  });
  $("#model-select").addEventListener("change", () => sessionStorage.setItem("llmapi.model", $("#model-select").value));
  $("#toggle-files").addEventListener("click", () => {
    const panel = $("#files-panel");
    panel.hidden = !panel.hidden;
    $("#toggle-files").setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden) refreshFiles().catch((error) => showError(error, "Listing files"));
  });
  $("#refresh-files").addEventListener("click", guarded(refreshFiles, "Listing files"));
  $("#toggle-sidebar").addEventListener("click", () => {
    const open = document.body.classList.toggle("sidebar-open");
    $("#toggle-sidebar").setAttribute("aria-expanded", String(open));
  });
  chat.hooks.sessionsChanged = () => refreshSessions().catch((error) => showError(error, "Listing sessions"));
  chat.hooks.filesChanged = () => {
    if (!$("#files-panel").hidden) refreshFiles().catch((error) => showError(error, "Listing files"));
  };
  initKeys();
  initRag();
  initAdmin(() => backendModels);
}

async function start() {
  wire();
  setUnauthorizedHandler(() => showLogin("Your session has expired or was revoked: please log in again."));
  if (!auth.token) { showLogin(); return; }
  try {
    const me = await (await raw("GET", "/api/auth/me")).json();
    auth.save(auth.token, me);
    await showApp();
  } catch (error) {
    if (error.status === 401) return; // the handler showed the login form
    $("#app-view").hidden = false;
    showError(error, "Starting");
  }
}

start();
