// The page's state and its elements, in one place: every module reads and writes this one object; tests
// read a snapshot of it through window.faceapiPage.state() (main.js).
import { $ } from "./ui.js";

export const el = {
  stage: $("stage"), video: $("video"), frameView: $("frame-view"), overlay: $("overlay"), placeholder: $("placeholder"),
  imageStage: $("image-stage"), photo: $("photo"), photoOverlay: $("photo-overlay"), imageView: $("image-view"),
  swWebcam: $("sw-webcam"), swModels: $("sw-models"), swDetect: $("sw-detect"),
  stWebcam: $("state-webcam"), stModels: $("state-models"), stDetect: $("state-detect"), netList: $("net-list"),
  fps: $("st-fps"), rtt: $("st-rtt"), faces: $("st-faces"), stages: $("st-stages"),
  summary: $("face-summary"), faceTitle: $("face-title"), dominant: $("dominant-label"), dominantProb: $("dominant-prob"),
  bars: $("bars"), faceMeta: $("face-meta"), faceName: $("face-name"), faceNotes: $("face-notes"),
  optInput: $("opt-input-size"), outInput: $("out-input-size"), optScore: $("opt-min-score"), outScore: $("out-min-score"),
  optExpr: $("opt-expressions"), optAge: $("opt-age-gender"), optRecognize: $("opt-recognize"),
  recognizeNote: $("recognize-note"), optTracking: $("opt-tracking"), checkTracking: $("check-tracking"),
  fieldExprModel: $("field-expression-model"), optExprModel: $("opt-expression-model"),
  checkCalibrated: $("check-calibrated"), optCalibrated: $("opt-calibrated"),
  checkLiveness: $("check-liveness"), optLiveness: $("opt-liveness"),
  checkRequireLive: $("check-require-live"), optRequireLive: $("opt-require-live"),
  optMirror: $("opt-mirror"), optionsError: $("options-error"), fieldInput: $("field-input-size"),
  serverState: $("server-state"), serverText: $("server-text"), cameraSelect: $("camera-select"),
  timelineCard: $("timeline-card"), tokenBanner: $("token-banner"), logout: $("btn-logout"),
};

export const state = {
  webcam: false, modelsOn: false, detecting: false, resumeDetect: false, recognition: false,
  camera: null, facing: "user", deviceId: "", devices: [],
  frameId: 0, inflight: null, current: null, answered: 0, fpsTimes: [], rttAvg: null,
  drawn: { frame: null, rect: null, boxes: [], tags: [], panels: [], chips: [], leaders: [], selected: null },
  labels: {}, photo: { blob: null, result: null, url: null, boxes: [], drawn: null },
  // the face chosen by a tap, click or the arrow keys, per view: {track} (kept by id while tracking) or
  // {index, center} (the nearest face to where it was); null: the largest face is shown
  selected: { live: null, photo: null },
  loggedOut: false,  // the person logged out (the banner says how to come back)
  token: null,   // false once the server refused the page for want of its token (true: accepted)
  phone: null,   // the server's answer on phones: false (not on the LAN), {url} (the QR code shown)
};
