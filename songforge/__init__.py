"""songforge: a self-hostable music-generation API."""

__version__ = "0.1.0"
