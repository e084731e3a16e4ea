"""Request and response bodies of the /v1 API (pydantic; the OpenAPI document is generated from these)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from autocode.service.stores.catalogue import ID_PATTERN

Id = Field(pattern=ID_PATTERN, max_length=64)


class Strict(BaseModel):
    """Unknown fields are an error, so a misspelt option is not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class EvidenceOut(BaseModel):
    """One reason behind a decision."""

    kind: str
    text: str
    code: str | None = None
    score: float | None = None


class PredictionOut(BaseModel):
    """The decision for one text."""

    text: str
    codes: list[str]
    labels: list[str]
    confidence: float
    method: str
    needs_review: bool
    reason: str | None = None
    evidence: list[EvidenceOut]
    scores: dict[str, float] = {}


class ClassifyIn(Strict):
    """One text or several, coded into a codebook (zero-shot) or with a trained model."""

    text: str | None = Field(None, description="One text; or give `texts`.")
    texts: list[str] | None = Field(None, description="Several texts, coded together.")
    codebook: str | None = Field(None, pattern=ID_PATTERN, max_length=64, description="A codebook id (GET /v1/codebooks).")
    model: str | None = Field(None, pattern=ID_PATTERN, max_length=64, description="A trained model id.")
    labels: list[str] | None = Field(None, description="Only these codes may be chosen (per request).")

    @model_validator(mode="after")
    def _one_of_each(self) -> ClassifyIn:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of `text` or `texts`")
        if (self.codebook is None) == (self.model is None):
            raise ValueError("give exactly one of `codebook` or `model`")
        if self.labels is not None and not self.labels:
            raise ValueError("`labels`, when given, must name at least one code")
        return self


class ClassifyOut(BaseModel):
    """Predictions in the order of the texts."""

    target: str
    predictions: list[PredictionOut]


class ResolveIn(Strict):
    """Employer names as people write them."""

    text: str | None = None
    texts: list[str] | None = None

    @model_validator(mode="after")
    def _one(self) -> ResolveIn:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of `text` or `texts`")
        return self


class EmployerOut(BaseModel):
    """One resolved employer: the record matched or the inferred fields, with per-field confidence."""

    text: str
    kind: str
    employer: str
    record_id: int | None
    match_score: float
    isic_section: str
    isic_division: str
    sector: str
    gics_sector: str
    country: str
    region: str
    subregion: str
    confidence: float
    needs_review: bool
    field_confidence: dict[str, float]
    evidence: list[EvidenceOut]


class ResolveOut(BaseModel):
    """Resolutions in the order of the texts."""

    results: list[EmployerOut]


class SearchIn(Strict):
    """Find records like a text."""

    text: str = Field(min_length=1)
    k: int = Field(10, ge=1, le=1000)
    country: str | None = Field(None, pattern=r"^[A-Za-z]{2}$", description="ISO 3166 alpha-2, e.g. SG")
    sector: str | None = Field(None, pattern=r"^([A-Ua-u]|[0-9]{2})$", description="ISIC section (K) or division (64)")


class HitOut(BaseModel):
    """One record found."""

    record_id: int
    name: str
    score: float
    country: str
    isic_section: str
    isic_division: str
    sector: str
    source: str


class SearchOut(BaseModel):
    """Records, most similar first."""

    hits: list[HitOut]


class RecordFields(Strict):
    """An employer record's fields; on PUT only the given fields change."""

    name: str | None = Field(None, max_length=500)
    aliases: list[str] | None = None
    ambiguous_aliases: list[str] | None = None
    legal_forms: list[str] | None = None
    isic_section: str | None = Field(None, max_length=2)
    isic_division: str | None = Field(None, max_length=2)
    gics_sector: str | None = Field(None, max_length=200)
    gics_industry_group: str | None = Field(None, max_length=200)
    gics_industry: str | None = Field(None, max_length=200)
    gics_industry_code: str | None = Field(None, max_length=20)
    country: str | None = Field(None, max_length=2)
    city: str | None = Field(None, max_length=200)
    domain: str | None = Field(None, max_length=200)
    summary: str | None = Field(None, max_length=5000)


