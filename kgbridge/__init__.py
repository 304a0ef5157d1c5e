"""kgbridge wiring: settings, logging, jobs and the composition root."""
