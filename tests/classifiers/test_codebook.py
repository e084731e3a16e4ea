"""Codebook models and loader: the four built-ins, the hierarchy helpers, and readable errors for bad files."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from autocode.classifiers.codebook import (
    Codebook,
    CodebookError,
    Label,
    builtin_codebook_ids,
    codebook_from_codes,
    load_codebook,
    parse_codebook,
)

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"

SMALL = {
    "id": "small",
    "name": "Small",
    "version": "1",
    "labels": [
        {"code": "fin", "name": "Finance"},
        {"code": "bank", "name": "Banking", "parent": "fin", "aliases": ["banks"]},
        {"code": "retail", "name": "Retail banking", "parent": "bank"},
        {"code": "ins", "name": "Insurance", "parent": "fin"},
        {"code": "edu", "name": "Education", "examples": ["a school"]},
    ],
}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_for(path: Path) -> str:
    with pytest.raises(CodebookError) as info:
        load_codebook(path)
    return str(info.value)


# --- built-ins --------------------------------------------------------------------------------


def test_builtin_ids() -> None:
    assert builtin_codebook_ids() == ["employer-support", "gics", "isic4", "m49"]


@pytest.mark.parametrize("codebook_id", ["employer-support", "gics", "isic4", "m49"])
def test_each_builtin_loads_once(codebook_id: str) -> None:
    codebook = load_codebook(codebook_id)
    assert codebook.id == codebook_id
    assert len(codebook) > 0
    assert load_codebook(codebook_id) is codebook  # parsed once per process
    for code in codebook.codes():  # every path ends at its code and starts at a root
        path = codebook.path(code)
        assert path[-1] == code and codebook.parent(path[0]) is None


def test_isic4_sections_and_divisions() -> None:
    isic = load_codebook("isic4")
    sections = isic.children(None)
    assert sections == list("ABCDEFGHIJKLMNOPQRSTU")
    divisions = [c for c in isic.codes() if isic.depth(c) == 1]
    assert len(divisions) == 88
    assert isic.path("64") == ("K", "64")
    assert isic.parent("01") == "A" and isic.parent("99") == "U" and isic.parent("85") == "P"
    assert isic.children("K") == ["64", "65", "66"]
    assert {"finance", "banking", "insurance"} <= set(isic.get("K").aliases)
    education = isic.get("P")
    assert "education" in {education.name.casefold(), *education.aliases}  # an alias equal to the name is dropped
    assert isic.get("64").description.startswith("Includes: ")
    assert all(len(isic.get(c).description) <= 400 for c in isic.codes())


def test_gics_levels() -> None:
    gics = load_codebook("gics")
    assert len(gics.children(None)) == 11
    assert len(gics.leaves()) == 163
    assert all(gics.depth(code) == 3 and len(code) == 8 for code in gics.leaves())
    assert gics.path("40101010") == ("40", "4010", "401010", "40101010")
    assert gics.get("40101010").name == "Diversified Banks"
    assert gics.get("40101010").description  # a GICS definition
    assert gics.get("10").description  # composed from its children


def test_m49_regions_and_countries() -> None:
    m49 = load_codebook("m49")
    assert m49.path("SG") == ("142", "035", "SG")
    assert m49.path("FR") == ("150", "155", "FR")
    assert m49.get("002").name == "Africa"
    assert m49.parent("AQ") is None  # Antarctica is in no M49 region
    assert m49.get("NO").name == "Norway"  # not YAML's boolean "NO"
    assert {"GBR", "UK", "England"} <= set(m49.get("GB").aliases)
    assert {"USA", "United States of America"} <= set(m49.get("US").aliases)
    assert "GR" in m49 and "EL" in m49.get("GR").aliases
    countries = [c for c in m49.codes() if c.isalpha()]
    assert len(countries) == 250


def test_employer_support() -> None:
    support = load_codebook("employer-support")
    assert support.multi_label is True
    assert not support.is_hierarchical()
    assert support.codes() == [
        "required", "fees_full", "fees_part", "study_time", "unpaid_leave", "reimbursed", "other_support", "no_support"]
    for label in support.labels:
        assert label.description
        assert len(label.examples) >= 3
        assert 4 <= len(label.aliases) <= 6


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs the full ../shared sources: rebuild test")
def test_generated_files_are_up_to_date() -> None:
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "build_codebooks.py"), "--check",
                             "--shared", str(SHARED)], capture_output=True, check=False, text=True)
    assert result.returncode == 0, result.stderr


# --- the model --------------------------------------------------------------------------------


def test_hierarchy_helpers() -> None:
    cb = parse_codebook(SMALL)
    assert len(cb) == 5 and "bank" in cb and "nope" not in cb and 3 not in cb
    assert cb.codes() == ["fin", "bank", "retail", "ins", "edu"]
    assert cb.children(None) == ["fin", "edu"]
    assert cb.children("fin") == ["bank", "ins"]
    assert cb.children("retail") == []
    assert cb.path("retail") == ("fin", "bank", "retail")
    assert cb.depth("retail") == 2 and cb.depth("edu") == 0
    assert cb.parent("bank") == "fin" and cb.parent("fin") is None
    assert cb.leaves() == ["retail", "ins", "edu"]
    assert cb.is_hierarchical()
    assert cb.get("bank").aliases == ["banks"]
    with pytest.raises(KeyError, match="unknown code 'nope' in codebook 'small'"):
        cb.get("nope")
    with pytest.raises(KeyError):
        cb.children("nope")


def test_subset_keeps_ancestors_in_file_order() -> None:
    cb = parse_codebook(SMALL)
    sub = cb.subset(["edu", "retail"])
    assert sub.codes() == ["fin", "bank", "retail", "edu"]
    assert sub.path("retail") == ("fin", "bank", "retail")
    assert sub.children("fin") == ["bank"]
    assert sub.id == cb.id
    assert cb.subset("ins").codes() == ["fin", "ins"]  # one code, not its letters
    with pytest.raises(KeyError, match="nope"):
        cb.subset(["edu", "nope"])
    isic = load_codebook("isic4").subset(["64", "85"])
    assert isic.codes() == ["K", "64", "P", "85"]


def test_models_are_frozen_and_pickle() -> None:
    cb = parse_codebook(SMALL)
    with pytest.raises(ValidationError):
        cb.labels[0].name = "changed"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        cb.id = "other"  # type: ignore[misc]
    again = pickle.loads(pickle.dumps(cb))
    assert again == cb and again.path("retail") == ("fin", "bank", "retail")


def test_round_trip_through_dump() -> None:
    cb = load_codebook("isic4")
    assert parse_codebook(cb.model_dump()) == cb


def test_codebook_from_codes() -> None:
    cb = codebook_from_codes(["b", "a", None, float("nan"), "b", "  ", " c ", 1.0, 2], codebook_id="mine")
    assert cb.codes() == ["b", "a", "c", "1", "2"]
    assert cb.get("a") == Label(code="a", name="a")
    assert cb.id == "mine" and cb.name == "mine" and not cb.is_hierarchical() and not cb.multi_label
    assert codebook_from_codes(["x"], name="My codes").name == "My codes"
    with pytest.raises(CodebookError, match="no codes"):
        codebook_from_codes([None, ""])


def test_json_loads_the_same_as_yaml(tmp_path: Path) -> None:
    data = {**SMALL, "multi_label": True, "description": "for the test"}
    yaml_path = write(tmp_path, "small.yaml", yaml.safe_dump(data, sort_keys=False))
    json_path = write(tmp_path, "small.json", json.dumps(data))
    yml_path = write(tmp_path, "small.yml", yaml.safe_dump(data))
    assert load_codebook(yaml_path) == load_codebook(json_path) == load_codebook(str(yml_path))
    m49 = load_codebook("m49")
    assert load_codebook(write(tmp_path, "m49.json", m49.model_dump_json())) == m49


def test_yaml_numbers_and_words_stay_codes(tmp_path: Path) -> None:
    path = write(tmp_path, "codes.yaml", """\
