"""o2o: a WeChat Official Account store guide (domain package, framework-free)."""

__version__ = "0.1.0"
