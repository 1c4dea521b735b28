"""The app's routes, one module per area: service (page, health), analyze, people, models, stream."""