id: codes
name: Codes
version: 1.10
labels:
  - {code: 01, name: One}
  - {code: 010, name: Ten}
  - {code: no, name: No}
  - {code: 2023-01-01, name: A date}
  - {code: 7, name: Seven, parent: 01}
""")
    cb = load_codebook(path)
    assert cb.version == "1.10"
    assert cb.codes() == ["01", "010", "no", "2023-01-01", "7"]
    assert cb.parent("7") == "01"
    as_json = parse_codebook({"id": "j", "name": "J", "version": 2, "labels": [{"code": 5, "name": "Five"}]})
    assert as_json.codes() == ["5"] and as_json.version == "2"


def test_edited_file_is_read_again(tmp_path: Path) -> None:
    path = write(tmp_path, "edit.json", json.dumps(SMALL))
    first = load_codebook(path)
    assert load_codebook(path) is first
    path.write_text(json.dumps({**SMALL, "name": "Renamed, longer"}), encoding="utf-8")
    assert load_codebook(path).name == "Renamed, longer"


# --- bad codebooks ----------------------------------------------------------------------------

HEAD = "id: bad\nname: Bad\nversion: '1'\nlabels:\n"


def test_duplicate_code(tmp_path: Path) -> None:
    labels = "  - {code: a, name: A}\n  - {code: b, name: B}\n  - {code: a, name: Again}\n"
    path = write(tmp_path, "dup.yaml", HEAD + labels)
    message = error_for(path)
    assert "dup.yaml" in message and "'a'" in message and "duplicate code" in message and "labels[2]" in message


def test_unknown_parent(tmp_path: Path) -> None:
    path = write(tmp_path, "orphan.yaml", HEAD + "  - {code: a, name: A}\n  - {code: kid, name: Kid, parent: ghost}\n")
    message = error_for(path)
    assert "orphan.yaml" in message and "'kid'" in message and "unknown parent 'ghost'" in message


def test_cycle(tmp_path: Path) -> None:
    path = write(tmp_path, "loop.yaml", HEAD + (
        "  - {code: x, name: X, parent: z}\n  - {code: y, name: Y, parent: x}\n  - {code: z, name: Z, parent: y}\n"
        "  - {code: me, name: Me, parent: me}\n"))
    message = error_for(path)
    assert "loop.yaml" in message and "cycle in parents: x -> z -> y -> x" in message
    assert "'me'" in message and "me -> me" in message


def test_empty_name(tmp_path: Path) -> None:
    path = write(tmp_path, "blank.yaml", HEAD + "  - {code: a, name: A}\n  - {code: b, name: '   '}\n")
    message = error_for(path)
    assert "blank.yaml" in message and "'b'" in message and "name is empty" in message


def test_empty_code(tmp_path: Path) -> None:
    message = error_for(write(tmp_path, "nocode.yaml", HEAD + "  - {code: ' ', name: A}\n"))
    assert "nocode.yaml" in message and "labels[0]" in message and "code is empty" in message


def test_bad_yaml_syntax_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "syntax.yaml", HEAD + "  - code: a\n    name: A: B\n  - {code: b, name: B}\n")
    message = error_for(path)
    assert "syntax.yaml" in message and "YAML syntax error at line 6" in message


def test_bad_json_syntax_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "syntax.json", '{"id": "x",\n "labels": [,]}')
    message = error_for(path)
    assert "syntax.json" in message and "JSON syntax error at line 2" in message


def test_missing_required_field(tmp_path: Path) -> None:
    path = write(tmp_path, "missing.yaml", HEAD + "  - {code: a, name: A}\n  - {code: b}\n")
    message = error_for(path)
    assert "missing.yaml" in message and "'b'" in message and "missing required field 'name'" in message
    top = error_for(write(tmp_path, "noversion.yaml", "id: x\nname: X\nlabels:\n  - {code: a, name: A}\n"))
    assert "codebook: missing required field 'version'" in top


def test_wrong_types_and_unknown_fields(tmp_path: Path) -> None:
    path = write(tmp_path, "types.yaml", """\
