"""The modified New York radiographic criterion, in one place.

Definite radiographic sacroiliitis = grade >= 2 on both sides, or grade >= 3 on at least one side.
Grades are per sacroiliac joint, 0-4.
"""
from __future__ import annotations

GRADE_NAMES = {0: "normal", 1: "suspicious", 2: "minimal", 3: "unequivocal", 4: "ankylosis"}


def mny_positive(grade_left: int, grade_right: int) -> int:
    """Return 1 when the two per-side grades meet the modified New York criterion, else 0.

    Raises ``ValueError`` for a grade outside 0-4 (callers turn that into an ``InputError``).
    """
    for g in (grade_left, grade_right):
        if int(g) != g or not 0 <= g <= 4:
            raise ValueError(f"mNY grade must be an integer 0-4, got {g!r}")
    both_two = grade_left >= 2 and grade_right >= 2
    one_three = grade_left >= 3 or grade_right >= 3
    return int(both_two or one_three)
