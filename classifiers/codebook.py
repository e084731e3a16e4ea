"""Codebooks: the labels a text can be coded into, validated from YAML, JSON or a dict."""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from autocode.errors import InvalidError

__all__ = [
    "Codebook",
    "CodebookError",
    "Label",
    "builtin_codebook_ids",
    "codebook_from_codes",
    "load_codebook",
    "parse_codebook",
]

_SUFFIXES = (".yaml", ".yml", ".json")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class CodebookError(InvalidError):
    """A codebook that cannot be used; the message names the file, the label and the problem."""

    code = "invalid_codebook"

    def __init__(self, message: str, *, source: str | None = None, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.source = source
        self.problems = list(problems) if problems else [message]


def _fail(source: str, problems: list[str]) -> CodebookError:
    """One error for all problems found, each on its own line under the source."""
    if len(problems) == 1:
        message = f"{source}: {problems[0]}"
    else:
        message = f"{source}: {len(problems)} problems:\n" + "\n".join(f"  - {p}" for p in problems)
    return CodebookError(message, source=source, problems=problems)


class _GraphProblems(ValueError):
    """Carries several hierarchy problems out of a pydantic validator, which can raise only one error."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _as_text(value: Any) -> Any:
    # JSON has real integers ("code": 10); a code or version is still text, so 10 -> "10".
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _as_text_list(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            item = item.strip() if isinstance(item, str) else item
            if item != "" and item not in out:
                out.append(item)
        return out
    return value


class Label(BaseModel):
    """One code of a codebook: what it means, how people say it, and where it sits in the hierarchy."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    code: str
    name: str
    description: str = ""
    aliases: list[str] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)
    parent: str | None = None

    @field_validator("code", mode="before")
    @classmethod
    def _code(cls, value: Any) -> Any:
        value = _as_text(value)
        if isinstance(value, str):
            value = value.strip()
            if not value:
                raise ValueError("code is empty")
        return value

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if not value:
                raise ValueError("name is empty")
        return value

    @field_validator("description", mode="before")
    @classmethod
    def _description(cls, value: Any) -> Any:
        return "" if value is None else value.strip() if isinstance(value, str) else value

    @field_validator("parent", mode="before")
    @classmethod
    def _parent(cls, value: Any) -> Any:
        value = _as_text(value)
        if isinstance(value, str):
            value = value.strip() or None
        return value

    @field_validator("aliases", "examples", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _as_text_list(value)


class Codebook(BaseModel):
    """A validated set of labels, flat or hierarchical, single- or multi-label; immutable once built."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    id: str
    name: str
    version: str
    multi_label: bool = False
    description: str = ""
    labels: list[Label] = Field(min_length=1)

    _by_code: dict[str, Label] = PrivateAttr(default_factory=dict)
    _children: dict[str | None, list[str]] = PrivateAttr(default_factory=dict)

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> Any:
        value = _as_text(value)
        if isinstance(value, str):
            value = value.strip()
            # The id names files, URLs and cache keys, so keep it to a safe alphabet.
            if not _ID_RE.match(value):
                raise ValueError(
                    f"id {value!r} must start with a letter or digit and use only letters, digits, '.', '_', '-'"
                )
        return value

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if not value:
                raise ValueError("name is empty")
        return value

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> Any:
        value = _as_text(value)
        if isinstance(value, str):
            value = value.strip()
            if not value:
                raise ValueError("version is empty")
        return value

    @field_validator("description", mode="before")
    @classmethod
    def _description(cls, value: Any) -> Any:
        return "" if value is None else value.strip() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_graph(self) -> Codebook:
        problems: list[str] = []
        first_at: dict[str, int] = {}
        for i, label in enumerate(self.labels):
            if label.code in first_at:
                first = first_at[label.code]
                problems.append(f"label {label.code!r} (labels[{i}]): duplicate code, first defined at labels[{first}]")
            else:
                first_at[label.code] = i
        by_code: dict[str, Label] = {}
        for label in self.labels:
            by_code.setdefault(label.code, label)  # the first definition wins, as reported above
        for i, label in enumerate(self.labels):
            if label.parent is not None and label.parent not in by_code:
                problems.append(f"label {label.code!r} (labels[{i}]): unknown parent {label.parent!r}")
        problems += _cycles(by_code, first_at)
        if problems:
            raise _GraphProblems(problems)
        children: dict[str | None, list[str]] = {None: []}
        for label in self.labels:
            children.setdefault(label.code, [])
            children.setdefault(label.parent, []).append(label.code)
        self._by_code = by_code
        self._children = children
        return self

    def get(self, code: str) -> Label:
        """The label with this code; KeyError naming the codebook if there is none."""
        try:
            return self._by_code[code]
        except (KeyError, TypeError):
            raise KeyError(f"unknown code {code!r} in codebook {self.id!r} ({len(self.labels)} labels)") from None

    def __contains__(self, code: object) -> bool:
        """Whether this code is one of the codebook's labels."""
        return isinstance(code, str) and code in self._by_code

    def __len__(self) -> int:
        """The number of labels, every level counted."""
        return len(self.labels)

    def codes(self) -> list[str]:
        """All codes, in file order."""
        return [label.code for label in self.labels]

    def parent(self, code: str) -> str | None:
        """The parent code, or None for a root."""
        return self.get(code).parent

    def path(self, code: str) -> tuple[str, ...]:
        """The codes from the root down to this code, inclusive."""
        chain = [code]
        parent = self.get(code).parent
        while parent is not None:  # cycles were refused at validation
            chain.append(parent)
            parent = self._by_code[parent].parent
        return tuple(reversed(chain))

    def children(self, code: str | None) -> list[str]:
        """The direct children of a code in file order; None gives the roots."""
        if code is not None:
            self.get(code)
        return list(self._children.get(code, []))

    def depth(self, code: str) -> int:
        """How far below a root this code is; a root is 0."""
        return len(self.path(code)) - 1

    def leaves(self) -> list[str]:
        """The codes with no children, in file order."""
        return [label.code for label in self.labels if not self._children.get(label.code)]

    def is_hierarchical(self) -> bool:
        """Whether any label has a parent."""
        return any(label.parent is not None for label in self.labels)

    def subset(self, codes: Iterable[str]) -> Codebook:
        """A codebook of only these labels and their ancestors, in file order; KeyError on an unknown code."""
        if isinstance(codes, str):  # one code, not its characters
            codes = [codes]
        wanted: set[str] = set()
        unknown: list[str] = []
        for code in codes:
            if code in self:
                wanted.update(self.path(code))
            else:
                unknown.append(code)
        if unknown:
            raise KeyError(f"unknown code(s) {', '.join(map(repr, unknown))} in codebook {self.id!r}")
        if not wanted:
            raise ValueError(f"subset of codebook {self.id!r} needs at least one code")
        labels = [label for label in self.labels if label.code in wanted]
        return Codebook(
            id=self.id,
            name=self.name,
            version=self.version,
            multi_label=self.multi_label,
            description=self.description,
            labels=labels,
        )


def _cycles(by_code: dict[str, Label], first_at: dict[str, int]) -> list[str]:
    """One problem per cycle in the parent links, naming its codes in order."""
    problems: list[str] = []
    done: set[str] = set()
    for start in by_code:
        trail: list[str] = []
        on_trail: set[str] = set()
        code: str | None = start
        while code is not None and code in by_code and code not in done:
            if code in on_trail:
                loop = [*trail[trail.index(code):], code]
                where = f"label {code!r} (labels[{first_at[code]}])"
                problems.append(f"{where}: cycle in parents: {' -> '.join(loop)}")
                break
            trail.append(code)
            on_trail.add(code)
            code = by_code[code].parent
        done.update(trail)
    return problems


# --- reading and translating errors -----------------------------------------------------------


_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser where libyaml is there


class _YamlLoader(_BaseLoader):
    """Safe YAML where numbers and dates stay text and only true/false are booleans.

    A codebook has no numeric fields, and YAML 1.1 would turn code 01 into 1, 010 into 8,
    version 1.10 into 1.1, and a code such as `no` or `NO` (Norway) into False.
    """


_TEXT_TAGS = {f"tag:yaml.org,2002:{kind}" for kind in ("int", "float", "timestamp", "bool")}
_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _TEXT_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _parse_text(text: str, source: str, kind: str) -> Any:
    """Parse YAML or JSON text; a syntax error names the line and column."""
    try:
        if kind == "json":
            return json.loads(text)
        return yaml.load(text, Loader=_YamlLoader)  # noqa: S506 - a SafeLoader subclass: no arbitrary objects
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise _fail(source, [f"JSON syntax error at {where}: {exc.msg}"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = getattr(exc, "problem", None) or str(exc)
        raise _fail(source, [f"YAML syntax error{where}: {what}"]) from None


def _label_ref(data: dict[str, Any], index: int) -> str:
    """'label 'K' (labels[3])' where the raw label has a usable code, else 'labels[3]'."""
    labels = data.get("labels")
    raw = labels[index] if isinstance(labels, list) and 0 <= index < len(labels) else None
    code = _as_text(raw.get("code")) if isinstance(raw, dict) else None
    if isinstance(code, str) and code.strip():
        return f"label {code.strip()!r} (labels[{index}])"
    return f"labels[{index}]"


def _describe(error: ErrorDetails, data: dict[str, Any]) -> list[str]:
    """Readable problems for one pydantic error: where, which field, what is wrong."""
    loc = error["loc"]
    ctx_error = (error.get("ctx") or {}).get("error")
    if isinstance(ctx_error, _GraphProblems):
        return ctx_error.problems
    model: type[BaseModel]
    if len(loc) >= 2 and loc[0] == "labels" and isinstance(loc[1], int):
        where, field_loc, model = _label_ref(data, loc[1]), loc[2:], Label
    else:
        where, field_loc, model = "codebook", loc, Codebook
    field = ".".join(str(part) for part in field_loc)
    kind = error["type"]
    if kind == "missing":
        return [f"{where}: missing required field {field!r}"]
    if kind == "extra_forbidden":
        allowed = ", ".join(model.model_fields)
        return [f"{where}: unknown field {field!r} (allowed: {allowed})"]
    got = type(error["input"]).__name__
    if kind in ("model_type", "model_attributes_type"):
        return [f"{where}: must be a mapping with at least code and name, got {got}"]
    if kind == "bool_type":
        return [f"{where}: field {field!r} must be true or false, got {error['input']!r}"]
    if kind == "string_type":
        return [f"{where}: field {field!r} must be text, got {got} {error['input']!r}"]
    if kind == "list_type":
        return [f"{where}: field {field!r} must be a list, got {got}"]
    if kind == "too_short" and field == "labels":
        return [f"{where}: has no labels"]
    if ctx_error is not None:  # our own validators' messages already name the field
        return [f"{where}: {ctx_error}"]
    return [f"{where}: field {field!r}: {error['msg']}"]


def parse_codebook(data: dict, source: str = "<inline>") -> Codebook:
    """Validate an already-parsed dict into a Codebook; CodebookError lists every problem found."""
    if not isinstance(data, dict):
        got = type(data).__name__
        raise _fail(source, [f"top level must be a mapping with id, name, version and labels, got {got}"])
    try:
        return Codebook.model_validate(data)
    except ValidationError as exc:
        problems: list[str] = []
        for error in exc.errors():
            problems += _describe(error, data)
        raise _fail(source, problems) from None


def _read_file(path: Path) -> Codebook:
    """Read, parse and validate one codebook file."""
    source = str(path)
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise _fail(source, [f"unsupported file type {path.suffix!r}; use .yaml, .yml or .json"])
    try:
        text = path.read_text(encoding="utf-8-sig")  # tolerate the BOM that spreadsheet tools write
    except FileNotFoundError:
        raise _fail(source, [f"no such file (built-in codebook ids: {', '.join(_builtin_ids())})"]) from None
    except IsADirectoryError:
        raise _fail(source, ["is a directory, not a codebook file"]) from None
    except UnicodeDecodeError as exc:
        raise _fail(source, [f"not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    return parse_codebook(_parse_text(text, source, "json" if suffix == ".json" else "yaml"), source)


@functools.lru_cache(maxsize=64)
def _read_file_cached(resolved: str, mtime_ns: int, size: int, shown: str) -> Codebook:
    # mtime and size are part of the key so an edited file is read again.
    return _read_file(Path(shown))


def _builtin_dir() -> Any:
    return files("autocode.data") / "codebooks"


@functools.lru_cache(maxsize=1)
def _builtin_ids() -> tuple[str, ...]:
    names = (entry.name for entry in _builtin_dir().iterdir())
    return tuple(sorted(name[: -len(".yaml")] for name in names if name.endswith(".yaml")))


def builtin_codebook_ids() -> list[str]:
    """The ids of the codebooks shipped with autocode, sorted."""
    return list(_builtin_ids())


@functools.cache
def _load_builtin(codebook_id: str) -> Codebook:
    resource = _builtin_dir() / f"{codebook_id}.yaml"
    source = f"built-in codebook {codebook_id!r} ({resource})"
    return parse_codebook(_parse_text(resource.read_text(encoding="utf-8"), source, "yaml"), source)


def load_codebook(ref: str | Path) -> Codebook:
    """A built-in codebook by id, or a codebook file (.yaml, .yml, .json); parsed once per process."""
    if isinstance(ref, str) and ref in _builtin_ids():
        return _load_builtin(ref)
    path = Path(ref)
    if isinstance(ref, str) and path.suffix.lower() not in _SUFFIXES and not path.exists():
        known = ", ".join(_builtin_ids())
        raise _fail(repr(ref), [f"unknown built-in codebook id and no such file (built-in ids: {known})"])
    try:
        stat = path.stat()
    except OSError:
        return _read_file(path)  # raises the readable error
    if not path.is_file():
        return _read_file(path)
    return _read_file_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size, str(path))


def codebook_from_codes(
    codes: Iterable[str], codebook_id: str = "custom", name: str | None = None, *, multi_label: bool = False
) -> Codebook:
    """A flat codebook with one label per distinct code (name = code), in first-seen order."""
    seen: dict[str, None] = {}
    for code in codes:
        # Blank cells mean "not coded", not a label; spreadsheets give them as None or NaN.
        if code is None or (isinstance(code, float) and math.isnan(code)):
            continue
        if isinstance(code, float) and code.is_integer():
            code = int(code)  # a pandas column of integer codes with blanks arrives as 1.0, 2.0
        text = str(_as_text(code)).strip()
        if text:
            seen.setdefault(text, None)
    if not seen:
        raise _fail("<codes>", ["no codes given: every value was empty"])
    data = {
        "id": codebook_id,
        "name": name or codebook_id,
        "version": "1",
        "description": f"Derived from the {len(seen)} distinct codes in the data.",
        "multi_label": multi_label,
        "labels": [{"code": code, "name": code} for code in seen],
    }
    return parse_codebook(data, "<codes>")
