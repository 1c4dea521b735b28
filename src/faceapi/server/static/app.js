// faceapi real-time page. Vanilla JS, no build step, nothing fetched but this server.
// The browser captures and draws; the Python server (WebSocket /ws/stream) does the inference.
"use strict";

(() => {
  const EXPRESSIONS = ["neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"];
  const EXPR_COLORS = {
    neutral: "#9aa5b1", happy: "#f5c518", sad: "#4a90e2", angry: "#e5484d",
    fearful: "#a06cd5", disgusted: "#30a46c", surprised: "#f76b15",
  };
  const NET_LABELS = {
    tiny_face_detector: "Tiny face detector", ssd_mobilenetv1: "SSD MobileNetV1",
    face_landmark_68: "68 landmarks", face_landmark_68_tiny: "68 landmarks (tiny)",
    face_expression: "Expressions", age_gender: "Age & gender", face_recognition: "Recognition (descriptors)",
  };
  // face-api.js's draw colours (and faceapi.draw's): blue box, cyan contours, magenta points
  const BOX_COLOR = "rgba(0, 0, 255, 1)";
  const MATCH_COLOR = "rgba(0, 160, 0, 1)";
  const LINE_COLOR = "rgba(0, 255, 255, 1)";
  const POINT_COLOR = "rgba(255, 0, 255, 1)";
  const REGIONS = [[0, 17, false], [17, 22, false], [22, 27, false], [27, 31, false], [30, 36, false],
    [36, 42, true], [42, 48, true], [48, 60, true], [60, 68, true]];
  const MAX_FRAME_WIDTH = 640;
  const JPEG_QUALITY = 0.8;
  const TIMELINE_MS = 30000;

  const $ = (id) => document.getElementById(id);
  const el = {
    video: $("video"), overlay: $("overlay"), placeholder: $("placeholder"), stage: $("stage"),
    swWebcam: $("sw-webcam"), swModels: $("sw-models"), swDetect: $("sw-detect"),
    stWebcam: $("state-webcam"), stModels: $("state-models"), stDetect: $("state-detect"),
    netList: $("net-list"), fps: $("st-fps"), rtt: $("st-rtt"), faces: $("st-faces"), stages: $("st-stages"),
    timeline: $("timeline"), legend: $("legend"), summary: $("face-summary"), dominant: $("dominant-label"),
    dominantProb: $("dominant-prob"), bars: $("bars"), faceMeta: $("face-meta"),
    optInput: $("opt-input-size"), outInput: $("out-input-size"), optScore: $("opt-min-score"),
    outScore: $("out-min-score"), optExpr: $("opt-expressions"), optAge: $("opt-age-gender"),
    optRecognize: $("opt-recognize"), recognizeNote: $("recognize-note"), optMirror: $("opt-mirror"),
    optionsError: $("options-error"), fieldInput: $("field-input-size"),
    serverState: $("server-state"), serverText: $("server-text"), faceName: $("face-name"),
    enrolForm: $("enrol-form"), enrolName: $("enrol-name"), btnEnrol: $("btn-enrol"), enrolMsg: $("enrol-msg"),
    peopleList: $("people-list"), peopleCount: $("people-count"),
  };

  const app = {
    webcam: false, modelsOn: false, detecting: false, stream: null, ws: null, wsReady: false,
    frameId: 0, inflight: null, lastResult: null, drawnBoxes: [], history: [], fpsTimes: [],
    rttAvg: null, loadedNets: [], photoBoxes: [], frameCanvas: document.createElement("canvas"), recognition: false,
    settingsAck: null, errors: 0, people: null, enrolling: false,
  };
  window.faceapiApp = app; // for debugging and the browser test

  // ---------------------------------------------------------------------------------------------
  // small helpers
  function setState(node, text, kind, html) {
    node.dataset.kind = kind;
    if (html) node.innerHTML = html; else node.textContent = text;
  }
  function setSwitch(sw, on, busy) {
    sw.setAttribute("aria-checked", on ? "true" : "false");
    sw.setAttribute("aria-busy", busy ? "true" : "false");
    sw.closest(".switch-row").classList.toggle("on", !!on);
  }
  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }
  function withCommand(message) {
    // show `faceapi models download` (or any backquoted command) as code
    return escapeHtml(message).replace(/`([^`]+)`/g, "<code>$1</code>");
  }
  function radio(name) { return document.querySelector(`input[name="${name}"]:checked`).value; }
  function fmt(ms) { return ms == null ? "–" : ms < 10 ? ms.toFixed(1) : Math.round(ms).toString(); }
  async function jsonOrError(resp) {
    let body = null;
    try { body = await resp.json(); } catch (e) { /* not JSON */ }
    if (!resp.ok) throw new Error((body && (body.error || body.detail)) || `HTTP ${resp.status}`);
    return body;
  }

  // ---------------------------------------------------------------------------------------------
  // settings
  function settings() {
    const lm = radio("landmarks");
    return {
      type: "settings",
      detector: radio("detector"),
      input_size: Number(el.optInput.value),
      min_score: Number(el.optScore.value),
      landmarks: lm === "off" ? null : lm,
      expressions: el.optExpr.checked,
      age_gender: el.optAge.checked,
      recognize: el.optRecognize.checked,
    };
  }
  function queryString(s) {
    const q = new URLSearchParams({
      detector: s.detector, input_size: s.input_size, min_score: s.min_score,
      landmarks: s.landmarks || "off", expressions: s.expressions, age_gender: s.age_gender,
    });
    if (s.recognize) q.set("recognize", "true");
    return q.toString();
  }
  function onOptionsChanged() {
    el.outInput.textContent = el.optInput.value;
    el.outScore.textContent = Number(el.optScore.value).toFixed(2);
    el.fieldInput.style.opacity = radio("detector") === "tiny" ? "1" : ".45";
    el.optInput.disabled = radio("detector") !== "tiny";
    if (app.ws && app.wsReady) app.ws.send(JSON.stringify(settings()));
    if (app.modelsOn) loadModels(true);
    app.drawOverlay();
  }
  document.querySelectorAll(".options input").forEach((inp) => {
    inp.addEventListener(inp.type === "range" ? "input" : "change", onOptionsChanged);
  });
  el.optMirror.addEventListener("change", () => {
    el.video.classList.toggle("mirrored", el.optMirror.checked);
  });

  // ---------------------------------------------------------------------------------------------
  // server state
  async function checkServer() {
    try {
      const h = await jsonOrError(await fetch("/api/health", { cache: "no-store" }));
      el.serverState.dataset.state = "ok";
      el.serverText.textContent = `server ${h.version} · ${h.loaded.length} nets loaded`;
      const had = app.recognition;
      app.recognition = !!h.recognition;
      el.optRecognize.disabled = !app.recognition;
      if (!app.recognition) el.optRecognize.checked = false;
      el.recognizeNote.textContent = app.recognition ? "— names from the gallery" : "— needs a gallery of people on the server";
      if (app.people === null || had !== app.recognition) refreshPeople();
      return h;
    } catch (e) {
      el.serverState.dataset.state = "error";
      el.serverText.textContent = "server unreachable";
      return null;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // 1. webcam
  async function webcamOn() {
    setSwitch(el.swWebcam, true, true);
    setState(el.stWebcam, "asking for the camera…", "busy");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      setSwitch(el.swWebcam, false);
      setState(el.stWebcam, "", "error", "this browser allows the camera only on <code>https://</code> pages or on " +
        "<code>localhost</code> (start the server with <code>--ssl-certfile</code>/<code>--ssl-keyfile</code>)");
      return;
    }
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: false, video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" },
      });
      app.stream = stream;
      el.video.srcObject = stream;
      await el.video.play().catch(() => {});
      await new Promise((res) => (el.video.videoWidth ? res() : el.video.addEventListener("loadedmetadata", res, { once: true })));
      el.stage.style.aspectRatio = `${el.video.videoWidth} / ${el.video.videoHeight}`;
      el.placeholder.hidden = true;
      app.webcam = true;
      setSwitch(el.swWebcam, true);
      const track = stream.getVideoTracks()[0];
      let label = track && track.label ? track.label.split("/").pop() : "";
      if (label.length > 32) label = label.slice(0, 31) + "…";
      setState(el.stWebcam, `on · ${el.video.videoWidth}×${el.video.videoHeight}${label ? " · " + label : ""}`, "on");
      if (el.stDetect.dataset.kind === "error") setState(el.stDetect, "off", "off");
    } catch (e) {
      setSwitch(el.swWebcam, false);
      const name = e && e.name;
      let msg;
      if (name === "NotAllowedError" || name === "SecurityError") msg = "permission denied: allow the camera for this page in the browser's site settings, then try again";
      else if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") msg = "no camera found on this device";
      else if (name === "NotReadableError" || name === "TrackStartError") msg = "the camera is in use by another application";
      else msg = `could not start the camera (${name || "error"}: ${e && e.message})`;
      setState(el.stWebcam, msg, "error");
    }
  }
  function webcamOff() {
    detectOff();
    if (app.stream) app.stream.getTracks().forEach((t) => t.stop());
    app.stream = null;
    el.video.srcObject = null;
    app.webcam = false;
    el.placeholder.hidden = false;
    setSwitch(el.swWebcam, false);
    setState(el.stWebcam, "off", "off");
  }
  el.swWebcam.addEventListener("click", () => (app.webcam ? webcamOff() : webcamOn()));

  // ---------------------------------------------------------------------------------------------
  // 2. models
  let loadSeq = 0;
  function renderNets(load) {
    el.netList.hidden = false;
    el.netList.innerHTML = "";
    for (const name of load.nets) {
      const st = load.status[name] || "pending";
      const li = document.createElement("li");
      li.dataset.status = st;
      li.dataset.net = name;
      li.innerHTML = `<span>${escapeHtml(NET_LABELS[name] || name)}</span><span class="net-status">${escapeHtml(st)}</span>`;
      el.netList.appendChild(li);
    }
  }
  async function loadModels(quiet) {
    const seq = ++loadSeq;
    app.modelsOn = true;
    setSwitch(el.swModels, true, true);
    if (!quiet) setState(el.stModels, "loading…", "busy");
    let load;
    try {
      const s = settings();
      delete s.type;
      const resp = await fetch("/api/models/load", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ settings: s }),
      });
      load = await jsonOrError(resp);
      while (load.state === "loading") {
        renderNets(load);
        const done = load.nets.filter((n) => load.status[n] === "loaded").length;
        setState(el.stModels, `loading ${NET_LABELS[load.current] || load.current || ""} (${done}/${load.nets.length})…`, "busy");
        await new Promise((r) => setTimeout(r, 150));
        if (seq !== loadSeq) return;
        load = (await jsonOrError(await fetch("/api/models?verify=false", { cache: "no-store" }))).load;
      }
    } catch (e) {
      if (seq !== loadSeq) return;
      app.modelsOn = false;
      setSwitch(el.swModels, false);
      setState(el.stModels, "", "error", withCommand(e.message));
      return;
    }
    if (seq !== loadSeq || !app.modelsOn) return;
    renderNets(load);
    if (load.state === "error") {
      app.modelsOn = false;
      setSwitch(el.swModels, false);
      let html = withCommand(load.error || "loading failed");
      if (load.command && !(load.error || "").includes(load.command)) html += `<br>run <code>${escapeHtml(load.command)}</code>`;
      setState(el.stModels, "", "error", html);
      if (app.detecting) detectOff("models failed to load", "error");
      return;
    }
    app.loadedNets = load.nets.slice();
    setSwitch(el.swModels, true);
    const secs = load.seconds != null ? ` in ${load.seconds < 1 ? Math.round(load.seconds * 1000) + " ms" : load.seconds.toFixed(1) + " s"}` : "";
    setState(el.stModels, `ready · ${load.nets.length} nets${secs}`, "on");
    checkServer();
  }
  function modelsOff() {
    loadSeq++;
    app.modelsOn = false;
    detectOff();
    setSwitch(el.swModels, false);
    el.netList.hidden = true;
    setState(el.stModels, "off (the server keeps loaded nets in memory)", "off");
  }
  el.swModels.addEventListener("click", () => (app.modelsOn ? modelsOff() : loadModels(false)));

  // ---------------------------------------------------------------------------------------------
  // 3. detection stream
  function wsUrl() {
    return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/stream`;
  }
  function openSocket() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(wsUrl());
      ws.binaryType = "arraybuffer";
      let opened = false;
      ws.onopen = () => { opened = true; app.ws = ws; app.wsReady = true; ws.send(JSON.stringify(settings())); resolve(ws); };
      ws.onmessage = (ev) => onMessage(ev);
      ws.onerror = () => { if (!opened) reject(new Error("could not connect to the stream (server down, or this origin is not allowed: see --allow-origin)")); };
      ws.onclose = (ev) => {
        if (app.ws === ws) { app.ws = null; app.wsReady = false; app.inflight = null; }
        if (opened && app.detecting) {
          setState(el.stDetect, `connection lost (${ev.code}${ev.reason ? ": " + ev.reason : ""}), reconnecting…`, "error");
          setTimeout(() => { if (app.detecting && !app.ws) startStream(); }, 1000);
        }
      };
    });
  }
  async function startStream() {
    try {
      if (!app.ws) await openSocket();
      setState(el.stDetect, "running", "on");
      sendFrame();
    } catch (e) {
      setState(el.stDetect, e.message, "error");
      if (app.detecting) setTimeout(() => { if (app.detecting && !app.ws) startStream(); }, 2000);
    }
  }
  function detectOn() {
    if (!app.webcam) { setState(el.stDetect, "turn on the webcam first (switch 1)", "error"); return; }
    if (!app.modelsOn) { setState(el.stDetect, "load the models first (switch 2)", "error"); return; }
    app.detecting = true;
    app.fpsTimes = [];
    setSwitch(el.swDetect, true);
    setState(el.stDetect, "connecting…", "busy");
    startStream();
  }
  function detectOff(text, kind) {
    app.detecting = false;
    app.inflight = null;
    if (app.ws) { const ws = app.ws; app.ws = null; app.wsReady = false; ws.close(1000, "detection off"); }
    setSwitch(el.swDetect, false);
    setState(el.stDetect, text || "off", kind || "off");
    app.lastResult = null;
    app.drawOverlay();
  }
  el.swDetect.addEventListener("click", () => (app.detecting ? detectOff() : detectOn()));

  function sendFrame() {
    if (!app.detecting || !app.ws || !app.wsReady || app.inflight) return;
    const v = el.video;
    if (!v.videoWidth || v.readyState < 2) { setTimeout(sendFrame, 30); return; }
    const scale = Math.min(1, MAX_FRAME_WIDTH / v.videoWidth);
    const w = Math.round(v.videoWidth * scale), h = Math.round(v.videoHeight * scale);
    const c = app.frameCanvas;
    if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
    c.getContext("2d").drawImage(v, 0, 0, w, h);
    const id = ++app.frameId;
    const ws = app.ws;
    app.inflight = { id, t0: performance.now() };
    c.toBlob((blob) => {
      if (!blob || ws !== app.ws || !app.inflight || app.inflight.id !== id) return;
      blob.arrayBuffer().then((buf) => {
        if (ws !== app.ws || ws.readyState !== WebSocket.OPEN) return;
        app.inflight.sent = performance.now();
        ws.send(JSON.stringify({ type: "frame", id }));
        ws.send(buf);
      });
    }, "image/jpeg", JPEG_QUALITY);
  }

  function onMessage(ev) {
    let msg;
    try { msg = JSON.parse(ev.data); } catch (e) { return; }
    if (msg.type === "hello") {
      app.recognition = !!msg.recognition;
      return;
    }
    if (msg.type === "settings") {
      app.settingsAck = msg.settings;
      el.optionsError.hidden = true;
      return;
    }
    if (msg.type === "error" && msg.frame == null) {
      el.optionsError.hidden = false;
      el.optionsError.innerHTML = withCommand(msg.error);
      return;
    }
    const fl = app.inflight;
    if (fl && msg.frame === fl.id) {
      const now = performance.now();
      const rtt = now - (fl.sent || fl.t0);
      app.rttAvg = app.rttAvg == null ? rtt : app.rttAvg * 0.8 + rtt * 0.2;
      app.fpsTimes.push(now);
      while (app.fpsTimes.length && now - app.fpsTimes[0] > 2000) app.fpsTimes.shift();
      app.inflight = null;
    }
    if (msg.type === "error") {
      app.errors++;
      let html = withCommand(`frame ${msg.frame}: ${msg.error}`);
      if (msg.command) html += `<br>run <code>${escapeHtml(msg.command)}</code>`;
      setState(el.stDetect, "", "error", html);
    } else if (msg.type === "result") {
      if (el.stDetect.dataset.kind !== "on") setState(el.stDetect, "running", "on");
      app.lastResult = msg;
      onResult(msg);
    }
    if (app.detecting) setTimeout(sendFrame, 0);
  }

  function largestFace(faces) {
    let best = null;
    for (const f of faces) if (!best || f.box.width * f.box.height > best.box.width * best.box.height) best = f;
    return best;
  }

  function onResult(msg) {
    const t = msg.timings_ms || {};
    const n = app.fpsTimes.length;
    const fps = n > 1 ? ((n - 1) * 1000) / (app.fpsTimes[n - 1] - app.fpsTimes[0]) : null;
    el.fps.textContent = fps ? fps.toFixed(1) : "–";
    el.rtt.textContent = fmt(app.rttAvg);
    el.faces.textContent = msg.faces.length;
    const parts = ["decode", "detect", "landmarks", "expressions", "age_gender", "descriptors", "recognize"]
      .filter((k) => t[k] != null).map((k) => `${k.replace("_", " ")} ${fmt(t[k])}`);
    el.stages.textContent = `server: ${parts.join(" · ")} · total ${fmt(t.server_total != null ? t.server_total : t.total)} ms`;
    const face = largestFace(msg.faces);
    app.history.push({ t: performance.now(), p: face && face.expressions ? EXPRESSIONS.map((e) => face.expressions.probabilities[e]) : null });
    const cutoff = performance.now() - TIMELINE_MS - 1000;
    while (app.history.length && app.history[0].t < cutoff) app.history.shift();
    renderSummary(face);
    app.drawOverlay();
    drawTimeline();
  }

  // ---------------------------------------------------------------------------------------------
  // largest-face card
  const barRows = {};
  function buildBars() {
    for (const e of EXPRESSIONS) {
      const row = document.createElement("div");
      row.style.display = "contents";
      row.innerHTML = `<span class="name">${e}</span><span class="track"><span class="fill"></span></span><span class="pct">–</span>`;
      el.bars.appendChild(row);
      barRows[e] = { row, fill: row.querySelector(".fill"), pct: row.querySelector(".pct") };
      barRows[e].fill.style.background = EXPR_COLORS[e]; // CSSOM, not a style attribute: the CSP allows it
    }
  }
  function renderSummary(face) {
    renderName(face);
    if (!face) {
      el.summary.dataset.dominant = "";
      el.dominant.textContent = "no face";
      el.dominantProb.textContent = "";
      el.faceMeta.textContent = "";
      for (const e of EXPRESSIONS) { barRows[e].fill.style.width = "0"; barRows[e].pct.textContent = "–"; barRows[e].row.classList.remove("top"); }
      return;
    }
    const meta = [`score ${face.score.toFixed(2)}`];
    if (face.age != null) meta.push(`${Math.round(face.age)} y`, `${face.gender} ${Math.round(face.gender_probability * 100)}%`);
    el.faceMeta.textContent = meta.join(" · ");
    if (!face.expressions) {
      el.summary.dataset.dominant = "";
      el.dominant.textContent = "face";
      el.dominantProb.textContent = "(expressions off)";
      return;
    }
    const dom = face.expressions.dominant;
    el.summary.dataset.dominant = dom;
    el.dominant.textContent = dom;
    el.dominant.style.color = EXPR_COLORS[dom];
    el.dominantProb.textContent = `${Math.round(face.expressions.probabilities[dom] * 100)}%`;
    for (const e of EXPRESSIONS) {
      const p = face.expressions.probabilities[e];
      barRows[e].fill.style.width = `${(p * 100).toFixed(1)}%`;
      barRows[e].pct.textContent = `${Math.round(p * 100)}%`;
      barRows[e].row.classList.toggle("top", e === dom);
    }
  }

  function matchText(m) {
    return m.distance == null ? m.label : `${m.label} (${m.distance.toFixed(2)})`;
  }
  function renderName(face) {
    const m = face && face.match;
    el.faceName.hidden = !m;
    el.faceName.dataset.label = m ? m.label : "";
    el.faceName.dataset.known = m && m.label !== "unknown" ? "true" : "false";
    el.faceName.textContent = m ? (m.label === "unknown" ? "unknown person" : m.label) : "";
    el.faceName.title = m && m.distance != null ? `distance ${m.distance.toFixed(3)} to the gallery` : "";
  }

  // ---------------------------------------------------------------------------------------------
  // people: enrol the face in view, list and remove people (REST /api/people)
  function setEnrolMsg(text, kind) {
    el.enrolMsg.textContent = text;
    el.enrolMsg.dataset.kind = kind || "";
  }
  function renderPeople() {
    const people = app.people || [];
    el.peopleList.innerHTML = "";
    el.peopleCount.textContent = app.recognition ? `${people.length} enrolled` : "";
    for (const p of people) {
      const li = document.createElement("li");
      li.dataset.name = p.name;
      const name = document.createElement("span");
      name.className = "person-name";
      name.textContent = p.name;
      const n = document.createElement("span");
      n.className = "person-samples muted";
      n.textContent = `${p.descriptors} sample${p.descriptors === 1 ? "" : "s"}`;
      const rm = document.createElement("button");
      rm.type = "button";
      rm.className = "btn ghost small remove";
      rm.textContent = "Remove";
      rm.setAttribute("aria-label", `Remove ${p.name}`);
      rm.addEventListener("click", () => removePerson(p.name));
      li.append(name, n, rm);
      el.peopleList.appendChild(li);
    }
    if (!people.length && app.recognition) {
      const li = document.createElement("li");
      li.className = "empty muted";
      li.textContent = "No one enrolled yet.";
      el.peopleList.appendChild(li);
    }
  }
  async function refreshPeople() {
    if (!app.recognition) {
      app.people = [];
      el.btnEnrol.disabled = true;
      el.enrolName.disabled = true;
      setEnrolMsg("This server has no gallery of people (it was started with --no-gallery).", "off");
      renderPeople();
      return;
    }
    el.btnEnrol.disabled = app.enrolling;
    el.enrolName.disabled = false;
    try {
      const r = await jsonOrError(await fetch("/api/people", { cache: "no-store" }));
      app.people = r.people;
    } catch (e) {
      setEnrolMsg(`could not list people: ${e.message}`, "error");
    }
    renderPeople();
  }
  function captureFrame() {
    // the frame as the stream sends it: the video scaled to at most MAX_FRAME_WIDTH, JPEG, unmirrored
    const v = el.video;
    const scale = Math.min(1, MAX_FRAME_WIDTH / v.videoWidth);
    const c = document.createElement("canvas");
    c.width = Math.round(v.videoWidth * scale); c.height = Math.round(v.videoHeight * scale);
    c.getContext("2d").drawImage(v, 0, 0, c.width, c.height);
    return new Promise((resolve) => c.toBlob(resolve, "image/jpeg", JPEG_QUALITY));
  }
  function enrolError(status, body) {
    const faces = body && body.faces;
    if (status === 422 && faces === 0) return "No face found — look into the camera, face in good light, then try again";
    if (status === 422 && faces > 1) return `${faces} faces found — only one person should be in view`;
    return (body && body.error) || `HTTP ${status}`;
  }
  async function enrol(ev) {
    if (ev) ev.preventDefault();
    const name = el.enrolName.value.trim();
    if (!name) { setEnrolMsg("Type the name of the person in view first", "error"); el.enrolName.focus(); return; }
    if (!app.webcam || !el.video.videoWidth) { setEnrolMsg("Turn on the webcam first (switch 1)", "error"); return; }
    if (app.enrolling) return;
    app.enrolling = true;
    el.btnEnrol.disabled = true;
    setEnrolMsg(`Enrolling ${name}…`, "busy");
    try {
      const blob = await captureFrame();
      const resp = await fetch(`/api/people?name=${encodeURIComponent(name)}`, {
        method: "POST", body: blob, headers: { "Content-Type": "image/jpeg" },
      });
      let body = null;
      try { body = await resp.json(); } catch (e) { /* not JSON */ }
      if (!resp.ok) {
        setEnrolMsg(enrolError(resp.status, body), "error");
      } else {
        const n = body.descriptors;
        const dup = body.added === 0 ? " — this exact frame was already enrolled" : "";
        setEnrolMsg(`Added ${body.name} (${n} sample${n === 1 ? "" : "s"})${dup}`, "ok");
      }
    } catch (e) {
      setEnrolMsg(`Enrolment failed: ${e.message}`, "error");
    } finally {
      app.enrolling = false;
      el.btnEnrol.disabled = !app.recognition;
      refreshPeople();
    }
  }
  async function removePerson(name) {
    try {
      const resp = await fetch(`/api/people/${encodeURIComponent(name)}`, { method: "DELETE" });
      const body = await jsonOrError(resp);
      setEnrolMsg(`Removed ${body.removed.name}`, "ok");
    } catch (e) {
      setEnrolMsg(`Could not remove ${name}: ${e.message}`, "error");
    }
    refreshPeople();
  }
  el.enrolForm.addEventListener("submit", enrol);

  // ---------------------------------------------------------------------------------------------
  // overlay drawing, like face-api.js's resizeResults + draw: frame pixels -> displayed pixels
  function fitCanvas(canvas) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(canvas.clientWidth * dpr)), h = Math.max(1, Math.round(canvas.clientHeight * dpr));
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return { ctx, w: canvas.clientWidth, h: canvas.clientHeight };
  }

  /** Draw `result` (frame coordinates) on `canvas` displayed at its CSS size; mirrored: flip x. */
  function drawResult(canvas, result, mirrored, opts) {
    const { ctx, w: W, h: H } = fitCanvas(canvas);
    ctx.clearRect(0, 0, W, H);
    const drawn = [];
    if (!result) return drawn;
    const sx = W / result.image.width, sy = H / result.image.height;
    const X = (x) => (mirrored ? W - x * sx : x * sx);
    const Y = (y) => y * sy;
    const unit = Math.max(1, Math.min(W, H) / 360);
    const boxes = result.faces.map((f) => {
      const b = f.box;
      const x0 = mirrored ? W - (b.x + b.width) * sx : b.x * sx;
      return { x: x0, y: Y(b.y), width: b.width * sx, height: b.height * sy };
    });
    // pass 1: landmarks and boxes
    result.faces.forEach((f, k) => {
      const box = boxes[k];
      drawn.push(box);
      if (f.landmarks && opts.landmarks) {  // contours per region, then points
        ctx.lineWidth = 1.2 * unit;
        ctx.strokeStyle = LINE_COLOR;
        for (const [s, e, closed] of REGIONS) {
          ctx.beginPath();
          for (let i = s; i < e; i++) {
            const [px, py] = f.landmarks[i];
            if (i === s) ctx.moveTo(X(px), Y(py)); else ctx.lineTo(X(px), Y(py));
          }
          if (closed) ctx.closePath();
          ctx.stroke();
        }
        ctx.fillStyle = POINT_COLOR;
        const r = Math.min(1.3 * unit, Math.max(0.8, box.width / 90));
        for (const [px, py] of f.landmarks) {
          ctx.beginPath();
          ctx.arc(X(px), Y(py), r, 0, Math.PI * 2);
          ctx.fill();
        }
      }
      ctx.lineWidth = 2 * unit;
      ctx.strokeStyle = f.match && f.match.label !== "unknown" ? MATCH_COLOR : BOX_COLOR;
      ctx.strokeRect(box.x, box.y, box.width, box.height);
    });
    // pass 2: expression / age panels; pass 3: the score or name tags, last so no panel hides them
    const single = result.faces.length === 1;
    result.faces.forEach((f, k) => {
      const box = boxes[k];
      const ageText = f.age != null ? `${Math.round(f.age)} y · ${f.gender} ${Math.round(f.gender_probability * 100)}%` : null;
      if (single) {
        // one face (the webcam case): age & gender under the box, a bar per expression beside it
        if (ageText) textField(ctx, [ageText], box.x, box.y + box.height + 4 * unit, W, H, unit);
        if (f.expressions) expressionPanel(ctx, f.expressions, box, W, H, unit);
      } else {
        compactLabel(ctx, f, ageText, box, W, H, unit);
      }
    });
    result.faces.forEach((f, k) => {
      const box = boxes[k];
      const color = f.match && f.match.label !== "unknown" ? MATCH_COLOR : BOX_COLOR;
      const label = f.match ? matchText(f.match) : f.score.toFixed(2);
      ctx.font = `600 ${Math.round(12 * unit)}px system-ui, sans-serif`;
      const lw = ctx.measureText(label).width + 8 * unit, lh = 17 * unit;
      const ly = box.y - lh >= 0 ? box.y - lh : box.y;
      ctx.fillStyle = color;
      ctx.fillRect(box.x - unit, ly, lw, lh);
      ctx.fillStyle = "#fff";
      ctx.textBaseline = "middle";
      ctx.fillText(label, box.x + 3 * unit, ly + lh / 2);
    });
    return drawn;
  }

  /** Under the box: the dominant expression, a mini bar chart (one bar per expression), age & gender. */
  function compactLabel(ctx, f, ageText, box, W, H, unit) {
    const pad = 4 * unit, lineH = 15 * unit, histH = f.expressions ? 16 * unit : 0;
    const lines = (f.expressions ? 1 : 0) + (ageText ? 1 : 0);
    if (!lines) return;
    ctx.font = `600 ${Math.round(11.5 * unit)}px system-ui, sans-serif`;
    const texts = [];
    if (f.expressions) texts.push(`${f.expressions.dominant} ${Math.round(f.expressions.probabilities[f.expressions.dominant] * 100)}%`);
    if (ageText) texts.push(ageText);
    const w = Math.max(box.width, ...texts.map((t) => ctx.measureText(t).width + 2 * pad), 70 * unit);
    const h = pad * 2 + lines * lineH + (histH ? histH + 2 * unit : 0);
    let x = Math.min(Math.max(box.x, 0), Math.max(W - w, 0));
    let y = box.y + box.height + 3 * unit;
    if (y + h > H) y = Math.max(0, box.y + box.height - h);
    ctx.fillStyle = "rgba(10, 14, 20, 0.72)";
    roundRect(ctx, x, y, w, h, 4 * unit);
    let ty = y + pad;
    ctx.textBaseline = "middle";
    if (f.expressions) {
      const dom = f.expressions.dominant;
      ctx.fillStyle = EXPR_COLORS[dom];
      ctx.fillText(texts[0], x + pad, ty + lineH / 2);
      ty += lineH;
      const n = EXPRESSIONS.length, gap = 2 * unit, bw = (w - 2 * pad - gap * (n - 1)) / n;
      EXPRESSIONS.forEach((e, i) => {
        const bx = x + pad + i * (bw + gap), p = f.expressions.probabilities[e];
        ctx.fillStyle = "rgba(255,255,255,0.10)";
        ctx.fillRect(bx, ty + 1 * unit, bw, histH);
        ctx.fillStyle = EXPR_COLORS[e];
        const bh = Math.max(p * histH, p > 0.005 ? unit : 0);
        ctx.fillRect(bx, ty + 1 * unit + histH - bh, bw, bh);
      });
      ty += histH + 2 * unit;
    }
    if (ageText) {
      ctx.fillStyle = "#e6edf3";
      ctx.font = `${Math.round(11.5 * unit)}px system-ui, sans-serif`;
      ctx.fillText(ageText, x + pad, ty + lineH / 2);
    }
  }

  function textField(ctx, lines, x, y, W, H, unit) {
    ctx.font = `${Math.round(12 * unit)}px system-ui, sans-serif`;
    const pad = 4 * unit, lh = 16 * unit;
    const w = Math.max(...lines.map((l) => ctx.measureText(l).width)) + 2 * pad, h = lines.length * lh + 2 * pad;
    x = Math.min(Math.max(x, 0), Math.max(W - w, 0));
    y = Math.min(Math.max(y, 0), Math.max(H - h, 0));
    ctx.fillStyle = "rgba(0, 0, 0, 0.55)";
    roundRect(ctx, x, y, w, h, 4 * unit);
    ctx.fillStyle = "#fff";
    ctx.textBaseline = "middle";
    lines.forEach((l, i) => ctx.fillText(l, x + pad, y + pad + lh * (i + 0.5)));
    return y + h;
  }

  function roundRect(ctx, x, y, w, h, r) {
    ctx.beginPath();
    ctx.moveTo(x + r, y);
    ctx.arcTo(x + w, y, x + w, y + h, r);
    ctx.arcTo(x + w, y + h, x, y + h, r);
    ctx.arcTo(x, y + h, x, y, r);
    ctx.arcTo(x, y, x + w, y, r);
    ctx.closePath();
    ctx.fill();
  }

  function expressionPanel(ctx, expr, box, W, H, unit) {
    const pad = 6 * unit, rowH = 13 * unit, headH = 20 * unit, barW = 60 * unit, nameW = 58 * unit;
    const pw = pad * 2 + nameW + barW + 30 * unit, ph = pad * 2 + headH + rowH * EXPRESSIONS.length;
    let px = box.x + box.width + 6 * unit;
    if (px + pw > W) px = box.x - pw - 6 * unit;
    if (px < 0) px = Math.min(Math.max(box.x, 0), Math.max(W - pw, 0));
    const py = Math.min(Math.max(box.y, 0), Math.max(H - ph, 0));
    ctx.fillStyle = "rgba(10, 14, 20, 0.72)";
    roundRect(ctx, px, py, pw, ph, 6 * unit);
    const dom = expr.dominant;
    ctx.textBaseline = "middle";
    ctx.font = `700 ${Math.round(15 * unit)}px system-ui, sans-serif`;
    ctx.fillStyle = EXPR_COLORS[dom];
    ctx.fillText(dom, px + pad, py + pad + headH / 2);
    ctx.font = `${Math.round(12 * unit)}px system-ui, sans-serif`;
    ctx.fillStyle = "#cfd8e3";
    const pct = `${Math.round(expr.probabilities[dom] * 100)}%`;
    ctx.fillText(pct, px + pw - pad - ctx.measureText(pct).width, py + pad + headH / 2);
    ctx.font = `${Math.round(10.5 * unit)}px system-ui, sans-serif`;
    EXPRESSIONS.forEach((e, i) => {
      const y = py + pad + headH + rowH * i;
      const p = expr.probabilities[e];
      ctx.fillStyle = e === dom ? "#fff" : "#aab6c4";
      ctx.fillText(e, px + pad, y + rowH / 2);
      ctx.fillStyle = "rgba(255,255,255,0.10)";
      ctx.fillRect(px + pad + nameW, y + rowH * 0.3, barW, rowH * 0.4);
      ctx.fillStyle = EXPR_COLORS[e];
      ctx.fillRect(px + pad + nameW, y + rowH * 0.3, Math.max(p * barW, p > 0.005 ? unit : 0), rowH * 0.4);
      ctx.fillStyle = "#aab6c4";
      const t = `${Math.round(p * 100)}`;
      ctx.fillText(t, px + pw - pad - ctx.measureText(t).width, y + rowH / 2);
    });
  }

  app.drawOverlay = function () {
    app.drawnBoxes = drawResult(el.overlay, app.detecting ? app.lastResult : null, el.optMirror.checked,
      { landmarks: radio("landmarks") !== "off" });
  };
  window.addEventListener("resize", () => { app.drawOverlay(); drawTimeline(); drawPhoto(); });

  // ---------------------------------------------------------------------------------------------
  // expression timeline (largest face, last 30 s)
  function buildLegend() {
    el.legend.innerHTML = EXPRESSIONS.map((e) => `<span><i data-e="${e}"></i>${e}</span>`).join("");
    el.legend.querySelectorAll("i").forEach((i) => { i.style.background = EXPR_COLORS[i.dataset.e]; });
  }
  function drawTimeline() {
    const { ctx, w: W, h: H } = fitCanvas(el.timeline);
    ctx.clearRect(0, 0, W, H);
    const left = 30, right = 8, top = 8, bottom = 18;
    const pw = W - left - right, ph = H - top - bottom;
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    ctx.strokeStyle = "rgba(255,255,255,0.07)";
    ctx.fillStyle = "#6f7d8e";
    ctx.lineWidth = 1;
    for (const v of [0, 0.5, 1]) {
      const y = top + ph * (1 - v);
      ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(W - right, y); ctx.stroke();
      ctx.fillText(v === 0.5 ? ".5" : String(v), 8, y);
    }
    ctx.textBaseline = "alphabetic";
    for (let s = 30; s >= 0; s -= 10) {
      const x = left + pw * (1 - s / 30);
      ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + ph); ctx.stroke();
      const label = s === 0 ? "now" : `−${s} s`;
      const tw = ctx.measureText(label).width;
      ctx.fillText(label, Math.min(Math.max(x - tw / 2, left), W - right - tw), H - 4);
    }
    const now = performance.now();
    const hist = app.history.filter((h) => now - h.t <= TIMELINE_MS + 1000);
    if (!hist.length) return;
    ctx.lineWidth = 1.6;
    ctx.lineJoin = "round";
    EXPRESSIONS.forEach((e, k) => {
      ctx.strokeStyle = EXPR_COLORS[e];
      ctx.beginPath();
      let pen = false;
      for (const h of hist) {
        if (!h.p) { pen = false; continue; }
        const x = left + pw * (1 - (now - h.t) / TIMELINE_MS);
        const y = top + ph * (1 - h.p[k]);
        if (x < left) { pen = false; continue; }
        if (pen) ctx.lineTo(x, y); else { ctx.moveTo(x, y); pen = true; }
      }
      ctx.stroke();
    });
  }
  setInterval(() => { if (app.detecting) drawTimeline(); }, 1000);

  // ---------------------------------------------------------------------------------------------
  // image mode
  const img = { file: null, blob: null, result: null, url: null };
  function showTab(which) {
    const live = which === "live";
    $("tab-live").setAttribute("aria-selected", String(live));
    $("tab-image").setAttribute("aria-selected", String(!live));
    $("live-view").hidden = !live;
    $("image-view").hidden = live;
    if (!live) {
      if (app.detecting) detectOff("paused: image mode (switch on to resume)", "off");
      renderSummary(img.result ? largestFace(img.result.faces) : null);
      drawPhoto();
    } else { app.drawOverlay(); drawTimeline(); }
  }
  $("tab-live").addEventListener("click", () => showTab("live"));
  $("tab-image").addEventListener("click", () => showTab("image"));

  async function shrinkIfNeeded(file) {
    // the server refuses bodies over its frame limit: downsize big photos in the browser first
    if (file.size <= 1_900_000) return file;
    const bmp = await createImageBitmap(file);
    const scale = Math.min(1, 1920 / Math.max(bmp.width, bmp.height));
    const c = document.createElement("canvas");
    c.width = Math.round(bmp.width * scale); c.height = Math.round(bmp.height * scale);
    c.getContext("2d").drawImage(bmp, 0, 0, c.width, c.height);
    return await new Promise((r) => c.toBlob(r, "image/jpeg", 0.9));
  }

  async function analyzePhoto(file) {
    const status = $("image-status");
    status.innerHTML = "analysing…";
    $("image-actions").hidden = true;
    $("image-json").hidden = true;
    try {
      const blob = await shrinkIfNeeded(file);
      img.blob = blob;
      if (img.url) URL.revokeObjectURL(img.url);
      img.url = URL.createObjectURL(blob);
      const photo = $("photo");
      photo.src = img.url;
      await photo.decode().catch(() => {});
      $("image-stage").hidden = false;
      const s = settings();
      const t0 = performance.now();
      const resp = await fetch(`/api/analyze?${queryString(s)}`, {
        method: "POST", body: blob, headers: { "Content-Type": blob.type || "application/octet-stream" },
      });
      const result = await jsonOrError(resp);
      const rtt = performance.now() - t0;
      img.result = result;
      drawPhoto();
      const t = result.timings_ms;
      const face = largestFace(result.faces);
      const dom = face && face.expressions ? ` · largest face: <b>${escapeHtml(face.expressions.dominant)}</b>` : "";
      status.innerHTML = `<span><b>${result.faces.length}</b> face${result.faces.length === 1 ? "" : "s"}${dom}</span>` +
        `<span>${result.image.width}×${result.image.height}</span><span>server ${fmt(t.total)} ms · round trip ${fmt(rtt)} ms</span>`;
      $("image-json").textContent = JSON.stringify(result, null, 1);
      $("image-actions").hidden = false;
      renderSummary(face);
    } catch (e) {
      img.result = null;
      drawPhoto();
      status.innerHTML = `<span class="err">${withCommand(e.message)}</span>`;
    }
  }
  function drawPhoto() {
    if ($("image-view").hidden) return;
    app.photoBoxes = drawResult($("photo-overlay"), img.result, false, { landmarks: true });
  }
  $("file-input").addEventListener("change", (ev) => { const f = ev.target.files[0]; if (f) analyzePhoto(f); });
  const dz = $("dropzone");
  dz.addEventListener("dragover", (ev) => { ev.preventDefault(); dz.classList.add("over"); });
  dz.addEventListener("dragleave", () => dz.classList.remove("over"));
  dz.addEventListener("drop", (ev) => {
    ev.preventDefault(); dz.classList.remove("over");
    const f = ev.dataTransfer.files[0];
    if (f) analyzePhoto(f);
  });
  $("btn-json").addEventListener("click", () => { $("image-json").hidden = !$("image-json").hidden; });
  $("btn-download").addEventListener("click", async () => {
    if (!img.blob) return;
    try {
      const resp = await fetch(`/api/analyze?${queryString(settings())}&annotate=true&format=png`, { method: "POST", body: img.blob });
      if (!resp.ok) await jsonOrError(resp);
      const url = URL.createObjectURL(await resp.blob());
      const a = document.createElement("a");
      a.href = url; a.download = "annotated.png"; a.click();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (e) {
      $("image-status").innerHTML = `<span class="err">${withCommand(e.message)}</span>`;
    }
  });

  // ---------------------------------------------------------------------------------------------
  // start
  buildBars();
  buildLegend();
  onOptionsChanged();
  el.video.classList.toggle("mirrored", el.optMirror.checked);
  drawTimeline();
  checkServer().then(async (h) => {
    if (!h) return;
    try {
      const m = await jsonOrError(await fetch("/api/models?verify=false", { cache: "no-store" }));
      if (m.missing.length) {
        setState(el.stModels, "", "error", `weights missing for ${m.missing.length} net(s) in ${escapeHtml(m.models_dir)}: run <code>${escapeHtml(m.download_command)}</code>`);
      } else {
        setState(el.stModels, `not loaded · ${m.available.length} nets available`, "off");
      }
    } catch (e) { /* shown when the switch is used */ }
  });
  setInterval(checkServer, 10000);
})();
