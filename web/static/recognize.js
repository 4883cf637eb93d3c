/* Recognise page: record from the microphone or send a file to POST /api/recognize. */
"use strict";

(function () {
  const recordButton = document.getElementById("record");
  const recordLabel = document.getElementById("record-label");
  const fileInput = document.getElementById("file");
  const drop = document.getElementById("drop");
  const status = document.getElementById("status");
  const seconds = Number(recordButton.dataset.seconds) || 3;
  let recorder = null;
  let stopTimer = null;
  let countdown = null;
  let startedAt = 0;

  // how a copy plays the original, as the command line says it
  function playedAs(match) {
    const rate = match.speed_factor || match.tempo_factor;
    if (rate) return `${Number(rate.toPrecision(3))}x ${rate > 1 ? "fast" : "slow"}`;
    if (match.pitch_semitones) {
      const st = match.pitch_semitones;
      return `pitched ${Number(Math.abs(st).toPrecision(2))} semitone${Math.abs(st) >= 1.05 ? "s" : ""} ${st > 0 ? "up" : "down"}`;
    }
    return "";
  }

  function showResult(body) {
    const result = document.getElementById("result");
    const match = body.match;
    document.getElementById("match").hidden = !match;
    document.getElementById("nomatch").hidden = !!match;
    if (match) {
      document.getElementById("song").textContent = match.song_name;
      document.getElementById("offset").textContent = DJ.fmtTime(match.offset_seconds);
      document.getElementById("confidence").textContent = `${Math.round(match.confidence * 100)} %`;
      document.getElementById("song-id").textContent = match.song_id;
      const plays = document.getElementById("plays");
      plays.textContent = playedAs(match);
      plays.parentElement.hidden = !plays.textContent;
    } else {
      const best = body.candidates && body.candidates.length ? body.candidates[0] : null;
      document.getElementById("nomatch-detail").textContent = best
        ? `Closest: ${best.song_name} (confidence ${Math.round(best.confidence * 100)} %, below the threshold).`
        : "Nothing in the library sounds like this.";
    }
    document.getElementById("plot-figure").hidden = true;
    showTimeline(body);
    const tbody = document.getElementById("candidates");
    DJ.clear(tbody);
    (body.candidates || []).forEach((c) => {
      const row = document.createElement("tr");
      row.append(DJ.el("td", c.song_name, "name"), DJ.el("td", DJ.fmtTime(c.offset_seconds)),
                 DJ.el("td", `${Math.round(c.confidence * 100)} %`), DJ.el("td", c.hashes_matched_in_input));
      tbody.append(row);
    });
    document.getElementById("candidates-box").hidden = !(body.candidates || []).length;
    result.hidden = false;
    // the keyboard focus moves to the answer (its heading), so Tab goes on from there
    document.getElementById(match ? "song" : "nomatch-title").focus();
  }

  const TIMELINE_MIN_SECONDS = 30;     // a file this long is shown as a timeline of its songs

  /** One colour per song, dark enough for white text. */
  function songColour(songId) {
    return `hsl(${(Number(songId) * 137.5) % 360}, 55%, 34%)`;
  }

  /** The bar of coloured segments (one per song entry, placed by time) and its table. */
  function showTimeline(body) {
    const box = document.getElementById("timeline-box");
    const entries = body.timeline || [];
    const total = Number(body.duration_seconds) || 0;
    box.hidden = !(total >= TIMELINE_MIN_SECONDS);
    if (box.hidden) return;
    const bar = document.getElementById("timeline-bar");
    const rows = document.getElementById("timeline-rows");
    DJ.clear(bar);
    DJ.clear(rows);
    entries.forEach((e) => {
      const when = `${DJ.fmtTime(e.start_seconds)}–${DJ.fmtTime(e.end_seconds)}`;
      const item = DJ.el("li", e.song_name, "segment");
      item.style.left = `${(100 * e.start_seconds) / total}%`;
      item.style.width = `${(100 * (e.end_seconds - e.start_seconds)) / total}%`;
      item.style.background = songColour(e.song_id);
      item.title = `${e.song_name}, ${when}`;
      item.dataset.songId = e.song_id;
      bar.append(item);
      const row = document.createElement("tr");
      row.append(DJ.el("td", when), DJ.el("td", e.song_name, "name"), DJ.el("td", DJ.fmtTime(e.offset_seconds)),
                 DJ.el("td", `${Math.round(e.confidence * 100)} %`));
      rows.append(row);
    });
    const unknown = (body.gaps || []).reduce((s, g) => s + g.end_seconds - g.start_seconds, 0);
    document.getElementById("timeline-summary").textContent =
      `${entries.length} ${entries.length === 1 ? "song" : "songs"} in ${DJ.fmtTime(total)}; ` +
      `${DJ.fmtTime(unknown)} of audio not in the library.`;
  }

  let plotUrl = null;

  /** The histogram picture: asked for after the answer is shown, so it never delays it. */
  async function loadPlot(blob, filename) {
    const form = new FormData();
    form.append("file", blob, filename);
    try {
      const response = await fetch("/api/recognize/plot", { method: "POST", body: form });
      if (!response.ok) return;
      const png = await response.blob();
      if (plotUrl) URL.revokeObjectURL(plotUrl);
      plotUrl = URL.createObjectURL(png);
      const img = document.getElementById("plot");
      img.onload = () => { document.getElementById("plot-figure").hidden = false; };
      img.src = plotUrl;
      document.getElementById("plot-link").href = plotUrl;
    } catch (err) {
      /* the picture is optional */
    }
  }

  async function send(blob, filename, { timeline = false } = {}) {
    DJ.setStatus(status, "Looking it up…", "busy");
    const form = new FormData();
    form.append("file", blob, filename);
    // an uploaded file may be a long recording (the server also lists which songs play where) or a
    // repost played faster or pitched (it also tries other speeds and pitches)
    const url = timeline ? "/api/recognize?timeline=1&changes=1" : "/api/recognize";
    const { status: code, body } = await DJ.request("POST", url, {
      form,
      onProgress: (p) => { if (p < 1) DJ.setStatus(status, `Uploading… ${Math.round(p * 100)} %`, "busy"); },
    });
    if (code === 200) {
      showResult(body);
      const elapsed = startedAt ? (performance.now() - startedAt) / 1000 : null;
      status.dataset.elapsed = elapsed === null ? "" : elapsed.toFixed(3);
      DJ.setStatus(status, body.match ? "Found it." : "No match.", "ok");
      if ((body.candidates || []).length) loadPlot(blob, filename);
    } else {
      document.getElementById("result").hidden = true;
      DJ.setStatus(status, body.error || `error ${code}`, "error");
    }
    startedAt = 0;
    document.body.dataset.state = "done";
  }

  function resetButton() {
    recordButton.classList.remove("recording");
    recordLabel.textContent = "Record";
    clearTimeout(stopTimer);
    clearInterval(countdown);
  }

  async function startRecording() {
    startedAt = performance.now();
    document.body.dataset.state = "recording";
    if (!navigator.mediaDevices || !window.MediaRecorder) {
      DJ.setStatus(status, "This browser cannot record audio (a secure origin, https or localhost, is needed).", "error");
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 },
      });
    } catch (err) {
      DJ.setStatus(status, `Microphone unavailable: ${err.message || err.name}`, "error");
      return;
    }
    const track = stream.getAudioTracks()[0];
    if (track && track.getSettings) {   // what the browser granted (shown to tests and curious users)
      const granted = track.getSettings();
      recordButton.dataset.granted = ["echoCancellation", "noiseSuppression", "autoGainControl"]
        .map((k) => `${k}=${granted[k]}`).join(" ");
    }
    const types = ["audio/webm;codecs=opus", "audio/webm", "audio/ogg;codecs=opus", "audio/mp4"];
    const mimeType = types.find((t) => MediaRecorder.isTypeSupported(t)) || "";
    const chunks = [];
    recorder = new MediaRecorder(stream, mimeType ? { mimeType, audioBitsPerSecond: 128000 } : undefined);
    recorder.ondataavailable = (e) => { if (e.data && e.data.size) chunks.push(e.data); };
    recorder.onstop = () => {
      stream.getTracks().forEach((t) => t.stop());
      resetButton();
      recorder = null;
      const type = mimeType.split(";")[0] || "audio/webm";
      const ext = type.includes("ogg") ? "ogg" : type.includes("mp4") ? "m4a" : "webm";
      send(new Blob(chunks, { type }), `recording.${ext}`);
    };
    recorder.start();
    recordButton.classList.add("recording");
    let left = seconds;
    recordLabel.textContent = `Stop (${Math.ceil(left)})`;
    DJ.setStatus(status, "Listening…", "busy");
    countdown = setInterval(() => {
      left -= 1;
      recordLabel.textContent = `Stop (${Math.max(0, Math.ceil(left))})`;
    }, 1000);
    stopTimer = setTimeout(() => { if (recorder && recorder.state === "recording") recorder.stop(); }, seconds * 1000);
  }

  recordButton.addEventListener("click", () => {
    if (recorder && recorder.state === "recording") {
      recorder.stop();
    } else if (!recorder) {
      startRecording();
    }
  });

  function sendFile(file) {
    if (!file) return;
    startedAt = 0;
    send(file, file.name, { timeline: true });
  }

  fileInput.addEventListener("change", () => sendFile(fileInput.files[0]));
  ["dragenter", "dragover"].forEach((type) => drop.addEventListener(type, (e) => {
    e.preventDefault();
    drop.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((type) => drop.addEventListener(type, () => drop.classList.remove("over")));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    if (e.dataTransfer.files.length) sendFile(e.dataTransfer.files[0]);
  });
})();
