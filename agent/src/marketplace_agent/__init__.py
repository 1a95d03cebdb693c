"""The marketplace's site agent."""

__version__ = "1.0.0"
