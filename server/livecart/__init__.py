"""livecart: the real-time companion for livestream commerce."""

__version__ = "0.1.0"
__all__ = ["__version__"]
