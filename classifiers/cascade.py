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
       right. A text unlike every training example (below a novelty floor) always goes to review.
    3. zero-shot: with no training data, labels' own words decide (its confidence is not calibrated).

How it learns (fit)
    The codebook's words for each code (name + description, aliases, examples) join the training
    rows, so a leaf code never seen in training can still be predicted. Every hyper-parameter (k
    and temperature of the vote, C of the head, the blend weights, the multi-label cut) and the
    calibration come from out-of-fold predictions: k-fold cross-validation on the training rows
    only. The threshold is the lowest calibrated confidence at which the out-of-fold decisions
    above it reach the target accuracy.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Self

import numpy as np

from autocode.classifiers.methods.alias import AliasClassifier
from autocode.classifiers.calibration import MIN_CALIBRATION_ROWS, Calibrator
from autocode.classifiers.codebook import Codebook
from autocode.classifiers.label_matrix import label_matrix, ordered_classes
from autocode.classifiers.methods.head import LexicalHead, LinearHead, LogisticModel
from autocode.classifiers.methods.knn import KNNClassifier, top_k, vote
from autocode.classifiers.normalise import has_words
from autocode.classifiers.pooling import deciding_chunk, expand, pool
from autocode.classifiers.prediction import Evidence, Prediction
from autocode.classifiers.methods.zeroshot import ZeroShotClassifier, label_prototype
from autocode.classifiers.out_of_fold import assign_folds
from autocode.classifiers.thresholds import DEFAULT_TARGET_ACCURACY, OOD_FLOOR_CAP, choose_threshold
from autocode.embeddings import Encoder

COMPONENTS = ("knn", "head", "lexical")
DEFAULT_METHODS = ("alias", "knn", "head", "lexical", "zero-shot")
# Above this many training rows, C is chosen on one fold and CV uses 3 folds: keeps a 10k-row fit in minutes.
LARGE_TRAINING_SET = 3000
_EPS = 1e-9


def humanise(name: str) -> str:
    """A label name as words: 'card_arrival' -> 'card arrival' (names derived from codes read badly)."""
    return name.replace("_", " ").strip() if " " not in name else name


