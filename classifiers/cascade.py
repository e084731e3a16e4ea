"""The Cascade: exact match first, then kNN + trained heads blended and calibrated, or zero-shot without data.

How it decides one text
    1. alias: the normalised text is a label's name or alias, or a training text -> that code.
    2. the learned blend: kNN vote, logistic head on embeddings and lexical head on character
       n-grams give per-code probabilities; a weighted mean of them is the score, and an isotonic
       calibrator turns the top score into the probability of being right. At or above the saved
       threshold the code is auto-coded; below it, a hierarchical single-label codebook backs off
       to the ancestor whose own calibrated confidence clears its level's threshold (needs_review
       stays set); otherwise the best code is returned for review. Multi-label: every code whose
       blended probability reaches a CV-chosen cut; the confidence is that of the whole set being
       right; each clause of the answer is scored too and a code keeps its best score, and the
       number of codes is capped at a CV-chosen count. A hierarchical multi-label codebook codes a
       parent, for review, when no child clears the cut but the children together do. A text unlike
       every labelled answer and every label's own words (below the novelty floor) always goes to review.
    3. zero-shot: with no training data, labels' own words decide (its confidence is not calibrated).

How it learns (fit)
    The codebook's words for each code (name + description, aliases, examples) join the training
    rows, so a leaf code never seen in training can still be predicted. Every hyper-parameter (k
    and temperature of the vote, C of the head, the blend weights, the multi-label cut) and the
    calibration come from out-of-fold predictions: k-fold cross-validation on the training rows
    only. The threshold is the lowest calibrated confidence at which the out-of-fold decisions
    above it reach the target accuracy. The novelty floor comes from a second, smaller pass that
    holds out whole labels, so that their answers stand for answers that fit no label.

Where each step lives (this module only orchestrates them)
    methods/          the methods, and METHODS: the registry the Cascade builds them from
    training_rows.py  checked training rows plus the codebook's own words
    out_of_fold.py    folds and every blend method's out-of-fold probabilities
    blend.py          the blend weights and the weighted mean
    label_sets.py     single code or multi-label set, the multi-label cut and cap, uncertain parents
    clauses.py        an answer's clauses, scored on their own for multi-label
    thresholds.py     the review threshold and the per-row novelty floor
    novelty.py        the novelty floor, set on held-out labels
    calibration.py    the isotonic calibrator
    backoff.py        hierarchy back-off to a certain ancestor
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Self, cast

import numpy as np

from autocode.classifiers.backoff import back_off, fit_levels
from autocode.classifiers.blend import blend_proba, choose_weights, even_weights, mix
from autocode.classifiers.calibration import MIN_CALIBRATION_ROWS, Calibrator
from autocode.classifiers.clauses import clause_rows
from autocode.classifiers.codebook import Codebook
from autocode.classifiers.label_matrix import label_matrix
from autocode.classifiers.label_sets import best_cut, best_max_codes, choose_codes, parent_groups, uncertain_parents
from autocode.classifiers.methods import METHODS, blend_methods
from autocode.classifiers.methods.component import BlendComponent, Fold, Role, Rows
from autocode.classifiers.methods.knn import KNNClassifier, top_k
from autocode.classifiers.normalise import has_words
from autocode.classifiers.novelty import NoveltyChoice, choose_floor, held_out_labels, label_groups
from autocode.classifiers.out_of_fold import OutOfFold, assign_folds, cv_splits, out_of_fold, stratify_groups
from autocode.classifiers.pooling import Expanded, deciding_chunk, expand, pool
from autocode.classifiers.prediction import Evidence, Prediction
from autocode.classifiers.scoring import macro_f1, micro_f1, selection_score
from autocode.classifiers.thresholds import (
    DEFAULT_TARGET_ACCURACY,
    NO_AUTO_CODING,
    calibrated_threshold,
    guarantee_note,
    novelty_floor,
    threshold_from_examples,
)
from autocode.classifiers.training_rows import check_training, label_rows, training_classes
from autocode.embeddings import Encoder
from autocode.embeddings.chunking import Chunk

if TYPE_CHECKING:
    from autocode.classifiers.methods.alias import AliasClassifier
    from autocode.classifiers.methods.zeroshot import ZeroShotClassifier

DEFAULT_METHODS = tuple(METHODS)
# The kNN is also the neighbour memory (evidence, novelty floor, chunk relevance): fitted even at weight 0.
MEMORY = KNNClassifier.method


class Cascade:
    """Alias, then a calibrated kNN + head blend (with hierarchy back-off), or zero-shot when untrained."""

    # Set by fit (or load_model): exactly one of knn_ (the learned blend's memory) and zero_shot_ is not None.
    alias_: AliasClassifier | None
    knn_: KNNClassifier | None
    zero_shot_: ZeroShotClassifier | None
    # How the novelty floor was set on held-out labels (None: zero-shot, uncalibrated, or a model saved before it).
    novelty_: NoveltyChoice | None

    def __init__(
        self,
        encoder: Encoder,
        codebook: Codebook,
        *,
        target_accuracy: float = DEFAULT_TARGET_ACCURACY,
        methods: Sequence[str] = DEFAULT_METHODS,
        multi_label: bool | None = None,
        n_splits: int = 5,
        k_grid: Sequence[int] = (5, 10, 20),
        temperature_grid: Sequence[float] = (0.02, 0.05, 0.1),
        c_grid: Sequence[float] = (3.0, 10.0, 30.0),
        lexical_c: float = 10.0,
        label_rows: bool = True,
        weight_step: float = 0.1,
        zero_shot_threshold: float = 0.5,
        random_state: int = 0,
        clauses: bool = True,
    ) -> None:
        unknown = set(methods) - set(METHODS)
        if unknown:
            raise ValueError(f"unknown method(s) {sorted(unknown)}; choose from {', '.join(METHODS)}")
        self.encoder = encoder
        self.codebook = codebook
        self.target_accuracy = target_accuracy
        self.methods = tuple(methods)
        self.multi_label = codebook.multi_label if multi_label is None else multi_label
        self.n_splits = n_splits
        self.k_grid = tuple(k_grid)
        self.temperature_grid = tuple(temperature_grid)
        self.c_grid = tuple(c_grid)
        self.lexical_c = lexical_c
        self.label_rows = label_rows
        self.weight_step = weight_step
        self.zero_shot_threshold = zero_shot_threshold
        self.random_state = random_state
        # Multi-label: also score each clause of an answer and keep, per code, the best of answer and clauses.
        self.clauses = clauses
        self.max_codes_: int | None = None

    def _method(self, role: Role) -> Any:
        """The selected registered method serving `role` ('exact' or 'fallback'), or None."""
        return next((cls for name, cls in METHODS.items() if cls.role == role and name in self.methods), None)

    # ------------------------------------------------------------------ the one place texts become vectors

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors for texts; the hook where chunk pooling of long texts belongs."""
        return self.encoder.encode(list(texts))

    # ------------------------------------------------------------------ fit

    def fit(self, texts: Sequence[str], labels: Sequence[Sequence[str]]) -> Self:
        """Learn from texts and their codes (a tuple per text); with no texts, set up zero-shot."""
        start = time.perf_counter()
        texts = list(texts)
        codes: list[tuple[str, ...]] = [tuple(dict.fromkeys(row)) for row in labels]
        check_training(self.codebook, texts, codes, self.multi_label)
        exact = self._method("exact")
        self.alias_ = exact(self.codebook).fit(texts, codes) if exact is not None else None
        self.components_: dict[str, Any] = {}
        self.weights_: dict[str, float] = {}
        self.levels_: list[dict[str, Any]] = []
        self.novelty_ = None
        if not texts or not blend_methods(self.methods):
            # Training texts still feed the alias table; without a learned method only zero-shot can decide.
            fallback = self._method("fallback")
            if fallback is None:
                raise ValueError("no training texts or no learned method, and zero-shot is not among the methods: nothing could decide")
            self._fit_zero_shot(fallback)
        else:
            self.zero_shot_ = None
            self._fit_learned(texts, codes)
        self.metrics_["seconds"] = round(time.perf_counter() - start, 2)
        return self

    def _fit_zero_shot(self, fallback: Any) -> None:
        self.zero_shot_ = fallback(self.encoder, self.codebook, review_threshold=self.zero_shot_threshold).fit()
        self.classes_ = list(self.zero_shot_.codes_)
        self.knn_ = None
        self.calibrator_ = Calibrator.identity()
        self.threshold_ = self.zero_shot_threshold
        self.ood_floor_ = -1.0
        self.label_threshold_ = 0.5
        self.metrics_ = {
            "mode": "zero-shot",
            "calibrated": False,
            "note": "no labelled data: confidence is the zero-shot similarity softmax, threshold fixed, not calibrated",
            "threshold": self.threshold_,
            "n_train": 0,
            "guaranteed": False,
            "guarantee": "nothing is guaranteed: a zero-shot codebook has no labelled answers to measure accuracy on; "
            "train on labelled rows for a guaranteed review threshold",
        }
        confidence, correct = self.zero_shot_.leave_one_out()
        threshold, chosen = threshold_from_examples(confidence, correct, len(self.classes_), self.zero_shot_threshold, self.target_accuracy)
        if chosen is not None:
            self.threshold_ = threshold
            self.zero_shot_.review_threshold = self.threshold_
            self.metrics_.update(
                note="no labelled data: the review threshold comes from leave-one-out on the codebook's examples; "
                "confidence is the zero-shot similarity softmax, not a calibrated probability",
                threshold=self.threshold_,
                n_examples=len(confidence),
                example_accuracy=round(float(np.mean(correct)), 4),
                coverage=chosen["coverage"],
            )

    def _fit_learned(self, texts: list[str], labels: list[tuple[str, ...]]) -> None:
        classes = training_classes(self.codebook, labels, self.label_rows)
        self.classes_ = classes
        extra_texts, extra_labels = label_rows(self.codebook, classes) if self.label_rows else ([], [])
        all_texts = texts + extra_texts
        rows = Rows(self._embed(all_texts), label_matrix(labels + extra_labels, classes), all_texts, classes, self.multi_label)
        n_real = len(texts)
        n_splits, large = cv_splits(n_real, self.n_splits)
        # Label rows (after the real ones) only ever train: they are the codebook's words, not answers to validate on.
        folds = np.full(len(all_texts), -1, dtype=np.int64)
        folds[:n_real] = assign_folds(stratify_groups(rows.y[:n_real], self.multi_label), n_splits, self.random_state)
        held = np.flatnonzero(folds >= 0)
        methods = blend_methods(self.methods)
        params = {MEMORY: KNNClassifier.default_params(self)}
        oof: OutOfFold | None = None
        if held.size >= MIN_CALIBRATION_ROWS:
            oof = out_of_fold(methods, rows, folds, n_splits, self, search_depth=max(self.k_grid), large=large)
            truth = rows.y[held]
            params.update(oof.params)
            self.weights_ = choose_weights(oof.proba, truth, self.multi_label, self.weight_step)
            blend = mix(self.weights_, oof.proba)
            if self.multi_label and self.clauses:
                blend = self._clause_oof(rows, folds, n_splits, params, blend)
            self._calibrate(blend, truth, oof.nearest)
            self.metrics_.update(
                component_accuracy={c: round(selection_score(oof.proba[c], truth, self.multi_label)[0], 4) for c in methods},
                n_splits=n_splits,
            )
        else:
            params.update({name: method.default_params(self) for name, method in methods.items()})
            self.weights_ = even_weights(list(methods))
            self._uncalibrated(held.size)
        self._fit_components(rows, params)
        if oof is not None:
            self._fit_novelty(rows, folds, n_splits, params, oof)
        self.metrics_.update(
            mode="trained",
            n_train=n_real,
            n_label_rows=len(extra_texts),
            n_classes=len(classes),
            hyperparameters={c: params[c] for c in methods},
            weights={c: round(w, 3) for c, w in self.weights_.items()},
        )

    def _clause_oof(self, rows: Rows, folds: np.ndarray, n_splits: int, params: dict[str, dict[str, Any]], blend: np.ndarray) -> np.ndarray:
        """The out-of-fold blend with each held-out answer's clauses scored by the fold's components, max per code.

        predict() pools clause scores into the answer's the same way, so the cut, the cap and the calibrator
        are chosen on the scores they will see.
        """
        held = np.flatnonzero(folds >= 0)
        position = np.full(len(folds), -1)
        position[held] = np.arange(held.size)
        clauses, owner_list = clause_rows([rows.texts[i] for i in held])
        if not clauses:
            return blend
        owner = np.asarray(owner_list)
        x_clauses = self._embed(clauses)
        out = blend.copy()
        for f in range(n_splits):
            train = np.flatnonzero(folds != f)
            mine = np.flatnonzero(folds[held[owner]] == f)
            if mine.size == 0:
                continue
            x_test = x_clauses[mine]
            fold = Fold(
                train=Rows(rows.x[train], rows.y[train], [rows.texts[i] for i in train], rows.classes, rows.multi_label),
                x_test=x_test,
                texts_test=[clauses[j] for j in mine],
                neighbours=top_k(x_test, rows.x[train], min(max(self.k_grid), train.size)),
            )
            scored = mix(self.weights_, {name: METHODS[name].fold_proba(fold, [params[name]])[0] for name in self.weights_})
            np.maximum.at(out, owner[mine], scored)
        return out

    def _with_clauses(self, texts: list[str], proba: np.ndarray) -> np.ndarray:
        """Per code, the best of the answer's score and each of its clauses' scores (texts with one clause keep theirs)."""
        clauses, owner = clause_rows(texts)
        if not clauses:
            return proba
        x = self._embed(clauses)
        scored = self._blend(x, clauses, self._memory.neighbours(x, max(self._memory.k, 3)))
        out = proba.copy()
        np.maximum.at(out, np.asarray(owner), scored)
        return out

    def _uncertain_parents(self, proba: np.ndarray, chosen: np.ndarray) -> list[list[str]]:
        """Multi-label, hierarchical codebook: per text, the parents whose children together clear the cut though none alone does."""
        if not (self.multi_label and self.codebook.is_hierarchical()):
            return [[] for _ in range(len(proba))]
        groups = parent_groups(self.classes_, {c: self.codebook.parent(c) for c in self.classes_})
        return uncertain_parents(proba, chosen, groups, self.label_threshold_)

    def _calibrate(self, blend: np.ndarray, truth: np.ndarray, nearest: np.ndarray) -> None:
        """Calibrator, threshold, hierarchy levels and the novelty floor, all from out-of-fold rows."""
        self.label_threshold_ = best_cut(blend, truth)[0] if self.multi_label else 0.5
        self.max_codes_ = best_max_codes(blend, truth, self.label_threshold_)[0] if self.multi_label else None
        chosen, raw = choose_codes(blend, self.multi_label, self.label_threshold_, self.max_codes_)
        right = np.all(chosen == (truth > 0), axis=1) if self.multi_label else (chosen & (truth > 0)).any(axis=1)
        right = cast(np.ndarray, right)  # numpy's stubs cannot tell that axis=1 keeps an array
        self.calibrator_, at = calibrated_threshold(raw, right, self.target_accuracy)
        self.threshold_ = float(at["threshold"])
        self.ood_floor_ = novelty_floor(nearest)  # the per-row floor; _fit_novelty raises it on held-out labels
        top = blend.argmax(axis=1)
        truth_codes = truth.argmax(axis=1)
        self.metrics_ = {
            "validation": "out-of-fold predictions of k-fold cross-validation on the training rows",
            "calibrated": True,
            "target_accuracy": self.target_accuracy,
            "accuracy": round(float(right.mean()), 4),
            "macro_f1": None if self.multi_label else round(macro_f1(top, truth_codes, truth.shape[1]), 4),
            "micro_f1": round(micro_f1(chosen, truth > 0), 4) if self.multi_label else None,
            "threshold": round(self.threshold_, 4),
            "coverage": round(float(at["coverage"]), 4),
            "accuracy_at_threshold": None if at["accuracy"] is None else round(float(at["accuracy"]), 4),
            "guaranteed": at["guaranteed"],
            "guarantee_level": at["level"],
            "accuracy_lower_bound": None if at["lower_bound"] is None else round(at["lower_bound"], 4),
            "guarantee": guarantee_note(at, self.target_accuracy),
            "n_validation": int(truth.shape[0]),
            "ood_floor": round(self.ood_floor_, 4),
        }
        if self.multi_label:
            self.metrics_["label_threshold"] = self.label_threshold_
            self.metrics_["max_codes"] = self.max_codes_
            self.metrics_["clauses"] = self.clauses
            self.metrics_["exact_set_match"] = self.metrics_["accuracy"]
        elif self.codebook.is_hierarchical():
            self.levels_, level_metrics = fit_levels(self.codebook, self.classes_, blend, truth_codes, self.target_accuracy)
            if level_metrics:
                self.metrics_["levels"] = level_metrics

    def _auto_coded(self, proba: np.ndarray) -> np.ndarray:
        """Which rows of blended probabilities predict() would auto-code on confidence alone (before the novelty floor)."""
        chosen, raw = choose_codes(proba, self.multi_label, self.label_threshold_, self.max_codes_)
        return (self.calibrator_(raw) >= self.threshold_) & chosen.any(axis=1)

    def _fit_novelty(self, rows: Rows, folds: np.ndarray, n_splits: int, params: dict[str, dict[str, Any]], oof: OutOfFold) -> None:
        """The novelty floor from held-out labels (novelty.py): known out-of-fold answers against answers of labels left out."""
        start = time.perf_counter()
        fitted: dict[str, Any] = {**self.components_, MEMORY: self._memory}
        memos: dict[str, dict[str, Any]] = {name: {} for name in fitted}  # what a component keeps between folds of the pass

        def refit(name: str, fold: Fold) -> np.ndarray:
            # Heads refit warm from their final weights; the kNN just votes over the fold's neighbour search.
            component = fitted[name]
            if hasattr(component, "refit_proba"):
                return np.asarray(component.refit_proba(fold, memos[name]))
            return METHODS[name].fold_proba(fold, [params[name]])[0]

        def auto_coded(fold: Fold) -> np.ndarray:
            return self._auto_coded(mix(self.weights_, {name: refit(name, fold) for name in self.weights_}))

        groups = label_groups(len(self.classes_), n_splits, self.random_state)
        unknown_nearest, unknown_auto = held_out_labels(rows, folds, groups, max(self.k_grid), auto_coded)
        known_auto = self._auto_coded(mix(self.weights_, oof.proba))
        choice = choose_floor(oof.nearest, known_auto, unknown_nearest, unknown_auto, self.ood_floor_, int(groups.max()) + 1)
        self.novelty_ = choice
        self.ood_floor_ = choice["floor"]
        recall = choice["unknown_recall"]
        self.metrics_.update(
            ood_floor=round(self.ood_floor_, 4),
            unknown_recall=None if recall is None else round(recall, 4),
            novelty={**{k: round(v, 4) if isinstance(v, float) else v for k, v in choice.items()},
                     "seconds": round(time.perf_counter() - start, 2)},
        )

    def _uncalibrated(self, held: int) -> None:
        self.calibrator_ = Calibrator.identity()
        self.threshold_ = NO_AUTO_CODING
        self.label_threshold_ = 0.5
        self.ood_floor_ = -1.0
        self.metrics_ = {
            "calibrated": False,
            "note": f"only {held} rows could be held out (need {MIN_CALIBRATION_ROWS}): confidence is the raw blend "
            "probability, not calibrated",
            "threshold": self.threshold_,
            "coverage": 0.0,
            "guaranteed": False,
            "guarantee": f"nothing is auto-coded: {held} out-of-fold rows cannot show any accuracy; label more rows "
            "(a few per code, in at least two rows each)",
        }

    def _fit_components(self, rows: Rows, params: dict[str, dict[str, Any]]) -> None:
        """Fit the final components on every row: the kNN memory always, the others when they have weight."""
        self.knn_ = KNNClassifier.fit_component(self.encoder, rows, params[MEMORY])
        for name in self.weights_:
            if name != MEMORY:
                self.components_[name] = METHODS[name].fit_component(self.encoder, rows, params[name])

    # ------------------------------------------------------------------ predict

    @property
    def method_name(self) -> str:
        """The name predictions of the learned blend carry, e.g. 'knn+head+lexical'."""
        return "+".join(name for name in blend_methods() if name in self.weights_) or "zero-shot"

    @property
    def _memory(self) -> KNNClassifier:
        """The kNN memory of the learned blend (the paths that read it run only when it is fitted)."""
        assert self.knn_ is not None, "zero-shot mode has no kNN memory"
        return self.knn_

    def _blend(self, x: np.ndarray, texts: list[str], found: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        fitted: dict[str, BlendComponent] = {**self.components_, MEMORY: self._memory}
        return blend_proba(self.weights_, fitted, x, texts, found, len(self.classes_))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Per-code probabilities [n, len(classes_)]: the learned blend (zero-shot scores untrained); exact matches one-hot."""
        texts = list(texts)
        if self.zero_shot_ is not None:
            proba = self.zero_shot_.predict_proba(texts) if texts else np.zeros((0, len(self.classes_)))
        else:
            x = self._embed(texts)
            found = self._memory.neighbours(x)
            proba = self._blend(x, texts, found)
        if self.alias_ is not None:
            column = {c: j for j, c in enumerate(self.classes_)}
            for i, hit in enumerate(self.alias_.lookup(texts)):
                if hit is not None and all(c in column for c in hit.codes):
                    proba[i] = 0.0
                    proba[i, [column[c] for c in hit.codes]] = 1.0
        return proba

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """One Prediction per text: codes, calibrated confidence, method, evidence, needs_review."""
        texts = list(texts)
        out: list[Prediction | None] = self.alias_.lookup(texts) if self.alias_ is not None else [None] * len(texts)
        rest = [i for i, p in enumerate(out) if p is None]
        if rest:
            rest_texts = [texts[i] for i in rest]
            decided = self._predict_zero_shot(rest_texts) if self.zero_shot_ is not None else self._predict_learned(rest_texts)
            for i, prediction in zip(rest, decided, strict=True):
                out[i] = prediction
        return cast(list[Prediction], out)  # every None slot was filled above

    def _predict_zero_shot(self, texts: list[str]) -> list[Prediction]:
        assert self.zero_shot_ is not None, "predict() takes this path only in zero-shot mode"
        note = Evidence("note", f"confidence not calibrated: no labelled data (review threshold {self.threshold_:g})")
        out = self.zero_shot_.predict(texts, extra_evidence=(note,))
        for i, text in enumerate(texts):
            if not has_words(text):
                out[i] = replace(out[i], needs_review=True, reason="no words to code")
        return out

    def predict_chunks(self, texts: Sequence[str], chunks: Sequence[Sequence[Chunk]]) -> tuple[list[Prediction], np.ndarray]:
        """Documents: a Prediction per text from chunks the caller split (by headings and paragraphs), pooled as a
        long text's window chunks are; also every chunk's scores, one row per chunk in order, a column per class."""
        texts = list(texts)
        parts = Expanded([c.text for cs in chunks for c in cs], np.repeat(np.arange(len(texts)), [len(cs) for cs in chunks]),
                         [list(cs) for cs in chunks])
        if self.zero_shot_ is None:
            return self._predict_parts(texts, parts)
        # Zero-shot has no learned blend to pool: the most confident chunk decides, and nothing is guaranteed anyway.
        per_chunk = self._predict_zero_shot(parts.flat)
        scores = np.array([[p.scores.get(c, 0.0) for c in self.classes_] for p in per_chunk], dtype=np.float32)
        out = []
        for i in range(len(texts)):
            rows = np.flatnonzero(parts.owner == i)
            best = int(rows[np.argmax([per_chunk[r].confidence for r in rows])])
            chosen = per_chunk[best]
            if len(rows) > 1:
                c = parts.chunks[i][best - int(rows[0])]
                note = Evidence("note", f"chunk {best - int(rows[0]) + 1} of {len(rows)} (characters {c.start}-{c.end}) "
                                        "decided: the most confident chunk (zero-shot)")
                chosen = replace(chosen, evidence=(note, Evidence("chunk", c.text, None, round(chosen.confidence, 4)),
                                                   *chosen.evidence))
            out.append(chosen)
        return out, scores

    def _predict_learned(self, texts: list[str]) -> list[Prediction]:
        # Texts longer than the model's window are scored chunk by chunk and the chunk scores pooled.
        return self._predict_parts(texts, expand(self.encoder, texts))[0]

    def _predict_parts(self, texts: list[str], parts: Expanded) -> tuple[list[Prediction], np.ndarray]:
        x = self._embed(parts.flat)
        memory = self._memory
        found = memory.neighbours(x, max(memory.k, 3))
        chunk_proba = self._blend(x, parts.flat, found)
        # Multi-label: a code stated in any chunk holds for the text (max); single-label: chunks vote (mean).
        how = "max" if self.multi_label else "mean"
        proba = pool(chunk_proba, parts.owner, len(texts), how=how, relevance=found[0][:, 0])
        if self.multi_label and self.clauses:
            proba = self._with_clauses(texts, proba)
        chosen, raw = choose_codes(proba, self.multi_label, self.label_threshold_, self.max_codes_)
        confidence = self.calibrator_(raw)
        evidence = self._evidence(parts, chunk_proba, proba, found)
        nearest = np.zeros(len(texts), dtype=np.float32)
        np.maximum.at(nearest, parts.owner, found[0][:, 0])
        method = self.method_name
        parents = self._uncertain_parents(proba, chosen)
        out = []
        for i in range(len(texts)):
            codes = tuple(self.classes_[j] for j in np.flatnonzero(chosen[i]))
            conf = float(confidence[i])
            reason = None
            name = method
            if not codes:  # multi-label with nothing above the cut: the single best, for review
                codes = (self.classes_[int(proba[i].argmax())],)
                conf = min(conf, float(proba[i].max()))
                reason = "no code above the per-label threshold"
            needs_review = conf < self.threshold_ or reason is not None
            if not has_words(texts[i]):
                needs_review = True
                reason = "no words to code"
            elif nearest[i] < self.ood_floor_:
                needs_review = True
                reason = (f"novel: unlike every labelled answer and label description "
                          f"(nearest similarity {nearest[i]:.2f} < novelty floor {self.ood_floor_:.2f})")
            elif parents[i]:
                # Multi-label hierarchy: the children's joint evidence names the parent; a person confirms it.
                codes = (*codes, *(p for p in parents[i] if p not in codes)) if chosen[i].any() else tuple(parents[i])
                needs_review = True
                reason = f"the finer code is uncertain; backed off to parent {', '.join(map(repr, parents[i]))}"
                name = f"{method}/parent"
            elif needs_review and reason is None and self.levels_:
                backed = back_off(self.levels_, proba[i])
                if backed is not None:
                    codes, conf, reason = backed
                    name = f"{method}/parent"
            order = np.argsort(-proba[i], kind="stable")[:5]
            out.append(
                Prediction(
                    codes=codes,
                    confidence=round(conf, 6),
                    method=name,
                    needs_review=needs_review,
                    evidence=evidence[i],
                    labels=tuple(self.codebook.get(c).name for c in codes),
                    reason=reason,
                    scores={self.classes_[j]: round(float(proba[i, j]), 4) for j in order},
                )
            )
        return out, chunk_proba

    def _evidence(
        self, parts: Expanded, chunk_proba: np.ndarray, proba: np.ndarray, found: tuple[np.ndarray, np.ndarray]
    ) -> list[tuple[Evidence, ...]]:
        """Each text's nearest training examples; for a chunked text, those of the chunk that decided it, named."""
        chunk_evidence = self._memory.evidence(*found)
        first = np.searchsorted(parts.owner, np.arange(len(parts.chunks)))
        evidence = []
        for i in range(len(parts.chunks)):
            if len(parts.chunks[i]) == 1:
                evidence.append(chunk_evidence[first[i]])
                continue
            best = deciding_chunk(chunk_proba, parts.owner, i, int(proba[i].argmax()))
            chunk = parts.chunks[i][best]
            note = Evidence("chunk", chunk.text, None, round(float(chunk_proba[first[i] + best].max()), 4))
            detail = f"chunk {best + 1} of {len(parts.chunks[i])} (characters {chunk.start}-{chunk.end}) decided"
            evidence.append((Evidence("note", detail), note, *chunk_evidence[first[i] + best]))
        return evidence
