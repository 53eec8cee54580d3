"""Masking of personal data for roles without the PII permission."""

from __future__ import annotations


def mask_email(value: str) -> str:
    """minjun.kim@example.com → mi********@example.com"""
    local, sep, domain = (value or "").partition("@")
    if not sep:
        return "*" * len(value)
    keep = local[:2] if len(local) > 2 else local[:1]
    return f"{keep}{'*' * max(len(local) - len(keep), 2)}@{domain}"


def mask_phone(value: str) -> str:
    """010-1234-5678 → 010-****-5678; +821012345678 → +8210****5678"""
    digits = [i for i, ch in enumerate(value or "") if ch.isdigit()]
    if len(digits) < 8:
        return "*" * len(value or "")
    hide = set(digits[-8:-4])
    return "".join("*" if i in hide else ch for i, ch in enumerate(value))


def mask_name(value: str) -> str:
    """김민준 → 김*준; 남궁민 → 남*민; Minjun → M****n"""
    if len(value) <= 1:
        return value
    if len(value) == 2:
        return value[0] + "*"
    return value[0] + "*" * (len(value) - 2) + value[-1]
