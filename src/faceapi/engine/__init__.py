"""The numeric internals every net shares: the ONNX graph builder (`graph`), the one place onnxruntime
sessions are made (`runtime`), face-api.js's bit-exact resize and padding (`preprocess`) and its box
geometry and non-maximum suppression (`geometry`)."""
