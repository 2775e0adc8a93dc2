"""The X12 codec: tokenizer, envelope checks, 837 reader, and the writers of acknowledgments.

X12 names (ISA, CLM, SVC, CAS ...) stay inside this package; the rest of the engine speaks in
the domain's words of :mod:`claims_engine.domain.model`.
"""
