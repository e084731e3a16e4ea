"""Employer-name rules: legal forms and their country cues, listing noise, variants, acronyms, match keys."""

from __future__ import annotations

import pytest

from autocode.classifiers.codebook import load_codebook
from autocode.classifiers.employers.names import (
    LEGAL_FORMS,
    acronym,
    country_cues,
    domain_stem,
    match_key,
    name_variants,
    strip_legal_form,
    strip_listing_noise,
)


@pytest.mark.parametrize(
    ("name", "core", "cue"),
    [
        ("DBS Group Holdings Pte Ltd", "DBS Group Holdings", "SG"),
        ("DBS Group Holdings Pte. Ltd.", "DBS Group Holdings", "SG"),
        ("Sime Darby Plantation Sdn. Bhd.", "Sime Darby Plantation", "MY"),
        ("Maybank Berhad", "Maybank", "MY"),
        ("Malayan Flour Mills Bhd", "Malayan Flour Mills", "MY"),
        ("PT Telkom Indonesia Tbk", "Telkom Indonesia", "ID"),
        ("Sony K.K.", "Sony", "JP"),
        ("Toyota Kabushiki Kaisha", "Toyota", "JP"),
        ("Robert Bosch GmbH", "Robert Bosch", "DE"),
        ("Siemens AG", "Siemens", "DE"),
        ("Enel S.p.A.", "Enel", "IT"),
        ("Enel SpA", "Enel", "IT"),
        ("Nokia Oyj", "Nokia", "FI"),
        ("Volvo AB (publ)", "Volvo", "SE"),
        ("Equinor ASA", "Equinor", "NO"),
        ("Novo Nordisk A/S", "Novo Nordisk", "DK"),
        ("Zwipe AS", "Zwipe", "NO"),
        ("Turkiye Garanti Bankasi A.S.", "Turkiye Garanti Bankasi", "TR"),
        ("Komercni banka, a.s.", "Komercni banka", "CZ"),
        ("Koninklijke Philips N.V.", "Koninklijke Philips", "NL"),
        ("Banco Santander, S.A.", "Banco Santander", "ES"),
        ("Grupo Bimbo, S.A.B. de C.V.", "Grupo Bimbo", "MX"),
        ("HSBC Holdings plc", "HSBC Holdings", "GB"),
        ("Vodafone Group Public Limited Company", "Vodafone Group", "GB"),
        ("Tata Consultancy Services Limited", "Tata Consultancy Services", "IN"),
        ("Apple Inc.", "Apple", "US"),
        ("Microsoft Corp.", "Microsoft", "US"),
        ("BHP Billiton Pty Ltd", "BHP Billiton", "AU"),
        ("Siam Cement Public Company Limited", "Siam Cement", "TH"),
        ("PTT Exploration and Production PCL", "PTT Exploration and Production", "TH"),
        ("Samsung Electronics Co., Ltd.", "Samsung Electronics", "KR"),
        ("Shanghai Lingyun Industries Co.,Ltd", "Shanghai Lingyun Industries", "CN"),
        ("Public Joint Stock Company Aeroflot", "Aeroflot", "RU"),
        ("Qatar National Bank Q.P.S.C.", "Qatar National Bank", "QA"),
    ],
)
def test_legal_form_is_stripped_and_cues_its_country(name: str, core: str, cue: str) -> None:
    got_core, forms = strip_legal_form(name)
    assert got_core == core
    assert forms, name
    assert cue in country_cues(name)
    assert all(form in LEGAL_FORMS for form in forms)


def test_indonesian_state_bank_loses_pt_persero_and_tbk() -> None:
    core, forms = strip_legal_form("PT Bank Mandiri (Persero) Tbk")
    assert core in {"Bank Mandiri (Persero)", "Bank Mandiri"}
    assert {"PT", "Tbk"} <= set(forms)
    assert country_cues("PT Bank Mandiri (Persero) Tbk") == ["ID"]


def test_specific_forms_cue_one_country_and_generic_ones_many() -> None:
    assert country_cues("Maybank Berhad") == ["MY"]
    assert country_cues("Nokia Oyj") == ["FI"]
    assert set(LEGAL_FORMS["GmbH"]) == {"DE", "AT", "CH"}
    assert {"GB", "SG", "HK", "IN"} <= set(LEGAL_FORMS["Ltd"])
    assert {"CN", "JP", "KR", "TW", "TH"} <= set(LEGAL_FORMS["Co., Ltd."])
    assert len(LEGAL_FORMS["S.A."]) > 5


