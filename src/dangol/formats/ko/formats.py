"""Korean date-time formats: 오전/오후 before the time, as Koreans write it.

Django's own ``ko`` module has ``TIME_FORMAT = "A g:i"`` (오후 3:05) but puts the marker after
the time in ``DATETIME_FORMAT`` ("2026년 11월 23일 3:05 오후") and uses a 24-hour clock in
``SHORT_DATETIME_FORMAT``. These three agree here; the other formats are Django's.
"""

TIME_FORMAT = "A g:i"  # 오후 3:05
DATETIME_FORMAT = "Y년 n월 j일 A g:i"  # 2026년 11월 23일 오후 3:05
SHORT_DATETIME_FORMAT = "Y-n-j A g:i"  # 2026-11-23 오후 3:05
