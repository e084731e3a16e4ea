"""autocode: code free-text answers into a codebook, offline, with calibrated confidence and a review queue.

    import autocode
    coder = autocode.Coder(codebook="employer-support").fit()          # zero-shot from the codebook
    coder.code(["they paid my course fee"])                            # [Prediction(codes=('fees',), ...)]

The names below load on first use, so `import autocode` (and the CLI's fast paths) stay cheap.
"""

from __future__ import annotations

from importlib import import_module, metadata
from typing import TYPE_CHECKING, Any

try:
    __version__ = metadata.version("autocode")
except metadata.PackageNotFoundError:  # a source tree on sys.path without an install
    __version__ = "0+unknown"

# name -> module that defines it; read by __getattr__ (PEP 562) and by `dir(autocode)`.
_EXPORTS = {
    "Coder": "autocode.api",
    "EmployerCoder": "autocode.api",
    "builtin_codebooks": "autocode.api",
    "evaluate": "autocode.api",
    "load_codebook": "autocode.api",
    "load_gazetteer": "autocode.api",
    "load_sample": "autocode.api",
    "Codebook": "autocode.classifiers.codebook",
    "Label": "autocode.classifiers.codebook",
    "Prediction": "autocode.classifiers.prediction",
    "Evidence": "autocode.classifiers.prediction",
    "EmployerResult": "autocode.classifiers.employers.resolver",
    "SearchHit": "autocode.classifiers.employers.resolver",
    "AutocodeError": "autocode.errors",
    "NotFoundError": "autocode.errors",
    "ConflictError": "autocode.errors",
    "InvalidError": "autocode.errors",
    "LimitError": "autocode.errors",
}

# Written out (not built from _EXPORTS) so linters and type checkers read the re-exports of the
# TYPE_CHECKING block below; tests/test_public_api.py checks the two lists agree.
__all__ = [
    "AutocodeError",
    "Codebook",
    "Coder",
    "ConflictError",
    "EmployerCoder",
    "EmployerResult",
    "Evidence",
    "InvalidError",
    "Label",
    "LimitError",
    "NotFoundError",
    "Prediction",
    "SearchHit",
    "__version__",
    "builtin_codebooks",
    "evaluate",
    "load_codebook",
    "load_gazetteer",
    "load_sample",
]

if TYPE_CHECKING:
    from autocode.api import Coder, EmployerCoder, builtin_codebooks, evaluate, load_codebook, load_gazetteer, load_sample
    from autocode.classifiers.codebook import Codebook, Label
    from autocode.classifiers.employers.resolver import EmployerResult, SearchHit
    from autocode.classifiers.prediction import Evidence, Prediction
    from autocode.errors import AutocodeError, ConflictError, InvalidError, LimitError, NotFoundError


def __getattr__(name: str) -> Any:
    """Load a public name from its module the first time it is used."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'autocode' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """Public names for completion in notebooks."""
    return sorted(set(globals()) | set(_EXPORTS))
