"""What the lead search reads from a page and how it scores a company."""

from __future__ import annotations

from devstack.fakes.sites import company_page
from models.leads import Evidence, company_domain, extract, score


def test_contact_details_are_read_from_a_company_page() -> None:
    found = extract(company_page(3))

    assert found.company_name == "Acme Bakery 3"
    assert found.emails == ["owner.acme3@acme3.example", "info@acme3.example"]
    assert found.phones == ["+15125550103"]
    assert found.social == [
        "https://www.linkedin.com/company/acme3",
        "https://instagram.com/acme3",
    ]
    assert "family-owned bakery" in found.text


def test_image_names_and_repeated_addresses_are_not_contacts() -> None:
    page = '<img src="logo@2x.png"> a@b.example A@B.example <a href="mailto:a@b.example?subject=x">'

    assert extract(page).emails == ["a@b.example"]


def test_a_company_is_known_by_its_host_without_www_or_port() -> None:
    assert company_domain("https://WWW.Acme.example:8443/about") == "acme.example"
    assert company_domain("https://shop.acme.example/") == "shop.acme.example"
    assert company_domain("http://localhost/") is None
    assert company_domain("http://[::1/") is None


def test_a_score_adds_up_its_reasons() -> None:
    evidence = Evidence(
        emails=["info@acme.example"],
        phones=["+15125550100"],
        company_name="Acme",
        text="licensed plumbers in austin",
        rank=2,
    )

    points, reasons = score(evidence, ["licensed", "austin", "solar"])

    assert points == 20 + 10 + 5 + 20 + 10
    assert reasons == [
        "+20 a shared e-mail address (info@acme.example)",
        "+10 a phone number",
        "+5 a company name",
        "+20 matches the strategy's signals: licensed, austin",
        "+10 ranked 3 in the search results",
    ]
    assert score(Evidence(), []) == (0, [])