class RecordOut(BaseModel):
    """A record as stored: the user's own, a correction, or a reference record."""

    record_id: int
    name: str
    aliases: list[str]
    ambiguous_aliases: list[str]
    legal_forms: list[str]
    source: str
    isic_section: str
    isic_division: str
    isic_basis: str
    gics_sector: str
    gics_industry_group: str
    gics_industry: str
    gics_industry_code: str
    country: str
    region: str
    subregion: str
    city: str
    domain: str
    summary: str
    origin: Literal["user", "correction", "reference"]
    updated_at: str | None = None


class RecordList(BaseModel):
    """A page of the user's records and corrections."""

    records: list[RecordOut]
    total: int
    removed: list[int]


class LabelOut(BaseModel):
    """A codebook label."""

    code: str
    name: str
    description: str | None = None
    parent: str | None = None
    examples: list[str] = []
    aliases: list[str] = []


class CodebookSummary(BaseModel):
    """A codebook in the list."""

    id: str
    name: str
    version: str
    labels: int
    multi_label: bool
    hierarchical: bool
    built_in: bool


class CodebookList(BaseModel):
    """Codebooks and trained models the server can code into."""

    codebooks: list[CodebookSummary]
    models: list[dict[str, Any]]


class CodebookOut(BaseModel):
    """A whole codebook."""

    id: str
    name: str
    version: str
    multi_label: bool
    description: str | None = None
    labels: list[LabelOut]


class FeedbackIn(Strict):
    """A person's correction: the right codes for a text."""

    text: str = Field(min_length=1)
    codes: list[str] = Field(min_length=1)
    codebook: str | None = Field(None, pattern=ID_PATTERN, max_length=64)
    model: str | None = Field(None, pattern=ID_PATTERN, max_length=64)
    note: str = Field("", max_length=2000)
    prediction: dict[str, Any] | None = Field(None, description="The prediction being corrected, kept for audit.")

    @model_validator(mode="after")
    def _target(self) -> FeedbackIn:
        if (self.codebook is None) == (self.model is None):
            raise ValueError("give exactly one of `codebook` or `model`")
        return self


class FeedbackOut(BaseModel):
    """The stored correction."""

    feedback_id: int
    target: str
    text: str
    codes: list[str]
    created_at: str


class JobOut(BaseModel):
    """A batch job: state and progress."""

    job_id: str
    state: Literal["queued", "running", "done", "failed"]
    target: str
    column: str
    filename: str
    rows_done: int
    rows_total: int | None = None
    created_at: str
    updated_at: str
    error: str | None = None
    summary: dict[str, Any] | None = None
    restarts: int = 0
    result_url: str | None = None


class JobList(BaseModel):
    """Recent jobs, newest first."""

    jobs: list[JobOut]


class Health(BaseModel):
    """Liveness."""

    status: Literal["ok"]
    version: str


class Readiness(BaseModel):
    """Whether every model is loaded."""

    ready: bool
    loading: str
    loaded: list[str]
    error: str | None = None
    seconds: float | None = None
    auth: bool


# ---------------------------------------------------------------------- review


class ReviewOption(BaseModel):
    """A code (or an employer record) a reviewer may pick, with the model's score for it."""

    codes: list[str]
    labels: list[str]
    score: float
    record_id: int | None = None
    name: str | None = None
    country: str | None = None
    isic_section: str | None = None
    sector: str | None = None


class ReviewItem(BaseModel):
    """One distinct answer in a review queue, with every row that wrote it counted."""

    item_id: int
    text: str
    rows: int = Field(description="How many rows of the file wrote this answer (one decision decides them all).")
    variants: list[str] = Field(description="The spellings grouped under this answer, most rows first.")
    status: Literal["pending", "skipped", "decided", "uncodable", "cleared"]
    confidence: float
    codes: list[str] = Field(description="The model's best codes (for employers: the record id).")
    labels: list[str]
    method: str
    reason: str | None = None
    alternatives: list[ReviewOption] = Field(description="The best and the next options; keys 1-9 pick them in order.")
    evidence: list[EvidenceOut]
    decision: dict[str, Any] | None = None


