"""EmployerResolver: employer answers -> reference records (canonical name, sector, country), or an honest guess.

Candidates come from three places, merged per record: exact match keys (names, aliases, derived short
forms), fuzzy keys (rapidfuzz ratio over every key) and the dense name index (MiniLM vectors of names
and aliases). Each candidate is re-scored by a small logistic model (employer_match) and the best is
accepted above a calibrated threshold. Otherwise the name's own meaning gives the sector and the
text's cues the country (employer_infer), each with its own confidence.

The name index is the one expensive artefact: vector ids are a hash of (record_id, name string), so the
id -> record map is rebuilt from the records alone, and an index saved by the service is reconciled with
the records on fit (only names it lacks are encoded).
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from autocode.classifiers.codebook import load_codebook
from autocode.classifiers.employers.confidence import RowConfidence
from autocode.classifiers.employers.confidence import shipped as shipped_confidence
from autocode.classifiers.employers.cues import non_employer, place_of
from autocode.classifiers.employers.infer import SectorModel, infer_country, interpolate
from autocode.classifiers.employers.match import (
    DEFAULT_PARAMS,
    Query,
    ResolverParams,
    match_features,
    match_veto,
    matched_key,
    parse_query,
)
from autocode.classifiers.employers.records import EmployerRecords, clean_records, vector_id
from autocode.classifiers.prediction import Evidence
from autocode.classifiers.thresholds import DEFAULT_TARGET_ACCURACY
from autocode.embeddings import Encoder, VectorIndex

__all__ = ["EmployerResolver", "EmployerResult", "SearchHit", "vector_id"]


@dataclass(frozen=True)
class EmployerResult:
    """The decision for one answer: the record matched (or the inferred fields), with per-field confidence."""

    text: str
    kind: str  # "match" | "inferred" | "non_employer" | "empty"
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
    evidence: tuple[Evidence, ...]

    def fields(self) -> dict[str, object]:
        """A flat dict for the batch runner (evidence as a JSON string)."""
        evidence = [{k: v for k, v in vars(e).items() if v is not None} for e in self.evidence]
        return {
            "employer": self.employer, "match_score": round(self.match_score, 4), "isic_section": self.isic_section,
            "isic_division": self.isic_division, "sector": self.sector, "gics_sector": self.gics_sector,
            "country": self.country, "region": self.region, "subregion": self.subregion,
            "confidence": round(self.confidence, 4), "needs_review": self.needs_review,
            "evidence": json.dumps(evidence, ensure_ascii=False),
        }


@dataclass(frozen=True)
class SearchHit:
    """One record found by search()."""

    record_id: int
    name: str
    score: float
    country: str
    isic_section: str
    isic_division: str
    sector: str
    source: str


class EmployerResolver(EmployerRecords):
    """Resolve employer answers against reference records; search, add, correct and remove records."""

    def __init__(
        self,
        encoder: Encoder,
        records: pd.DataFrame,
        *,
        name_index: VectorIndex | None = None,
        accept_threshold: float | None = None,
        params: ResolverParams | None = None,
        dense_k: int = 20,
        fuzzy_k: int = 10,
        sector_k: int = 30,
        sector_temperature: float = 0.1,
        target_accuracy: float = DEFAULT_TARGET_ACCURACY,
        row_confidence: RowConfidence | None = None,
    ) -> None:
        self.encoder = encoder
        # A row is auto-coded only when its confidence (the probability its sector and country are right) reaches this.
        self.target_accuracy = target_accuracy
        self.row_confidence = row_confidence
        self.records = records
        self.name_index = name_index
        self.params = params or DEFAULT_PARAMS
        self.accept_threshold = self.params.accept_threshold if accept_threshold is None else accept_threshold
        self.dense_k = dense_k
        self.fuzzy_k = fuzzy_k
        self.sector_k = sector_k
        self.sector_temperature = sector_temperature
        # An answer written as a stored name string takes that name's vector instead of being encoded (False: encode all).
        self.stored_query_vectors = True
        self._lock = threading.RLock()

    # ------------------------------------------------------------------------------------------ state

    def fit(self) -> Self:
        """Build the key tables, the sector model and the name index (reusing `name_index` where given)."""
        self._isic = load_codebook("isic4")
        self.row_confidence_ = self.row_confidence or shipped_confidence(self.target_accuracy)
        self._build_tables(clean_records(self.records))
        self.sector_model_ = SectorModel().fit(
            [str(r["name"]) for r in self.rows_.values()],
            [str(r["isic_section"]) for r in self.rows_.values()],
            [str(r["isic_division"]) for r in self.rows_.values()],
        )
        self._sync_index(self.name_index or VectorIndex(self.encoder.name, self.encoder.dim, kind="flat"))
        return self

    # ------------------------------------------------------------------------------------------ resolve

    def resolve(self, texts: Sequence[str]) -> list[EmployerResult]:
        """One result per answer, in order; each distinct one decided once, the answers not written as a stored name encoded in one call."""
        texts = list(texts)
        with self._lock:
            decided: dict[str, EmployerResult] = {}
            queries: dict[str, Query] = {}
            for text in dict.fromkeys(texts):
                clean = " ".join(str(text).split())
                category = non_employer(clean) if clean else None
                if not clean:
                    decided[text] = self._plain(text, "empty", 0.0, True, ())
                elif category:
                    decided[text] = self._plain(text, "non_employer", 0.95, False,
                                                (Evidence("non_employer", clean, category, None),))
                else:
                    queries[text] = parse_query(clean, self.form_priors_)
            if queries:
                found = self._candidates(list(queries.values()))
                for (text, query), (vector, dense, fuzzy) in zip(queries.items(), found, strict=True):
                    decided[text] = self._decide(text, query, vector, dense, fuzzy)
            return [decided[t] for t in texts]

    def _plain(self, text: str, kind: str, confidence: float, review: bool,
               evidence: tuple[Evidence, ...]) -> EmployerResult:
        return EmployerResult(text, kind, "", None, 0.0, "", "", "", "", "", "", "", confidence, review,
                              {"employer": confidence, "sector": confidence, "country": confidence}, evidence)

    def _candidates(self, queries: Sequence[Query], allowed: np.ndarray | None = None, k: int | None = None
                    ) -> list[tuple[np.ndarray, list[tuple[int, float, str]], dict[str, float]]]:
        """Per query: its vector, dense neighbours (record_id, cosine, name) best first, fuzzy key -> ratio."""
        vectors = self._query_vectors(queries)
        n_live = len(self.name_index_)
        want = min(k or 2 * max(self.dense_k, self.sector_k), n_live) if n_live else 0
        out: list[tuple[np.ndarray, list[tuple[int, float, str]], dict[str, float]]] = []
        if want:
            if allowed is None:
                scores, vids = self.name_index_.search(vectors, want)
            else:
                scores, vids = self.name_index_.search_filtered(vectors, want, allowed)
        fuzzy = self._fuzzy([q.key for q in queries], self.fuzzy_k * 3)
        for i in range(len(queries)):
            dense: list[tuple[int, float, str]] = []
            seen: set[int] = set()
            for s, vid in zip(scores[i], vids[i], strict=True) if want else ():
                rid = self.vector_owner_.get(int(vid))
                if rid is None or rid in seen:
                    continue
                seen.add(rid)
                dense.append((rid, float(s), self.vector_text_[int(vid)]))
            out.append((vectors[i], dense, fuzzy[i]))
        if self.register_ is not None and len(self.register_):
            # The register's nearest records join the gazetteer's, by cosine (one list, best first).
            r_scores, r_ids = self.register_.search(vectors, k or 2 * max(self.dense_k, self.sector_k))
            for i, (_, dense, _) in enumerate(out):
                dense.extend((int(rid), float(s), self.register_.name(int(rid)))
                             for s, rid in zip(r_scores[i], r_ids[i], strict=True) if rid >= 0)
                dense.sort(key=lambda d: -d[1])
        return out

    def _query_vectors(self, queries: Sequence[Query]) -> np.ndarray:
        """The answers' vectors: an answer written exactly as a name its exact key's record embeds reuses that
        name's stored vector (the encoding of the same string); only the others go to the encoder."""
        vectors = np.empty((len(queries), self.encoder.dim), dtype=np.float32)
        stored: dict[int, int] = {}  # query position -> vector id of the same string
        if self.stored_query_vectors:
            for i, query in enumerate(queries):
                for rid in sorted(self.key_holders_.get(query.key, ())):
                    vid = vector_id(rid, query.base)
                    if self.vector_text_.get(vid) == query.base:
                        stored[i] = vid
                        break
        if stored:
            vectors[list(stored)] = self.name_index_.reconstruct(np.fromiter(stored.values(), dtype=np.int64))
        rest = [i for i in range(len(queries)) if i not in stored]
        if rest:
            vectors[rest] = self.encoder.encode([queries[i].base for i in rest])
        return vectors

    def _fuzzy(self, keys: Sequence[str], limit: int) -> list[dict[str, float]]:
        out: list[dict[str, float]] = []
        for start in range(0, len(keys), 256):
            chunk = list(keys[start : start + 256])
            scores = process.cdist(chunk, self.key_list_, scorer=fuzz.ratio, score_cutoff=60, dtype=np.uint8,
                                   workers=-1)
            for row in scores:
                hits = np.flatnonzero(row)
                if hits.size > limit:
                    hits = hits[np.argpartition(-row[hits].astype(np.int16), limit)[:limit]]
                out.append({self.key_list_[j]: row[j] / 100.0 for j in hits})
        if self.register_ is not None:
            # Scored over the register rows sharing the key's rarer words only: a ratio over 1M keys takes ~0.3 s.
            for key, found in zip(keys, out, strict=True):
                for k, r in self.register_.fuzzy(key, limit).items():
                    found[k] = max(found.get(k, 0.0), r)
        return out

    def _features(self, query: Query, vector: np.ndarray, dense: list[tuple[int, float, str]],
                  fuzzy: dict[str, float]) -> list[tuple[int, list[float]]]:
        """(record_id, FEATURES row) for every candidate of one answer."""
        cands: dict[int, float] = {rid: s for rid, s, _ in dense[: self.dense_k]}
        for key in query.keys:
            for rid in self._holders(key):
                cands.setdefault(rid, np.nan)
        for key, _ in sorted(fuzzy.items(), key=lambda kv: -kv[1])[: self.fuzzy_k]:
            for rid in self._holders(key, cap=5):
                cands.setdefault(rid, np.nan)
        missing = [rid for rid, s in cands.items() if np.isnan(s)]
        in_register = [rid for rid in missing if rid not in self.rows_]  # the register's records have no vector ids
        if in_register and self.register_ is not None:
            for rid, sim in zip(in_register, self.register_.vectors(in_register) @ vector, strict=True):
                cands[rid] = float(sim)
            missing = [rid for rid in missing if np.isnan(cands[rid])]
        if missing:
            vids = [v for rid in missing for v in self.keys_[rid].vector_ids]
            sims = self.name_index_.reconstruct(np.asarray(vids, dtype=np.int64)) @ vector if vids else np.zeros(0)
            pos = 0
            for rid in missing:
                n = len(self.keys_[rid].vector_ids)
                cands[rid] = float(np.max(sims[pos : pos + n])) if n else 0.0
                pos += n
        holders = {k: len(self._holders(k, cap=1000)) for k in query.keys}
        ratios = {rid: max((fuzz.ratio(query.key, k) for k in self.keys_[rid].keys), default=0) / 100.0
                  for rid in cands}
        # The runner-up's scores, so a candidate only stands out when nothing else is as close.
        top_d = [*sorted(cands.values(), reverse=True)[:2], 0.0, 0.0]
        top_r = [*sorted(ratios.values(), reverse=True)[:2], 0.0, 0.0]
        out = []
        for rid, d in cands.items():
            other_d = top_d[1] if d == top_d[0] else top_d[0]
            other_r = top_r[1] if ratios[rid] == top_r[0] else top_r[0]
            out.append((rid, match_features(query, self.keys_[rid], holders, d, other_d, other_r, ratios[rid],
                                            self._idf, self._idf_default)))
        return out

    def _score(self, query: Query, vector: np.ndarray, dense: list[tuple[int, float, str]],
               fuzzy: dict[str, float]) -> list[tuple[float, int]]:
        """(probability, record_id) for every candidate, best first (user records first among equals)."""
        scored = [(self.params.probability(row), rid) for rid, row in self._features(query, vector, dense, fuzzy)]
        scored.sort(key=lambda pr: (-round(pr[0], 3), not self.keys_[pr[1]].is_user, -pr[0]))
        return scored

    def candidate_features(self, texts: Sequence[str]) -> list[list[tuple[int, list[float]]]]:
        """Per answer, each candidate record with its FEATURES row (for fitting the match model)."""
        with self._lock:
            queries = [parse_query(" ".join(t.split()), self.form_priors_) for t in texts]
            found = self._candidates(queries)
            return [self._features(q, v, d, f) for q, (v, d, f) in zip(queries, found, strict=True)]

    def _decide(self, text: str, query: Query, vector: np.ndarray, dense: list[tuple[int, float, str]],
                fuzzy: dict[str, float]) -> EmployerResult:
        scored = self._score(query, vector, dense, fuzzy)
        p, rid = scored[0] if scored else (0.0, -1)
        neighbours = self._neighbours(dense)
        best_country = str(self.rows_[rid]["country"]) if scored else ""
        if query.place is not None and best_country and best_country != query.place.country:
            # "Bank Negara Malaysia" is not Bank Negara Indonesia: a record the answer's own place contradicts is no match.
            return self._inferred(text, query, p, rid, neighbours)
        if scored and p >= self.accept_threshold:
            matched = matched_key(query, self.keys_[rid])
            veto = match_veto(query, matched, str(self.rows_[rid]["source"]))
            if veto == "code_not_typed_as_code":
                return self._inferred(text, query, p, rid, neighbours)
            return self._matched(text, query, p, rid, neighbours, self._rival_country(scored, p, rid), matched, veto)
        return self._inferred(text, query, p, rid if scored else None, neighbours)

    def _rival_country(self, scored: list[tuple[float, int]], p: float, rid: int, margin: float = 0.05) -> str:
        """A near-tied candidate's country where it differs from the best's ("Ministry of Education" in many countries)."""
        country = str(self.rows_[rid]["country"])
        for q, other in scored[1:]:
            if q < p - margin:
                break
            theirs = str(self.rows_[other]["country"])
            if theirs and theirs != country:
                return theirs
        return ""

    def _neighbours(self, dense: list[tuple[int, float, str]]) -> list[tuple[int, float, str]]:
        """The nearest records for the sector and country votes: (record_id, weight, name string)."""
        top = dense[: self.sector_k]
        best = top[0][1] if top else 0.0
        return [(rid, float(np.exp((s - best) / self.sector_temperature)), text) for rid, s, text in top]

    def _sector_name(self, section: str, division: str) -> str:
        code = division if division in self._isic else section
        return self._isic.get(code).name if code in self._isic else ""

    def _infer_sector(self, name: str, neighbours: list[tuple[int, float, str]]
                      ) -> tuple[str, str, str, float, tuple[Evidence, ...]]:
        votes = [(str(self.rows_[r]["isic_section"]), str(self.rows_[r]["isic_division"]), w, t)
                 for r, w, t in neighbours]
        guess = self.sector_model_.predict([name], [votes])[0]
        confidence = interpolate(guess.section_p, self.params.sector_knots)
        gics: defaultdict[str, float] = defaultdict(float)  # float weights; a Counter is typed for int counts
        for r, w, _ in neighbours:
            if self.rows_[r]["isic_section"] == guess.section and self.rows_[r]["gics_sector"]:
                gics[str(self.rows_[r]["gics_sector"])] += w
        return guess.section, guess.division, max(gics.items(), key=lambda kv: kv[1])[0] if gics else "", confidence, guess.evidence

    def _country_shares(self, neighbours: list[tuple[int, float, str]]) -> dict[str, float]:
        shares: defaultdict[str, float] = defaultdict(float)
        for r, w, _ in neighbours:
            if self.rows_[r]["country"]:
                shares[str(self.rows_[r]["country"])] += w
        total = sum(shares.values())
        return {c: v / total for c, v in shares.items()} if total else {}

    def _matched(self, text: str, query: Query, p: float, rid: int, neighbours: list[tuple[int, float, str]],
                 rival: str, matched: tuple[str, str], veto: str) -> EmployerResult:
        row = self.rows_[rid]
        section, division, gics = str(row["isic_section"]), str(row["isic_division"]), str(row["gics_sector"])
        evidence = [Evidence("record", str(row["name"]), str(rid), round(p, 4))]
        sector_conf = p
        if not section:
            # Some reference records carry no sector: the name's meaning fills it, flagged by its own confidence.
            section, division, gics, sector_conf, why = self._infer_sector(str(row["name"]), neighbours)
            evidence.extend(why)
        country = str(row["country"])
        region, subregion = str(row["region"]), str(row["subregion"])
        if not country and query.place is not None:
            # A brand has no country of its own ("Deloitte"): the answer's place says which office ("Deloitte Singapore").
            country, region, subregion = query.place.country, "", ""
        if country and not region:
            region, subregion = place_of(country)
        if query.place is not None:
            evidence.append(Evidence("place", query.place.text, query.place.country, None))
        if section == "O" and not query.cues:
            # Every country has its Ministry of Education: without a cue in the answer the name says no country.
            rival = rival or "any"
        if rival and (query.place is None or query.place.country != country):
            # The name alone does not say which country's record is meant: the country is left empty, for review.
            evidence.append(Evidence("country_ambiguous", rival, str(row["country"]), None))
            country, region, subregion = "", "", ""
        evidence.append(Evidence("matched_" + matched[1], matched[0], str(rid), None))
        if veto:
            # Not invented: the candidate stays the best guess, but a person decides.
            evidence.append(Evidence("review_reason", veto, str(rid), None))
        conf = {"employer": p, "sector": sector_conf, "country": p if country else 0.0}
        confidence = self._calibrated("match", min(conf.values()), evidence)
        review = (bool(veto) or sector_conf < min(p, self.params.sector_review) or not country
                  or not self.row_confidence_.auto("match", confidence))
        return EmployerResult(text, "match", str(row["name"]), rid, p, section, division,
                              self._sector_name(section, division), gics, country, region, subregion,
                              confidence, review, conf, tuple(evidence))

    def _inferred(self, text: str, query: Query, p: float, rid: int | None,
                  neighbours: list[tuple[int, float, str]]) -> EmployerResult:
        section, division, gics, sector_conf, why = self._infer_sector(query.base, neighbours)
        guess = infer_country(query.cues, self._country_shares(neighbours))
        knots = self.params.country_knots.get(guess.cue_kind, ((0.0, 0.0), (1.0, 0.0)))
        country_conf = interpolate(guess.score, knots)
        region, subregion = place_of(guess.country) if guess.country else ("", "")
        evidence: list[Evidence] = []
        if rid is not None:
            evidence.append(Evidence("candidate", str(self.rows_[rid]["name"]), str(rid), round(p, 4)))
        evidence.extend(why)
        evidence.extend(guess.evidence)
        evidence.append(Evidence("country_basis", guess.cue_kind, guess.country, round(guess.score, 4)))
        conf = {"employer": 1.0 - p, "sector": sector_conf, "country": country_conf}
        confidence = self._calibrated("inferred", min(sector_conf, country_conf), evidence)
        review = (sector_conf < self.params.sector_review or country_conf < self.params.country_review
                  or not self.row_confidence_.auto("inferred", confidence))
        return EmployerResult(text, "inferred", "", None, p, section, division, self._sector_name(section, division),
                              gics, guess.country, region, subregion, confidence, review, conf, tuple(evidence))

    def _calibrated(self, kind: str, raw: float, evidence: list[Evidence]) -> float:
        """The row's confidence: P(sector and country right) for its raw confidence, noted in its evidence."""
        evidence.append(Evidence("calibration", kind, "", round(raw, 4)))
        return self.row_confidence_.confidence(kind, raw)

    # ------------------------------------------------------------------------------------------ search

    def search(self, text: str, k: int = 10, *, country: str | None = None, sector: str | None = None
               ) -> list[SearchHit]:
        """Records most like `text` (name similarity, fuzzy or by meaning), optionally within a country / ISIC code."""
        clean = " ".join(text.split())
        if not clean or k <= 0:
            return []
        with self._lock:
            allowed_ids = self._filter(country, sector)
            if allowed_ids is not None and not allowed_ids:
                return []
            allowed = None
            if allowed_ids is not None:
                allowed = np.asarray([v for r in allowed_ids if r in self.keys_ for v in self.keys_[r].vector_ids],
                                     dtype=np.int64)
            query = parse_query(clean, self.form_priors_)
            (_, dense, fuzzy), = self._candidates([query], allowed, k=3 * k)
            score: dict[int, float] = {}
            for rid, s, _ in dense:
                score[rid] = max(score.get(rid, 0.0), s)
            for key, r in fuzzy.items():
                for rid in self._holders(key, cap=50):
                    score[rid] = max(score.get(rid, 0.0), r)
            for key in query.keys:
                for rid in self._holders(key, cap=50):
                    score[rid] = 1.0
            if allowed_ids is not None:
                score = {r: s for r, s in score.items() if r in allowed_ids}
            ranked = sorted(score.items(), key=lambda rs: (-round(rs[1], 4), not self.keys_[rs[0]].is_user))[:k]
            return [self._hit(rid, s) for rid, s in ranked]

    def _hit(self, rid: int, score: float) -> SearchHit:
        row = self.rows_[rid]
        section, division = str(row["isic_section"]), str(row["isic_division"])
        return SearchHit(rid, str(row["name"]), round(float(score), 4), str(row["country"]), section, division,
                         self._sector_name(section, division), str(row["source"]))
