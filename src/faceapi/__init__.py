"""faceapi: face-api.js's pretrained nets (detection, 68 landmarks, expressions, age and gender,
128-d descriptors) reimplemented on numpy + onnxruntime, numerically matching face-api.js 0.22.2."""

__version__ = "0.1.0"
