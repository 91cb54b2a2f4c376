import pytest

from asha_lesson import RungBook, is_promotable, rung_levels


@pytest.mark.parametrize("r_min, r_max, eta, expected", [
    (1, 1, 2, [1]),
    (1, 10, 2, [1, 2, 4, 8, 10]),
    (2, 10, 2, [2, 4, 8, 10]),  # d2l's example: r_max appended when it is not a power
    (1, 9, 3, [1, 3, 9]),
    (1, 27, 3, [1, 3, 9, 27]),
    (1, 243, 3, [1, 3, 9, 27, 81, 243]),  # math.log(243, 3) = 4.999...: no rung may go missing
    (1, 81, 3, [1, 3, 9, 27, 81]),
    (3, 100, 4, [3, 12, 48, 100]),
    (1, 100, 10, [1, 10, 100]),
    (5, 5, 3, [5]),
    (1, 1000, 10, [1, 10, 100, 1000]),
])
def test_rung_levels(r_min, r_max, eta, expected):
    assert rung_levels(r_min, r_max, eta) == expected


def test_rung_levels_exact_where_float_logs_fail():
    for base in range(2, 8):
        for power in range(1, 12):
            r_max = base ** power
            assert rung_levels(1, r_max, base) == [base ** k for k in range(power + 1)]


@pytest.mark.parametrize("rank, n, eta, expected", [
    (0, 1, 2, False),  # fewer than eta results: nothing is promotable
    (0, 2, 2, True),
    (1, 2, 2, False),
    (0, 2, 3, False),
    (0, 3, 3, True),
    (1, 5, 2, True),
    (2, 5, 2, False),  # floor(5/2) = 2
    (2, 9, 3, True),
    (3, 9, 3, False),
])
def test_is_promotable(rank, n, eta, expected):
    assert is_promotable(rank, n, eta) is expected


def test_rung_book_ranks_and_promotable():
    book = RungBook(level=1)
    assert book.add(10, 0.5) == 0
    assert book.best_promotable(2) is None  # one entry < eta
    assert book.add(11, 0.3) == 0
    assert book.best_promotable(2) == 11
    book.withdraw(11)
    assert book.best_promotable(2) is None  # trial 10 ranks 1 of 2: not in the top 1
    assert book.add(12, 0.1) == 0
    assert book.add(13, 0.9) == 3
    assert book.top(2) == [12, 11]
    assert book.best_promotable(2) == 12
    assert book.rank(10) == 2


def test_rung_book_ties_go_by_tie_break_then_arrival():
    book = RungBook(level=1)
    book.add(1, 0.9, tie_break=2.0)
    book.add(2, 0.9, tie_break=1.0)
    book.add(3, 0.9, tie_break=1.0)
    assert [entry.trial_id for entry in book] == [2, 3, 1]


@pytest.mark.parametrize("call, message", [
    (lambda b: b.add(1, 0.2), "trial 1 already has a score at rung 3"),
    (lambda b: b.add(2, float("nan")), "score=nan cannot be ranked"),
    (lambda b: b.withdraw(9), "trial 9 is not a promotion candidate at rung 3"),
])
def test_rung_book_bad_calls(call, message):
    book = RungBook(level=3)
    book.add(1, 0.1)
    with pytest.raises(ValueError, match=message):
        call(book)


def test_withdrawn_twice_raises():
    book = RungBook(level=1)
    book.add(1, 0.1)
    book.withdraw(1)
    with pytest.raises(ValueError, match="not a promotion candidate"):
        book.withdraw(1)
