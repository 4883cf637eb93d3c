/* Helpers shared by the pages. Data from the server is only ever put into
   the page with textContent (never parsed as HTML), so a song called <script>
   shows as text. */
"use strict";

const DJ = {
  /** seconds -> "m:ss" (or "h:mm:ss") */
  fmtTime(seconds) {
    let s = Math.max(0, Math.round(Number(seconds) || 0));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    s = s % 60;
    const ss = String(s).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
  },

  /** seconds -> "m:ss.s" (tenths: sentences are short) */
  fmtTimeTenths(seconds) {
    const tenths = Math.round(Math.max(0, Number(seconds) || 0) * 10);
    const m = Math.floor(tenths / 600);
    const s = ((tenths - m * 600) / 10).toFixed(1).padStart(4, "0");
    return `${m}:${s}`;
  },

  /** A new element with text content and optional class. */
  el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  },

  clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  },

  token: {
    key: "dejavu-cn-token",
    get() { try { return sessionStorage.getItem(this.key) || ""; } catch (e) { return ""; } },
    set(value) { try { sessionStorage.setItem(this.key, value); } catch (e) { /* private mode */ } },
  },

  /** POST/DELETE with progress. Resolves to {status, body}; body is the parsed JSON
      (or {error} when the server did not answer JSON). */
  request(method, url, { form = null, token = "", onProgress = null } = {}) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.setRequestHeader("Accept", "application/json");
      if (token) xhr.setRequestHeader("X-Dejavu-Token", token);
      if (onProgress && xhr.upload) {
        xhr.upload.addEventListener("progress", (e) => {
          if (e.lengthComputable) onProgress(e.loaded / e.total);
        });
      }
      xhr.onload = () => {
        let body;
        try { body = JSON.parse(xhr.responseText); } catch (e) {
          body = { error: `server answered ${xhr.status} ${xhr.statusText}` };
        }
        resolve({ status: xhr.status, body });
      };
      xhr.onerror = () => resolve({ status: 0, body: { error: "network error: the server cannot be reached" } });
      xhr.send(form);
    });
  },

  setStatus(node, text, kind) {
    node.textContent = text || "";
    node.className = "status" + (kind ? " " + kind : "");
  },
};
