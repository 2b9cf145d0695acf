// Side panels: workspace files, API keys, RAG collections, admin. All through the public API.

import { blobOf, call, uploadWithProgress } from "./api.js";
import { chat } from "./chat.js";
import { $, el, formatSize, guarded, showError } from "./ui.js";

const IMAGE = /\.(png|jpe?g|gif|webp|svg|bmp)$/i;
const enc = encodeURIComponent;
const filePath = (sid, name) => `/api/tools/python_coder/files/${enc(sid)}/${name.split("/").map(enc).join("/")}`;
const objectUrls = [];

// -- workspace files ---------------------------------------------------------------------

async function download(sid, name) {
  const blob = await blobOf(filePath(sid, name));
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: name.split("/").pop() });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export async function refreshFiles() {
  const list = $("#file-list");
  const sid = chat.sessionId;
  objectUrls.splice(0).forEach((u) => URL.revokeObjectURL(u));
  if (!sid) { list.replaceChildren(); $("#files-empty").hidden = false; return; }
  const result = await call("GET", `/api/tools/python_coder/files/${enc(sid)}`);
  if (chat.sessionId !== sid) return; // the user opened another session meanwhile
  const files = (result && result.data && result.data.files) || [];
  $("#files-empty").hidden = files.length > 0;
  list.replaceChildren(
    ...files.map((f) => {
      const item = el(
        "li",
        { class: "file", dataset: { name: f.name } },
        el("span", { class: "name", text: f.name }),
        el("span", { class: "muted", text: formatSize(f.size) }),
        el("button", { type: "button", text: "Download", "aria-label": `Download ${f.name}`,
          onclick: guarded(() => download(sid, f.name), `Downloading ${f.name}`) }),
      );
      if (IMAGE.test(f.name)) {
        blobOf(filePath(sid, f.name))
          .then((blob) => {
            const url = URL.createObjectURL(blob);
            objectUrls.push(url);
            item.append(el("img", { src: url, alt: f.name, class: "preview" }));
          })
          .catch((error) => showError(error, `Loading ${f.name}`));
      }
      return item;
    }),
  );
}

// -- API keys ----------------------------------------------------------------------------

async function refreshKeys() {
  const result = await call("GET", "/api/keys");
  $("#key-list").replaceChildren(
    ...result.data.map((k) =>
      el(
        "li",
        { dataset: { id: k.id } },
        el("span", { class: "name", text: k.name }),
        el("span", { class: "muted", text: ` created ${new Date(k.created_at).toLocaleString()}` +
          (k.last_used_at ? `, last used ${new Date(k.last_used_at).toLocaleString()}` : "") }),
        el("button", { type: "button", class: "danger", text: "Revoke", "aria-label": `Revoke ${k.name}`,
          onclick: guarded(async () => {
            if (!window.confirm(`Revoke the key "${k.name}"? Clients using it stop working at once.`)) return;
            await call("DELETE", `/api/keys/${enc(k.id)}`);
            await refreshKeys();
          }, "Revoking the key") }),
      ),
    ),
  );
}

export function initKeys() {
  $("#open-keys").addEventListener("click", guarded(async () => {
    $("#key-created").hidden = true;
    $("#keys-dialog").showModal();
    await refreshKeys();
  }, "Loading API keys"));
  $("#key-form").addEventListener("submit", guarded(async (event) => {
    event.preventDefault();
    const created = await call("POST", "/api/keys", { name: $("#key-name").value.trim() });
    $("#key-value").textContent = created.key;
    $("#key-created").hidden = false;
    $("#key-name").value = "";
    await refreshKeys();
  }, "Creating the key"));
  $("#key-copy").addEventListener("click", guarded(async () => {
    await navigator.clipboard.writeText($("#key-value").textContent);
    $("#key-copy").textContent = "Copied";
  }, "Copying"));
}

// -- RAG ---------------------------------------------------------------------------------

const RAG = "/api/tools/rag";

async function refreshCollections(select) {
  const result = await call("GET", `${RAG}/collections`);
  const names = result.data.collections.map((c) => c.name);
  const box = $("#collection-select");
  const keep = select || box.value;
  box.replaceChildren(...names.map((n) => el("option", { value: n, text: n })));
  if (names.includes(keep)) box.value = keep;
  await refreshDocuments();
}

async function refreshDocuments() {
  const name = $("#collection-select").value;
  const list = $("#document-list");
  if (!name) { list.replaceChildren(); return; }
  const result = await call("GET", `${RAG}/collections/${enc(name)}/documents`);
  list.replaceChildren(
    ...result.data.documents.map((d) =>
      el(
        "li",
        { class: "document", dataset: { id: d.id } },
        el("span", { class: "name", text: d.filename }),
        el("span", { class: "muted", text: d.chunks !== undefined ? ` ${d.chunks} chunk(s)` : "" }),
        el("button", { type: "button", class: "danger", text: "Delete", "aria-label": `Delete ${d.filename}`,
          onclick: guarded(async () => {
            await call("DELETE", `${RAG}/collections/${enc(name)}/documents/${enc(d.id)}`);
            await refreshDocuments();
          }, "Deleting the document") }),
      ),
    ),
  );
}

