"""The toolkit's version, in the lowest layer so that every stage (provenance records) may read it."""

__version__ = "0.1.0"
