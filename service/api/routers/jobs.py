"""POST /v1/jobs (upload a table and a column), GET /v1/jobs[/{id}[/result]]: persisted, resumable batch coding."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import FileResponse

from autocode.service.api.auth import require
from autocode.service.api.errors import ERROR_RESPONSES, ApiError
from autocode.service.api.schemas import JobList, JobOut
from autocode.service.stores.catalogue import ID_PATTERN

router = APIRouter(responses=ERROR_RESPONSES)
JobId = Path(pattern=r"^[0-9a-f]{16}$", description="A job id from POST /v1/jobs.")
MEDIA = {".csv": "text/csv", ".tsv": "text/tab-separated-values", ".txt": "text/tab-separated-values",
         ".jsonl": "application/x-ndjson", ".parquet": "application/vnd.apache.parquet",
         ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def job_out(job: Any) -> JobOut:
    """A Job as the API returns it."""
    data = job.to_dict()
    url = f"/v1/jobs/{job.job_id}/result" if job.state == "done" else None
    return JobOut(**{k: data[k] for k in JobOut.model_fields if k in data}, result_url=url)


@router.post("/v1/jobs", response_model=JobOut, status_code=202, dependencies=[Depends(require("write"))], tags=["jobs"])
async def create_job(
    request: Request,
    file: Annotated[UploadFile, File(description="A table: .csv, .tsv, .xlsx, .jsonl or .parquet.")],
    column: Annotated[str, Form(min_length=1, max_length=500, description="The column of free text to code.")],
    codebook: Annotated[str | None, Form(pattern=ID_PATTERN, max_length=64, description="Code into this codebook (zero-shot).")] = None,
    model: Annotated[str | None, Form(pattern=ID_PATTERN, max_length=64, description="Code with this trained model.")] = None,
    employers: Annotated[bool, Form(description="Resolve the column as employer names instead.")] = False,
) -> JobOut:
    """Queue a file for coding; poll GET /v1/jobs/{id} for progress, then download the result."""
    from autocode.service.batch.jobs import JobError, JobTooLarge

    ctx = request.app.state.ctx
    chosen = [name for name, given in (("codebook", codebook), ("model", model), ("employers", employers or None)) if given]
    if len(chosen) != 1:
        raise ApiError(422, "invalid_request", "give exactly one of codebook, model or employers=true", where="codebook")
    if employers:
        if not ctx.settings.employers:
            raise ApiError(404, "not_found", "the employer resolver is turned off on this server (employers = false)")
        target = "employers"
    elif codebook is not None:
        from autocode.service.stores.catalogue import find_codebook

        target = f"codebook:{find_codebook(codebook).id}"
    else:
        from autocode.service.stores.catalogue import model_dir

        model_dir(model or "")
        target = f"model:{model}"
    try:
        job = await ctx.run_io(ctx.jobs.create, file.file, file.filename or "upload", column, target,
                               max_bytes=ctx.settings.max_job_bytes)
    except JobTooLarge as exc:
        raise ApiError(413, "file_too_large", f"the file is over the job size limit of {exc.limit} bytes", where="file",
                       limit=exc.limit) from None
    except JobError as exc:
        raise ApiError(422, "invalid_file", str(exc), where="file") from None
    ctx.runner.submit(job)
    return job_out(job)


@router.get("/v1/jobs", response_model=JobList, dependencies=[Depends(require("read"))], tags=["jobs"])
async def list_jobs(request: Request, limit: int = Query(50, ge=1, le=500)) -> JobList:
    """Recent jobs, newest first."""
    return JobList(jobs=[job_out(j) for j in request.app.state.ctx.jobs.list(limit=limit)])


def _job(request: Request, job_id: str) -> Any:
    job = request.app.state.ctx.jobs.get(job_id)
    if job is None:
        raise ApiError(404, "not_found", f"no job {job_id}", where="job_id")
    return job


@router.get("/v1/jobs/{job_id}", response_model=JobOut, dependencies=[Depends(require("read"))], tags=["jobs"])
async def get_job(request: Request, job_id: str = JobId) -> JobOut:
    """A job's state (queued, running, done, failed) and progress in rows."""
    return job_out(_job(request, job_id))


@router.get("/v1/jobs/{job_id}/result", dependencies=[Depends(require("read"))], tags=["jobs"],
            responses={200: {"description": "The coded table, in the uploaded file's format.",
                             "content": {m: {} for m in sorted(set(MEDIA.values()))}}})
async def job_result(request: Request, job_id: str = JobId) -> FileResponse:
    """The coded file: every input row and column, plus the coding columns."""
    job = _job(request, job_id)
    if job.state != "done":
        raise ApiError(409, "not_done", f"job {job_id} is {job.state}; the result is ready when it is done", where="job_id")
    path = request.app.state.ctx.jobs.result_path(job)
    stem = job.filename.rsplit(".", 1)[0] or "result"
    return FileResponse(path, media_type=MEDIA.get(path.suffix.lower(), "application/octet-stream"),
                        filename=f"{stem}.coded{path.suffix}")
