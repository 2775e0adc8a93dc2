"""The front end, pure: an 837 stream in, acknowledgments and accepted claims out.
:mod:`.ingest` ties the X12 reader to the front-end edits (:mod:`.edits`, SNIP levels 3 to 5 and
the checks that always apply) and the acknowledgment writers.
"""
