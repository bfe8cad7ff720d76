"""Screen length per GSM 03.38 / UCS2 and paging that never cuts a word or overflows."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from menus import ScreenLimits
from menus.gsm import encoding_for, gsm7_length, is_gsm7, length_in, ucs2_length
from menus.paging import paginate

LIMITS = ScreenLimits()
MORE, BACK = "00 More", "* Back"
MORE_RU, BACK_RU = "00 Ещё", "* Назад"


def test_gsm7_extension_characters_count_twice() -> None:
    assert gsm7_length("abc") == 3
    assert gsm7_length("{x}") == 5
    assert gsm7_length("€[]~\\^|") == 14
    assert is_gsm7("Balance: 12.50 RUB @ £$ é")
    assert not is_gsm7("Баланс")
    assert not is_gsm7("`")  # the backtick is not in GSM 03.38


def test_ucs2_counts_surrogate_pairs_twice() -> None:
    assert ucs2_length("Баланс") == 6
    assert ucs2_length("ok 😀") == 5


def test_encoding_is_chosen_per_text() -> None:
    assert encoding_for("Your balance: 1 RUB") == "gsm7"
    assert encoding_for("Ваш баланс: 1 RUB") == "ucs2"


def test_a_full_screen_is_one_page_and_one_more_character_pages() -> None:
    assert paginate("a" * 182, MORE, BACK, LIMITS) == ("a" * 182,)
    assert paginate("Б" * 80, MORE_RU, BACK_RU, LIMITS) == ("Б" * 80,)
    pages = paginate("word " * 40, MORE, BACK, LIMITS)
    assert len(pages) == 2
    assert pages[0].endswith("\n00 More") and pages[1].endswith("\n* Back")
    # Extension characters use two septets: 91 braces fill one screen, 92 do not.
    assert len(paginate("{" * 91, MORE, BACK, LIMITS)) == 1
    assert len(paginate("{" * 92, MORE, BACK, LIMITS)) == 2


def test_lines_are_kept_whole_when_they_fit() -> None:
    lines = [f"{n} Тариф номер {n}" for n in range(1, 13)]
    pages = paginate("\n".join(lines), MORE_RU, BACK_RU, LIMITS)
    bodies = [line for page in pages for line in page.splitlines()
              if line not in (MORE_RU, BACK_RU)]
    assert bodies == lines


words = st.text(
    alphabet=st.sampled_from(list("abcXYZ019{}€[]~ЖЩЮжщю😀é")), min_size=1, max_size=30
)
texts = st.lists(
    st.lists(words, min_size=1, max_size=25).map(" ".join), min_size=1, max_size=12
).map("\n".join)


@settings(max_examples=300, deadline=None)
@given(text=texts, russian=st.booleans(), gsm_chars=st.integers(60, 182),
       ucs2_chars=st.integers(40, 80))
def test_every_page_fits_and_nothing_is_lost(
    text: str, russian: bool, gsm_chars: int, ucs2_chars: int
) -> None:
    limits = ScreenLimits(gsm7_chars=gsm_chars, ucs2_chars=ucs2_chars)
    more, back = (MORE_RU, BACK_RU) if russian else (MORE, BACK)
    pages = paginate(text, more, back, limits)
    bodies = []
    for number, page in enumerate(pages):
        encoding = encoding_for(page)
        capacity = limits.gsm7_chars if encoding == "gsm7" else limits.ucs2_chars
        assert length_in(page, encoding) <= capacity
        body = page
        if number > 0:
            assert body.endswith("\n" + back)
            body = body[: -len(back) - 1]
        if number < len(pages) - 1:
            assert body.endswith("\n" + more)
            body = body[: -len(more) - 1]
        assert body.strip()
        bodies.append(body)
    assert "".join("".join(bodies).split()) == "".join(text.split())


@settings(max_examples=200, deadline=None)
@given(text=st.lists(st.text(alphabet="abcdefgh", min_size=1, max_size=12), min_size=1,
                     max_size=80).map(" ".join))
def test_words_that_fit_a_page_are_never_split(text: str) -> None:
    pages = paginate(text, MORE, BACK, LIMITS)
    seen: list[str] = []
    for page in pages:
        seen.extend(w for w in page.split() if w not in ("00", "More", "*", "Back"))
    assert seen == text.split()
