// faceapi real-time page: wiring of the switches, the options, the live loop and image mode.
// Vanilla ES modules, no build step, nothing fetched but this server. The browser captures and draws;
// the Python server (WebSocket /ws/stream, REST /api/...) does the inference.
import * as api from "./api.js";
import { captureFrame, cameraError, fitPhoto, listCameras, openCamera } from "./camera.js";
import { EXPRESSIONS, EXPR_COLORS, clearCanvas, drawFrame, drawResult } from "./draw.js";
import { People } from "./people.js";
import { Stream } from "./stream.js";
import { Timeline } from "./timeline.js";
import { $, escapeHtml, fmtMs, largestFace, radio, setState, setSwitch, withCommand } from "./ui.js";

const el = {
  stage: $("stage"), video: $("video"), frameView: $("frame-view"), overlay: $("overlay"), placeholder: $("placeholder"),
  swWebcam: $("sw-webcam"), swModels: $("sw-models"), swDetect: $("sw-detect"),
  stWebcam: $("state-webcam"), stModels: $("state-models"), stDetect: $("state-detect"), netList: $("net-list"),
  fps: $("st-fps"), rtt: $("st-rtt"), faces: $("st-faces"), stages: $("st-stages"),
  summary: $("face-summary"), dominant: $("dominant-label"), dominantProb: $("dominant-prob"), bars: $("bars"),
  faceMeta: $("face-meta"), faceName: $("face-name"),
  optInput: $("opt-input-size"), outInput: $("out-input-size"), optScore: $("opt-min-score"), outScore: $("out-min-score"),
  optExpr: $("opt-expressions"), optAge: $("opt-age-gender"), optRecognize: $("opt-recognize"),
  recognizeNote: $("recognize-note"), optTracking: $("opt-tracking"), checkTracking: $("check-tracking"),
  optMirror: $("opt-mirror"), optionsError: $("options-error"), fieldInput: $("field-input-size"),
  serverState: $("server-state"), serverText: $("server-text"), cameraSelect: $("camera-select"),
  timelineCard: $("timeline-card"), tokenBanner: $("token-banner"),
};

// The page's state lives here, in this module; tests read a snapshot through window.faceapiPage.state().
const state = {
  webcam: false, modelsOn: false, detecting: false, resumeDetect: false, recognition: false,
  camera: null, facing: "user", deviceId: "", devices: [],
  frameId: 0, inflight: null, current: null, answered: 0, fpsTimes: [], rttAvg: null,
  drawn: { frame: null, rect: null, boxes: [], panels: [], tags: [] },
  labels: {}, photo: { blob: null, result: null, url: null, boxes: [] },
  token: null,   // false once the server refused the page for want of its token (true: accepted)
  phone: null,   // the server's answer on phones: false (not on the LAN), {url} (the QR code shown)
};

const timeline = new Timeline($("timeline"), $("legend"));
const people = new People(async () => {
  if (!state.webcam || !el.video.videoWidth) return null;
  const hello = await stream.connect().catch(() => null);
  return (await captureFrame(el.video, hello && hello.max_frame_bytes)).blob;
});
const stream = new Stream({
  onHello, onResult, onFrameError,
  onSettings: () => { el.optionsError.hidden = true; },
  onSettingsError: (msg) => { el.optionsError.hidden = false; el.optionsError.innerHTML = withCommand(msg.error); },
  onRefused: () => { checkServer(); },  // why? the REST API says whether the token is missing
  onClose: (ev) => {
    if (!state.detecting) { checkServer(); return; }  // the server went away: maybe back with a new token
    state.inflight = null;
    showNothing();
    setState(el.stDetect, `connection lost (${ev.code}${ev.reason ? ": " + ev.reason : ""}), reconnecting…`, "error");
    setTimeout(() => { if (state.detecting) startStream(); }, 1000);
  },
});

