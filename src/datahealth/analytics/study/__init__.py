"""Study analytics on the exchange hub's data: study model, intervention effect, device accuracy, engagement.

``model`` (the study definition), ``tables``/``registry`` (definitions and allocations in the database),
``snapshot`` (incremental Parquet export of the hub for DuckDB), ``outcomes`` (windows in DuckDB),
``effect`` (statistics), ``accuracy`` (device validation), ``engagement``, ``synth`` (studies with
known truth) and ``cli``.
"""
