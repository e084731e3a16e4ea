"""Universities (Hipo/university-domains-list, MIT): ISIC P/85; web-domain stems as short forms."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd

from autocode.classifiers.employers.names import acronym, domain_stem

from .common import Geo, base_row, name_forms


def build_universities(path: Path, geo: Geo, report: dict[str, Any]) -> pd.DataFrame:
    """Universities (Hipo university-domains-list, MIT): ISIC P/85; domain stems as short forms."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw["name"] = raw["name"].str.strip()
    raw = raw[raw["name"] != ""]
    report["universities_read"] = len(raw)
    # The ISO2 column is the source's own; the name is only a fallback ("Viet Nam" and "Vietnam" are one VN).
    raw["iso2"] = [
        a.strip().upper() if a.strip().upper() in geo.m49 else geo.iso2(c, "universities")
        for a, c in zip(raw["alpha2"], raw["country"], strict=True)
    ]
    domains: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in raw.itertuples(index=False):
        domains[(r.name, r.iso2)] += [d.strip().casefold() for d in r.domain.split("|") if d.strip()]
    raw = raw.drop_duplicates(["name", "iso2"])
    report["universities_duplicates"] = report["universities_read"] - len(raw)
    rows = []
    for r in raw.itertuples(index=False):
        row = base_row("universities", r.name, r.country, r.iso2, geo)
        hosts = list(dict.fromkeys(domains[(r.name, r.iso2)]))
        stems = [s for s in (domain_stem(h) for h in hosts) if s]
        kept, short = name_forms(r.name)
        acro = acronym(r.name)
        row.update(
            isic_section="P", isic_division="85", isic_basis="source", domain="|".join(hosts),
            _kept=kept, _short=short + ([acro] if acro else []) + stems,
        )
        rows.append(row)
    return pd.DataFrame(rows)


