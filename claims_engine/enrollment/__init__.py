"""Enrollment logic: what the files sponsors send do to the members a payer knows (pure)."""