// ---------------------------------------------------------------------------------------------
// settings
function settings() {
  const lm = radio("landmarks");
  const s = {
    detector: radio("detector"),
    input_size: Number(el.optInput.value),
    min_score: Number(el.optScore.value),
    landmarks: lm === "off" ? null : lm,
    expressions: el.optExpr.checked,
    age_gender: el.optAge.checked,
    recognize: el.optRecognize.checked,
  };
  if (stream.hello && stream.hello.tracking === true) s.tracking = el.optTracking.checked;  // only where supported
  return s;
}
function onOptionsChanged() {
  el.outInput.textContent = el.optInput.value;
  el.outScore.textContent = Number(el.optScore.value).toFixed(2);
  const tiny = radio("detector") === "tiny";
  el.fieldInput.classList.toggle("inactive", !tiny);
  el.optInput.disabled = !tiny;
  stream.sendSettings(settings());
  if (state.modelsOn) loadModels(true);
  renderLive();
}
document.querySelectorAll(".options input").forEach((inp) => {
  if (inp === el.optMirror) return;
  inp.addEventListener(inp.type === "range" ? "input" : "change", onOptionsChanged);
});
function applyMirror() {
  el.video.classList.toggle("mirrored", el.optMirror.checked);
  renderLive();
}
el.optMirror.addEventListener("change", applyMirror);

function onHello(h) {
  state.recognition = !!h.recognition;
  applyRecognition();
  el.checkTracking.hidden = h.tracking !== true;
  stream.sendSettings(settings());
}
function applyRecognition() {
  el.optRecognize.disabled = !state.recognition;
  if (!state.recognition) el.optRecognize.checked = false;
  el.recognizeNote.textContent = state.recognition ? "— names from the gallery" : "— needs a gallery of people on the server";
  people.setAvailable(state.recognition);
}
/** The QR code of the phone's address, asked for only when the server's health says it serves phones
 *  (`faceapi serve --lan`); once. */
