// faceapi real-time page: wiring of the switches, the options, the live loop and image mode.
// Vanilla ES modules, no build step, nothing fetched but this server. The browser captures and draws;
// the Python server (WebSocket /ws/stream, REST /api/...) does the inference.
import * as api from "./api.js";
import { captureFrame, cameraError, fitPhoto, listCameras, openCamera } from "./camera.js";
import { applyHello, followDetector, initControls, settings } from "./controls.js";
import { People } from "./people.js";
import { drawPhoto, renderLive, renderSummary, showStats, shownFace } from "./render.js";
import { el, state } from "./state.js";
import { Stream } from "./stream.js";
import { Timeline } from "./timeline.js";
import { $, escapeHtml, fmtMs, largestFace, radio, setState, setSwitch, withCommand } from "./ui.js";

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
// options (controls.js): applied live
function onOptionsChanged() {
  followDetector();
  stream.sendSettings(settings());
  if (state.modelsOn) loadModels(true);
  renderLive();
}
function applyMirror() {
  el.video.classList.toggle("mirrored", el.optMirror.checked);
  renderLive();
}
initControls({ hello: () => stream.hello, onChange: onOptionsChanged, onMirror: applyMirror });

function onHello(h) {
  state.recognition = !!h.recognition;
  applyRecognition();
  applyHello(h);
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
const LOGGED_OUT = "Logged out. To come back, open the address `faceapi serve` printed.";
function tokenNeeded() {
  const words = state.loggedOut ? LOGGED_OUT : api.TOKEN_NEEDED;
  state.token = false;
  el.logout.hidden = true;
  el.serverState.dataset.state = "token";
  el.serverText.textContent = state.loggedOut ? "logged out" : "token needed";
  el.tokenBanner.innerHTML = withCommand(words);
  el.tokenBanner.hidden = false;
  if (state.detecting) setState(el.stDetect, "", "error", withCommand(words));
}
api.onUnauthorized(tokenNeeded);
async function checkServer() {
  try {
    const h = await api.health();
    if (h.version === undefined) { tokenNeeded(); return null; }
    state.token = true;
    state.loggedOut = false;
    el.logout.hidden = logoutMissing;
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

/** Log out: the server ends this browser's session (POST /api/logout); the camera and the stream stop. */
let logoutMissing = false;  // this server has no such route (an older one): the item goes
el.logout.addEventListener("click", async () => {
  try {
    await api.logout();
  } catch (e) {
    if (e.status === 404 || e.status === 405) {
      logoutMissing = true;
      el.logout.hidden = true;
      el.serverText.textContent = "this server has no log out";
      return;
    }
    if (e.status !== 401) { el.serverText.textContent = `log out failed: ${e.message}`; return; }
  }
  if (state.webcam) webcamOff(); else detectOff();
  stream.close("logged out");
  state.loggedOut = true;
  tokenNeeded();
});

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
  timeline.push(largestFace(msg.faces));
  renderSummary(shownFace("live"));
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
    drawPhoto();
    renderSummary(shownFace("photo"), "no face yet");
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
    state.selected.photo = null;  // a new photo: its largest face until one is chosen
    drawPhoto();
    const t = result.timings_ms;
    const face = largestFace(result.faces);
    const dom = face && face.expressions ? ` · largest face: <b>${escapeHtml(face.expressions.dominant)}</b>` : "";
    status.innerHTML = `<span><b>${result.faces.length}</b> face${result.faces.length === 1 ? "" : "s"}${dom}</span>` +
      `<span>${result.image.width}×${result.image.height}</span><span>server ${fmtMs(t.total)} ms · round trip ${fmtMs(rtt)} ms</span>`;
    $("image-json").textContent = JSON.stringify(result, null, 1);
    $("image-actions").hidden = false;
    renderSummary(shownFace("photo"));
  } catch (e) {
    photo.result = null;
    drawPhoto();
    status.innerHTML = `<span class="err">${withCommand(e.message)}</span>`;
  }
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
    logged_out: !!state.loggedOut,
    photo: { result: state.photo.result, boxes: state.photo.boxes, drawn: state.photo.drawn },
    selected: state.selected,
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
