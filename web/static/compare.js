/* Compare speech page: POST /api/compare with a recording and an original. */
"use strict";

(function () {
  const form = document.getElementById("compare-form");
  const status = document.getElementById("status");
  const progress = document.getElementById("compare-progress");
  const fmt = (s) => (s === null || s === undefined ? "–" : DJ.fmtTimeTenths(s));

  function show(body) {
    const tbody = document.getElementById("sentences");
    DJ.clear(tbody);
    const sentences = body.sentences || [];
    sentences.forEach((s) => {
      const row = document.createElement("tr");
      const verdict = DJ.el("td", String(s.verdict).replace(/_/g, " "), "verdict");
      verdict.dataset.verdict = String(s.verdict);
      const original = s.original_start === null || s.original_start === undefined
        ? "–" : `${fmt(s.original_start)}–${fmt(s.original_end)}`;
      const similarity = typeof s.similarity === "number" ? `${Math.round(s.similarity * 100)} %` : "–";
      row.append(DJ.el("td", s.index, "num idx"), DJ.el("td", `${fmt(s.start)}–${fmt(s.end)}`, "rec"), verdict,
                 DJ.el("td", original, "orig"), DJ.el("td", similarity, "num similarity"),
                 DJ.el("td", s.method, "method"));
      tbody.append(row);
    });
    const counts = {};
    sentences.forEach((s) => { counts[s.verdict] = (counts[s.verdict] || 0) + 1; });
    document.getElementById("summary").textContent = `${sentences.length} sentence(s): ` +
      Object.keys(counts).map((k) => `${counts[k]} ${k.replace(/_/g, " ")}`).join(", ");
    const uncovered = body.uncovered || [];
    const ul = document.getElementById("uncovered");
    DJ.clear(ul);
    uncovered.forEach((u) => ul.append(DJ.el("li", `${fmt(u.start)}–${fmt(u.end)}`)));
    document.getElementById("uncovered-box").hidden = !uncovered.length;
    const img = document.getElementById("timeline");
    document.getElementById("timeline-figure").hidden = !body.plot;
    if (body.plot) img.src = body.plot;
    document.getElementById("compare-result").hidden = false;
    document.getElementById("compare-title").focus();     // the keyboard focus moves to the answer
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData();
    const recording = document.getElementById("recording").files[0];
    const original = document.getElementById("original").files[0];
    if (!recording || !original) { DJ.setStatus(status, "Choose both files.", "error"); return; }
    data.append("recording", recording, recording.name);
    data.append("original", original, original.name);
    progress.hidden = false;
    progress.value = 0;
    DJ.setStatus(status, "Uploading…", "busy");
    const { status: code, body } = await DJ.request("POST", "/api/compare?plot=1", {
      form: data,
      onProgress: (p) => { progress.value = Math.round(p * 100); if (p >= 1) DJ.setStatus(status, "Comparing…", "busy"); },
    });
    progress.hidden = true;
    if (code === 200) {
      show(body);
      DJ.setStatus(status, "Done.", "ok");
    } else {
      DJ.setStatus(status, body.error || `error ${code}`, "error");
    }
  });
})();
