/* Compare speech page: POST /api/compare with a recording and an original;
   each sentence, and its place in the original, can be played from the files
   the browser already holds (object URLs, no second download). */
"use strict";

(function () {
  const form = document.getElementById("compare-form");
  const status = document.getElementById("status");
  const progress = document.getElementById("compare-progress");
  const fmt = (s) => (s === null || s === undefined ? "–" : DJ.fmtTimeTenths(s));
  const span = (a, b) => `${fmt(a)}–${fmt(b)}`;

  /* -- playback: one stretch of one file at a time --------------------------------------- */
  const players = {
    recording: document.getElementById("recording-player"),
    original: document.getElementById("original-player"),
  };
  const playStatus = document.getElementById("play-status");
  const END_SLACK = 0.02;        // s: a stretch counts as played this close to its end
  let urls = [];                 // the object URLs of the files compared last
  let playing = null;            // {audio, end, button, timer}

  /** Points the players at the files just compared (and frees the previous ones). */
  function load(files) {
    stop();
    urls.forEach((u) => URL.revokeObjectURL(u));
    urls = [];
    Object.keys(players).forEach((key) => {
      const url = URL.createObjectURL(files[key]);
      urls.push(url);
      players[key].src = url;
    });
  }

  function stop() {
    if (!playing) return;
    const p = playing;
    playing = null;
    clearTimeout(p.timer);
    p.audio.pause();
    p.button.setAttribute("aria-pressed", "false");
  }

  /** Stops at the stretch's end: timeupdate comes only every ~250 ms, so a
      timer aimed at the end keeps the overshoot small. */
  function checkEnd() {
    if (!playing) return;
    const { audio, end } = playing;
    const left = end - audio.currentTime;                    // s
    if (audio.ended || left <= END_SLACK) { stop(); return; }
    clearTimeout(playing.timer);
    playing.timer = setTimeout(checkEnd, Math.max(10, (left * 1000) / (audio.playbackRate || 1)));
  }

  async function play(button) {
    const again = playing && playing.button === button;
    stop();
    if (again) return;                                        // a second press stops
    const audio = players[button.dataset.file];
    const start = Number(button.dataset.start);
    const current = { audio, end: Number(button.dataset.end), button, timer: 0 };
    playing = current;
    button.setAttribute("aria-pressed", "true");
    DJ.setStatus(playStatus, "");
    audio.currentTime = start;
    try {
      await audio.play();
    } catch (err) {
      if (playing !== current) return;                        // stopped or replaced while starting
      stop();
      DJ.setStatus(playStatus, `This browser cannot play the ${button.dataset.file} (${err.message || err.name}).`,
                   "error");
      return;
    }
    if (playing === current) checkEnd();
  }

  Object.values(players).forEach((audio) => {
    audio.addEventListener("timeupdate", () => { if (playing && playing.audio === audio) checkEnd(); });
    audio.addEventListener("ended", () => { if (playing && playing.audio === audio) stop(); });
  });
  document.getElementById("compare-result").addEventListener("click", (e) => {
    const button = e.target.closest("button.play");
    if (button) play(button);
  });

  /** A ▶ button that plays ``file`` from ``start`` to ``end`` (s); its name
      (``label``) holds the times it shows. */
  function playButton(file, start, end, label) {
    const button = DJ.el("button", null, "btn btn-small play");
    button.type = "button";
    button.dataset.file = file;
    button.dataset.start = String(start);
    button.dataset.end = String(end);
    button.setAttribute("aria-pressed", "false");
    button.setAttribute("aria-label", `${label} at ${span(start, end)}`);
    const icon = DJ.el("span", "▶", "icon");
    icon.setAttribute("aria-hidden", "true");
    button.append(icon, DJ.el("span", span(start, end), "times"));
    return button;
  }

  /* -- the result --------------------------------------------------------------------- */
  function originalCell(s) {
    const cell = DJ.el("td", null, "orig");
    if (s.original_start !== null && s.original_start !== undefined) {
      cell.append(playButton("original", s.original_start, s.original_end, "Play the original"));
    } else if (s.nearest) {
      const n = s.nearest;
      const box = DJ.el("span", null, "nearest");
      box.append(DJ.el("span", "nearest: ", "muted"),
                 playButton("original", n.original_start, n.original_end, "Play the nearest place in the original"));
      const where = n.original_index === null || n.original_index === undefined ? "" : `sentence ${n.original_index}, `;
      box.append(DJ.el("span", ` ${where}distance ${Number(n.distance).toFixed(2)}`, "nearest-facts muted"));
      cell.append(box);
    } else {
      cell.textContent = "–";
    }
    return cell;
  }

  function show(body) {
    const tbody = document.getElementById("sentences");
    DJ.clear(tbody);
    const sentences = body.sentences || [];
    sentences.forEach((s) => {
      const row = document.createElement("tr");
      const verdict = DJ.el("td", String(s.verdict).replace(/_/g, " "), "verdict");
      verdict.dataset.verdict = String(s.verdict);
      const rec = DJ.el("td", null, "rec");
      rec.append(playButton("recording", s.start, s.end, `Play sentence ${s.index}`));
      const similarity = typeof s.similarity === "number" ? `${Math.round(s.similarity * 100)} %` : "–";
      row.append(DJ.el("td", s.index, "num idx"), rec, verdict, originalCell(s),
                 DJ.el("td", similarity, "num similarity"), DJ.el("td", s.method_label || "–", s.method_label ? "method" : "method none"));
      tbody.append(row);
    });
    const counts = {};
    sentences.forEach((s) => { counts[s.verdict] = (counts[s.verdict] || 0) + 1; });
    document.getElementById("summary").textContent = `${sentences.length} sentence(s): ` +
      Object.keys(counts).map((k) => `${counts[k]} ${k.replace(/_/g, " ")}`).join(", ");
    const uncovered = body.uncovered || [];
    const ul = document.getElementById("uncovered");
    DJ.clear(ul);
    uncovered.forEach((u) => {
      const li = document.createElement("li");
      li.append(playButton("original", u.start, u.end, `Play original sentence ${u.index}`));
      ul.append(li);
    });
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
    stop();
    progress.hidden = false;
    progress.value = 0;
    DJ.setStatus(status, "Uploading…", "busy");
    const { status: code, body } = await DJ.request("POST", "/api/compare?plot=1", {
      form: data,
      onProgress: (p) => { progress.value = Math.round(p * 100); if (p >= 1) DJ.setStatus(status, "Comparing…", "busy"); },
    });
    progress.hidden = true;
    if (code === 200) {
      load({ recording, original });
      show(body);
      DJ.setStatus(status, "Done.", "ok");
    } else {
      DJ.setStatus(status, body.error || `error ${code}`, "error");
    }
  });
})();
