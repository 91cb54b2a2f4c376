"""The rung book's shortcuts (a cached best_promotable, scores recorded without a rank or as
non-candidates) against a book that takes the long way round on the same operations."""

import numpy as np
import pytest

from asha_lesson import RungBook, is_promotable


def slow_best_promotable(book, eta):
    """best_promotable from first principles: rank every candidate among all entries."""
    order = [entry.trial_id for entry in book]
    best = min(book.candidates(), key=order.index, default=None)
    if best is None or not is_promotable(order.index(best), len(order), eta):
        return None
    return best


def check(fast, slow):
    for eta in (2, 3, 3, 2):  # asked twice in a row: the second answer comes from the cache
        assert fast.best_promotable(eta) == slow_best_promotable(slow, eta)
    assert list(fast) == list(slow)
    assert fast.candidates() == slow.candidates()


@pytest.mark.parametrize("seed", range(5))
def test_shortcuts_agree_with_the_long_way_round(seed):
    rng = np.random.default_rng(seed)
    fast, slow = RungBook(3), RungBook(3)
    for trial_id in range(400):
        score = float(rng.integers(0, 20))  # many ties: arrival order must decide them
        op = rng.integers(4)
        if op == 0:  # recorded without a rank
            fast.record(trial_id, score)
            slow.add(trial_id, score)
        elif op == 1:  # never a candidate: the same as add then withdraw
            assert fast.add(trial_id, score, candidate=False) == slow.add(trial_id, score)
            slow.withdraw(trial_id)
        else:
            assert fast.add(trial_id, score) == slow.add(trial_id, score)
        check(fast, slow)
        if rng.random() < 0.3 and slow.candidates():  # promote or stop a random candidate
            victim = slow.candidates()[int(rng.integers(len(slow.candidates())))]
            fast.withdraw(victim)
            slow.withdraw(victim)
            check(fast, slow)


def test_a_non_candidate_cannot_be_withdrawn():
    book = RungBook(1)
    book.record(7, 0.1, candidate=False)
    assert 7 in book and not book.is_candidate(7)
    with pytest.raises(ValueError, match="trial 7 is not a promotion candidate at rung 1"):
        book.withdraw(7)
