"""The outside world's ways in: the HTTP API, X12 276/277 and FHIR (issue 5)."""
