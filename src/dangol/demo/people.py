"""Synthetic Korean people: names, birthdays (some lunar), phones, e-mails, addresses, signup
channels, and the duplicate registrations that identity resolution has to find.

Everything is vectorised with NumPy over a whole chunk; only the few duplicate records (≈3 %)
pass through small per-record Python helpers (jamo typos, lunar conversion).

``generate_people(n, seed)`` is the pure, database-free entry point used by the identity
resolution benchmark; ``generate_customers`` adds what the demo loader needs on top (signup date,
store, purchase-behaviour seeds) and is what ``loader`` writes.
"""

from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass

import numpy as np
import polars as pl
from korean_lunar_calendar import KoreanLunarCalendar

# --- reference data ---------------------------------------------------------------------------

# (family name, romanization, share of population in %), the most common ~60 surnames.
FAMILY_NAMES: list[tuple[str, str, float]] = [
    ("김", "kim", 21.5), ("이", "lee", 14.7), ("박", "park", 8.4), ("최", "choi", 4.7),
    ("정", "jung", 4.4), ("강", "kang", 2.3), ("조", "cho", 2.1), ("윤", "yoon", 2.1),
    ("장", "jang", 2.0), ("임", "lim", 1.7), ("한", "han", 1.5), ("오", "oh", 1.5),
    ("서", "seo", 1.5), ("신", "shin", 1.5), ("권", "kwon", 1.4), ("황", "hwang", 1.4),
    ("안", "ahn", 1.3), ("송", "song", 1.3), ("류", "ryu", 1.2), ("전", "jeon", 1.1),
    ("홍", "hong", 1.1), ("고", "ko", 0.9), ("문", "moon", 0.9), ("양", "yang", 0.9),
    ("손", "son", 0.9), ("배", "bae", 0.8), ("백", "baek", 0.8), ("허", "heo", 0.7),
    ("유", "yoo", 0.7), ("남", "nam", 0.6), ("심", "shim", 0.6), ("노", "noh", 0.6),
    ("하", "ha", 0.5), ("곽", "kwak", 0.4), ("성", "sung", 0.4), ("차", "cha", 0.4),
    ("주", "joo", 0.4), ("우", "woo", 0.4), ("구", "koo", 0.4), ("민", "min", 0.3),
    ("진", "jin", 0.3), ("나", "na", 0.3), ("지", "ji", 0.3), ("엄", "eom", 0.3),
    ("채", "chae", 0.3), ("원", "won", 0.3), ("천", "cheon", 0.2), ("방", "bang", 0.2),
    ("공", "kong", 0.2), ("현", "hyun", 0.2), ("함", "ham", 0.2), ("변", "byun", 0.2),
    ("염", "yeom", 0.1), ("여", "yeo", 0.1), ("추", "choo", 0.1), ("도", "do", 0.1),
    ("석", "seok", 0.1), ("설", "seol", 0.1), ("마", "ma", 0.1), ("길", "gil", 0.1),
    ("남궁", "namgung", 0.05), ("황보", "hwangbo", 0.05), ("제갈", "jegal", 0.03),
    ("선우", "sunwoo", 0.03), ("독고", "dokgo", 0.01),
]  # fmt: skip

