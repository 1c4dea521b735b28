// The camera: open it (front/back or a chosen device), list the devices, and capture a frame.

export const MAX_FRAME_WIDTH = 640;  // frames are scaled down to this width before they are sent
const QUALITIES = [0.8, 0.65, 0.5];   // JPEG qualities tried, in order, to fit the server's frame limit

/** Open the camera. `facing`: "user" | "environment"; `deviceId` wins over it when given. */
export async function openCamera({ facing, deviceId }) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    const err = new Error("insecure");
    err.name = "InsecureContext";
    throw err;
  }
  const video = { width: { ideal: 640 }, height: { ideal: 480 } };
  if (deviceId) video.deviceId = { exact: deviceId };
  else video.facingMode = { ideal: facing || "user" };
  return navigator.mediaDevices.getUserMedia({ audio: false, video });
}

/** The video inputs (labels are known once the camera was granted). */
export async function listCameras() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return [];
  try {
    return (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput");
  } catch (e) {
    return [];
  }
}

/** Words for a getUserMedia failure. */
export function cameraError(e) {
  const name = e && e.name;
  if (name === "InsecureContext") {
    return { html: "this browser allows the camera only on <code>https://</code> pages or on <code>localhost</code> " +
      "(start the server with <code>faceapi serve --https</code>, or <code>--lan</code> for a phone)" };
  }
  if (name === "NotAllowedError" || name === "SecurityError") return { text: "permission denied: allow the camera for this page in the browser's site settings, then try again" };
  if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") return { text: "no camera found on this device" };
  if (name === "NotReadableError" || name === "TrackStartError") return { text: "the camera is in use by another application" };
  return { text: `could not start the camera (${name || "error"}: ${e && e.message})` };
}

const toBlob = (canvas, quality) => new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));

/**
 * The one frame capture (stream and enrolment): the video scaled to at most MAX_FRAME_WIDTH, unmirrored,
 * as a JPEG of at most `maxBytes` (lower qualities, then smaller sizes, are tried to fit) and the bitmap
 * of exactly that frame (to show with its answer). Throws when even the smallest try is over the limit.
 */
export async function captureFrame(video, maxBytes) {
  let scale = Math.min(1, MAX_FRAME_WIDTH / video.videoWidth);
  for (let attempt = 0; attempt < 3; attempt++, scale *= 0.7) {
    const c = document.createElement("canvas");
    c.width = Math.max(1, Math.round(video.videoWidth * scale));
    c.height = Math.max(1, Math.round(video.videoHeight * scale));
    c.getContext("2d").drawImage(video, 0, 0, c.width, c.height);
    for (const q of QUALITIES) {
      const blob = await toBlob(c, q);
      if (!blob) throw new Error("the browser could not encode the frame");
      if (!maxBytes || blob.size <= maxBytes) return { blob, bitmap: c, width: c.width, height: c.height };
    }
  }
  throw new Error(`a frame does not fit the server's limit of ${maxBytes} bytes (server option --max-frame-bytes)`);
}

/** A photo made to fit the server's limit: itself when small enough, else a downsized JPEG. */
export async function fitPhoto(file, maxBytes) {
  if (!maxBytes || file.size <= maxBytes) return file;
  const bmp = await createImageBitmap(file);
  let side = 1920;
  for (let attempt = 0; attempt < 4; attempt++, side = Math.round(side * 0.7)) {
    const scale = Math.min(1, side / Math.max(bmp.width, bmp.height));
    const c = document.createElement("canvas");
    c.width = Math.round(bmp.width * scale); c.height = Math.round(bmp.height * scale);
    c.getContext("2d").drawImage(bmp, 0, 0, c.width, c.height);
    const blob = await toBlob(c, 0.9);
    if (blob && blob.size <= maxBytes) return blob;
  }
  throw new Error(`the photo does not fit the server's limit of ${maxBytes} bytes, even downsized`);
}
