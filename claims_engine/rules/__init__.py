"""Coverage rules, pure: the rule engine (:mod:`.engine`), the book of pack versions in force by
date (:mod:`.book`), the linter (:mod:`.lint`), the YAML rule cases (:mod:`.cases`) and the
report of a what-if simulation (:mod:`.simulation_report`). The shipped pack itself is data, in
the top-level ``rules/`` folder; running a simulation over the store is an edge service
(:mod:`claims_engine.services.simulation`).
"""
