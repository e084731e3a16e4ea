"""autocode: code free-text answers into a codebook, offline, with calibrated confidence and a review queue."""

from autocode.embeddings.durable import autocode_version

__version__ = autocode_version()

__all__ = ["__version__"]
