// The chat pane: history, sending, streaming (fetch + SSE), the live "working" section, stop.

import { call, errorFrom, headers, networkError, readSSE } from "./api.js";
import { renderMarkdown } from "./markdown.js";
import { $, el, showError } from "./ui.js";

export const chat = {
  sessionId: null, // the open session; null for a new chat not sent yet
  run: null, // { controller, sessionId, stopped } while a reply streams
  hooks: { sessionsChanged: () => {}, filesChanged: () => {} },
};

function newSessionId() {
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function textOf(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content.map((p) => (p && typeof p === "object" ? p.text || "" : String(p))).join("");
  }
  return content == null ? "" : String(content);
}

function scrollDown() {
  const box = $("#messages");
  box.scrollTop = box.scrollHeight;
}

function userMessage(text, fileNames = []) {
  const node = el(
    "article",
    { class: "msg user", dataset: { role: "user" } },
    el("div", { class: "who", text: "You" }),
    el("div", { class: "body plain", text }),
    fileNames.length ? el("div", { class: "muted attached", text: `Attached: ${fileNames.join(", ")}` }) : null,
  );
  $("#messages").append(node);
  return node;
}

// An assistant message: a collapsible "working" section (agent progress) above the answer.
function assistantMessage() {
  const steps = el("pre", { class: "steps" });
  const summary = el("summary", { text: "Working…" });
  const working = el("details", { class: "working", hidden: true }, summary, steps);
  const answer = el("div", { class: "body answer" });
  const status = el("div", { class: "status muted", role: "status" });
  const node = el(
    "article",
    { class: "msg assistant", dataset: { role: "assistant" } },
    el("div", { class: "who", text: "Assistant" }),
    working,
    answer,
    status,
  );
  $("#messages").append(node);
  return { node, working, summary, steps, answer, status };
}

export function clearMessages() {
  $("#messages").replaceChildren();
}

export function showHistory(messages) {
  clearMessages();
  let pending = [];
  for (const m of messages) {
    const text = textOf(m.content);
    if (m.role === "user") {
      userMessage(text);
    } else if (m.role === "assistant" && Array.isArray(m.tool_calls) && m.tool_calls.length) {
      if (text.trim()) pending.push(text.trim());
      for (const c of m.tool_calls) {
        const fn = c.function || c;
        pending.push(`→ ${fn.name}(${typeof fn.arguments === "string" ? fn.arguments : JSON.stringify(fn.arguments ?? fn.args ?? {})})`);
      }
    } else if (m.role === "tool") {
      pending.push(`← ${text.length > 800 ? text.slice(0, 800) + "…" : text}`);
    } else if (m.role === "assistant") {
      const a = assistantMessage();
      if (pending.length) {
        a.working.hidden = false;
        a.summary.textContent = `Working (${pending.length} steps)`;
        a.steps.textContent = pending.join("\n");
      }
      a.answer.innerHTML = renderMarkdown(text);
      pending = [];
    }
  }
  scrollDown();
}

function setRunning(running) {
  $("#stop").hidden = !running;
  $("#send").disabled = running;
  document.body.classList.toggle("running", running);
}

function requestInit(body, files, signal) {
  if (!files.length) {
    return {
      method: "POST",
      headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
      body: JSON.stringify(body),
      signal,
    };
  }
  // multipart: the files go to the session's workspace and are described to the agent
  const form = new FormData();
  form.append("messages", JSON.stringify(body.messages));
  form.append("model", body.model);
  form.append("stream", "true");
  form.append("session_id", body.session_id);
  for (const f of files) form.append("files", f, f.name);
  return { method: "POST", headers: headers({ Accept: "text/event-stream" }), body: form, signal };
}

export async function send(text, files, model) {
  if (chat.run) return;
  const isNew = !chat.sessionId;
  const sessionId = chat.sessionId || newSessionId();
  chat.sessionId = sessionId;
  userMessage(text, files.map((f) => f.name));
  const a = assistantMessage();
  a.status.textContent = "Waiting for the model…";
  const controller = new AbortController();
  const run = { controller, sessionId, stopped: false };
  chat.run = run;
  setRunning(true);
  scrollDown();

  let answerText = "";
  let stepsText = "";
  let scheduled = false;
  const paint = () => {
    scheduled = false;
    a.answer.innerHTML = renderMarkdown(answerText);
    if (stepsText) {
      a.working.hidden = false;
      a.steps.textContent = stepsText;
    }
    scrollDown();
  };
  const schedule = () => {
    if (!scheduled) { scheduled = true; setTimeout(paint, 30); }
  };

  const body = { model, messages: [{ role: "user", content: text }], stream: true, session_id: sessionId };
  let created = false;
  try {
    let response;
    try {
      response = await fetch("/v1/chat/completions", requestInit(body, files, controller.signal));
    } catch (cause) {
      throw networkError(cause);
    }
    if (!response.ok) throw await errorFrom(response);
    created = true;
    if (isNew) chat.hooks.sessionsChanged();
    a.status.textContent = "";
    a.working.open = true;
    let streamError = null;
    await readSSE(response, (chunk) => {
      if (chunk.error) { streamError = chunk.error; return; }
      const delta = (chunk.choices && chunk.choices[0] && chunk.choices[0].delta) || {};
      if (delta.reasoning_content) stepsText += delta.reasoning_content;
      if (delta.content) answerText += delta.content;
      schedule();
    });
    paint();
    if (streamError) {
      a.status.textContent = `Error: ${streamError.message || "the run failed"}`;
      a.node.classList.add("failed");
    } else {
      a.node.classList.add("done");
    }
  } catch (error) {
    paint();
    if (error.name === "AbortError" || run.stopped) {
      a.status.textContent = "Stopped.";
      a.node.classList.add("stopped");
    } else {
      a.status.textContent = `Error: ${error.message}`;
      a.node.classList.add("failed");
      showError(error, "Sending failed");
      if (isNew && !created) chat.sessionId = null;
    }
  } finally {
    if (!a.working.hidden) {
      a.summary.textContent = "Working (done)";
      a.working.open = false;
    }
    chat.run = null;
    setRunning(false);
    chat.hooks.sessionsChanged();
    chat.hooks.filesChanged();
  }
}

export async function stop() {
  const run = chat.run;
  if (!run) return;
  run.stopped = true;
  try {
    await call("POST", `/api/chat/sessions/${encodeURIComponent(run.sessionId)}/cancel`);
  } catch (error) {
    if (error.status !== 404) showError(error, "Stopping the run");
  } finally {
    run.controller.abort();
  }
}