id: bad
name: Bad
version: '1'
multi_label: yes
labels:
  - {code: a, name: A, desc: typo}
  - just text
  - {code: c, name: C, aliases: one}
""")
    with pytest.raises(CodebookError) as raised:
        load_codebook(path)
    error = raised.value
    message = str(error)
    assert "types.yaml: 4 problems" in message
    assert "'multi_label' must be true or false, got 'yes'" in message
    assert "label 'a' (labels[0]): unknown field 'desc'" in message
    assert "labels[1]: must be a mapping" in message
    assert "label 'c' (labels[2]): field 'aliases' must be a list" in message
    assert error.source == str(path) and len(error.problems) == 4


def test_all_problems_are_listed(tmp_path: Path) -> None:
    path = write(tmp_path, "many.yaml", HEAD + (
        "  - {code: a, name: A}\n  - {code: a, name: A2}\n  - {code: b, name: B, parent: zz}\n"))
    message = error_for(path)
    assert "2 problems" in message and "duplicate code" in message and "unknown parent 'zz'" in message


def test_no_labels_and_bad_top_level(tmp_path: Path) -> None:
    assert "has no labels" in error_for(write(tmp_path, "empty.yaml", "id: x\nname: X\nversion: '1'\nlabels: []\n"))
    assert "top level must be a mapping" in error_for(write(tmp_path, "list.yaml", "- a\n- b\n"))
    with pytest.raises(CodebookError, match=r"^<inline>: codebook: id 'has spaces' must"):
        parse_codebook({**SMALL, "id": "has spaces"})


def test_unknown_builtin_id_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CodebookError) as info:
        load_codebook("isic5")
    message = str(info.value)
    assert "'isic5'" in message and "unknown built-in codebook id" in message and "isic4, m49" in message
    message = error_for(tmp_path / "absent.yaml")
    assert "absent.yaml" in message and "no such file" in message and "employer-support" in message
    assert "unsupported file type '.txt'" in error_for(write(tmp_path, "codes.txt", "a\nb\n"))


def test_codebook_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="<inline>: label 'b'"):
        parse_codebook({**SMALL, "labels": [{"code": "b", "name": ""}]})
    assert isinstance(CodebookError("plain message"), ValueError)
    assert CodebookError("plain message").problems == ["plain message"]
    assert Codebook.model_fields["multi_label"].default is False
