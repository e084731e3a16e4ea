"""The employer benchmark's split: held-out parts come from the build's own builders, queries from the right rows."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from benchmarks import employers as bench


def test_letting_in_answers_gazetteer_for_the_parts_let_in_and_restores_part_of() -> None:
    real = {"a": "gazetteer", "b": "calibrate", "c": "test"}
    module = SimpleNamespace(part_of=lambda source, key: real[key])
    original = module.part_of
    with bench._letting_in(module, {"calibrate"}):  # type: ignore[arg-type]
        assert [module.part_of("companies", k) for k in "abc"] == ["gazetteer", "gazetteer", "test"]
    assert module.part_of is original


def _frame(rows: list[tuple[int, str, str, str, str]], basis: dict[int, str] | None = None) -> pd.DataFrame:
    return pd.DataFrame([
        {"record_id": rid, "name": name, "source": source, "city": "", "isic_section": section,
         "isic_division": "", "gics_sector": "", "country": country, "region": "", "group": source,
         "basis": (basis or {}).get(rid, "source")}
        for rid, name, source, section, country in rows
    ])


def test_unseen_queries_come_only_from_the_held_out_frame_and_known_ones_from_the_reference() -> None:
    gaz = _frame([(1, "Acme Industries Limited", "companies", "C", "GB"),
                  (2, "Northern Airways", "airlines", "H", "GB"),
                  (3, "University of Somewhere", "universities", "P", "GB")])
    held = _frame([(10, "Globex Holdings Corporation", "companies", "C", "US"),
                   (11, "Institute of Things", "organisations", "M", "FR"),
                   (12, "No Sector Company", "companies", "", "US"),
                   (13, "Pernod Ricard (France)", "organisations", "C", "FR")],
                  basis={11: "ror_type:facility", 13: "name_words"})
    queries = bench.make_queries(gaz, held, n_known=3, n_unseen=3, seed=0)
    assert set(queries[queries.set == "known"].record_id) <= {1, 2, 3}
    # A held-out company without an ISIC section, or an organisation whose section the build guessed from its name's
    # words, has no truth to measure the sector on: never a query.
    assert set(queries[queries.set == "unseen"].record_id) == {10, 11}
    again = bench.make_queries(gaz, held, n_known=3, n_unseen=3, seed=0)
    pd.testing.assert_frame_equal(queries, again)