def test_every_cue_is_a_known_country() -> None:
    m49 = load_codebook("m49")
    bad = {form: [c for c in codes if c not in m49] for form, codes in LEGAL_FORMS.items()}
    assert not {form: codes for form, codes in bad.items() if codes}
    for form in ["Pte Ltd", "Sdn Bhd", "Bhd", "Tbk", "PT", "K.K.", "Kabushiki Kaisha", "GmbH", "AG", "S.p.A.", "Oyj",
                 "AB", "ASA", "A/S", "N.V.", "S.A.", "PLC", "Ltd", "Limited", "Inc.", "Corp.", "Pty Ltd",
                 "Public Company Limited", "PCL", "Co., Ltd."]:
        assert form in LEGAL_FORMS, form


@pytest.mark.parametrize("name", ["Thermal Spa", "Ag Growth International", "Asa Resources", "Costco Wholesale"])
def test_words_that_look_like_forms_are_left_alone(name: str) -> None:
    core, forms = strip_legal_form(name)
    assert core == name and forms == []


@pytest.mark.parametrize("name", ["AG", "Limited", "PT"])
def test_a_name_is_never_stripped_to_nothing(name: str) -> None:
    assert strip_legal_form(name)[0] == name


@pytest.mark.parametrize(
    ("listing", "clean"),
    [
        ("ABN AMRO Bank N.V. Depositary receipts", "ABN AMRO Bank N.V."),
        ("BAYER AG NA O.N.", "BAYER AG"),
        ("HIGHWOODS PROP.  DL-,01", "HIGHWOODS PROP."),
        ("TEXWINCA HLDGS LTD HD-,05", "TEXWINCA HLDGS LTD"),
        ("FLUIDRA SA FLUIDRA ORD SHS", "FLUIDRA SA"),
        ("Amphenol Corporation Class A", "Amphenol Corporation"),
        ("TMD Energy Limited Ordinary Shares", "TMD Energy Limited"),
        (
            "Bank of Hawaii Corporation Depositary Shares Each Representing a 1/40th Interest in a Share of "
            "4.375% Fixed Rate Non-Cumulative Perpetual Preferred Stock Series A",
            "Bank of Hawaii Corporation",
        ),
        ("Cadence Bank 5.50% Series A", "Cadence Bank"),
        ("Preferred Bank", "Preferred Bank"),
    ],
)
def test_listing_noise_is_removed(listing: str, clean: str) -> None:
    assert strip_listing_noise(listing) == clean


def test_dbs_variants_go_down_to_dbs() -> None:
    variants = name_variants("DBS Group Holdings Ltd")
    assert variants[:3] == ["DBS Group Holdings", "DBS Group", "DBS"]
    assert "DBS Group Holdings Ltd" not in variants


def test_variants_never_leave_a_bare_place_or_particle() -> None:
    assert "of America" not in name_variants("Bank of America Corporation")
    assert "America" not in name_variants("Bank of America Corporation")
    assert name_variants("China Holdings Ltd") == ["China Holdings"]
    assert "Mandiri" in name_variants("PT Bank Mandiri (Persero) Tbk")
    assert "Walt Disney" in name_variants("The Walt Disney Company")


def test_acronyms() -> None:
    assert acronym("Tata Consultancy Services Limited") == "TCS"
    assert acronym("National University of Singapore") == "NUS"
    assert acronym("Industrial and Commercial Bank of China Limited") == "ICBC"
    assert acronym("Hewlett Packard Enterprise Company") == "HPE"
    assert acronym("Maybank") is None  # one word
    assert acronym("Singapore Airlines") is None  # fewer than three initials
    assert acronym("DBS Group Holdings Ltd") is None  # already carries its short form


def test_match_key_ignores_case_accents_and_punctuation() -> None:
    assert match_key("Société Générale S.A.") == match_key("societe generale s a")
    assert match_key("Procter & Gamble") == match_key("procter and gamble")
    assert match_key("McDonald's") == match_key("MCDONALDS")
    assert match_key("  DBS   Bank ") == "dbs bank"


@pytest.mark.parametrize(
    ("domain", "stem"),
    [
        ("nus.edu.sg", "nus"),
        ("http://www.tcs.com/en", "tcs"),
        ("uan.edu.co", "uan"),
        ("svuni.ap.nic.in", "svuni"),
        ("unict.it", "unict"),
        ("localhost", None),
    ],
)
def test_domain_stem(domain: str, stem: str | None) -> None:
    assert domain_stem(domain) == stem