class Cascade:
    """Alias, then a calibrated kNN + head blend (with hierarchy back-off), or zero-shot when untrained."""

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
    ) -> None:
        unknown = set(methods) - {"alias", "zero-shot", *COMPONENTS}
        if unknown:
            raise ValueError(f"unknown method(s) {sorted(unknown)}; choose from alias, knn, head, lexical, zero-shot")
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

    # ------------------------------------------------------------------ the one place texts become vectors

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors for texts; the hook where chunk pooling of long texts belongs."""
        return self.encoder.encode(list(texts))

    # ------------------------------------------------------------------ fit

    def fit(self, texts: Sequence[str], labels: Sequence[Sequence[str]]) -> Self:
        """Learn from texts and their codes (a tuple per text); with no texts, set up zero-shot."""
        start = time.perf_counter()
        texts, labels = list(texts), [tuple(dict.fromkeys(codes)) for codes in labels]
        self._check_training(texts, labels)
        self.alias_ = AliasClassifier(self.codebook).fit(texts, labels) if "alias" in self.methods else None
        self.components_: dict[str, Any] = {}
        self.weights_: dict[str, float] = {}
        self.levels_: list[dict[str, Any]] = []
        if not texts or not any(c in self.methods for c in COMPONENTS):
            # Training texts still feed the alias table; without a learned method only zero-shot can decide.
            if "zero-shot" not in self.methods:
                raise ValueError("no training texts or no learned method, and zero-shot is not among the methods: nothing could decide")
            self._fit_zero_shot()
        else:
            self.zero_shot_ = None
            self._fit_learned(texts, labels)
        self.metrics_["seconds"] = round(time.perf_counter() - start, 2)
        return self

    def _check_training(self, texts: list[str], labels: list[tuple[str, ...]]) -> None:
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} label rows")
        problems = []
        for i, codes in enumerate(labels):
            unknown = [c for c in codes if c not in self.codebook]
            if unknown:
                problems.append(f"row {i}: code(s) {', '.join(map(repr, unknown))} not in codebook {self.codebook.id!r}")
            elif not codes:
                problems.append(f"row {i}: no code")
            elif len(codes) > 1 and not self.multi_label:
                problems.append(f"row {i}: {len(codes)} codes, but the model is single-label (set multi_label=True)")
            if len(problems) >= 5:
                break
        if problems:
            raise ValueError("bad training rows:\n  " + "\n  ".join(problems))

    def _fit_zero_shot(self) -> None:
        self.zero_shot_ = ZeroShotClassifier(self.encoder, self.codebook, review_threshold=self.zero_shot_threshold).fit()
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
        }
        confidence, correct = self.zero_shot_.leave_one_out()
        # The codebook's own examples are the only labelled data there is: with a few per label, they set
        # the review threshold (never below the fixed default) by leave-one-out.
        if len(confidence) >= max(MIN_CALIBRATION_ROWS, 2 * len(self.classes_)):
            chosen = choose_threshold(confidence, correct, self.target_accuracy)
            self.threshold_ = max(self.zero_shot_threshold, float(chosen["threshold"]))
            self.zero_shot_.review_threshold = self.threshold_
            self.metrics_.update(
                note="no labelled data: the review threshold comes from leave-one-out on the codebook's examples; "
                "confidence is the zero-shot similarity softmax, not a calibrated probability",
                threshold=self.threshold_,
                n_examples=len(confidence),
                example_accuracy=round(float(np.mean(correct)), 4),
                coverage=chosen["coverage"],
            )

    def _label_rows(self, classes: list[str]) -> tuple[list[str], list[tuple[str, ...]]]:
        """The codebook's own words for each code (name + description, aliases, examples), as extra training rows."""
        texts, labels = [], []
        if not self.label_rows:
            return texts, labels
        for code in classes:
            label = self.codebook.get(code)
            phrases = [label_prototype(humanise(label.name), label.description), *label.aliases, *label.examples]
            for phrase in dict.fromkeys(p for p in phrases if p.strip()):
                texts.append(phrase)
                labels.append((code,))
        return texts, labels

    def _fit_learned(self, texts: list[str], labels: list[tuple[str, ...]]) -> None:
        classes = ordered_classes(labels, self.codebook.codes())
        if self.label_rows:
            # Codes never seen in training still have their codebook words to learn from.
            known = set(classes)
            classes = ordered_classes([tuple(classes), tuple(c for c in self.codebook.leaves() if c not in known)], self.codebook.codes())
        self.classes_ = classes
        extra_texts, extra_labels = self._label_rows(classes)
        all_texts = texts + extra_texts
        y = label_matrix(labels + extra_labels, classes)
        x = self._embed(all_texts)
        n_real = len(texts)
        large = n_real > LARGE_TRAINING_SET
        n_splits = 3 if large else self.n_splits
        folds = np.full(len(all_texts), -1, dtype=np.int64)
        folds[:n_real] = assign_folds(self._groups(y[:n_real]), n_splits, self.random_state)
        held = np.flatnonzero(folds >= 0)
        components = [c for c in COMPONENTS if c in self.methods]
        if held.size >= MIN_CALIBRATION_ROWS and components:
            oof, params, nearest = self._out_of_fold(x, y, all_texts, folds, n_splits, components, large)
            self._choose_weights(oof, y[held])
            blend = sum(w * oof[c] for c, w in self.weights_.items())
            self._calibrate(blend, y[held], nearest)
            self.metrics_.update(
                component_accuracy={c: round(self._score(oof[c], y[held])[0], 4) for c in components},
                n_splits=n_splits,
            )
        else:
            params = {"knn": {"k": 10, "temperature": 0.05}, "head": {"C": 10.0}, "lexical": {"C": self.lexical_c}}
            share = 1.0 / max(len(components), 1)
            self.weights_ = {c: share for c in components}
            self._uncalibrated(held.size)
        self._fit_components(x, y, all_texts, params)
        self.metrics_.update(
            mode="trained",
            n_train=n_real,
            n_label_rows=len(extra_texts),
            n_classes=len(classes),
            hyperparameters={c: params[c] for c in components},
            weights={c: round(w, 3) for c, w in self.weights_.items()},
        )

    def _groups(self, y: np.ndarray) -> np.ndarray:
        """The class each row is stratified by: its code, or for multi-label its rarest code."""
        if not self.multi_label:
            return y.argmax(axis=1)
        freq = y.sum(axis=0)
        return np.where(y > 0, freq[None, :], np.inf).argmin(axis=1)

    # ------------------------------------------------------------------ cross-validation

    def _out_of_fold(
        self, x: np.ndarray, y: np.ndarray, texts: list[str], folds: np.ndarray, n_splits: int, components: list[str], large: bool
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]], np.ndarray]:
        """Out-of-fold probabilities of each component (at its best hyper-parameters), and each row's nearest similarity."""
        held = np.flatnonzero(folds >= 0)
        position = np.full(len(folds), -1)
        position[held] = np.arange(held.size)
        n_labels = y.shape[1]
        k_max = max(self.k_grid)
        knn_grid = list(itertools.product(self.k_grid, self.temperature_grid))
        knn_oof = {kt: np.zeros((held.size, n_labels)) for kt in knn_grid}
        head_oof = {c: np.zeros((held.size, n_labels)) for c in self.c_grid}
        lexical_oof = np.zeros((held.size, n_labels))
        nearest = np.zeros(held.size)
        chosen_c: float | None = None
        for f in range(n_splits):
            train, test = np.flatnonzero(folds != f), np.flatnonzero(folds == f)
            if test.size == 0:
                continue
            at = position[test]
            scores, rows = top_k(x[test], x[train], min(k_max, train.size))
            nearest[at] = _nearest_other(scores)
            if "knn" in components:
                y_train = y[train]
                for k, t in knn_grid:
                    knn_oof[(k, t)][at] = vote(scores, rows, y_train, k, t)
            if "head" in components:
                grid = [chosen_c] if chosen_c is not None else self.c_grid
                warm: LogisticModel | None = None
                for c in sorted(grid):
                    warm = LogisticModel(C=c, multi_label=self.multi_label).fit(x[train], y[train], warm)
                    head_oof[c][at] = warm.proba(x[test])
                if large and chosen_c is None:
                    # On a large set one fold is enough to rank C; the other folds fit only the winner.
                    chosen_c = max(self.c_grid, key=lambda c: self._score(head_oof[c][at], y[test]))
            if "lexical" in components:
                lexical = LexicalHead(C=self.lexical_c, multi_label=self.multi_label).prepare([texts[i] for i in train])
                lexical.fit_features(lexical.features([texts[i] for i in train]), y[train], self.classes_)
                lexical_oof[at] = lexical.model_.proba(lexical.features([texts[i] for i in test]))
        truth = y[held]
        oof: dict[str, np.ndarray] = {}
        params: dict[str, dict[str, Any]] = {"lexical": {"C": self.lexical_c}}
        if "knn" in components:
            k, t = max(knn_grid, key=lambda kt: self._score(knn_oof[kt], truth))
            oof["knn"], params["knn"] = knn_oof[(k, t)], {"k": k, "temperature": t}
        else:
            params["knn"] = {"k": 10, "temperature": 0.05}
        if "head" in components:
            c = chosen_c if chosen_c is not None else max(self.c_grid, key=lambda c: self._score(head_oof[c], truth))
            oof["head"], params["head"] = head_oof[c], {"C": c}
        else:
            params["head"] = {"C": 10.0}
        if "lexical" in components:
            oof["lexical"] = lexical_oof
        return oof, params, nearest

    def _score(self, proba: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
        """(accuracy or micro-F1, minus log-loss): higher is better; the second breaks ties."""
        p = np.clip(proba, _EPS, 1 - _EPS)
        if self.multi_label:
            loss = -np.mean(truth * np.log(p) + (1 - truth) * np.log(1 - p))
            return _micro_f1(proba >= 0.5, truth > 0), -float(loss)
        top = proba.argmax(axis=1)
        right = truth[np.arange(len(top)), top] > 0
        loss = -np.mean(np.log((p * truth).sum(axis=1) / np.maximum(truth.sum(axis=1), 1)))
        return float(right.mean()), -float(loss)

    def _choose_weights(self, oof: dict[str, np.ndarray], truth: np.ndarray) -> None:
        """Blend weights: the centre of the simplex-grid blends within one standard error of the best
        out-of-fold accuracy (micro-F1 for multi-label); on few rows the single best is mostly noise."""
        names = list(oof)
        steps = int(round(1 / self.weight_step))
        results = []
        for combo in itertools.product(range(steps + 1), repeat=len(names)):
            if sum(combo) != steps:
                continue
            weights = {n: c / steps for n, c in zip(names, combo, strict=True)}
            blend = sum(w * oof[n] for n, w in weights.items())
            primary, loss = self._score(blend, truth)
            if self.multi_label:
                primary = self._best_cut(blend, truth)[1][0]
            results.append((primary, loss, weights))
        best = max(r[0] for r in results)
        n_items = float(truth.sum()) if self.multi_label else float(truth.shape[0])
        margin = float(np.sqrt(max(best * (1 - best), 0.0) / max(n_items, 1.0)))
        near = [r[2] for r in results if r[0] >= best - margin]
        centre = {name: round(float(np.mean([w[name] for w in near])), 3) for name in names}
        self.weights_ = {name: w / sum(centre.values()) for name, w in centre.items() if w > 0}

    def _best_cut(self, proba: np.ndarray, truth: np.ndarray) -> tuple[float, tuple[float, float]]:
        """For multi-label: the per-label probability cut with the best micro-F1 (ties: more exact sets)."""
        best = (0.5, (-1.0, -1.0))
        for cut in np.round(np.arange(0.2, 0.75, 0.05), 2):
            chosen = _choose_labels(proba, float(cut))
            exact = float(np.mean(np.all(chosen == (truth > 0), axis=1)))
            score = (_micro_f1(chosen, truth > 0), exact)
            if score > best[1]:
                best = (float(cut), score)
        return best

    # ------------------------------------------------------------------ calibration

    def _raw_confidence(self, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(chosen codes as a 0/1 matrix, raw score of that choice) for blended probabilities."""
        if self.multi_label:
            chosen = _choose_labels(proba, self.label_threshold_)
            decided = np.where(chosen, proba, 1.0 - proba)
            return chosen, np.prod(np.clip(decided, 0.0, 1.0), axis=1)
        chosen = np.zeros_like(proba, dtype=bool)
        top = proba.argmax(axis=1)
        chosen[np.arange(len(top)), top] = True
        return chosen, proba[np.arange(len(top)), top]

    def _calibrate(self, blend: np.ndarray, truth: np.ndarray, nearest: np.ndarray) -> None:
        """Calibrator, threshold, hierarchy levels and the novelty floor, all from out-of-fold rows."""
        self.label_threshold_ = self._best_cut(blend, truth)[0] if self.multi_label else 0.5
        chosen, raw = self._raw_confidence(blend)
        right = np.all(chosen == (truth > 0), axis=1) if self.multi_label else (chosen & (truth > 0)).any(axis=1)
        self.calibrator_ = Calibrator.fit(raw, right)
        at = choose_threshold(self.calibrator_(raw), right, self.target_accuracy)
        self.threshold_ = float(at["threshold"])
        # A text less like any training example than almost every held-out row is novel: it goes to review
        # whatever its score says, since the calibration never saw anything like it. Capped, so that tight
        # training data (near-paraphrases) does not send every new wording to review.
        self.ood_floor_ = min(float(np.quantile(nearest, 0.01)) - 0.05, OOD_FLOOR_CAP)
        top = blend.argmax(axis=1)
        truth_codes = truth.argmax(axis=1)
        self.metrics_ = {
            "validation": "out-of-fold predictions of k-fold cross-validation on the training rows",
            "calibrated": True,
            "target_accuracy": self.target_accuracy,
            "accuracy": round(float(right.mean()), 4),
            "macro_f1": None if self.multi_label else round(_macro_f1(top, truth_codes, truth.shape[1]), 4),
            "micro_f1": round(_micro_f1(chosen, truth > 0), 4) if self.multi_label else None,
            "threshold": round(self.threshold_, 4),
            "coverage": round(float(at["coverage"]), 4),
            "accuracy_at_threshold": None if at["accuracy"] is None else round(float(at["accuracy"]), 4),
            "n_validation": int(truth.shape[0]),
            "ood_floor": round(self.ood_floor_, 4),
        }
        if self.multi_label:
            self.metrics_["label_threshold"] = self.label_threshold_
        elif self.codebook.is_hierarchical():
            self._calibrate_levels(blend, truth_codes)

    def _calibrate_levels(self, blend: np.ndarray, truth_codes: np.ndarray) -> None:
        """For each ancestor level, a calibrator and threshold for the best ancestor's summed probability."""
        paths = [self.codebook.path(c) for c in self.classes_]
        deepest = max(len(p) for p in paths) - 1
        levels = []
        for depth in range(deepest):
            codes = list(dict.fromkeys(p[depth] for p in paths if len(p) > depth))
            member = np.array([codes.index(p[depth]) if len(p) > depth else -1 for p in paths])
            aggregated = _aggregate(blend, member, len(codes))
            rows = member[truth_codes] >= 0
            if rows.sum() < MIN_CALIBRATION_ROWS:
                continue
            predicted = aggregated[rows].argmax(axis=1)
            right = predicted == member[truth_codes][rows]
            raw = aggregated[rows].max(axis=1)
            calibrator = Calibrator.fit(raw, right)
            at = choose_threshold(calibrator(raw), right, self.target_accuracy)
            levels.append({"depth": depth, "codes": codes, "member": member, "calibrator": calibrator, "threshold": float(at["threshold"])})
            self.metrics_.setdefault("levels", {})[str(depth)] = {
                "accuracy": round(float(right.mean()), 4),
                "threshold": round(float(at["threshold"]), 4),
                "coverage": round(float(at["coverage"]), 4),
            }
        self.levels_ = sorted(levels, key=lambda level: -level["depth"])  # deepest ancestor first

    def _uncalibrated(self, held: int) -> None:
        self.calibrator_ = Calibrator.identity()
        self.threshold_ = max(self.target_accuracy, 0.5)
        self.label_threshold_ = 0.5
        self.ood_floor_ = -1.0
        self.metrics_ = {
            "calibrated": False,
            "note": f"only {held} rows could be held out (need {MIN_CALIBRATION_ROWS}): confidence is the raw blend "
            "probability and the threshold is the target accuracy itself",
            "threshold": self.threshold_,
        }

    def _fit_components(self, x: np.ndarray, y: np.ndarray, texts: list[str], params: dict[str, dict[str, Any]]) -> None:
        """Fit the final components on every row; kNN always, since it gives the evidence."""
        self.knn_ = KNNClassifier(self.encoder, multi_label=self.multi_label, **params["knn"]).fit_vectors(x, y, texts, self.classes_)
        if "head" in self.weights_:
            head = LinearHead(self.encoder, C=params["head"]["C"], multi_label=self.multi_label)
            self.components_["head"] = head.fit_features(x, y, self.classes_)
        if "lexical" in self.weights_:
            lexical = LexicalHead(C=params["lexical"]["C"], multi_label=self.multi_label).prepare(texts)
            self.components_["lexical"] = lexical.fit_features(lexical.features(texts), y, self.classes_)

    # ------------------------------------------------------------------ predict

    @property
    def method_name(self) -> str:
        """The name predictions of the learned blend carry, e.g. 'knn+head+lexical'."""
        return "+".join(c for c in COMPONENTS if c in self.weights_) or "zero-shot"

    def _blend(self, x: np.ndarray, texts: list[str], found: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        proba = np.zeros((len(texts), len(self.classes_)))
        for name, weight in self.weights_.items():
            if name == "knn":
                proba += weight * self.knn_.proba_vectors(x, found)
            elif name == "head":
                proba += weight * self.components_["head"].model_.proba(x)
            else:
                lexical = self.components_["lexical"]
                proba += weight * lexical.model_.proba(lexical.features(texts))
        return proba

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Per-code probabilities [n, len(classes_)]: the learned blend (zero-shot scores untrained); exact matches one-hot."""
        texts = list(texts)
        if self.zero_shot_ is not None:
            proba = self.zero_shot_.predict_proba(texts) if texts else np.zeros((0, len(self.classes_)))
        else:
            x = self._embed(texts)
            found = self.knn_.neighbours(x)
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
        return out  # type: ignore[return-value]

    def _predict_zero_shot(self, texts: list[str]) -> list[Prediction]:
        note = Evidence("note", f"confidence not calibrated: no labelled data (review threshold {self.threshold_:g})")
        out = self.zero_shot_.predict(texts, extra_evidence=(note,))
        for i, text in enumerate(texts):
            if not has_words(text):
                out[i] = replace(out[i], needs_review=True, reason="no words to code")
        return out

    def _predict_learned(self, texts: list[str]) -> list[Prediction]:
        # Texts longer than the model's window are scored chunk by chunk and the chunk scores pooled.
        parts = expand(self.encoder, texts)
        x = self._embed(parts.flat)
        found = self.knn_.neighbours(x, max(self.knn_.k, 3))
        chunk_proba = self._blend(x, parts.flat, found)
        # Multi-label: a code stated in any chunk holds for the text (max); single-label: chunks vote (mean).
        how = "max" if self.multi_label else "mean"
        proba = pool(chunk_proba, parts.owner, len(texts), how=how, relevance=found[0][:, 0])
        chosen, raw = self._raw_confidence(proba)
        confidence = self.calibrator_(raw)
        chunk_evidence = self.knn_.evidence(*found)
        first = np.searchsorted(parts.owner, np.arange(len(texts)))
        nearest = np.zeros(len(texts), dtype=np.float32)
        np.maximum.at(nearest, parts.owner, found[0][:, 0])
        evidence = []
        for i in range(len(texts)):
            if len(parts.chunks[i]) == 1:
                evidence.append(chunk_evidence[first[i]])
                continue
            best = deciding_chunk(chunk_proba, parts.owner, i, int(proba[i].argmax()))
            chunk = parts.chunks[i][best]
            note = Evidence("chunk", chunk.text, None, round(float(chunk_proba[first[i] + best].max()), 4))
            detail = f"chunk {best + 1} of {len(parts.chunks[i])} (characters {chunk.start}-{chunk.end}) decided"
            evidence.append((Evidence("note", detail), note, *chunk_evidence[first[i] + best]))
        method = self.method_name
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
                reason = f"unlike every training example (nearest similarity {nearest[i]:.2f} < {self.ood_floor_:.2f})"
            elif needs_review and reason is None and self.levels_:
                backed = self._back_off(proba[i])
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
        return out

    def _back_off(self, proba: np.ndarray) -> tuple[tuple[str, ...], float, str] | None:
        """The deepest ancestor whose calibrated confidence clears its level's threshold, if any."""
        for level in self.levels_:
            aggregated = _aggregate(proba[None, :], level["member"], len(level["codes"]))[0]
            best = int(aggregated.argmax())
            conf = float(level["calibrator"](aggregated[best : best + 1])[0])
            if conf >= level["threshold"]:
                code = level["codes"][best]
                return (code,), conf, f"the finer code is uncertain; backed off to {code!r} (level {level['depth']})"
        return None


def _nearest_other(scores: np.ndarray) -> np.ndarray:
    """Each row's best similarity to a training text that is not the same text (exact copies are the alias's job)."""
    other = np.where(scores < 1.0 - 1e-4, scores, -np.inf)
    best = other.max(axis=1)
    return np.where(np.isfinite(best), best, 1.0)


def _aggregate(proba: np.ndarray, member: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum class probabilities into their ancestors: [n, L] -> [n, n_groups]; member[j] = -1 drops class j."""
    out = np.zeros((proba.shape[0], n_groups))
    keep = member >= 0
    np.add.at(out.T, member[keep], proba[:, keep].T)
    return out


def _choose_labels(proba: np.ndarray, cut: float) -> np.ndarray:
    """The labels at or above the cut, as a boolean matrix."""
    return proba >= cut


def _micro_f1(chosen: np.ndarray, truth: np.ndarray) -> float:
    """Micro-averaged F1 of boolean label matrices."""
    tp = float(np.sum(chosen & truth))
    denominator = float(chosen.sum() + truth.sum())
    return 2 * tp / denominator if denominator else 1.0


def _macro_f1(predicted: np.ndarray, truth: np.ndarray, n_classes: int) -> float:
    """Macro-averaged F1 over the classes present in the truth."""
    scores = []
    for j in np.unique(truth):
        tp = np.sum((predicted == j) & (truth == j))
        denominator = np.sum(predicted == j) + np.sum(truth == j)
        scores.append(2 * tp / denominator if denominator else 0.0)
    return float(np.mean(scores)) if scores else 0.0
