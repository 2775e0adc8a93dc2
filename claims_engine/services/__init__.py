"""Service functions of the persistent pipeline: the work behind the CLI, the workers and the
adapters, on the store (:mod:`claims_engine.store`).

An edge layer: these functions open transactions and take the current time as an argument;
the pure core they call (intake, adjudication, payment cycle, X12 writers) never sees either.

* :mod:`.reference` keeps reference data sets in the store and builds the runtime from them;
* :mod:`.intake` stores submissions (duplicates answered with TA1 025) and ingests them;
* :mod:`.stored_adjudication` adjudicates batches of claims exactly once, family by family;
* :mod:`.remittance` runs payment cycles into 835s, each decision paid once;
* :mod:`.queries` answers status, statistics and the adapters' searches and documents;
* :mod:`.recovery` finds work a crash or a lost queue left undone;
* :mod:`.access` keeps API keys, decides who sees which claims and audits every read;
* :mod:`.claim_inquiry` answers X12 276 claim status inquiries with a 277;
* :mod:`.explanation` loads what a FHIR ExplanationOfBenefit says about a claim.

Every effect is guarded in the transaction that makes it: unique keys and state checks, so a
message delivered twice or a batch retried changes nothing the first delivery did.
"""
