"""Synthetic claims, pure: realistic batches for the fixtures, the tests and the benchmarks
(:mod:`.generator`), written as 837 by :mod:`claims_engine.x12.writer837`.
"""