class ReviewCounts(BaseModel):
    """Distinct answers (and their rows) by status."""

    model_config = ConfigDict(extra="allow")
    items: int
    rows: int
    file_rows: int
    pending: int
    decided: int
    cleared: int


class ReviewSessionOut(BaseModel):
    """A review session: one coded file, its column, and what the suggestions come from."""

    session_id: str
    file: str
    column: str
    target: str
    kind: Literal["codes", "employers"]
    counts: ReviewCounts
    page_url: str


class ReviewSessionList(BaseModel):
    """Stored review sessions, newest first."""

    sessions: list[dict[str, Any]]


class ReviewNext(BaseModel):
    """The item to show now (null when the queue is done), and the counts."""

    item: ReviewItem | None
    counts: ReviewCounts


class ReviewItems(BaseModel):
    """A page of items in queue order."""

    items: list[ReviewItem]
    total: int


class NewRecordIn(Strict):
    """An employer record a reviewer creates for an answer (it then lives in the records store)."""

    name: str = Field(min_length=1, max_length=300)
    country: str = Field("", max_length=2, description="ISO 3166-1 alpha-2, e.g. SG.")
    isic_section: str = Field("", max_length=1)
    isic_division: str = Field("", max_length=2)
    gics_sector: str = Field("", max_length=64)
    aliases: list[str] = Field(default_factory=list, max_length=50)


class DecisionIn(Strict):
    """A reviewer's decision on one item."""

    action: Literal["accept", "choose", "uncodable", "skip"]
    codes: list[str] = Field(default_factory=list, max_length=50, description="For `choose`: the codes picked.")
    record_id: int | None = Field(None, ge=0, description="For `choose` on employers: the record picked.")
    record: NewRecordIn | None = Field(None, description="For `choose` on employers: a new record to create.")
    reviewer: str | None = Field(None, max_length=100, description="Who decides (default: the API key's id or the login).")


class DecisionOut(BaseModel):
    """The stored decision, the items it cleared from the queue by learning, and the counts after it."""

    decision: dict[str, Any]
    cleared: list[ReviewItem]
    counts: ReviewCounts
    next: ReviewItem | None


class UndoOut(BaseModel):
    """The decision undone and its item, back in the queue."""

    undone: dict[str, Any]
    item: ReviewItem | None
    counts: ReviewCounts


class ReviewSearchOut(BaseModel):
    """Codes (or records) matching a search."""

    options: list[ReviewOption]



class ReviewCode(BaseModel):
    """One code of the session's codebook."""

    code: str
    name: str
    description: str = ""
    examples: int = 0
    parent: str | None = None


class ReviewCodes(BaseModel):
    """The session's codes; `editable` when the codebook is a file of the user's (a draft) the page may rewrite."""

    codes: list[ReviewCode]
    editable: bool
    why: str = ""
    codebook: str | None = None
    version: str | None = None


class CodeEditIn(Strict):
    """Rename a code, add one (to split another), or merge one into another."""

    op: Literal["rename", "add", "merge"]
    code: str = Field(min_length=1, max_length=100)
    name: str | None = Field(None, max_length=300, description="rename/add: the code's name.")
    description: str | None = Field(None, max_length=2000)
    into: str | None = Field(None, max_length=100, description="merge: the code that absorbs `code`.")


class DocumentOut(BaseModel):
    """One coded document; `error` says why a file could not be read (then nothing is coded)."""

    model_config = ConfigDict(extra="allow")
    path: str
    kind: str
    pages: int | None = None
    characters: int = 0
    codes: str
    labels: str
    confidence: float
    needs_review: bool
    method: str
    page: int | None = None
    section: str = ""
    passage: str = ""
    evidence: str
    error: str = ""


class DocumentsOut(BaseModel):
    """The coded documents, in upload order."""

    documents: list[DocumentOut]
    coded: int
    needs_review: int
    failed: int