# Given names by generation (born before 1980 / after) and gender, with romanization.
GIVEN_NAMES: dict[tuple[str, str], list[tuple[str, str]]] = {
    ("F", "old"): [
        ("영숙", "youngsook"), ("정희", "junghee"), ("순자", "soonja"), ("미경", "mikyung"),
        ("은정", "eunjung"), ("미영", "miyoung"), ("현숙", "hyunsook"), ("경희", "kyunghee"),
        ("정숙", "jungsook"), ("영희", "younghee"), ("미숙", "misook"), ("혜경", "hyekyung"),
        ("선영", "sunyoung"), ("지영", "jiyoung"), ("수진", "sujin"), ("은영", "eunyoung"),
        ("현주", "hyunjoo"), ("미정", "mijung"), ("경숙", "kyungsook"), ("혜진", "hyejin"),
    ],
    ("F", "young"): [
        ("서연", "seoyeon"), ("지민", "jimin"), ("서윤", "seoyoon"), ("지우", "jiwoo"),
        ("하은", "haeun"), ("민서", "minseo"), ("수빈", "subin"), ("지원", "jiwon"),
        ("예은", "yeeun"), ("유진", "yujin"), ("다은", "daeun"), ("채원", "chaewon"),
        ("수아", "sua"), ("지아", "jia"), ("소연", "soyeon"), ("민지", "minji"),
        ("하윤", "hayoon"), ("예린", "yerin"), ("나연", "nayeon"), ("윤서", "yoonseo"),
        ("지현", "jihyun"), ("은지", "eunji"), ("혜원", "hyewon"), ("수연", "suyeon"),
        ("다현", "dahyun"), ("서현", "seohyun"), ("가은", "gaeun"), ("소희", "sohee"),
    ],
    ("M", "old"): [
        ("영수", "youngsoo"), ("영호", "youngho"), ("상철", "sangchul"), ("성호", "sungho"),
        ("정호", "jungho"), ("성수", "sungsoo"), ("동현", "donghyun"), ("준호", "junho"),
        ("재훈", "jaehoon"), ("성민", "sungmin"), ("상훈", "sanghoon"), ("진우", "jinwoo"),
        ("경수", "kyungsoo"), ("종현", "jonghyun"), ("광수", "kwangsoo"), ("병철", "byungchul"),
    ],
    ("M", "young"): [
        ("민준", "minjun"), ("서준", "seojun"), ("도윤", "doyoon"), ("예준", "yejun"),
        ("시우", "siwoo"), ("하준", "hajun"), ("주원", "joowon"), ("지호", "jiho"),
        ("지훈", "jihoon"), ("준서", "junseo"), ("건우", "gunwoo"), ("현우", "hyunwoo"),
        ("우진", "woojin"), ("민재", "minjae"), ("태현", "taehyun"), ("승현", "seunghyun"),
        ("동훈", "donghoon"), ("재원", "jaewon"), ("유준", "yujun"), ("정우", "jungwoo"),
    ],
}  # fmt: skip

EMAIL_DOMAINS: list[tuple[str, float]] = [
    ("naver.com", 0.40), ("gmail.com", 0.30), ("daum.net", 0.09), ("hanmail.net", 0.08),
    ("kakao.com", 0.06), ("nate.com", 0.04), ("icloud.com", 0.02), ("hotmail.com", 0.01),
]  # fmt: skip

# region code → (share %, Korean prefix, postal-code first-two-digit range, cities, roads)
REGIONS: dict[str, tuple[float, str, tuple[int, int], list[str]]] = {
    "seoul": (18.5, "서울특별시", (1, 8), ["강남구", "서초구", "송파구", "마포구", "관악구",
                                       "노원구", "영등포구", "성동구", "강서구", "은평구"]),
    "gyeonggi": (26.5, "경기도", (10, 18), ["수원시 영통구", "성남시 분당구", "고양시 일산동구",
                                        "용인시 수지구", "부천시", "화성시", "안양시 동안구"]),
    "incheon": (5.7, "인천광역시", (21, 23), ["연수구", "남동구", "부평구", "서구"]),
    "busan": (6.5, "부산광역시", (46, 49), ["해운대구", "부산진구", "수영구", "동래구", "사하구"]),
    "daegu": (4.6, "대구광역시", (41, 43), ["수성구", "달서구", "중구", "북구"]),
    "gwangju": (2.8, "광주광역시", (61, 62), ["서구", "북구", "광산구"]),
    "daejeon": (2.8, "대전광역시", (34, 35), ["유성구", "서구", "중구"]),
    "ulsan": (2.2, "울산광역시", (44, 45), ["남구", "중구", "북구"]),
    "sejong": (0.8, "세종특별자치시", (30, 30), ["한솔동", "도담동"]),
    "gangwon": (2.9, "강원특별자치도", (24, 26), ["춘천시", "원주시", "강릉시"]),
    "chungbuk": (3.1, "충청북도", (27, 29), ["청주시 흥덕구", "충주시"]),
    "chungnam": (4.1, "충청남도", (31, 33), ["천안시 서북구", "아산시", "당진시"]),
    "jeonbuk": (3.4, "전북특별자치도", (54, 56), ["전주시 완산구", "익산시", "군산시"]),
    "jeonnam": (3.5, "전라남도", (57, 60), ["여수시", "순천시", "목포시"]),
    "gyeongbuk": (5.0, "경상북도", (36, 40), ["포항시 남구", "구미시", "경산시"]),
    "gyeongnam": (6.4, "경상남도", (50, 53), ["창원시 성산구", "김해시", "양산시", "진주시"]),
    "jeju": (1.3, "제주특별자치도", (63, 63), ["제주시", "서귀포시"]),
}  # fmt: skip

