// Small DOM helpers and the page-wide error banner. Text always goes in as textContent.

export const $ = (selector) => document.querySelector(selector);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function showError(error, context = "") {
  if (error && error.name === "AbortError") return;
  const message = error && error.message ? error.message : String(error);
  const text = context ? `${context}: ${message}` : message;
  $("#banner-text").textContent = text;
  $("#banner").hidden = false;
  $("#banner").dataset.status = String(error && error.status !== undefined ? error.status : "");
}

export function clearError() {
  $("#banner").hidden = true;
  $("#banner-text").textContent = "";
}

// Run an async handler, reporting failures in the banner instead of losing them.
export function guarded(fn, context) {
  return async (...args) => {
    try {
      return await fn(...args);
    } catch (error) {
      showError(error, context);
      return undefined;
    }
  };
}

export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}
