"""The employer rules and word lists in data/employers/: shipped, documented; a bad row names file, row and field."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

import pytest

from autocode.classifiers.employers import cues, infer, names
from autocode.classifiers.employers.wordlists import DataFileError, data_file, read_rows, read_words
from autocode.errors import InvalidError

ROOT = Path(__file__).resolve().parents[2]
EMPLOYERS = ROOT / "data" / "employers"
FORMS_HEADER = "form,countries,spellings,where,cased,strict_dots\n"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_bad_field_names_the_file_line_row_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path, "legal_forms.csv", "# a comment\n" + FORMS_HEADER + "GmbH,DE AT CH,,end,no,no\n\n"
                  "Oyj,FI,,middle,auto,no\n")
    with pytest.raises(DataFileError) as caught:
        names.load_legal_forms(path)
    message = str(caught.value)
    assert str(path) in message
    assert "line 5 (row 2)" in message  # the comment, header and blank line count as lines, not rows
    assert "field 'where'" in message and "'middle'" in message and "end, start, both, any" in message
    assert isinstance(caught.value, InvalidError)  # the "invalid" kind the service maps to one status


@pytest.mark.parametrize(
    ("row", "field", "says"),
    [
        ("GmbH,DE deu,,end,no,no", "countries", "'deu' is not an ISO 3166 alpha-2"),
        ("GmbH,\"DE,AT\",,end,no,no", "countries", "separate codes with spaces"),
        ("GmbH,,,end,no,no", "countries", "is empty"),
        ("GmbH,DE,GmbH.||Gmbh,end,no,no", "spellings", "an empty spelling"),
        ("GmbH,DE,,end,maybe,no", "cased", "'maybe' is not one of: auto, yes, no"),
        ("GmbH,DE,,end,no,true", "strict_dots", "'true' is not one of: yes, no"),
    ],
)
def test_each_legal_form_field_is_checked(tmp_path: Path, row: str, field: str, says: str) -> None:
    path = _write(tmp_path, "legal_forms.csv", FORMS_HEADER + row + "\n")
    with pytest.raises(DataFileError, match=re.escape(f"line 2 (row 1), field {field!r}: ") + ".*" + re.escape(says)):
        names.load_legal_forms(path)


def test_a_second_row_for_a_form_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "legal_forms.csv", FORMS_HEADER + "AG,DE,,end,yes,no\nAG,CH,,end,yes,no\n")
    with pytest.raises(DataFileError, match=r"line 3 \(row 2\), field 'form': form 'AG' already given on line 2"):
        names.load_legal_forms(path)


def test_rows_read_by_header_with_quotes_comments_notes_and_defaults(tmp_path: Path) -> None:
    path = _write(tmp_path, "legal_forms.csv", "# forms\nstrict_dots,form,countries,note,spellings,where,cased\n"
                  "# a comment between rows\n"
                  ",\"Co., Ltd.\", CN JP ,my own note,\"Co., Limited|Co. Ltd.\",,\n")
    (form,) = names.load_legal_forms(path)
    assert form == names.LegalForm("Co., Ltd.", ("CN", "JP"), ("Co., Limited", "Co. Ltd."), "end", None, False)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "no header line"),
        ("form,countries\nAG,DE\n", "lacks spellings, where, cased, strict_dots"),
        (FORMS_HEADER + "AG,DE,,end\n", "line 2 (row 1): 4 fields where the header has 6"),
        (FORMS_HEADER + "\"AG,DE,,end,yes,no\n", "line 2: not a CSV row"),
    ],
)
def test_a_malformed_table_says_where(tmp_path: Path, text: str, says: str) -> None:
    path = _write(tmp_path, "legal_forms.csv", text)
    with pytest.raises(DataFileError, match=re.escape(says)):
        names.load_legal_forms(path)


def test_listing_noise_patterns_must_compile(tmp_path: Path) -> None:
    path = _write(tmp_path, "listing_noise.csv", "kind,ignore_case,pattern\ncut,yes,Depositary\\b\n"
                  "drop,no,\\s+Class (A$\n")
    with pytest.raises(DataFileError, match=r"line 3 \(row 2\), field 'pattern': not a regular expression"):
        names.load_listing_noise(path)


def test_a_case_exact_cut_rule_stays_exact_among_the_others(tmp_path: Path) -> None:
    path = _write(tmp_path, "listing_noise.csv", "kind,ignore_case,pattern\ncut,yes,Depositary\\b\ncut,no,ADR\\b\n")
    cut, drops, upper_drops = names.load_listing_noise(path)
    assert cut.search("Foo depositary shares") and cut.search("Foo ADR") and not cut.search("Foo adr")
    assert drops == () and upper_drops == ()


def test_language_word_weights_must_add_up_to_one(tmp_path: Path) -> None:
    path = _write(tmp_path, "language_words.csv", "phrase,country,weight\nkolej,MY,0.7\nkolej,BN,0.2\n")
    with pytest.raises(DataFileError, match=r"line 3 \(row 2\), field 'weight': the weights of 'kolej' add up to 0.9"):
        cues.load_language_words(path)


def test_phrases_must_be_written_as_match_keys(tmp_path: Path) -> None:
    path = _write(tmp_path, "non_employers.csv", "category,phrase\nnot_applicable,n a\nnot_applicable,N/A\n")
    with pytest.raises(DataFileError, match=r"line 3 \(row 2\), field 'phrase': 'N/A' must be written 'n a'"):
        cues.load_non_employers(path)
    path = _write(tmp_path, "sector_keywords.csv", "phrase,section,division\nministry of foreign affairs,O,84\n")
    with pytest.raises(DataFileError, match=r"field 'phrase': .* more than 3 words"):
        infer.load_sector_keywords(path)
    path = _write(tmp_path, "sector_keywords.csv", "phrase,section,division\nhospital,Q,8\n")
    with pytest.raises(DataFileError, match=r"field 'division': '8' is not a two-digit"):
        infer.load_sector_keywords(path)


def test_a_word_list_entry_names_its_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "city_stopwords.txt", "# cities\nmobile\n\nSão Paulo\n")
    with pytest.raises(DataFileError) as caught:
        read_words(path, normal=names.match_key)
    assert str(caught.value) == (f"{path}: line 4 (entry 2): 'São Paulo' must be written 'sao paulo' (lower case; for "
                                 "a match key also no accents, and punctuation as single spaces)")
    path = _write(tmp_path, "place_linking_words.txt", "of\nof the\n")
    with pytest.raises(DataFileError, match=r"line 2 \(entry 2\): 'of the' is more than one word"):
        read_words(path, normal=names.match_key, single_word=True)


def test_the_shipped_files_load_into_what_the_modules_use() -> None:
    assert {form.name: form.countries for form in names.load_legal_forms()} == names.LEGAL_FORMS
    assert tuple(cues.load_non_employers()) == cues.NON_EMPLOYER_CATEGORIES
    assert infer.load_sector_keywords() == infer.KEYWORDS
    assert cues.non_employer("Self-employed") == "self_employed" and cues.non_employer("N/A") == "not_applicable"
    assert read_rows("tld_countries.csv", ("tld", "country"))[0].fields == {"tld": "uk", "country": "GB"}
    assert data_file("legal_forms.csv").is_file()


def test_every_file_is_packaged_documented_and_sourced() -> None:
    files = sorted(p.name for p in EMPLOYERS.iterdir())
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["autocode.data"]
    readme = (EMPLOYERS / "README.md").read_text()
    sources = (ROOT / "data" / "SOURCES.md").read_text()
    for name in files:
        assert any(fnmatch.fnmatch(f"employers/{name}", glob) for glob in globs), name  # else left out of the wheel
        assert name == "README.md" or f"`{name}`" in readme, name
        assert f"| employers/{name} |" in sources, name
