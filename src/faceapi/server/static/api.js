// The server's REST API (same origin). Each call resolves to the JSON body or throws an Error whose
// message is the server's `error` text; `status` and `body` ride along for callers that need them.
// A 401 (the session cookie is gone or the server now has another token) is also reported once to the
// handler set with `onUnauthorized`, which tells the person how to get the token back.

let unauthorized = () => {};
/** `handler()` runs on every 401 answer. */
export function onUnauthorized(handler) { unauthorized = handler; }

/** The words of a 401, shown by the page (`backquotes` are shown as code). */
export const TOKEN_NEEDED = "The server needs its token: open the address `faceapi serve` printed.";

async function json(resp) {
  let body = null;
  try { body = await resp.json(); } catch (e) { /* not JSON */ }
  if (!resp.ok) {
    if (resp.status === 401) unauthorized();
    const message = resp.status === 401 ? TOKEN_NEEDED : (body && (body.error || body.detail)) || `HTTP ${resp.status}`;
    const err = new Error(message);
    err.status = resp.status;
    err.body = body;
    throw err;
  }
  return body;
}

const get = async (url) => json(await fetch(url, { cache: "no-store" }));

/** POST an image: the server takes an image type or application/octet-stream (415 without a type, which
 *  the browser leaves empty for a file whose kind it does not know). */
const postImage = (url, blob) => fetch(url, {
  method: "POST", body: blob, headers: { "Content-Type": blob.type || "application/octet-stream" },
});

/** `{status}` without the token; with it also version, loaded nets, recognition, phone, ... */
export const health = () => get("/api/health");

/** Every net with `name`, `label` (human name), `available`, `verified`, `loaded`; plus the load state. */
export const models = () => get("/api/models?verify=false");

/** Start loading the nets these stream settings need; the answer is the load state. */
export async function loadModels(settings) {
  return json(await fetch("/api/models/load", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ settings }),
  }));
}

/** REST query of stream settings, as `POST /api/analyze` takes them. */
export function analyzeQuery(s) {
  const q = new URLSearchParams({
    detector: s.detector, input_size: s.input_size, min_score: s.min_score,
    landmarks: s.landmarks || "off", expressions: s.expressions, age_gender: s.age_gender,
  });
  if (s.recognize) q.set("recognize", "true");
  // present only where the server advertised them (controls.js): an older server refuses unknown names
  if (s.expression_model != null) q.set("expression_model", s.expression_model);
  if (s.calibrated != null) q.set("calibrated", String(s.calibrated));
  if (s.liveness != null) q.set("liveness", String(s.liveness));
  if (s.require_live != null) q.set("require_live", String(s.require_live));
  return q.toString();
}

export async function analyze(blob, settings) {
  return json(await postImage(`/api/analyze?${analyzeQuery(settings)}`, blob));
}

export async function annotated(blob, settings) {
  const resp = await postImage(`/api/analyze?${analyzeQuery(settings)}&annotate=true&format=png`, blob);
  if (!resp.ok) await json(resp);
  return resp.blob();
}

export const people = () => get("/api/people");

/** Enrol the face of `blob` as `name`. An existing name answers 409 (`body.conflict === "name_taken"`)
 *  unless `append`; a sample unlike the person's answers 409 (`"sample_mismatch"`) unless `force`. */
export async function enrol(name, blob, { append = false, force = false } = {}) {
  const q = new URLSearchParams({ name });
  if (append) q.set("append", "true");
  if (force) q.set("force", "true");
  return json(await postImage(`/api/people?${q}`, blob));
}

/** The whole gallery (every descriptor): the server wants the token itself for this, not only the
 *  session cookie; `token` is sent with this request alone. */
export async function exportGallery(token) {
  return json(await fetch("/api/people/export", { cache: "no-store", headers: { Authorization: `Bearer ${token}` } }));
}

/** Import a gallery JSON (`text`); `replace` empties the gallery first, which needs the token itself. */
export async function importGallery(text, { replace = false, token = null } = {}) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  return json(await fetch(`/api/people/import${replace ? "?replace=true" : ""}`, { method: "POST", headers, body: text }));
}

export async function removePerson(id) {
  return json(await fetch(`/api/people/${encodeURIComponent(id)}`, { method: "DELETE" }));
}

/** The phone's URL and its QR code (`{url, qr_svg}`); ask only a server whose health says `phone: true`
 *  (`faceapi serve --lan`): others answer 404. */
export const phone = () => get("/api/phone");

/** End this browser's session (the server forgets its cookie); a server without the route answers 404. */
export async function logout() {
  return json(await fetch("/api/logout", { method: "POST" }));
}
