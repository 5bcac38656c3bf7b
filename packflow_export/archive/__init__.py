"""The archive: written reproducibly in one streamed pass, atomically, checksummed; knows nothing of the rules.

zipformat: the zip records, built and parsed.  method: store or deflate, per file.  deflate: deterministic
deflate in fixed blocks, in parallel, proven by inflating.  reproducible: dates, clamping, modes.  writer: the
archive and its .sha256, through fsutil's atomic files.  Import the module you need: importing this package
imports nothing else, so reading records (verify, the model) does not load the writer.
"""
