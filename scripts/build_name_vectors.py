"""Regenerate the gazetteer's shipped name vectors (data/employers/name_vectors.npz and its manifest).

    python scripts/build_name_vectors.py [--index DIR] [--check]

Run it after scripts/build_gazetteer.py changes the gazetteer: a fresh AUTOCODE_HOME then loads these
vectors instead of encoding every name (service/employer_vectors.py). The names are encoded afresh with
the engine's encoder (minutes on a laptop); --index reuses a name index already encoded for the current
gazetteer, e.g. AUTOCODE_HOME/indexes/employers-minilm-<hash> from a home that built it by encoding (never
one made from the shipped vectors: quantising their decoded copies again would lose precision twice).
--check fails if the committed manifest does not fit the current gazetteer and encoder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from autocode.embeddings import VectorIndex, get_encoder  # noqa: E402
from autocode.service import employer_engine  # noqa: E402
from autocode.service.employer_vectors import ShippedVectorsError, load_vectors, save_vectors  # noqa: E402

OUT = REPO / "data" / "employers"


def main(argv: list[str] | None = None) -> int:
    """Encode (or read with --index) the gazetteer's name vectors and write them, quantised, to data/employers/."""
    from autocode.classifiers.employers.resolver import EmployerResolver

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, help="a saved name index encoded for the current gazetteer")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="verify the committed vectors fit the gazetteer")
    args = parser.parse_args(argv)
    encoder = get_encoder(employer_engine.ENCODER)
    reference, content = employer_engine._reference()
    if args.check:
        try:
            index = load_vectors(encoder, content, employer_engine.INDEX_FORMAT, args.out)
        except ShippedVectorsError as exc:
            print(f"out of date (run scripts/build_name_vectors.py): {exc}", file=sys.stderr)
            return 1
        print(f"{args.out}: {len(index)} name vectors, up to date")
        return 0
    given = VectorIndex.load(args.index, expect_model=encoder.name, expect_dim=encoder.dim) if args.index else None
    resolver = EmployerResolver(encoder, reference, name_index=given).fit()
    if given is not None and encoder.texts_encoded:
        print(f"{args.index} lacked {encoder.texts_encoded} names: encoded them", file=sys.stderr)
    manifest = save_vectors(resolver.name_index_, args.out, encoder_key=encoder.key, reference=content,
                            index_format=employer_engine.INDEX_FORMAT)
    print(f"{args.out}: {manifest['rows']} name vectors, {manifest['bytes'] / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