ROADS = [
    "테헤란로", "세종대로", "중앙로", "번영로", "새마을로", "문화로", "해맞이로", "평화로",
    "대학로", "시청로", "역삼로", "동백로", "은행나무길", "꽃길", "한빛로", "푸른숲길",
]  # fmt: skip

# How people first registered: (channel, source system, share).
SIGNUP_CHANNELS: list[tuple[str, str, float]] = [
    ("online", "webshop", 0.38), ("app", "app", 0.27), ("store", "pos", 0.30),
    ("call_center", "callcenter", 0.05),
]  # fmt: skip

PEOPLE_COLUMNS = [
    "record_id", "person_id", "family_name", "given_name", "full_name", "birth_date",
    "birth_date_is_lunar", "gender", "phone", "email", "address", "postal_code", "region",
    "signup_channel", "source",
]  # fmt: skip

DUPLICATE_SHARE = 0.03  # share of people registered more than once
TRIPLICATE_SHARE = 0.15  # of those, registered three times

# Confusable vowels and finals for jamo-level typos (indices into the Unicode syllable scheme).
_VOWEL_SWAP = {1: 5, 5: 1, 4: 8, 8: 4, 6: 12, 12: 6, 13: 18, 18: 13, 3: 7, 7: 3, 11: 10, 10: 11}
_FINAL_SWAP = {0: 21, 21: 0, 4: 21, 8: 0, 16: 21}


@dataclass(frozen=True)
class _Pools:
    """Reference lists as NumPy arrays, built once."""

    fam: np.ndarray
    fam_rom: np.ndarray
    fam_p: np.ndarray
    given: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]
    regions: np.ndarray
    region_p: np.ndarray
    domains: np.ndarray
    domain_p: np.ndarray


def _pools() -> _Pools:
    fam_p = np.array([f[2] for f in FAMILY_NAMES])
    reg_p = np.array([r[0] for r in REGIONS.values()])
    dom_p = np.array([d[1] for d in EMAIL_DOMAINS])
    return _Pools(
        fam=np.array([f[0] for f in FAMILY_NAMES]),
        fam_rom=np.array([f[1] for f in FAMILY_NAMES]),
        fam_p=fam_p / fam_p.sum(),
        given={
            k: (np.array([g[0] for g in v]), np.array([g[1] for g in v]))
            for k, v in GIVEN_NAMES.items()
        },
        regions=np.array(list(REGIONS)),
        region_p=reg_p / reg_p.sum(),
        domains=np.array([d[0] for d in EMAIL_DOMAINS]),
        domain_p=dom_p / dom_p.sum(),
    )


POOLS = _pools()


# --- helpers ----------------------------------------------------------------------------------


