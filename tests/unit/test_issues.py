"""How an issue reads, with and without the values it quotes from the input."""

from __future__ import annotations

from claims_engine.domain.issues import Issue, Location, Scope


def _issue(message: str) -> Issue:
    return Issue(
        code="DMG02",
        message=message,
        level=2,
        scope=Scope.CLAIM,
        location=Location("DMG", 17, loop="2010BA", element=2),
    )


def test_describe_names_the_code_the_place_and_the_value() -> None:
    issue = _issue("birth date '19931345' is not a date CCYYMMDD")
    assert issue.describe() == (
        "DMG02: birth date '19931345' is not a date CCYYMMDD at segment 17 (DMG02, loop 2010BA)"
    )


def test_describe_without_values_keeps_the_reason_and_drops_what_was_sent() -> None:
    issue = _issue("""ZIP "9021" and name 'O\\'Brien' and 'x' do not match""")
    text = issue.describe(values=False)
    assert text == (
        "DMG02: ZIP '…' and name '…' and '…' do not match at segment 17 (DMG02, loop 2010BA)"
    )
    assert "9021" not in text and "Brien" not in text
    # a message quoting nothing reads the same either way
    plain = _issue("birth date after the service date")
    assert plain.describe(values=False) == plain.describe()


def test_an_apostrophe_in_a_word_does_not_hide_the_value_from_the_redaction() -> None:
    issue = _issue("the patient's birth date '19800101X' is not a date")
    text = issue.describe(values=False)
    assert "19800101" not in text
    assert text.startswith("DMG02: the patient's birth date '…' is not a date")