export function initRag() {
  $("#open-rag").addEventListener("click", guarded(async () => {
    $("#rag-dialog").showModal();
    await refreshCollections();
  }, "Loading collections"));
  $("#collection-form").addEventListener("submit", guarded(async (event) => {
    event.preventDefault();
    const name = $("#collection-name").value.trim();
    await call("POST", `${RAG}/collections`, { name });
    $("#collection-name").value = "";
    await refreshCollections(name);
  }, "Creating the collection"));
  $("#collection-select").addEventListener("change", guarded(refreshDocuments, "Loading documents"));
  $("#collection-delete").addEventListener("click", guarded(async () => {
    const name = $("#collection-select").value;
    if (!name || !window.confirm(`Delete the collection "${name}" and its documents?`)) return;
    await call("DELETE", `${RAG}/collections/${enc(name)}`);
    await refreshCollections();
  }, "Deleting the collection"));
  $("#rag-upload-form").addEventListener("submit", guarded(async (event) => {
    event.preventDefault();
    const name = $("#collection-select").value;
    if (!name) throw new Error("create or pick a collection first");
    const form = new FormData();
    form.append("collection", name);
    for (const f of $("#rag-files").files) form.append("files", f, f.name);
    const bar = $("#rag-progress");
    bar.hidden = false;
    bar.value = 0;
    const text = $("#rag-progress-text");
    try {
      await uploadWithProgress(`${RAG}/upload`, form, (fraction) => {
        bar.value = fraction;
        text.textContent = fraction < 1 ? `Uploading… ${Math.round(fraction * 100)}%` : "Indexing…";
      });
      text.textContent = "Uploaded.";
    } catch (error) {
      text.textContent = "Upload failed.";
      throw error;
    } finally {
      bar.hidden = true;
    }
    $("#rag-files").value = "";
    await refreshDocuments();
  }, "Uploading"));
  $("#rag-query-form").addEventListener("submit", guarded(async (event) => {
    event.preventDefault();
    const collection = $("#collection-select").value;
    const result = await call("POST", `${RAG}/query`, { collection, query: $("#rag-query").value });
    const hits = result.data.results;
    $("#rag-results").replaceChildren(
      ...(hits.length
        ? hits.map((r) => el("li", { class: "hit" }, el("strong", { text: `${r.filename} ` }),
            el("span", { class: "muted", text: `score ${Number(r.score).toFixed(3)}` }), el("p", { text: r.text })))
        : [el("li", { class: "muted", text: "No passages matched." })]),
    );
  }, "Query"));
}

// -- admin -------------------------------------------------------------------------------

async function refreshAdmin() {
  const model = await call("GET", "/api/admin/model");
  $("#default-model").value = model.overridden ? model.model : "";
  $("#default-model").placeholder = model.model;
  $("#default-model-info").textContent =
    `Backend ${model.backend}; ${model.overridden ? "chosen here" : "the backend's configured model"}: ${model.model}`;
  const users = await call("GET", "/api/admin/users?limit=500");
  $("#user-rows").replaceChildren(
    ...users.data.map((u) => {
      const patch = (body, what) => guarded(async () => {
        await call("PATCH", `/api/admin/users/${enc(u.id)}`, body);
        await refreshAdmin();
      }, what);
      return el(
        "tr",
        { dataset: { username: u.username } },
        el("td", { text: u.username }),
        el("td", { text: u.role }),
        el("td", { text: u.disabled ? "disabled" : "active" }),
        el(
          "td",
          {},
          el("button", { type: "button", text: u.disabled ? "Enable" : "Disable",
            onclick: patch({ disabled: !u.disabled }, "Updating the user") }),
          el("button", { type: "button", text: u.role === "admin" ? "Make user" : "Make admin",
            onclick: patch({ role: u.role === "admin" ? "user" : "admin" }, "Changing the role") }),
          el("button", { type: "button", class: "danger", text: "Delete", onclick: guarded(async () => {
            if (!window.confirm(`Delete ${u.username} and all their sessions?`)) return;
            await call("DELETE", `/api/admin/users/${enc(u.id)}`);
            await refreshAdmin();
          }, "Deleting the user") }),
        ),
      );
    }),
  );
}

export function initAdmin(backendModels) {
  $("#open-admin").addEventListener("click", guarded(async () => {
    $("#backend-models").replaceChildren(...backendModels().map((m) => el("option", { value: m })));
    $("#admin-dialog").showModal();
    await refreshAdmin();
  }, "Loading the admin panel"));
  $("#default-model-form").addEventListener("submit", guarded(async (event) => {
    event.preventDefault();
    await call("POST", "/api/admin/model", { model: $("#default-model").value.trim() || null });
    await refreshAdmin();
  }, "Setting the default model"));
  $("#user-form").addEventListener("submit", guarded(async (event) => {
    event.preventDefault();
    await call("POST", "/api/admin/users", {
      username: $("#new-username").value.trim(), password: $("#new-password").value, role: $("#new-role").value,
    });
    $("#new-username").value = "";
    $("#new-password").value = "";
    await refreshAdmin();
  }, "Adding the user"));
}
