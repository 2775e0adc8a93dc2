"""claims-engine: a payer-side health insurance claims engine.

A module's folder says its layer. The pure core reads no clock, environment, database or
network: :mod:`claims_engine.domain` (the vocabulary), :mod:`claims_engine.x12` (the X12 codec),
:mod:`claims_engine.front_end` (intake and edits), :mod:`claims_engine.adjudication`,
:mod:`claims_engine.rules` and :mod:`claims_engine.synthetic`. The edge does:
:mod:`claims_engine.store`, :mod:`claims_engine.services`, :mod:`claims_engine.observability`,
:mod:`claims_engine.runtime` and :mod:`claims_engine.cli`, with ``workers/`` and ``adapters/``
outside the package.
"""

from pathlib import Path

from claims_engine.runtime.compiled import install as _install_compiled

__version__ = "0.1.0"

_install_compiled(Path(__file__).resolve().parent.parent)
