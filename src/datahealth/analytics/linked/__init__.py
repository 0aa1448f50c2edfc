"""Linked checkup / medical-claims / care-claims analytics (seed 004, 保健医療データプラットフォーム).

Pipeline: ``synth`` writes national-style raw data with identifiers (Parquet, streamed); ``linkage``
replaces identifiers with keyed hashes (HMAC-SHA256) and writes the pseudonymous analysis tables;
``cohort``/``trajectory`` and ``scoring`` are Ibis expressions run on DuckDB or Spark (``engines``).
"""
