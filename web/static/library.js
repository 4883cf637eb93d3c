/* Library page: register uploads (one request per file, with progress) and delete songs. */
"use strict";

(function () {
  const tokenInput = document.getElementById("token");
  const form = document.getElementById("upload-form");
  const filesInput = document.getElementById("files");
  const list = document.getElementById("uploads");
  const status = document.getElementById("manage-status");
  tokenInput.value = DJ.token.get();
  tokenInput.addEventListener("change", () => DJ.token.set(tokenInput.value.trim()));

  function token() {
    const value = tokenInput.value.trim();
    DJ.token.set(value);
    return value;
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const files = Array.from(filesInput.files);
    if (!files.length) { DJ.setStatus(status, "Choose one or more audio files first.", "error"); return; }
    if (!token()) { DJ.setStatus(status, "Enter the library token first.", "error"); tokenInput.focus(); return; }
    DJ.clear(list);
    DJ.setStatus(status, "", "");
    document.getElementById("upload").disabled = true;
    let added = 0;
    let failed = 0;
    const items = files.map((file) => {
      const li = DJ.el("li", null, "upload");
      const name = DJ.el("span", file.name, "name");
      const bar = document.createElement("progress");
      bar.max = 100; bar.value = 0;
      const state = DJ.el("span", "waiting", "state");
      li.append(name, bar, state);
      list.append(li);
      return { file, bar, state, li };
    });
    for (const item of items) {
      const data = new FormData();
      data.append("files", item.file, item.file.name);
      item.state.textContent = "uploading";
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
        item.state.textContent = outcome.message || outcome.status;
      } else {
        failed += 1;
        item.state.textContent = body.error || `error ${code}`;
        item.li.classList.add("error");
        if (code === 403) break;
      }
    }
    document.getElementById("upload").disabled = false;
    DJ.setStatus(status, `${added} song(s) added${failed ? `, ${failed} failed` : ""}.` +
                 (added ? " Reload to see them in the list." : ""), failed ? "error" : "ok");
    if (added && !failed) setTimeout(() => window.location.reload(), 800);
  });

  document.querySelectorAll("button.delete").forEach((button) => {
    button.addEventListener("click", async () => {
      const id = button.dataset.songId;
      const name = button.dataset.songName;
      if (!window.confirm(`Delete “${name}” and its fingerprints?`)) return;
      if (!token()) { DJ.setStatus(status, "Enter the library token first.", "error"); tokenInput.focus(); return; }
      button.disabled = true;
      const { status: code, body } = await DJ.request("DELETE", `/api/songs/${encodeURIComponent(id)}`, { token: token() });
      if (code === 200) {
        const row = button.closest("tr");
        if (row) row.remove();
        DJ.setStatus(status, `Deleted “${name}”.`, "ok");
      } else {
        button.disabled = false;
        DJ.setStatus(status, body.error || `error ${code}`, "error");
      }
    });
  });
})();
