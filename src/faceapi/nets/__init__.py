"""One module per face-api.js network."""
