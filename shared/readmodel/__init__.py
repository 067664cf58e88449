"""The Redis read model's layout: key names, document encodings and Lua scripts.

This package is the only place that knows how the read model is laid out in Redis; the
projector writes through it and the query API reads through it.
"""
