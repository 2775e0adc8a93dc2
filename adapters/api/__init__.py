"""The HTTP API: routes (``app``), response bodies (``models``) and bearer keys (``security``)."""
