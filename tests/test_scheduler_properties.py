"""Invariants under random report sequences, checked against a brute-force oracle."""

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from asha_lesson import (ASHA, Decision, Job, SynchronousSuccessiveHalving, TrialStatus, Wait,
                         randint)

SPACE = {"x": randint(0, 10**6), "max_epochs": 9}


class Oracle:
    """Keeps every rung's scores in plain lists and checks each decision against the rule."""

    def __init__(self, eta):
        self.eta = eta
        self.scores = defaultdict(dict)  # level -> {trial: score}
        self.promoted = defaultdict(set)  # level -> trials promoted from it

    def rank(self, level, trial):
        # Ties by arrival: dicts keep insertion order and sorted() is stable.
        order = sorted(self.scores[level], key=lambda t: self.scores[level][t])
        return order.index(trial)


def drive(scheduler, eta, ops, n_workers, synchronous=False):
    """Run a random interleaving of worker requests and reports through ``scheduler``."""
    oracle = Oracle(eta)
    running = {}  # trial -> [next epoch, target milestone]
    levels = scheduler.rung_levels_
    paused_at = {}
    values = iter(ops)
    for op in ops:
        free = n_workers - len(running)
        if free and (op[0] or not running):
            job = scheduler.suggest()
            if isinstance(job, Wait):
                if not running:
                    break
                continue
            assert isinstance(job, Job)
            if not job.is_new:
                level = paused_at.pop(job.trial_id)
                assert job.resume_from == level
                # The promoted trial was in the top floor(n/eta) of its rung, right now.
                assert oracle.rank(level, job.trial_id) < max(1, len(oracle.scores[level]) // eta)
                assert job.trial_id not in oracle.promoted[level], "promoted twice"
                oracle.promoted[level].add(job.trial_id)
            running[job.trial_id] = job.resume_from + 1
            continue
        if not running:
            continue
        trial = sorted(running)[op[1] % len(running)]
        epoch = running[trial]
        value = round(next(values, (0, 0, 0.5))[2], 3)
        decision = scheduler.on_report(trial, epoch, {"err": value})
        if epoch in levels:
            oracle.scores[epoch][trial] = value
        if decision is Decision.PAUSE:
            assert epoch in levels[:-1]
            paused_at[trial] = epoch
            del running[trial]
        elif decision is Decision.STOP:
            del running[trial]
        elif epoch >= levels[-1]:
            scheduler.on_complete(trial)
            del running[trial]
        else:
            running[trial] = epoch + 1
        yield oracle, decision, trial, epoch
    # No paused trial is lost: each is paused in the scheduler, or was stopped by it.
    for trial, level in paused_at.items():
        assert scheduler.status(trial) in (TrialStatus.PAUSED, TrialStatus.STOPPED)
    for low, high in zip(levels, levels[1:]):
        # Every score at a higher rung came through a promotion (or, in the stopping variant,
        # a decision to continue) from the rung below.
        assert set(oracle.scores[high]) <= set(oracle.scores[low])
        if isinstance(scheduler, ASHA) and scheduler.type == "promotion":
            assert set(oracle.scores[high]) <= oracle.promoted[low]
        if synchronous:
            # Synchronous SH decides once per full rung: exactly max(1, floor(n/eta)) go on.
            # (ASHA may promote more over time: promotions on partial information, the
            # mispromotions the lecture counts.)
            assert len(oracle.promoted[low]) <= max(1, len(oracle.scores[low]) // eta)


ops_strategy = st.lists(st.tuples(st.booleans(), st.integers(0, 100),
                                  st.floats(0, 1, allow_nan=False)), min_size=1, max_size=300)


@settings(max_examples=150, deadline=None)
@given(ops=ops_strategy, eta=st.sampled_from([2, 3]), n_workers=st.integers(1, 6),
       seed=st.integers(0, 2**32 - 1))
def test_asha_promotion_invariants(ops, eta, n_workers, seed):
    s = ASHA(SPACE, metric="err", max_resource_attr="max_epochs", grace_period=1,
             reduction_factor=eta, type="promotion", random_seed=seed)
    for oracle, decision, trial, epoch in drive(s, eta, ops, n_workers):
        pass


@settings(max_examples=150, deadline=None)
@given(ops=ops_strategy, eta=st.sampled_from([2, 3, 4]), n_workers=st.integers(1, 6))
def test_asha_stopping_decides_by_the_rule(ops, eta, n_workers):
    s = ASHA(SPACE, metric="err", max_resource_attr="max_epochs", grace_period=1,
             reduction_factor=eta, type="stopping", random_seed=0)
    levels = s.rung_levels_
    for oracle, decision, trial, epoch in drive(s, eta, ops, n_workers):
        if epoch in levels[:-1]:
            n = len(oracle.scores[epoch])
            goes_on = n < eta or oracle.rank(epoch, trial) < n // eta
            assert decision is (Decision.CONTINUE if goes_on else Decision.STOP)
        else:
            assert decision is Decision.CONTINUE


@settings(max_examples=100, deadline=None)
@given(ops=ops_strategy, eta=st.sampled_from([2, 3]), n_workers=st.integers(1, 6))
def test_synchronous_sh_invariants(ops, eta, n_workers):
    s = SynchronousSuccessiveHalving(SPACE, metric="err", max_resource_attr="max_epochs",
                                     grace_period=1, reduction_factor=eta, random_seed=0)
    for oracle, decision, trial, epoch in drive(s, eta, ops, n_workers, synchronous=True):
        pass


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.floats(0, 1, allow_nan=False), min_size=2, max_size=60),
       eta=st.sampled_from([2, 3, 4]))
def test_asha_fed_a_whole_rung_promotes_what_synchronous_sh_promotes(values, eta):
    """With every result of a rung in before anyone asks, ASHA's promotions are exactly the
    top floor(n/eta) that synchronous successive halving keeps."""
    n = len(values)
    kw = dict(metric="err", max_t=eta, grace_period=1, reduction_factor=eta, random_seed=3)
    asha = ASHA(SPACE, type="promotion", **kw)
    sync = SynchronousSuccessiveHalving(SPACE, num_configs=n, **kw)
    for scheduler in (asha, sync):
        for trial in range(n):
            assert scheduler.suggest().trial_id == trial
        for trial, value in enumerate(values):
            assert scheduler.on_report(trial, 1, {"err": value}) is Decision.PAUSE
    promoted_by_asha = []
    while True:
        job = asha.suggest()
        if job.is_new:
            break
        promoted_by_asha.append(job.trial_id)
    promoted_by_sync = []
    while isinstance(job := sync.suggest(), Job):
        promoted_by_sync.append(job.trial_id)
    if n // eta:
        assert promoted_by_asha == promoted_by_sync
        assert len(promoted_by_asha) == n // eta
    else:  # too few results: ASHA promotes nothing, synchronous SH keeps its one best
        assert promoted_by_asha == [] and len(promoted_by_sync) == 1
