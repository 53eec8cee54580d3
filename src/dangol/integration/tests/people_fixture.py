"""A small labelled set of person records for the matching tests, with the hard cases.

Positives: second registrations with another phone format, capitals in the e-mail, missing
fields, a jamo typo, family/given swapped, the name romanized (Gim/Lee/Yi/Park/Bak...), the
lunar birthday instead of the solar one, day and month transposed, full name instead of split.
Negatives: siblings sharing a phone and an address, twins (same birthday too), and common
names (김민준) born on other days. ``person_id`` is the truth.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from korean_lunar_calendar import KoreanLunarCalendar

FAMILIES = [
    ("김", ["Kim", "Gim"], 0.30),
    ("이", ["Lee", "Yi", "Rhee"], 0.20),
    ("박", ["Park", "Bak", "Pak"], 0.12),
    ("최", ["Choi", "Choe"], 0.08),
    ("정", ["Jung", "Jeong", "Chung"], 0.08),
    ("강", ["Kang", "Gang"], 0.06),
    ("조", ["Cho", "Jo"], 0.05),
    ("윤", ["Yoon", "Yun"], 0.05),
    ("장", ["Jang", "Chang"], 0.04),
    ("남궁", ["Namgung", "Namkoong"], 0.02),
]
GIVENS = [
    ("민준", "Minjun"), ("서연", "Seoyeon"), ("지우", "Jiwoo"), ("서준", "Seojun"),
    ("하은", "Haeun"), ("도윤", "Doyoon"), ("지민", "Jimin"), ("예준", "Yejun"),
    ("수빈", "Subin"), ("현우", "Hyunwoo"), ("영숙", "Youngsook"), ("정호", "Jungho"),
    ("미경", "Mikyung"), ("성민", "Sungmin"), ("은정", "Eunjung"), ("지훈", "Jihoon"),
]  # fmt: skip
ENGLISH_GIVEN = ["James", "Emily", "Michael", "Sarah", "David", "Laura", "Daniel", "Anna"]
ENGLISH_FAMILY = ["Smith", "Johnson", "Brown", "Miller", "Wilson", "Taylor", "Clark", "Hall"]
REGIONS = [
    ("서울특별시", "서울", "강남구", "06"),
    ("서울특별시", "서울", "마포구", "04"),
    ("부산광역시", "부산", "해운대구", "48"),
    ("경기도", "경기", "성남시 분당구", "13"),
    ("인천광역시", "인천", "연수구", "21"),
]
ROADS = ["테헤란로", "월드컵로", "해운대로", "판교역로", "센트럴로"]
DOMAINS = ["naver.com", "gmail.com", "daum.net", "kakao.com"]


def _solar_to_lunar(dates: list[str]) -> list[str]:
    calendar = KoreanLunarCalendar()
    out = []
    for value in dates:
        y, m, d = (int(x) for x in value.split("-"))
        calendar.setSolarDate(y, m, d)
        out.append(calendar.LunarIsoFormat().replace(" Intercalation", ""))
    return out


def _jamo_typo(name: str) -> str:
    """Change the final consonant of the last syllable: one jamo edit (준 → 주, 연 → 연ㄱ)."""
    code = ord(name[-1]) - 0xAC00
    final = code % 28
    code = code - final + (0 if final else 4)
    return name[:-1] + chr(0xAC00 + code)


def people(n_persons: int = 700, seed: int = 1) -> pl.DataFrame:
    """Labelled records: columns record_id, person_id and the input columns."""
    rng = np.random.default_rng(seed)
    fam_i = rng.choice(len(FAMILIES), n_persons, p=[f[2] for f in FAMILIES])
    giv_i = rng.integers(0, len(GIVENS), n_persons)
    english = rng.random(n_persons) < 0.08
    family = np.array([FAMILIES[i][0] for i in fam_i], dtype=object)
    given = np.array([GIVENS[i][0] for i in giv_i], dtype=object)
    eng_n = int(english.sum())
    family[english] = rng.choice(ENGLISH_FAMILY, eng_n)
    given[english] = rng.choice(ENGLISH_GIVEN, eng_n)
    days = rng.integers(0, 45 * 365, n_persons)
    birth = (np.datetime64("1960-01-01") + days).astype(str).astype(object)
    phone = np.array([f"010-{a:04d}-{b:04d}" for a, b in rng.integers(0, 10000, (n_persons, 2))])
    local = np.array(
        [
            f"{GIVENS[g][1].lower()}{n}"
            for g, n in zip(giv_i, rng.integers(1, 9999, n_persons), strict=True)
        ]
    )
    email = np.char.add(np.char.add(local, "@"), rng.choice(DOMAINS, n_persons)).astype(object)
    reg = rng.integers(0, len(REGIONS), n_persons)
    house = rng.integers(1, 400, n_persons)
    address = np.array(
        [
            f"{REGIONS[r][0]} {REGIONS[r][2]} {ROADS[r]} {h}, {u}호"
            for r, h, u in zip(reg, house, rng.integers(101, 1500, n_persons), strict=True)
        ],
        dtype=object,
    )
    postal = np.array(
        [f"{REGIONS[r][3]}{h:03d}" for r, h in zip(reg, house, strict=True)], dtype=object
    )
    gender = rng.choice(["M", "F"], n_persons).astype(object)
    person = np.arange(1, n_persons + 1)

    # Siblings: the next person shares family name, address and (mostly) the phone.
    sib = np.flatnonzero(rng.random(n_persons - 1) < 0.12)
    sib = sib[~english[sib] & ~english[sib + 1]]
    family[sib + 1] = family[sib]
    address[sib + 1] = address[sib]
    postal[sib + 1] = postal[sib]
    shares_phone = rng.random(len(sib)) < 0.7
    phone[sib[shares_phone] + 1] = phone[sib[shares_phone]]
    twins = rng.random(len(sib)) < 0.3
    birth[sib[twins] + 1] = birth[sib[twins]]

    base = pl.DataFrame(
        {
            "person_id": person,
            "family_name": family.astype(str),
            "given_name": given.astype(str),
            "full_name": [""] * n_persons,
            "birth_date": birth.astype(str),
            "phone": phone,
            "email": email.astype(str),
            "address": address.astype(str),
            "postal_code": postal.astype(str),
            "gender": gender.astype(str),
        }
    )

    # Second registrations of 30 % of the people, each with some noise.
    d = np.flatnonzero(rng.random(n_persons) < 0.30)
    dup = base[d].to_dict(as_series=False)
    r = rng.random((len(d), 12))
    for j, i in enumerate(d):
        row = {k: dup[k][j] for k in dup}
        hangul = not english[i]
        digits = row["phone"].replace("-", "")
        row["phone"] = [
            digits,
            "+82 " + digits[1:3] + "-" + digits[3:7] + "-" + digits[7:],
            row["phone"],
        ][j % 3]
        if r[j, 0] < 0.12:
            row["phone"] = ""
        elif r[j, 0] < 0.20:
            row["phone"] = f"010-{rng.integers(0, 10000):04d}-{rng.integers(0, 10000):04d}"
        if r[j, 1] < 0.3:
            row["email"] = ""
        elif r[j, 1] < 0.5:
            row["email"] = row["email"].upper()
        if hangul and r[j, 2] < 0.15:
            row["given_name"] = _jamo_typo(row["given_name"])
        elif r[j, 2] < 0.20:
            row["family_name"], row["given_name"] = row["given_name"], row["family_name"]
        elif hangul and r[j, 2] < 0.28:
            variants = next(f[1] for f in FAMILIES if f[0] == row["family_name"])
            roman = next(g[1] for g in GIVENS if g[0] == row["given_name"])
            row["full_name"] = f"{roman} {variants[j % len(variants)]}"
            row["family_name"] = row["given_name"] = ""
        if r[j, 3] < 0.5 and row["full_name"] == "":
            sep = "" if hangul else " "
            row["full_name"] = (
                row["family_name"] + sep + row["given_name"]
                if hangul
                else row["given_name"] + sep + row["family_name"]
            )
            row["family_name"] = row["given_name"] = ""
        if r[j, 4] < 0.15:
            row["birth_date"] = ""
        elif r[j, 4] < 0.25:
            row["birth_date"] = _solar_to_lunar([row["birth_date"]])[0]
        elif r[j, 4] < 0.29 and int(row["birth_date"][8:]) <= 12:
            b = row["birth_date"]
            row["birth_date"] = f"{b[:4]}-{b[8:]}-{b[5:7]}"
        if r[j, 5] < 0.4:
            row["address"] = row["postal_code"] = ""
        else:
            row["address"] = row["address"].replace("특별시", "").replace("광역시", "")
        if r[j, 6] < 0.2:
            row["gender"] = ""
        for k in dup:
            dup[k][j] = row[k]
    records = pl.concat([base, pl.DataFrame(dup, schema=base.schema)])
    order = rng.permutation(records.height)
    return (
        records[order]
        .with_row_index("record_id", offset=1)
        .with_columns(pl.col("record_id").cast(pl.String), pl.col("person_id").cast(pl.String))
    )
