// The platform's public API, as every client sees it: bearer token, JSON, OpenAI SSE.

const TOKEN_KEY = "llmapi.token";
const USER_KEY = "llmapi.user";

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const auth = {
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  get user() {
    try { return JSON.parse(sessionStorage.getItem(USER_KEY) || "null"); } catch { return null; }
  },
  save(token, user) {
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(USER_KEY, JSON.stringify(user));
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(USER_KEY);
  },
};

// Called with an ApiError(401) whenever the server refuses the token (expired, revoked).
let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

function describe(status, body) {
  const err = body && typeof body === "object" ? body.error : null;
  if (err && err.message) return [err.message, err.code];
  if (body && typeof body === "object" && body.detail) return [String(body.detail), null];
  if (status === 413) return ["the upload is too large for the server", "file_too_large"];
  return [`the server answered ${status}`, null];
}

export async function errorFrom(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON */ }
  const [message, code] = describe(response.status, body);
  const error = new ApiError(response.status, message, code);
  if (response.status === 401 && auth.token) onUnauthorized(error);
  return error;
}

export function networkError(cause) {
  if (cause && cause.name === "AbortError") return cause;
  return new ApiError(0, "cannot reach the server: is it running? (check your connection and try again)", "network");
}

export function headers(extra = {}) {
  const h = { ...extra };
  if (auth.token) h.Authorization = `Bearer ${auth.token}`;
  return h;
}

// fetch + error envelope → ApiError; returns the Response for non-JSON needs.
export async function raw(method, path, { body, json, signal } = {}) {
  const init = { method, headers: headers(), signal };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.body = body;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (cause) {
    throw networkError(cause);
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

export async function call(method, path, json) {
  const response = await raw(method, path, { json });
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

// Reads an OpenAI chat-completions SSE stream, calling onChunk(object) per `data:` event.
export async function readSSE(response, onChunk) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
      const data = event.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
      if (!data) continue;
      if (data === "[DONE]") return;
      let parsed;
      try { parsed = JSON.parse(data); } catch { continue; }
      onChunk(parsed);
    }
  }
}

// Upload with progress (fetch has no upload progress): resolves with the parsed JSON.
export function uploadWithProgress(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    if (auth.token) xhr.setRequestHeader("Authorization", `Bearer ${auth.token}`);
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener("load", () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) { onProgress(1); resolve(body); return; }
      const [message, code] = describe(xhr.status, body);
      const error = new ApiError(xhr.status, message, code);
      if (xhr.status === 401 && auth.token) onUnauthorized(error);
      reject(error);
    });
    xhr.addEventListener("error", () => reject(networkError(null)));
    xhr.send(form);
  });
}

export async function blobOf(path) {
  const response = await raw("GET", path);
  return response.blob();
}
