"""Survey analytics: scoring maps, scores, aggregates with small-cell suppression, year over year.

Survey aggregates are one row per hospital (about 8,000 a year), so they are computed in plain Python over
flat records (``dataset.HospitalRecord``); the engine-portable path (DuckDB/Spark) is for the exchange data.
"""
