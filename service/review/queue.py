"""A review queue over one coded file: the rows set aside, grouped by distinct answer, decided once per answer.

How one decision flows
    1. the person decides an item (accept, an alternative, a searched code or record, uncodable, skip);
    2. the decision is written to the review store at once, and the coder learns it (feedback memory, records);
    3. pending answers near the decided one (cosine >= the coder's `near`) are re-scored; those the model now
       codes without review leave the queue as `cleared`, counted and listed in the answer to the decision;
    4. export writes the file with every standing decision applied (method `human`) and the cleared rows'
       new codes, same rows in the same order, atomically.

Suggestions are computed when an item is first shown (and kept), so opening a 100k-row file costs one pass of
grouping plus one encode of its distinct review answers, not a prediction per answer.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autocode.classifiers.normalise import normalise_key
from autocode.errors import InvalidError, NotFoundError
from autocode.service.review.coders import Coder
from autocode.service.review.store import ReviewStore
from autocode.service.tables.formats import read_table, require_column, write_table_atomic

__all__ = ["ORDERS", "Item", "ReviewQueue", "session_id_for"]

ORDERS = ("rows", "uncertain")  # most rows first, or least certain first
STATUSES = ("pending", "skipped", "decided", "uncodable", "cleared")
VECTOR_SLICE = 32  # answers per background encode call: a decision's own encode waits for one slice at most
SMALL_QUEUE = 1_000  # up to this many answers, a decision may wait for the vectors (a second or two)
PREFETCH = 3  # suggestions computed ahead of the item shown, so the next keystroke finds them ready


def session_id_for(file: Path, column: str, target: str, reviewer: str | None = None) -> str:
    """A stable id for (file, column, target): opening the same file again resumes its session.

    With `reviewer`, the session is that person's own queue (`autocode review --separate`), so two people can
    code the same rows independently and their agreement be measured.
    """
    resolved = str(Path(file).resolve())
    own = f"\x1f{reviewer}" if reviewer else ""
    return hashlib.sha256(f"{resolved}\x1f{column}\x1f{target}{own}".encode()).hexdigest()[:16]


@dataclass
class Item:
    """One distinct answer waiting for (or given) a decision, with every row that wrote it."""

    item_id: int
    key: str
    text: str
    rows: list[int]
    confidence: float  # from the coded file, for ordering before a suggestion exists
    status: str = "pending"  # pending | skipped | decided | uncodable | cleared
    suggestion: dict[str, Any] | None = None
    decision: dict[str, Any] | None = None
    variants: list[str] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        """The item as the API returns it."""
        s = self.suggestion or {}
        return {"item_id": self.item_id, "text": self.text, "rows": len(self.rows), "variants": self.variants[:10],
                "status": self.status, "confidence": s.get("confidence", self.confidence),
                "codes": s.get("codes", []), "labels": s.get("labels", []), "method": s.get("method", ""),
                "reason": s.get("reason"), "alternatives": s.get("alternatives", []), "evidence": s.get("evidence", []),
                "decision": self.decision}


class ReviewQueue:
    """The queue of one session; every method is safe to call from several threads."""

    def __init__(self, store: ReviewStore, coder: Coder, file: Path, column: str, target: str,
                 source: dict[str, Any], owner: str | None = None) -> None:
        self.store, self.coder, self.file, self.column, self.target = store, coder, Path(file), column, target
        self.frame = read_table(self.file)
        require_column(self.frame, column, self.file)
        review_col = f"{column}_needs_review"
        if review_col not in self.frame.columns:
            raise InvalidError(f"{self.file}: no column {review_col!r}: review a file written by `autocode code` "
                               "or `autocode employers` for this column")
        self.session_id = session_id_for(self.file, column, target, owner)
        # A person's own queue (blind double coding) teaches the shared model nothing, so the other coder's queue
        # is not changed by it; employer records the person creates or picks are shared all the same.
        self.learns = owner is None
        self.info = store.open_session(self.session_id, str(self.file.resolve()), column, target, source)
        self._lock = threading.RLock()
        self.items = self._group(review_col)
        self._by_key = {it.key: it for it in self.items}
        self._vectors: np.ndarray | None = None
        self._vectors_lock = threading.Lock()
        self._ranked: dict[str, list[Item]] = {}
        self._replay()
        # Learning needs every waiting answer's vector; encoding them while the person reads the first item keeps
        # the first decision from waiting for it. Then what earlier decisions taught clears their near twins again.
        self._warming = threading.Thread(target=self._warm, name="review-vectors", daemon=True)
        self._warming.start()

    def _warm(self) -> None:
        if self.items:
            self._item_vectors()
            with self._lock:
                self._rescore_cleared()

    # ------------------------------------------------------------------ building

    def _group(self, review_col: str) -> list[Item]:
        flags = self.frame[review_col].astype(str).str.strip().str.casefold().isin(("true", "1", "yes"))
        texts = self.frame[self.column].astype(str)
        conf_col = f"{self.column}_confidence"
        conf = pd.to_numeric(self.frame[conf_col], errors="coerce").fillna(0.0) if conf_col in self.frame else None
        groups: dict[str, Item] = {}
        forms: dict[str, dict[str, int]] = {}
        for row in np.flatnonzero(flags.to_numpy()):
            text = texts.iat[row]
            key = normalise_key(text)
            item = groups.get(key)
            if item is None:
                item = groups[key] = Item(len(groups), key, text, [], float(conf.iat[row]) if conf is not None else 0.0)
                forms[key] = {}
            item.rows.append(int(row))
            forms[key][text] = forms[key].get(text, 0) + 1
        for key, item in groups.items():
            ranked = sorted(forms[key].items(), key=lambda kv: -kv[1])
            item.text, item.variants = ranked[0][0], [t for t, _ in ranked]  # shown as most rows wrote it
        return list(groups.values())

    def _replay(self) -> None:
        """Bring item statuses up to the stored decisions: a reopened session resumes where it stopped."""
        for key, decision in self.store.standing(self.session_id).items():
            item = self._by_key.get(key)
            if item is not None:
                item.decision = decision
                item.status = _status(decision["action"])

    # ------------------------------------------------------------------ reading

    def counts(self) -> dict[str, int]:
        """Items and rows by status."""
        with self._lock:
            out = {"items": len(self.items), "rows": 0, "file_rows": len(self.frame)}
            for status in STATUSES:
                out[status] = out[f"rows_{status}"] = 0
            for it in self.items:  # one pass: a 20k-answer queue answers this on every keystroke
                out[it.status] += 1
                out[f"rows_{it.status}"] += len(it.rows)
                out["rows"] += len(it.rows)
            return out

    def ordered(self, order: str = "rows", status: str | None = "pending") -> list[Item]:
        """Items in the order given, optionally of one status; skipped items come after the pending ones."""
        if order not in ORDERS:
            raise InvalidError(f"order: {order!r} is not one of {', '.join(ORDERS)}")
        with self._lock:
            ranked = self._ranked.get(order)
            if ranked is None:
                # By the file's own confidence, so the order is fixed and sorted once per toggle, not per keystroke.
                def rank(it: Item) -> tuple[Any, ...]:
                    if order == "rows":
                        return (-len(it.rows), it.confidence, it.item_id)
                    return (it.confidence, -len(it.rows), it.item_id)

                ranked = self._ranked[order] = sorted(self.items, key=rank)
            if status is None:
                return list(ranked)
            if status == "pending":
                return [it for it in ranked if it.status == "pending"] + [it for it in ranked if it.status == "skipped"]
            return [it for it in ranked if it.status == status]

    def next(self, order: str = "rows") -> Item | None:
        """The item to show now (its suggestion ready), or None when the queue is done."""
        while True:
            queue = self.ordered(order)
            if not queue:
                return None
            self._suggest(queue[: PREFETCH + 1])
            head = queue[0]
            s = head.suggestion or {}
            learned = str(s.get("method", "")).startswith("feedback")  # decided by a correction made in review
            if not self.learns or not learned or s.get("needs_review", True) or head.status != "pending":
                return head
            # What was learned since the file was coded now codes this answer without review (the eager re-scoring
            # skips answers whose vectors are not encoded yet): it leaves the queue here, counted as cleared.
            with self._lock:
                head.status = "cleared"

    def item(self, item_id: int) -> Item:
        """One item, with its suggestion."""
        with self._lock:
            if not 0 <= item_id < len(self.items):
                raise NotFoundError(f"item_id: no item {item_id} in review session {self.session_id}")
            item = self.items[item_id]
        self._suggest([item])
        return item

    def _suggest(self, items: list[Item]) -> None:
        missing = [it for it in items if it.suggestion is None]
        if missing:
            for it, s in zip(missing, self.coder.suggest([it.text for it in missing]), strict=True):
                it.suggestion = s

    def search(self, query: str, k: int = 10) -> list[dict[str, Any]]:
        """Codes or records to pick from, by name or code."""
        return self.coder.search(query, k)

    # ------------------------------------------------------------------ deciding

    def decide(self, item_id: int, action: str, reviewer: str, choice: dict[str, Any] | None = None) -> dict[str, Any]:
        """Decide an item; returns the stored decision, the items the decision cleared, and the counts."""
        item = self.item(item_id)
        choice = dict(choice or {})
        with self._lock:
            if action == "accept":
                s = item.suggestion or {}
                if not s.get("codes"):
                    raise InvalidError("accept: there is no suggestion to accept for this answer; pick a code or mark it uncodable")
                choice = {"codes": s["codes"]}
                if self.coder.kind == "employers":
                    choice["record_id"] = int(s["codes"][0])
            elif (action == "choose" and self.coder.kind == "employers" and not choice.get("record")
                  and choice.get("record_id") in (None, "") and choice.get("codes")):
                choice["record_id"] = int(choice["codes"][0])
            undo: dict[str, Any] = {}
            if action in ("accept", "choose"):
                undo = self.coder.learn(item.text, choice, reviewer, remember=self.learns)
                if self.coder.kind == "employers":
                    choice["record_id"] = undo["record_id"]
                    choice["codes"] = [str(undo["record_id"])]
                fields = self.coder.decided_fields(item.text, choice)
            else:
                fields = {}
            stored = self.store.add(self.session_id, item.key, item.text, action, list(choice.get("codes") or []),
                                    {"choice": choice, "undo": undo, "columns": fields}, reviewer)
            item.decision, item.status = stored, _status(action)
            cleared = self._rescore(item) if action in ("accept", "choose") and self.learns else []
            return {"decision": stored, "cleared": [it.view() for it in cleared], "counts": self.counts()}

    def undo(self) -> dict[str, Any]:
        """Undo the session's latest standing decision; the item goes back to the queue."""
        with self._lock:
            undone = self.store.undo_last(self.session_id)
            if undone is None:
                raise InvalidError("undo: there is no decision left to undo in this session")
            item = self._by_key.get(undone["item_key"])
            self.coder.unlearn(undone["text"], undone["fields"].get("undo", {}))
            earlier = self.store.standing(self.session_id).get(undone["item_key"])
            if item is not None:
                item.decision = earlier
                item.status = _status(earlier["action"]) if earlier else "pending"
                item.suggestion = None
                # Items the decision had cleared go back too: their suggestion is recomputed without it.
                for other in self.items:
                    if other.status == "cleared" and other.decision is None:
                        other.status, other.suggestion = "pending", None
                self._rescore_cleared()
            return {"undone": undone, "item": self.item(item.item_id).view() if item else None, "counts": self.counts()}

    def _rescore(self, decided: Item) -> list[Item]:
        """Re-suggest pending items near the decided answer; those now coded without review are cleared."""
        pending = [it for it in self.items if it.status in ("pending", "skipped") and it is not decided]
        if not pending or (self._vectors is None and len(self.items) > SMALL_QUEUE):
            return []  # a big queue's vectors are still being encoded: `next` clears such answers when it reaches them
        vectors = self._item_vectors()
        sims = vectors[[it.item_id for it in pending]] @ vectors[decided.item_id]
        near = [it for it, s in zip(pending, sims, strict=True) if s >= self.coder.near]
        if not near:
            return []
        cleared = []
        for it, s in zip(near, self.coder.suggest([it.text for it in near]), strict=True):
            it.suggestion = s
            if not s["needs_review"] and s["codes"]:
                it.status = "cleared"
                cleared.append(it)
        return cleared

    def _rescore_cleared(self) -> None:
        again = [it for it in self.items if it.status == "pending" and it.suggestion is None]
        decided = [it.item_id for it in self.items if it.status == "decided"]
        if not again or not decided:
            return
        vectors = self._item_vectors()
        sims = (vectors[[it.item_id for it in again]] @ vectors[decided].T).max(axis=1)
        near = [it for it, s in zip(again, sims, strict=True) if s >= self.coder.near]
        for it, s in zip(near, self.coder.suggest([it.text for it in near]), strict=True):
            it.suggestion = s
            if not s["needs_review"] and s["codes"]:
                it.status = "cleared"

    def _item_vectors(self) -> np.ndarray:
        with self._vectors_lock:
            if self._vectors is None:
                texts = [it.text for it in self.items]
                # In slices: the encoder serves one call at a time, and the item on screen must not wait for them all.
                parts = [self.coder.vectors(texts[i: i + VECTOR_SLICE]) for i in range(0, len(texts), VECTOR_SLICE)]
                self._vectors = np.vstack(parts) if parts else np.zeros((0, 1), dtype=np.float32)
            return self._vectors

    def use_coder(self, coder: Coder) -> None:
        """Suggest with another coder from now on (the codebook was edited): suggestions and clearings are redone."""
        with self._lock:
            self.coder = coder
            for it in self.items:
                it.suggestion = None
                if it.status == "cleared":
                    it.status = "pending"
            self._rescore_cleared()

    # ------------------------------------------------------------------ export

    def exported(self) -> pd.DataFrame:
        """The coded file with the decisions applied: same rows, same order; reviewed rows say `human` and who."""
        c = self.column
        self._warming.join()  # an export applies everything learned, the twins cleared on opening included
        with self._lock:
            frame = self.frame.copy()
            reviewer = [""] * len(frame)
            reviewed_at = [""] * len(frame)
            updates: dict[str, dict[int, Any]] = {}

            def put(name: str, rows: list[int], value: Any) -> None:
                updates.setdefault(f"{c}_{name}", {}).update(dict.fromkeys(rows, value))

            for it in self.items:
                if it.status in ("decided", "uncodable") and it.decision is not None:
                    d = it.decision
                    # Codes are named from the codebook as it is now (a code renamed or merged since is exported so).
                    columns = (self.coder.decided_fields(it.text, {"codes": d["codes"]})
                               if self.coder.kind == "codes" else d["fields"].get("columns", {}))
                    for name, value in columns.items():
                        put(name, it.rows, value)
                    if it.status == "uncodable":
                        for name in ("code", "label", "employer", "isic_section", "isic_division", "sector",
                                     "gics_sector", "country", "region", "subregion"):
                            if f"{c}_{name}" in frame.columns:
                                put(name, it.rows, "")
                    put("confidence", it.rows, 1.0)
                    put("needs_review", it.rows, False)
                    put("method", it.rows, "human")
                    put("review", it.rows, "uncodable" if it.status == "uncodable" else d["action"])
                    for r in it.rows:
                        reviewer[r], reviewed_at[r] = d["reviewer"], d["created_at"]
                elif it.status == "cleared" and it.suggestion is not None:
                    s = it.suggestion
                    for name, value in (s.get("fields") or {"code": "|".join(s["codes"]),
                                                             "label": "|".join(s["labels"])}).items():
                        put(name, it.rows, value)
                    put("confidence", it.rows, s["confidence"])
                    put("needs_review", it.rows, False)
                    put("method", it.rows, s["method"])
                    put("review", it.rows, "cleared")
            for name, values in updates.items():
                if name not in frame.columns:
                    frame[name] = ""
                column = frame[name].astype(object)
                for r, v in values.items():
                    column.iat[r] = v
                frame[name] = _typed(name[len(c) + 1:], column)
            frame[f"{c}_reviewer"] = reviewer
            frame[f"{c}_reviewed_at"] = reviewed_at
            return frame

    def export(self, path: Path) -> dict[str, Any]:
        """Write `exported()` to `path` (format from its suffix), atomically."""
        frame = self.exported()
        write_table_atomic(frame, Path(path))
        counts = self.counts()
        return {"path": str(path), "rows": len(frame), "reviewed_rows": counts["rows_decided"] + counts["rows_uncodable"],
                "cleared_rows": counts["rows_cleared"], "written_at": datetime.now(UTC).isoformat(timespec="seconds")}


def _typed(field: str, column: pd.Series) -> pd.Series:
    """One type per column (a CSV read as text, decisions as numbers and flags), so every format can be written."""
    if field in ("confidence", "match_score"):
        return pd.to_numeric(column, errors="coerce")
    if field == "needs_review":
        return column.map(lambda v: v if isinstance(v, bool) else str(v).strip().casefold() in ("true", "1", "yes"))
    return column.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))


def _status(action: str) -> str:
    return {"accept": "decided", "choose": "decided", "uncodable": "uncodable", "skip": "skipped"}[action]