def _cat(*parts: np.ndarray | str) -> np.ndarray:
    """Element-wise string concatenation of arrays and scalars."""
    out = np.asarray(parts[0]).astype(object)
    for p in parts[1:]:
        out = out + (np.asarray(p).astype(object) if not isinstance(p, str) else p)
    return out


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Integers as zero-padded strings."""
    if not len(values):
        return np.empty(0, dtype=object)
    return np.char.zfill(values.astype(str), width).astype(object)


def mobile_numbers(index: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Unique 010 numbers for distinct ``index`` values: (national "010-XXXX-XXXX", e164).

    A multiplicative permutation of the 80 million-number space (010-2000-0000 … 010-9999-9999)
    keeps numbers unique without a set, and deterministic for a seed.
    """
    space = 79_700_000  # 010-5970 … 010-5999 are not assigned (libphonenumber rejects them)
    idx = (index.astype(np.int64) * 48_271 + (seed * 7_919) % space) % space
    middle = 2000 + idx // 10_000
    mid = _digits(middle + np.where(middle >= 5970, 30, 0), 4)
    last = _digits(idx % 10_000, 4)
    national = _cat("010-", mid, "-", last)
    e164 = _cat("+8210", mid, last)
    return national, e164


def legacy_numbers(index: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Second-generation numbers (011/016/017/019-XXXX-XXXX): still on some old records."""
    space = 80_000_000
    idx = (index.astype(np.int64) * 69_621 + seed) % space
    prefix = np.array(["11", "16", "17", "19"])[idx % 4]
    mid = _digits(2000 + (idx // 4) % 8000, 4)
    last = _digits((idx // 32_000) % 10_000, 4)
    national = _cat("0", prefix, "-", mid, "-", last)
    e164 = _cat("+82", prefix, mid, last)
    return national, e164


def phone_in_format(national: np.ndarray, fmt: np.ndarray) -> np.ndarray:
    """Re-type national numbers: 0 "010-1234-5678", 1 "01012345678", 2 "+82 10-1234-5678",
    3 "010 1234 5678", 4 "+821012345678"."""
    plain = np.char.replace(national.astype(str), "-", "").astype(object)
    out = national.astype(object).copy()
    out[fmt == 1] = plain[fmt == 1]
    intl_dash = _cat("+82 ", np.array([s[1:] for s in national[fmt == 2]], dtype=object))
    out[fmt == 2] = intl_dash
    out[fmt == 3] = np.char.replace(national[fmt == 3].astype(str), "-", " ").astype(object)
    out[fmt == 4] = _cat("+82", np.array([s[1:] for s in plain[fmt == 4]], dtype=object))
    return out


def jamo_typo(name: str, rng: np.random.Generator) -> str:
    """One jamo-level slip in a Hangul name: a confusable vowel (ㅐ/ㅔ, ㅓ/ㅗ ...) or a dropped
    or added final consonant (민준 → 민존, 서연 → 서영)."""
    chars = list(name)
    positions = [i for i, c in enumerate(chars) if "\uac00" <= c <= "\ud7a3"]
    if not positions:
        return name
    for _attempt in range(4):
        i = positions[int(rng.integers(len(positions)))]
        code = ord(chars[i]) - 0xAC00
        lead, vowel, final = code // 588, (code % 588) // 28, code % 28
        if rng.random() < 0.5 and vowel in _VOWEL_SWAP:
            vowel = _VOWEL_SWAP[vowel]
        elif final in _FINAL_SWAP:
            final = _FINAL_SWAP[final]
        else:
            continue
        chars[i] = chr(0xAC00 + lead * 588 + vowel * 28 + final)
        return "".join(chars)
    return name


@functools.lru_cache(maxsize=65_536)
def lunar_to_solar(date: str) -> str | None:
    """The solar date of a lunar ``YYYY-MM-DD`` birthday, or None where it does not exist.

    Cached: the converter walks the calendar from its base year (≈5 ms a call), and birthdays
    repeat across chunks (a few tens of thousands of distinct dates).
    """
    cal = KoreanLunarCalendar()
    y, m, d = (int(x) for x in date.split("-"))
    if not cal.setLunarDate(y, m, d, False):
        return None
    return str(cal.SolarIsoFormat())


@functools.lru_cache(maxsize=65_536)
def solar_to_lunar(date: str) -> str | None:
    """The lunar date of a solar ``YYYY-MM-DD`` birthday (cached, as :func:`lunar_to_solar`)."""
    cal = KoreanLunarCalendar()
    y, m, d = (int(x) for x in date.split("-"))
    if not cal.setSolarDate(y, m, d):
        return None
    iso = str(cal.LunarIsoFormat()).replace(" Intercalation", "")[:10]
    try:  # lunar 2/29 or x/30 has no calendar twin: such a person keeps the solar date
        datetime.date.fromisoformat(iso)
    except ValueError:
        return None
    return iso


# --- persons ----------------------------------------------------------------------------------


def _persons(n_persons: int, seed: int, first_person_id: int) -> dict[str, np.ndarray]:
    """The true attributes of ``n_persons`` distinct people (one row each)."""
    rng = np.random.default_rng([seed, 1, first_person_id])
    pid = np.arange(first_person_id, first_person_id + n_persons, dtype=np.int64)
    gender = np.where(rng.random(n_persons) < 0.72, "F", "M")  # a cosmetics clientele
    # Age: mostly 20–55, a tail of older customers.
    age = np.clip(rng.gamma(7.0, 5.2, n_persons) + 8, 16, 85).astype(int)
    birth_year = 2025 - age
    doy = rng.integers(0, 365, n_persons)
    year_start = (birth_year - 1970).astype("datetime64[Y]").astype("datetime64[D]")
    birth_dates = (year_start + doy.astype("timedelta64[D]")).astype(str)
    # Older people more often keep their birthday by the lunar calendar.
    lunar = rng.random(n_persons) < np.where(age >= 50, 0.25, 0.04)
    # Lunar months have 29 or 30 days, and a birth date must also be a valid calendar date
    # (it is stored in a DATE column): lunar days stay ≤ 29, and ≤ 28 in the second month.
    day = np.array([s[8:] for s in birth_dates]).astype(int)
    month = np.array([s[5:7] for s in birth_dates]).astype(int)
    limit = np.where(month == 2, 28, 29)
    clamp = lunar & (day > limit)
    birth_dates = birth_dates.astype(object)
    birth_dates[clamp] = _cat(
        np.array([s[:8] for s in birth_dates[clamp]], dtype=object), _digits(limit[clamp], 2)
    )

    fam_i = rng.choice(len(POOLS.fam), n_persons, p=POOLS.fam_p)
    family = POOLS.fam[fam_i]
    family_rom = POOLS.fam_rom[fam_i]
    given = np.empty(n_persons, dtype=object)
    given_rom = np.empty(n_persons, dtype=object)
    generation = np.where(age >= 45, "old", "young")
    for g in ("F", "M"):
        for gen in ("old", "young"):
            mask = (gender == g) & (generation == gen)
            names, roms = POOLS.given[(g, gen)]
            k = rng.integers(0, len(names), int(mask.sum()))
            given[mask] = names[k]
            given_rom[mask] = roms[k]

    legacy = (age >= 45) & (rng.random(n_persons) < 0.03)
    phone, e164 = mobile_numbers(pid, seed)
    lphone, le164 = legacy_numbers(pid, seed)
    phone[legacy] = lphone[legacy]
    e164[legacy] = le164[legacy]

    domain = POOLS.domains[rng.choice(len(POOLS.domains), n_persons, p=POOLS.domain_p)]
    pattern = rng.integers(0, 4, n_persons)
    yy = _digits(birth_year % 100, 2)
    local = np.where(
        pattern == 0,
        _cat(given_rom, ".", family_rom),
        np.where(
            pattern == 1,
            _cat(family_rom, given_rom),
            np.where(pattern == 2, _cat(given_rom, yy), _cat(given_rom, "_", family_rom)),
        ),
    )
    # A person-id suffix keeps every address unique, as real mailboxes are.
    email = _cat(local, pid.astype(str), "@", domain)
    has_email = rng.random(n_persons) < 0.88

    region_i = rng.choice(len(POOLS.regions), n_persons, p=POOLS.region_p)
    region = POOLS.regions[region_i]
    city = np.empty(n_persons, dtype=object)
    postal = np.empty(n_persons, dtype=object)
    prefix = np.empty(n_persons, dtype=object)
    for code, (_share, name, (lo, hi), cities) in REGIONS.items():
        mask = region == code
        m = int(mask.sum())
        if not m:
            continue
        city[mask] = np.array(cities, dtype=object)[rng.integers(0, len(cities), m)]
        postal[mask] = _digits(rng.integers(lo, hi + 1, m) * 1000 + rng.integers(0, 1000, m), 5)
        prefix[mask] = name
    road = np.array(ROADS, dtype=object)[rng.integers(0, len(ROADS), n_persons)]
    building = rng.integers(1, 400, n_persons).astype(str)
    unit = rng.integers(101, 2505, n_persons).astype(str)
    address = _cat(prefix, " ", city, " ", road, " ", building, ", ", unit, "호")
    has_address = rng.random(n_persons) < 0.8

    ch_p = np.array([c[2] for c in SIGNUP_CHANNELS])
    ch = rng.choice(len(SIGNUP_CHANNELS), n_persons, p=ch_p / ch_p.sum())
    return {
        "person_id": pid,
        "family_name": family.astype(object),
        "given_name": given,
        "family_rom": family_rom,
        "given_rom": given_rom,
        "gender": gender.astype(object),
        "birth_date": birth_dates,
        "birth_date_is_lunar": lunar,
        "phone": phone,
        "phone_national": phone.copy(),
        "phone_e164": e164,
        "legacy": legacy,
        "email": np.where(has_email, email, ""),
        "address": np.where(has_address, address, ""),
        "postal_code": np.where(has_address, postal, ""),
        "region": region.astype(object),
        "channel_i": ch,
    }


def _records(persons: dict[str, np.ndarray], seed: int, first_record_id: int) -> pl.DataFrame:
    """Expand people into registration records: most once, ≈3 % twice or three times, with the
    noise real duplicates carry."""
    n = len(persons["person_id"])
    rng = np.random.default_rng([seed, 2, int(persons["person_id"][0]) if n else 0])
    copies = np.ones(n, dtype=np.int64)
    dup = rng.random(n) < DUPLICATE_SHARE
    copies[dup] = np.where(rng.random(int(dup.sum())) < TRIPLICATE_SHARE, 3, 2)
    src = np.repeat(np.arange(n), copies)
    # 0 for the original registration, 1.. for the later duplicates
    starts = np.cumsum(copies) - copies
    copy_no = np.arange(len(src)) - np.repeat(starts, copies)
    cols = {k: v[src].copy() for k, v in persons.items()}
    m = len(src)
    # Most people type their number as 010-1234-5678 the first time.
    fmt = np.where(rng.random(m) < 0.85, 0, rng.integers(1, 5, m))
    is_dup = copy_no > 0
    d = np.flatnonzero(is_dup)
    nd = len(d)
    # Duplicates: the number typed in another format, more often than not.
    fmt[d] = np.where(rng.random(nd) < 0.7, rng.integers(1, 5, nd), fmt[d])
    cols["phone"] = phone_in_format(cols["phone"], fmt)
    channel = cols["channel_i"]
    # Registered in store and online: the duplicate usually comes through another channel.
    other = rng.random(nd) < 0.7
    channel[d[other]] = (
        channel[d[other]] + rng.integers(1, len(SIGNUP_CHANNELS), int(other.sum()))
    ) % len(SIGNUP_CHANNELS)
    noise = rng.random((nd, 8))
    drng = np.random.default_rng([seed, 3, int(persons["person_id"][0]) if n else 0])
    fam, given = cols["family_name"], cols["given_name"]
    for j, i in enumerate(d):
        r = noise[j]
        if r[0] < 0.25:  # jamo-level typo in the given name
            given[i] = jamo_typo(str(given[i]), drng)
        if r[1] < 0.05:  # family and given name swapped
            fam[i], given[i] = given[i], fam[i]
        if r[2] < 0.15 and cols["email"][i]:  # e-mail typed with capitals
            local, _at, dom = str(cols["email"][i]).partition("@")
            cols["email"][i] = (local[:1].upper() + local[1:] if r[2] < 0.1 else local.upper()) + (
                "@" + (dom.upper() if r[2] < 0.03 else dom)
            )
        if r[3] < 0.3:  # e-mail left out
            cols["email"][i] = ""
        if r[4] < 0.35:  # no address given
            cols["address"][i] = ""
            cols["postal_code"][i] = ""
        if r[5] < 0.2:  # birthday left out, or given the other way (lunar vs solar)
            cols["birth_date"][i] = ""
        elif r[5] < 0.35:
            bd = str(cols["birth_date"][i])
            if cols["birth_date_is_lunar"][i]:
                conv = lunar_to_solar(bd)
                if conv:
                    cols["birth_date"][i], cols["birth_date_is_lunar"][i] = conv, False
            else:
                conv = solar_to_lunar(bd)
                if conv:
                    cols["birth_date"][i], cols["birth_date_is_lunar"][i] = conv, True
        if r[6] < 0.1:  # gender not ticked
            cols["gender"][i] = ""
        if not cols["birth_date"][i]:
            cols["birth_date_is_lunar"][i] = False
    fulls = _cat(fam, given)  # Hangul names: family + given, no space (normalize.full_name)
    return pl.DataFrame(
        {
            "record_id": np.arange(first_record_id, first_record_id + m, dtype=np.int64),
            "person_id": cols["person_id"],
            "family_name": fam.astype(str),
            "given_name": given.astype(str),
            "full_name": fulls.astype(str),
            "birth_date": cols["birth_date"].astype(str),
            "birth_date_is_lunar": cols["birth_date_is_lunar"].astype(bool),
            "gender": cols["gender"].astype(str),
            "phone": cols["phone"].astype(str),
            "email": cols["email"].astype(str),
            "address": cols["address"].astype(str),
            "postal_code": cols["postal_code"].astype(str),
            "region": cols["region"].astype(str),
            "signup_channel": np.array([c[0] for c in SIGNUP_CHANNELS])[channel],
            "source": np.array([c[1] for c in SIGNUP_CHANNELS])[channel],
            "copy_no": copy_no,
            "is_legacy_phone": cols["legacy"].astype(bool),
            "phone_national": cols["phone_national"].astype(str),
            "phone_e164": cols["phone_e164"].astype(str),
        }
    )


def persons_for_records(n_records: int) -> int:
    """How many distinct people make ``n_records`` registrations on average."""
    return max(1, round(n_records / (1 + DUPLICATE_SHARE * (1 + TRIPLICATE_SHARE))))


def generate_records(
    n: int, seed: int, *, first_record_id: int = 1, first_person_id: int = 1
) -> pl.DataFrame:
    """``n`` registration records (with ``copy_no`` and ``is_legacy_phone`` besides the public
    columns). Chunks with disjoint id ranges can be generated independently."""
    n_persons = n  # every person has at least one record: always enough, cut to n below
    persons = _persons(n_persons, seed, first_person_id)
    records = _records(persons, seed, first_record_id).head(n)
    # Registrations arrive in no particular order: duplicates are not neighbours.
    order = np.random.default_rng([seed, 4, first_person_id]).permutation(len(records))
    return records[order].with_columns(
        pl.Series("record_id", np.arange(first_record_id, first_record_id + len(records)))
    )


def generate_people(n: int, seed: int) -> pl.DataFrame:
    """``n`` synthetic person records, ≈3 % of them duplicate registrations of the same person.

    Columns: record_id, person_id (the hidden truth: equal for the same human), family_name,
    given_name, full_name, birth_date (YYYY-MM-DD or ""), birth_date_is_lunar, gender ("F", "M"
    or ""), phone (as typed), email (as typed, or ""), address, postal_code, region,
    signup_channel, source. No database needed; deterministic for a seed.
    """
    return generate_records(n, seed).select(PEOPLE_COLUMNS)


# --- consents ---------------------------------------------------------------------------------

# Marketing opt-in rates at signup, per channel (a Korean retailer's typical picture).
CONSENT_RATES = {"sms": 0.46, "kakao": 0.41, "email": 0.34, "push": 0.28, "phone": 0.09}
WITHDRAW_RATE = 0.12  # of grants, later withdrawn
RECONFIRM_RATE = 0.75  # of grants two years old, reconfirmed (정보통신망법 §50⑧)
YEAR = 365 * 86_400


def generate_consents(
    customer_id: np.ndarray,
    signup_at: np.ndarray,
    has_email: np.ndarray,
    signup_channel: np.ndarray,
    now: int,
    rng: np.random.Generator,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """Marketing consents (current state), their full event history, and each customer's
    preferred marketing channel ("" if none is current). Times are epoch seconds."""
    cons: list[dict[str, np.ndarray]] = []
    events: list[dict[str, np.ndarray]] = []
    preferred = np.full(len(customer_id), "", dtype=object)
    for channel, rate in CONSENT_RATES.items():
        p = np.full(len(customer_id), rate)
        if channel == "push":
            p = np.where(signup_channel == "app", 0.6, 0.12)
        if channel == "email":
            p = np.where(has_email, rate, 0.0)
        idx = np.flatnonzero(rng.random(len(customer_id)) < p)
        k = len(idx)
        granted = signup_at[idx] + rng.integers(0, 600, k)
        src = np.where(signup_channel[idx] == "store", "pos", "signup_form").astype(object)
        night = (channel in ("sms", "kakao", "push")) & (rng.random(k) < 0.15)
        events.append(
            {"customer_id": customer_id[idx], "channel": np.full(k, channel, dtype=object),
             "status": np.full(k, "granted", dtype=object), "night_time": night, "at": granted,
             "source": src}
        )  # fmt: skip
        # Two years on, most confirm again; the rest lapse until they do.
        due_at = granted + 2 * YEAR
        reconf = (due_at < now) & (rng.random(k) < RECONFIRM_RATE)
        reconf_at = due_at - rng.integers(0, 30 * 86_400, k)
        events.append(
            {"customer_id": customer_id[idx[reconf]],
             "channel": np.full(int(reconf.sum()), channel, dtype=object),
             "status": np.full(int(reconf.sum()), "granted", dtype=object),
             "night_time": night[reconf], "at": reconf_at[reconf],
             "source": np.full(int(reconf.sum()), "reconfirmation", dtype=object)}
        )  # fmt: skip
        last_grant = np.where(reconf, reconf_at, granted)
        withdraw = rng.random(k) < WITHDRAW_RATE
        w_at = granted + (rng.random(k) * np.maximum(now - granted, 1)).astype(np.int64)
        w_at = np.maximum(w_at, last_grant + 3600)
        withdraw &= w_at < now
        events.append(
            {"customer_id": customer_id[idx[withdraw]],
             "channel": np.full(int(withdraw.sum()), channel, dtype=object),
             "status": np.full(int(withdraw.sum()), "withdrawn", dtype=object),
             "night_time": np.zeros(int(withdraw.sum()), dtype=bool), "at": w_at[withdraw],
             "source": np.full(int(withdraw.sum()), "unsubscribe", dtype=object)}
        )  # fmt: skip
        due_day = (last_grant + 2 * YEAR + 9 * 3600) // 86_400
        cons.append(
            {"customer_id": customer_id[idx], "channel": np.full(k, channel, dtype=object),
             "status": np.where(withdraw, "withdrawn", "granted").astype(object),
             "night_time": night & ~withdraw, "granted_at": last_grant,
             "withdrawn_at": np.where(withdraw, w_at, -1), "reconfirm_due": due_day,
             "source": src, "updated_at": np.where(withdraw, w_at, last_grant)}
        )  # fmt: skip
        current = ~withdraw & (last_grant + 2 * YEAR >= now)
        if channel in ("kakao", "sms", "email"):
            pick = idx[current & (preferred[idx] == "")]
            preferred[pick] = channel
    consents = {k: np.concatenate([c[k] for c in cons]) for k in cons[0]}
    history = {k: np.concatenate([e[k] for e in events]) for k in events[0]}
    order = np.lexsort((history["at"], history["customer_id"]))
    history = {k: v[order] for k, v in history.items()}
    return consents, history, preferred
