"""Adjudication: from an accepted claim to money, explained with standard codes.

Pure stages take the claim, the reference data, the member's history and ``as_of`` and return
decisions (:mod:`claims_engine.adjudication.decision`). Nothing here reads a clock, a database
or the environment.
"""