let phoneAsked = false;
async function checkPhone(h) {
  if (!h.phone) { state.phone = false; return; }
  if (phoneAsked) return;
  phoneAsked = true;
  try {
    showPhone(await api.phone());
  } catch (e) {
    phoneAsked = false;  // asked again at the next health check
  }
}
function showPhone(p) {
  state.phone = { url: p.url };
  $("phone-qr").src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(p.qr_svg)}`;
  const a = $("phone-url");
  a.textContent = p.url || "";
  a.href = p.url || "#";
  a.hidden = !p.url;
  $("phone-card").hidden = false;
}

// ---------------------------------------------------------------------------------------------
// server state
// The health check without the token answers only {status}: the page was refused (the session cookie is
// gone, or the server restarted with another token), as any 401 and a refused WebSocket say too.
function tokenNeeded() {
  state.token = false;
  el.serverState.dataset.state = "token";
  el.serverText.textContent = "token needed";
  el.tokenBanner.innerHTML = withCommand(api.TOKEN_NEEDED);
  el.tokenBanner.hidden = false;
  if (state.detecting) setState(el.stDetect, "", "error", withCommand(api.TOKEN_NEEDED));
}
api.onUnauthorized(tokenNeeded);
async function checkServer() {
  try {
    const h = await api.health();
    if (h.version === undefined) { tokenNeeded(); return null; }
    state.token = true;
    el.tokenBanner.hidden = true;
    el.serverState.dataset.state = "ok";
    el.serverText.textContent = `server ${h.version} · ${h.loaded.length} nets loaded`;
    state.recognition = !!h.recognition;
    applyRecognition();
    checkPhone(h);
    return h;
  } catch (e) {
    el.serverState.dataset.state = "error";
    el.serverText.textContent = "server unreachable";
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// 1. webcam (front/back or a chosen device)
async function webcamOn() {
  setSwitch(el.swWebcam, true, true);
  setState(el.stWebcam, "asking for the camera…", "busy");
  let cam;
  try {
    cam = await openCamera({ facing: state.facing, deviceId: state.deviceId });
  } catch (e) {
    setSwitch(el.swWebcam, false);
    const m = cameraError(e);
    setState(el.stWebcam, m.text || "", "error", m.html);
    return;
  }
  if (state.camera) state.camera.getTracks().forEach((t) => t.stop());
  state.camera = cam;
  el.video.srcObject = cam;
  await el.video.play().catch(() => {});
  if (!el.video.videoWidth) await new Promise((res) => el.video.addEventListener("loadedmetadata", res, { once: true }));
  fitStage();
  el.placeholder.hidden = true;
  state.webcam = true;
  setSwitch(el.swWebcam, true);
  const track = cam.getVideoTracks()[0];
  const st = track && track.getSettings ? track.getSettings() : {};
  if (st.facingMode === "user" || st.facingMode === "environment") followFacing(st.facingMode);
  let label = track && track.label ? track.label.split("/").pop() : "";
  if (label.length > 32) label = label.slice(0, 31) + "…";
  setState(el.stWebcam, `on · ${el.video.videoWidth}×${el.video.videoHeight}${label ? " · " + label : ""}`, "on");
  if (el.stDetect.dataset.kind === "error") setState(el.stDetect, "off", "off");
  await showDevices(st.deviceId);
}
function webcamOff() {
  detectOff();
  state.resumeDetect = false;
  if (state.camera) state.camera.getTracks().forEach((t) => t.stop());
  state.camera = null;
  el.video.srcObject = null;
  state.webcam = false;
  el.placeholder.hidden = false;
  setSwitch(el.swWebcam, false);
  setState(el.stWebcam, "off", "off");
}
el.swWebcam.addEventListener("click", () => (state.webcam ? webcamOff() : webcamOn()));

/** The mirror follows the camera: on for the front (selfie) camera, off for the back one. */
function followFacing(facing) {
  el.optMirror.checked = facing === "user";
  const r = document.querySelector(`input[name="facing"][value="${facing}"]`);
  if (r) r.checked = true;
  applyMirror();
}
async function showDevices(current) {
  state.devices = await listCameras();
  const sel = el.cameraSelect;
  sel.hidden = state.devices.length < 2;
  sel.replaceChildren(...state.devices.map((d, i) => {
    const o = document.createElement("option");
    o.value = d.deviceId;
    o.textContent = d.label || `Camera ${i + 1}`;
    return o;
  }));
  if (current) sel.value = current;
}
document.querySelectorAll('input[name="facing"]').forEach((r) => r.addEventListener("change", () => {
  state.facing = radio("facing");
  state.deviceId = "";
  followFacing(state.facing);
  if (state.webcam) webcamOn();
}));
el.cameraSelect.addEventListener("change", () => {
  state.deviceId = el.cameraSelect.value;
  if (state.webcam) webcamOn();
});
// whatever size and orientation the camera gives (it may change when a phone turns): letterboxed
el.video.addEventListener("resize", fitStage);
function fitStage() {
  if (el.video.videoWidth) el.stage.style.aspectRatio = `${el.video.videoWidth} / ${el.video.videoHeight}`;
  renderLive();
}

// ---------------------------------------------------------------------------------------------
// 2. models
let loadSeq = 0;
const netLabel = (name) => state.labels[name] || name;
function renderNets(load) {
  el.netList.hidden = false;
  el.netList.replaceChildren(...load.nets.map((name) => {
    const st = load.status[name] || "pending";
    const li = document.createElement("li");
    li.dataset.status = st;
    li.dataset.net = name;
    li.innerHTML = `<span>${escapeHtml(netLabel(name))}</span><span class="net-status">${escapeHtml(st)}</span>`;
    return li;
  }));
}
async function loadModels(quiet) {
  const seq = ++loadSeq;
  state.modelsOn = true;
  setSwitch(el.swModels, true, true);
  if (!quiet) setState(el.stModels, "loading…", "busy");
  let load;
  try {
    const engine = settings();
    delete engine.tracking;  // a stream setting: the nets depend on the engine settings only
    load = await api.loadModels(engine);
    while (load.state === "loading") {
      renderNets(load);
      const done = load.nets.filter((n) => load.status[n] === "loaded").length;
      setState(el.stModels, `loading ${load.current ? netLabel(load.current) : ""} (${done}/${load.nets.length})…`, "busy");
      await new Promise((r) => setTimeout(r, 150));  // the server offers no push for load progress
      if (seq !== loadSeq) return;
      load = (await api.models()).load;
    }
  } catch (e) {
    if (seq !== loadSeq) return;
    state.modelsOn = false;
    setSwitch(el.swModels, false);
    setState(el.stModels, "", "error", withCommand(e.message));
    return;
  }
  if (seq !== loadSeq || !state.modelsOn) return;
  renderNets(load);
  if (load.state === "error") {
    state.modelsOn = false;
    setSwitch(el.swModels, false);
    let html = withCommand(load.error || "loading failed");
    if (load.command && !(load.error || "").includes(load.command)) html += `<br>run <code>${escapeHtml(load.command)}</code>`;
    setState(el.stModels, "", "error", html);
    if (state.detecting) detectOff("models failed to load", "error");
    return;
  }
  setSwitch(el.swModels, true);
  const secs = load.seconds != null ? ` in ${load.seconds < 1 ? Math.round(load.seconds * 1000) + " ms" : load.seconds.toFixed(1) + " s"}` : "";
  setState(el.stModels, `ready · ${load.nets.length} nets${secs}`, "on");
  checkServer();
}
function modelsOff() {
  loadSeq++;
  state.modelsOn = false;
  detectOff();
  setSwitch(el.swModels, false);
  el.netList.hidden = true;
  setState(el.stModels, "off (the server keeps loaded nets in memory)", "off");
}
el.swModels.addEventListener("click", () => (state.modelsOn ? modelsOff() : loadModels(false)));

// ---------------------------------------------------------------------------------------------
// 3. detection: one frame in flight; each answer is shown on the very frame it belongs to
async function startStream() {
  try {
    await stream.connect();
    if (!state.detecting) return;
    setState(el.stDetect, "running", "on");
    pump();
  } catch (e) {
    if (state.token === false) setState(el.stDetect, "", "error", withCommand(api.TOKEN_NEEDED));
    else setState(el.stDetect, e.message, "error");
    if (state.detecting) setTimeout(() => { if (state.detecting) startStream(); }, 2000);
  }
}
function detectOn() {
  if (!state.webcam) { setState(el.stDetect, "turn on the webcam first (switch 1)", "error"); return; }
  if (!state.modelsOn) { setState(el.stDetect, "load the models first (switch 2)", "error"); return; }
  state.detecting = true;
  state.fpsTimes = [];
  state.rttAvg = null;
  setSwitch(el.swDetect, true);
  setState(el.stDetect, "connecting…", "busy");
  startStream();
}
function detectOff(text, kind) {
  state.detecting = false;
  state.inflight = null;
  setSwitch(el.swDetect, false);
  setState(el.stDetect, text || "off", kind || "off");
  showNothing();
}
el.swDetect.addEventListener("click", () => (state.detecting ? detectOff() : detectOn()));

async function pump() {
  if (!state.detecting || state.inflight || !stream.open) return;
  const v = el.video;
  if (!v.videoWidth || v.readyState < 2) { setTimeout(pump, 30); return; }
  const fl = { id: ++state.frameId, t0: performance.now(), frame: null };
  state.inflight = fl;
  try {
    fl.frame = await captureFrame(v, stream.hello.max_frame_bytes);
    const bytes = await fl.frame.blob.arrayBuffer();
    if (state.inflight !== fl) return;  // stopped meanwhile
    fl.sent = performance.now();
    if (!stream.sendFrame(fl.id, bytes, fl.t0 / 1000)) state.inflight = null;  // closed: onClose reconnects
  } catch (e) {
    if (state.inflight !== fl) return;
    state.inflight = null;
    detectOff("", "error");
    setState(el.stDetect, "", "error", withCommand(e.message));
  }
}

function onResult(msg) {
  const fl = state.inflight;
  if (!fl || msg.frame !== fl.id || !state.detecting) return;  // an answer to a frame from before a stop
  const now = performance.now();
  const rtt = now - (fl.sent || fl.t0);
  state.rttAvg = state.rttAvg == null ? rtt : state.rttAvg * 0.8 + rtt * 0.2;
  state.fpsTimes.push(now);
  while (state.fpsTimes.length && now - state.fpsTimes[0] > 2000) state.fpsTimes.shift();
  state.inflight = null;
  state.answered++;
  if (el.stDetect.dataset.kind !== "on") setState(el.stDetect, "running", "on");
  state.current = { id: fl.id, frame: fl.frame, result: msg };
  renderLive();
  showStats(msg);
  const face = largestFace(msg.faces);
  timeline.push(face);
  renderSummary(face);
  timeline.draw();
  setTimeout(pump, 0);
}
function onFrameError(msg) {
  const fl = state.inflight;
  if (!fl || msg.frame !== fl.id || !state.detecting) return;
  state.inflight = null;
  showNothing();
  let html = withCommand(`frame ${msg.frame}: ${msg.error}`);
  if (msg.command) html += `<br>run <code>${escapeHtml(msg.command)}</code>`;
  setState(el.stDetect, "", "error", html);
  setTimeout(pump, 250);  // the connection stays open: try the next frame, without a busy loop
}

/** The live picture: the analysed frame with its result while detecting, else the camera's video. */
function renderLive() {
  const cur = state.detecting ? state.current : null;
  const mirrored = el.optMirror.checked;
  el.video.classList.toggle("behind", !!cur);
  el.frameView.hidden = !cur;
  if (cur) {
    drawFrame(el.frameView, cur.frame.bitmap, mirrored);
    const d = drawResult(el.overlay, cur.result, mirrored, { landmarks: radio("landmarks") !== "off" });
    state.drawn = { frame: cur.id, mirrored, ...d };
  } else {
    clearCanvas(el.frameView);
    clearCanvas(el.overlay);
    state.drawn = { frame: null, mirrored, rect: null, boxes: [], panels: [], tags: [] };
  }
}
/** No result on screen: the live video, no overlay, and no figures of a stream that is not running. */
function showNothing() {
  state.current = null;
  state.fpsTimes = [];
  state.rttAvg = null;
  renderLive();
  el.fps.textContent = "–";
  el.rtt.textContent = "–";
  el.faces.textContent = "–";
  el.stages.textContent = "server: –";
  renderSummary(null, "no face yet");
}
function showStats(msg) {
  const t = msg.timings_ms || {};
  const n = state.fpsTimes.length;
  const fps = n > 1 ? ((n - 1) * 1000) / (state.fpsTimes[n - 1] - state.fpsTimes[0]) : null;
  el.fps.textContent = fps ? fps.toFixed(1) : "–";
  el.rtt.textContent = fmtMs(state.rttAvg);
  el.faces.textContent = msg.faces.length;
  const parts = ["decode", "detect", "landmarks", "expressions", "age_gender", "descriptors", "recognize", "tracking"]
    .filter((k) => t[k] != null).map((k) => `${k.replace("_", " ")} ${fmtMs(t[k])}`);
  if (msg.detected === false) parts.splice(1, 0, "detect skipped (tracked)");  // tracking: no detector this frame
  el.stages.textContent = `server: ${parts.join(" · ")} · total ${fmtMs(t.server_total != null ? t.server_total : t.total)} ms`;
}

// ---------------------------------------------------------------------------------------------
// largest-face card
const barRows = {};
for (const e of EXPRESSIONS) {
  const name = document.createElement("span"), track = document.createElement("span"), fill = document.createElement("span");
  const pct = document.createElement("span");
  name.className = "name"; name.textContent = e;
  track.className = "track"; fill.className = "fill"; track.appendChild(fill);
  pct.className = "pct"; pct.textContent = "–";
  fill.style.background = EXPR_COLORS[e];  // CSSOM, not a style attribute: the CSP allows it
  el.bars.append(name, track, pct);
  barRows[e] = { cells: [name, pct], fill, pct };
}
function renderSummary(face, none = "no face") {
  renderName(face);
  el.dominant.style.color = "";
  if (!face) {
    el.summary.dataset.dominant = "";
    el.dominant.textContent = none;
    el.dominantProb.textContent = "";
    el.faceMeta.textContent = "";
    for (const e of EXPRESSIONS) {
      barRows[e].fill.style.width = "0";
      barRows[e].pct.textContent = "–";
      barRows[e].cells.forEach((c) => c.classList.remove("top"));
    }
    return;
  }
  const meta = [`score ${face.score.toFixed(2)}`];
  if (Number.isInteger(face.track)) meta.unshift(`#${face.track}`);
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
    barRows[e].cells.forEach((c) => c.classList.toggle("top", e === dom));
  }
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
// modes: Live / Image (tabs; arrow keys move between them)
const tabs = [$("tab-live"), $("tab-image")];
function showTab(which) {
  const live = which === "live";
  tabs.forEach((t) => {
    const on = (t.id === "tab-live") === live;
    t.setAttribute("aria-selected", String(on));
    t.tabIndex = on ? 0 : -1;
  });
  $("live-view").hidden = !live;
  $("image-view").hidden = live;
  el.timelineCard.hidden = !live;
  if (!live) {
    if (state.detecting) {
      state.resumeDetect = true;
      detectOff("paused: image mode (back to Live resumes)", "off");
    }
    renderSummary(state.photo.result ? largestFace(state.photo.result.faces) : null, "no face yet");
    drawPhoto();
  } else {
    renderSummary(null, "no face yet");
    if (state.resumeDetect) { state.resumeDetect = false; detectOn(); }
    renderLive();
    timeline.draw();
  }
}
tabs.forEach((t, i) => {
  t.addEventListener("click", () => showTab(i === 0 ? "live" : "image"));
  t.addEventListener("keydown", (ev) => {
    if (ev.key !== "ArrowLeft" && ev.key !== "ArrowRight") return;
    const next = tabs[(i + 1) % tabs.length];
    next.focus();
    showTab(next.id === "tab-live" ? "live" : "image");
  });
});

