"""Observability at the edge: Prometheus metrics (:mod:`.metrics`) and structured logs
(:mod:`.logs`). The core never imports it; the workers, the API and the command line count
what the services return and log what they did, with the correlation ids of the work."""
