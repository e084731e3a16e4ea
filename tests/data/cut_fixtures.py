"""Cut the small test fixtures in tests/data/ from the full reference data in ../shared/data.

    python tests/data/cut_fixtures.py [--shared ../shared/data] [--check]

The tests read only the files this script writes; they never run it. Deterministic: the same sources
give byte-identical files (`--check` says whether the committed files are what the sources give).
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

# Every Banking77 intent some test trains or evaluates on (tests pick their own subsets of these).
BANKING_INTENTS = [
    "age_limit", "apple_pay_or_google_pay", "card_arrival", "card_linking", "cash_withdrawal_charge", "change_pin",
    "declined_transfer", "exchange_rate", "lost_or_stolen_card", "pin_blocked", "terminate_account", "top_up_failed",
    "wrong_amount_of_cash_received",
]
TRAIN_PER_INTENT = 24  # a random sample of each intent's training messages (seed 0)
TEST_PER_INTENT = 20  # the first messages of each intent in the test split, in file order
COMPANY_COLUMNS = ["name", "sector", "industry_group", "industry", "country"]


def _csv(frame: pd.DataFrame) -> str:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def banking77(shared: Path) -> dict[str, str]:
    """train.csv and test.csv: the intents above, stratified, original columns (text, category)."""
    folder = shared / "banking77"
    train = pd.read_csv(folder / "train.csv", dtype=str, keep_default_na=False)
    test = pd.read_csv(folder / "test.csv", dtype=str, keep_default_na=False)
    train = train[train.category.isin(BANKING_INTENTS)].groupby("category").sample(TRAIN_PER_INTENT, random_state=0)
    train = train.sort_index()  # the source's order (grouped by intent)
    test = test[test.category.isin(BANKING_INTENTS)].groupby("category").head(TEST_PER_INTENT)
    return {"banking77/train.csv": _csv(train), "banking77/test.csv": _csv(test)}


def companies(shared: Path) -> dict[str, str]:
    """companies_gics_names.csv: the first company (in file order) of each distinct sector / industry group /
    industry combination in companies.csv, so every GICS name the full source uses appears at least once."""
    source = pd.read_csv(shared / "companies.csv", dtype=str, keep_default_na=False)
    rows = source.drop_duplicates(["sector", "industry_group", "industry"])[COMPANY_COLUMNS]
    return {"companies_gics_names.csv": _csv(rows)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--check", action="store_true", help="compare with the committed files; write nothing")
    args = parser.parse_args(argv)
    files = {**banking77(args.shared), **companies(args.shared)}
    stale = []
    for rel, text in files.items():
        path = HERE / rel
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(rel)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(REPO)}: {len(pd.read_csv(io.StringIO(text)))} rows")
    if stale:
        sys.exit(f"stale: {', '.join(stale)}")


if __name__ == "__main__":
    main()