// ---------------------------------------------------------------------------------------------
// image mode
async function analyzePhoto(file) {
  const status = $("image-status");
  status.textContent = "analysing…";
  $("image-actions").hidden = true;
  $("image-json").hidden = true;
  const photo = state.photo;
  try {
    const hello = await stream.connect().catch(() => null);  // the server's limit on an upload
    const blob = await fitPhoto(file, hello && hello.max_frame_bytes);
    photo.blob = blob;
    if (photo.url) URL.revokeObjectURL(photo.url);
    photo.url = URL.createObjectURL(blob);
    const img = $("photo");
    img.src = photo.url;
    await img.decode().catch(() => {});
    $("image-stage").hidden = false;
    const t0 = performance.now();
    const result = await api.analyze(blob, settings());
    const rtt = performance.now() - t0;
    photo.result = result;
    drawPhoto();
    const t = result.timings_ms;
    const face = largestFace(result.faces);
    const dom = face && face.expressions ? ` · largest face: <b>${escapeHtml(face.expressions.dominant)}</b>` : "";
    status.innerHTML = `<span><b>${result.faces.length}</b> face${result.faces.length === 1 ? "" : "s"}${dom}</span>` +
      `<span>${result.image.width}×${result.image.height}</span><span>server ${fmtMs(t.total)} ms · round trip ${fmtMs(rtt)} ms</span>`;
    $("image-json").textContent = JSON.stringify(result, null, 1);
    $("image-actions").hidden = false;
    renderSummary(face);
  } catch (e) {
    photo.result = null;
    drawPhoto();
    status.innerHTML = `<span class="err">${withCommand(e.message)}</span>`;
  }
}
function drawPhoto() {
  if ($("image-view").hidden) return;
  state.photo.boxes = drawResult($("photo-overlay"), state.photo.result, false, { landmarks: true }).boxes;
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
$("btn-json").addEventListener("click", () => {
  const pre = $("image-json");
  pre.hidden = !pre.hidden;
  $("btn-json").setAttribute("aria-expanded", String(!pre.hidden));
});
$("btn-download").addEventListener("click", async () => {
  if (!state.photo.blob) return;
  try {
    const url = URL.createObjectURL(await api.annotated(state.photo.blob, settings()));
    const a = document.createElement("a");
    a.href = url; a.download = "annotated.png"; a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) {
    $("image-status").innerHTML = `<span class="err">${withCommand(e.message)}</span>`;
  }
});

// ---------------------------------------------------------------------------------------------
// the test hook: a read-only snapshot of the page's state (what was drawn, on which frame)
window.faceapiPage = Object.freeze({
  state: () => structuredClone({
    webcam: state.webcam, models: state.modelsOn, detecting: state.detecting,
    hello: stream.hello, settings: settings(),
    frames: { sent: state.frameId, answered: state.answered, fps_samples: state.fpsTimes.length },
    rtt_ms: state.rttAvg, result: state.current ? state.current.result : null,
    drawn: state.drawn,
    video: { width: el.video.videoWidth, height: el.video.videoHeight, mirrored: el.optMirror.checked },
    camera: { facing: state.facing, devices: state.devices.length }, token: state.token, phone: state.phone,
    photo: { result: state.photo.result, boxes: state.photo.boxes },
  }),
});

// ---------------------------------------------------------------------------------------------
// start
new ResizeObserver(() => { renderLive(); drawPhoto(); timeline.draw(); }).observe(document.body);
onOptionsChanged();
applyMirror();
timeline.draw();
setInterval(() => { if (state.detecting) timeline.draw(); }, 1000);
checkServer().then(async (h) => {
  if (!h) return;
  try {
    const m = await api.models();
    state.labels = Object.fromEntries(m.nets.map((n) => [n.name, n.label || n.name]));
    if (m.missing.length) {
      setState(el.stModels, "", "error", `weights missing for ${m.missing.length} net(s) on the server: run <code>${escapeHtml(m.download_command)}</code>`);
    } else if (!state.modelsOn) {
      setState(el.stModels, `not loaded · ${m.available.length} nets available`, "off");
    }
  } catch (e) { /* shown when the switch is used */ }
  await stream.connect().catch(() => { /* said when detection starts */ });
});
setInterval(checkServer, 10000);
