/* Library page: register uploads (one request per file, with progress) and delete songs.
   After either, the list and its count are read again from /api/songs and redrawn in
   place (no reload: the status message and the keyboard focus stay where they are). */
"use strict";

(function () {
  const tokenInput = document.getElementById("token");
  const form = document.getElementById("upload-form");
  const filesInput = document.getElementById("files");
  const uploadButton = document.getElementById("upload");
  const list = document.getElementById("uploads");
  const status = document.getElementById("manage-status");
  const songList = document.getElementById("song-list");
  const tbody = document.querySelector("#songs tbody");
  const total = document.getElementById("total");
  let busy = false;
  tokenInput.value = DJ.token.get();
  tokenInput.addEventListener("change", () => DJ.token.set(tokenInput.value.trim()));

  function token() {
    const value = tokenInput.value.trim();
    DJ.token.set(value);
    return value;
  }

  const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

  // -- the list, redrawn from the API -----------------------------------------------------------
  function pageUrl(page) {
    const url = new URL(window.location.href);
    url.searchParams.delete("page");
    if (page > 1) url.searchParams.set("page", String(page));
    return url.pathname + url.search;
  }

  function songRow(song) {
    const row = document.createElement("tr");
    row.dataset.songId = String(song.song_id);
    const button = DJ.el("button", "Delete", "btn btn-danger btn-small delete");
    button.type = "button";
    button.dataset.songId = String(song.song_id);
    button.dataset.songName = song.song_name;
    button.append(DJ.el("span", ` ${song.song_name}`, "visually-hidden"));
    bindDelete(button);
    const actions = DJ.el("td", null, "actions");
    actions.append(button);
    row.append(DJ.el("td", song.song_name, "name"),
               DJ.el("td", DJ.fmtTime(song.duration_seconds), "num"),
               DJ.el("td", Number(song.total_hashes || 0).toLocaleString("en-US"), "num fingerprints"),
               DJ.el("td", String(song.date_created || "").slice(0, 16).replace("T", " "), "date"),
               actions);
    return row;
  }

  function drawPager(page, pages) {
    const pager = document.getElementById("pager");
    DJ.clear(pager);
    pager.hidden = pages <= 1;
    if (page > 1) {
      const prev = DJ.el("a", "← Previous", "btn");
      prev.rel = "prev"; prev.href = pageUrl(page - 1);
      pager.append(prev);
    }
    pager.append(DJ.el("span", `Page ${page} of ${pages}`));
    if (page < pages) {
      const next = DJ.el("a", "Next →", "btn");
      next.rel = "next"; next.href = pageUrl(page + 1);
      pager.append(next);
    }
  }

  /** Reads the page shown (or the last one left) again; false when the server did not answer. */
  async function refresh() {
    const search = songList.dataset.search || "";
    const size = Number(songList.dataset.pageSize) || 50;
    let page = Number(songList.dataset.page) || 1;
    const fetchPage = async (p) => {
      const query = new URLSearchParams({ limit: String(size), offset: String((p - 1) * size) });
      if (search) query.set("search", search);
      try {
        const response = await fetch(`/api/songs?${query}`, { headers: { Accept: "application/json" } });
        return response.ok ? await response.json() : null;
      } catch (err) {
        return null;
      }
    };
    let body = await fetchPage(page);
    if (!body) return false;
    const pages = Math.max(1, Math.ceil(body.total / size));
    if (page > pages) {                      // the last page emptied: show the one before
      page = pages;
      body = await fetchPage(page);
      if (!body) return false;
      songList.dataset.page = String(page);
      window.history.replaceState(null, "", pageUrl(page));
    }
    total.textContent = plural(body.total, "song", "songs") + (search ? ` matching “${search}”` : "");
    DJ.clear(tbody);
    body.songs.forEach((song) => tbody.append(songRow(song)));
    document.querySelector("#song-list .table-scroll").hidden = !body.songs.length;
    document.getElementById("empty").hidden = !!body.songs.length;
    drawPager(page, pages);
    return true;
  }

  // -- registering ---------------------------------------------------------------------------------
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (busy) return;
    const files = Array.from(filesInput.files);
    if (!files.length) { DJ.setStatus(status, "Choose one or more audio files first.", "error"); return; }
    if (!token()) { DJ.setStatus(status, "Enter the library token first.", "error"); tokenInput.focus(); return; }
    DJ.clear(list);
    // not `disabled`: a disabled button drops the keyboard focus to <body>
    busy = true;
    uploadButton.setAttribute("aria-disabled", "true");
    let added = 0;
    let known = 0;
    let failed = 0;
    const items = files.map((file) => {
      const li = DJ.el("li", null, "upload");
      const name = DJ.el("span", file.name, "name");
      const bar = document.createElement("progress");
      bar.max = 100; bar.value = 0;
      bar.setAttribute("aria-label", `Upload of ${file.name}`);
      const state = DJ.el("span", "waiting", "state");
      li.append(name, bar, state);
      list.append(li);
      return { file, bar, state, li };
    });
    for (const [index, item] of items.entries()) {
      const data = new FormData();
      data.append("files", item.file, item.file.name);
      item.state.textContent = "uploading";
      DJ.setStatus(status, `Registering ${index + 1} of ${items.length}…`, "busy");
      const { status: code, body } = await DJ.request("POST", "/api/songs", {
        form: data,
        token: token(),
        onProgress: (p) => { item.bar.value = Math.round(p * 100); if (p >= 1) item.state.textContent = "fingerprinting"; },
      });
      item.bar.value = 100;
      const outcome = body.files && body.files[0];
      if (code === 201) {
        added += 1;
        item.state.textContent = `added (id ${outcome.song_id})`;
        item.li.classList.add("ok");
      } else if (code === 200 && outcome) {
        known += 1;
        item.state.textContent = outcome.message || outcome.status;
      } else {
        failed += 1;
        item.state.textContent = body.error || `error ${code}`;
        item.li.classList.add("error");
        if (code === 403) break;
      }
    }
    if (added) await refresh();
    busy = false;
    uploadButton.removeAttribute("aria-disabled");
    const parts = [];
    if (added || !(known || failed)) parts.push(`${plural(added, "song", "songs")} added`);
    if (known) parts.push(`${known} already in the library`);
    if (failed) parts.push(`${plural(failed, "file", "files")} failed (see the list above)`);
    const kind = failed ? (added || known ? "warn" : "error") : "ok";
    DJ.setStatus(status, parts.join(", ") + ".", kind);
  });

  // -- deleting -----------------------------------------------------------------------------------
  function bindDelete(button) {
    button.addEventListener("click", async () => {
      if (button.getAttribute("aria-disabled")) return;
      const id = button.dataset.songId;
      const name = button.dataset.songName;
      if (!window.confirm(`Delete “${name}” and its fingerprints?`)) return;
      if (!token()) { DJ.setStatus(status, "Enter the library token first.", "error"); tokenInput.focus(); return; }
      button.setAttribute("aria-disabled", "true");
      const { status: code, body } = await DJ.request("DELETE", `/api/songs/${encodeURIComponent(id)}`, { token: token() });
      if (code !== 200) {
        button.removeAttribute("aria-disabled");
        DJ.setStatus(status, body.error || `error ${code}`, "error");
        return;
      }
      const row = button.closest("tr");
      const index = Array.from(tbody.rows).indexOf(row);
      if (!(await refresh())) {                 // the list could not be read again: mend it here
        row.remove();
        const count = parseInt(total.textContent, 10);
        if (!Number.isNaN(count)) total.textContent = total.textContent.replace(/^\d+ songs?/, plural(count - 1, "song", "songs"));
      }
      DJ.setStatus(status, `Deleted “${name}”.`, "ok");
      // the keyboard focus goes to the row that took its place (or the one before), else to the count
      const buttons = tbody.querySelectorAll("button.delete");
      const next = buttons[Math.min(Math.max(index, 0), buttons.length - 1)];
      (next || total).focus();
    });
  }

  document.querySelectorAll("button.delete").forEach(bindDelete);
})();
