"""Korean name and date helpers for matching, as Polars expressions (set-based, no row loops).

* ``jamo_code``: a Hangul name decomposed into jamo (``to_jamo``) and each jamo written as ONE
  ASCII character. DuckDB's ``levenshtein`` / ``jaro_winkler_similarity`` count bytes, and a
  Hangul syllable or jamo takes three bytes in UTF-8, so distances on the raw text are wrong;
  on the code one edit is one jamo (김민준 → 김민존 is distance 1).
* ``romanize``: Revised Romanization of Hangul, jamo by jamo (no sound-change rules: it only
  has to be consistent, not pretty).
* ``sound_key``: folds the ways Koreans romanize the same name (Kim/Gim, Lee/Yi/Rhee/Ree,
  Park/Bak/Pak, Choi/Choe, Jung/Jeong/Chung, Yoon/Yun, Minjun/Min-jun/Minjoon) to one key, for
  Latin-script names and romanized Hangul alike, so 김민준 and "Minjun Kim" meet.
* ``lunar_to_solar_table``: the solar date of every lunar date that occurs, for 음력 birthdays.
"""

from __future__ import annotations

import polars as pl
from korean_lunar_calendar import KoreanLunarCalendar

# Conjoining jamo (what NFD yields for Hangul syllables): 19 initials, 21 medials, 27 finals.
_INITIALS = [chr(0x1100 + i) for i in range(19)]
_MEDIALS = [chr(0x1161 + i) for i in range(21)]
_FINALS = [chr(0x11A8 + i) for i in range(27)]

# 67 single ASCII characters, none a lowercase Latin letter, so a coded Hangul name can never
# equal a (lowercased) Latin name.
_CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&()*+,-./:;<=>?@[]^_{|}~"
_CODE_ALPHABET += "\x01\x02\x03"  # 64 printable characters are not quite enough
assert len(_CODE_ALPHABET) == len(_INITIALS) + len(_MEDIALS) + len(_FINALS)

_ROMAN_INITIALS = "g kk n d tt r m b pp s ss _ j jj ch k t p h".split()  # noqa: SIM905
_ROMAN_MEDIALS = "a ae ya yae eo e yeo ye o wa wae oe yo u wo we wi yu eu ui i".split()  # noqa: SIM905
_ROMAN_FINALS = "k k k n n n t l k m l l l p l m p p t t ng t t k t p t".split()  # noqa: SIM905

# Sound-key folding, applied in order to lowercase a-z text. Vowel spellings first, then the
# consonants that Korean does not distinguish at the start of a syllable in romanization.
_SOUND_RULES: list[tuple[str, str]] = [
    (r"[^a-z]", ""),
    (r"ph", "p"),
    (r"sh", "s"),
    (r"tch|ch", "j"),
    (r"rh", "r"),
    (r"wh", "h"),
    (r"oo|ou|eo|eu", "u"),
    (r"wu", "u"),  # Hyunwoo → hyunwu → hyunu, as 현우 (hyeonu)
    (r"ee|ea|yi", "i"),
    (r"oi|oe|ai|ae", "e"),
    (r"([aeiou])h", "$1"),  # Ahn/An, Oh/O, Suh/Seo
    (r"ar([^aeiouy]|$)", "a$1"),  # Park/Pak
    (r"k", "g"),
    (r"p", "b"),
    (r"t", "d"),
    (r"r", "l"),
    *((f"{letter}{letter}+", letter) for letter in "abdegijlmnosuy"),  # no backreferences
]


def _jamo_maps() -> tuple[list[str], list[str], list[str]]:
    jamo = _INITIALS + _MEDIALS + _FINALS
    roman = ["" if r == "_" else r for r in _ROMAN_INITIALS + _ROMAN_MEDIALS + _ROMAN_FINALS]
    return jamo, list(_CODE_ALPHABET), roman


_JAMO, _CODES, _ROMAN = _jamo_maps()


def jamo_code(expr: pl.Expr) -> pl.Expr:
    """Hangul in ``expr`` as one ASCII character per jamo; anything else passes through."""
    out = expr.str.normalize("NFD").str.replace_many(_JAMO, _CODES)
    return pl.when(out.str.len_chars() > 0).then(out)


def romanize(expr: pl.Expr) -> pl.Expr:
    """Hangul in ``expr`` in Revised Romanization (김민준 → gimminjun), lowercased."""
    return expr.str.normalize("NFD").str.replace_many(_JAMO, _ROMAN).str.to_lowercase()


def sound_key(expr: pl.Expr, *, family: bool = False) -> pl.Expr:
    """A romanized or Latin name folded to a key that spelling variants share.

    With ``family`` the initial-sound rule (두음법칙) is applied too: Lee/Rhee/Yi/I → i,
    Ryu/Yu → yu, Roh/Noh → no, Lim/Im → im.
    """
    out = romanize(expr)
    for pattern, replacement in _SOUND_RULES:
        out = out.str.replace_all(pattern, replacement)
    if family:
        out = out.str.replace(r"^l([iy])", "$1").str.replace(r"^l", "n")
    return pl.when(out.str.len_chars() > 0).then(out)


def lunar_to_solar_table(dates: pl.Series) -> pl.DataFrame:
    """Map each distinct ISO date in ``dates``, read as a lunar (음력) date, to its solar date.

    Runs once per distinct date (a few tens of thousands at most), not per record. Dates the
    lunar calendar cannot represent (30th of a 29-day month, out of range) map to null.
    """
    calendar = KoreanLunarCalendar()
    distinct = dates.drop_nulls().unique().to_list()
    solar: list[str | None] = []
    for value in distinct:
        year, month, day = (int(part) for part in value.split("-"))
        ok = calendar.setLunarDate(year, month, day, False)
        solar.append(calendar.SolarIsoFormat() if ok else None)
    return pl.DataFrame(
        {"birth_date": distinct, "birth_date_from_lunar": solar},
        schema={"birth_date": pl.String, "birth_date_from_lunar": pl.String},
    )
