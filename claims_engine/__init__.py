"""claims-engine: a payer-side health insurance claims engine.

The package root holds the pure core: the domain model (:mod:`claims_engine.model`), money
(:mod:`claims_engine.money`), the X12 codec (:mod:`claims_engine.x12`), front-end edits
(:mod:`claims_engine.edits`) and the intake pipeline that ties them together
(:mod:`claims_engine.intake`). None of these modules read a clock, the environment, a
database or the network; those live at the edges (:mod:`claims_engine.cli`, ``workers/``,
``adapters/``).
"""

from pathlib import Path

from claims_engine.compiled import install as _install_compiled

__version__ = "0.1.0"

_install_compiled(Path(__file__).resolve().parent.parent)
