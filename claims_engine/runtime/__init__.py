"""The process around the engine, an edge layer: the wall clock (:mod:`.clock`, the one place it
is read), the loader that runs the compiled hot path or its sources (:mod:`.compiled`), and
where the checkout is (:data:`PROJECT_ROOT`).
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
"""The folder the package sits in: a checkout's root, where ``fixtures/`` and ``rules/`` are."""
