"""Check that a Packflow project is ready for distribution and export it as a verified archive."""

__version__ = "0.1.0"
