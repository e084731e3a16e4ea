"""Every domain error is one of the four kinds, and the API answers each kind with one status and the class's code."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from autocode.classifiers.codebook import CodebookError
from autocode.classifiers.model import ModelFormatError, ModelMismatchError
from autocode.embeddings.index import IndexFormatError, IndexMismatchError
from autocode.errors import AutocodeError, ConflictError, InvalidError, LimitError, NotFoundError
from autocode.service.api.config import ConfigError
from autocode.service.api.errors import install_error_handlers
from autocode.service.batch.jobs import JobError, JobTooLarge
from autocode.service.batch.state import BatchBusyError, BatchError
from autocode.service.stores.catalogue import CatalogueConflictError, CatalogueIdError, CatalogueNotFoundError
from autocode.service.stores.keys import KeyStoreError
from autocode.service.stores.record_schema import RecordError
from autocode.service.tables.formats import TableError

KINDS = {
    CatalogueNotFoundError: NotFoundError, CatalogueConflictError: ConflictError, CatalogueIdError: InvalidError,
    RecordError: InvalidError, KeyStoreError: InvalidError, TableError: InvalidError, ConfigError: InvalidError,
    JobError: InvalidError, JobTooLarge: LimitError, BatchError: InvalidError, BatchBusyError: ConflictError,
    ModelFormatError: InvalidError, ModelMismatchError: InvalidError, CodebookError: InvalidError,
    IndexMismatchError: InvalidError, IndexFormatError: InvalidError,
}


@pytest.mark.parametrize("cls", list(KINDS), ids=lambda c: c.__name__)
def test_each_domain_error_is_its_kind_and_keeps_its_old_base(cls: type[AutocodeError]) -> None:
    assert issubclass(cls, KINDS[cls])
    # Callers that caught ValueError (LookupError: a missing catalogue id) still do; a catalogue conflict was never a ValueError.
    if cls is not CatalogueConflictError:
        assert issubclass(cls, LookupError if KINDS[cls] is NotFoundError else ValueError)


def _app(exc: Exception) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise exc

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(("exc", "status", "error"), [
    (CatalogueNotFoundError("no codebook 'x'"), 404, {"code": "not_found", "message": "no codebook 'x'"}),
    (CatalogueConflictError("codebook 'x' exists"), 409, {"code": "conflict", "message": "codebook 'x' exists"}),
    (CatalogueIdError("codebook id '..' is not valid"), 422, {"code": "invalid_request", "message": "codebook id '..' is not valid"}),
    (CodebookError("book.yaml: label 'a' twice"), 422, {"code": "invalid_codebook", "message": "book.yaml: label 'a' twice"}),
    (RecordError("country: 'XX' is not a country"), 422,
     {"code": "invalid_record", "message": "country: 'XX' is not a country", "where": "country"}),
    (JobTooLarge(100), 413, {"code": "file_too_large", "message": "the upload is larger than the limit of 100 bytes", "limit": 100}),
    (BatchBusyError("another run"), 409, {"code": "conflict", "message": "another run"}),
    (AutocodeError("of no kind"), 500, {"code": "internal_error", "message": "internal error; the server log has the details"}),
], ids=lambda v: type(v).__name__ if isinstance(v, Exception) else None)
def test_the_api_maps_each_kind_to_one_status_with_the_class_code(exc: Exception, status: int, error: dict[str, object]) -> None:
    response = _app(exc).get("/boom")
    assert (response.status_code, response.json()) == (status, {"error": error})
