"""Scripted report sequences: the exact decision expected at every step, for every scheduler."""

import pytest

from asha_lesson import (ASHA, Decision, Job, RandomSearch, SynchronousSuccessiveHalving,
                         TrialStatus, Wait, randint)

SPACE = {"x": randint(0, 1000), "max_epochs": 4}
P, C, S = Decision.PAUSE, Decision.CONTINUE, Decision.STOP


def asha(kind, **kw):
    return ASHA(SPACE, metric="err", mode="min", max_resource_attr="max_epochs", grace_period=1,
                reduction_factor=2, type=kind, random_seed=0, **kw)


def new(job, trial_id, milestone):
    assert isinstance(job, Job) and job.is_new, job
    assert (job.trial_id, job.milestone) == (trial_id, milestone)


def resumed(job, trial_id, resume_from, milestone):
    assert isinstance(job, Job) and not job.is_new, job
    assert (job.trial_id, job.resume_from, job.milestone) == (trial_id, resume_from, milestone)


def test_asha_promotion_script():
    s = asha("promotion")  # rungs 1, 2, 4
    new(s.suggest(), 0, 1)
    assert s.on_report(0, 1, {"err": 0.5}) is P
    new(s.suggest(), 1, 1)  # one result < eta: nothing promotable yet
    assert s.on_report(1, 1, {"err": 0.3}) is P
    resumed(s.suggest(), 1, 1, 2)  # top floor(2/2) = 1 at rung 1: trial 1
    new(s.suggest(), 2, 1)  # trial 0 ranks 2nd of 2: not promotable
    assert s.on_report(1, 2, {"err": 0.2}) is P
    assert s.on_report(2, 1, {"err": 0.1}) is P
    resumed(s.suggest(), 2, 1, 2)  # rung 2 has 1 result; rung 1: trial 2 ranks 1st of 3
    assert s.on_report(2, 2, {"err": 0.25}) is P
    resumed(s.suggest(), 1, 2, 4)  # rung 2 checked first (top down): trial 1 best of 2
    assert s.on_report(1, 3, {"err": 0.18}) is C  # epoch 3 is no rung
    assert s.on_report(1, 4, {"err": 0.15}) is C  # r_max: the function ends by itself
    s.on_complete(1)
    new(s.suggest(), 3, 1)  # rung 1: trial 0 ranks 3rd of 3 (top 1); rung 2: trial 2 2nd of 2
    assert s.status(0) is TrialStatus.PAUSED and s.status(2) is TrialStatus.PAUSED
    assert s.status(1) is TrialStatus.COMPLETED
    kinds = [(t.trial_id, t.status) for t in s.take_transitions()]
    assert kinds.count((1, TrialStatus.RUNNING)) == 3  # started, promoted twice


def test_asha_promotion_top_down_prefers_higher_rung():
    s = asha("promotion")
    for i in range(4):
        new(s.suggest(), i, 1)  # four workers take four new trials before any result is in
    for i, err in enumerate([0.4, 0.3, 0.2, 0.1]):
        assert s.on_report(i, 1, {"err": err}) is P
    resumed(s.suggest(), 3, 1, 2)
    resumed(s.suggest(), 2, 1, 2)  # top floor(4/2) = 2: trials 3 and 2
    assert s.on_report(3, 2, {"err": 0.05}) is P
    assert s.on_report(2, 2, {"err": 0.06}) is P
    resumed(s.suggest(), 3, 2, 4)  # rung 2 before rung 1
    new(s.suggest(), 4, 1)  # rung 2: trial 2 is 2nd of 2; rung 1: 3 and 2 gone, 1 is 3rd


def test_asha_stopping_script_with_ties():
    s = asha("stopping")
    for i in range(7):
        new(s.suggest(), i, 1)
    assert s.on_report(0, 1, {"err": 0.5}) is C  # too few to compare: continue
    assert s.on_report(1, 1, {"err": 0.3}) is C  # 1st of 2, top 1
    assert s.on_report(2, 1, {"err": 0.4}) is S  # 2nd of 3, top 1
    assert s.on_report(3, 1, {"err": 0.1}) is C  # 1st of 4
    assert s.on_report(4, 1, {"err": 0.35}) is S  # 3rd of 5, top 2
    assert s.on_report(5, 1, {"err": 0.3}) is C  # ties trial 1, ranks after it: 3rd of 6, top 3
    assert s.on_report(6, 1, {"err": 0.3}) is S  # 4th of 7, top 3
    assert s.status(6) is TrialStatus.STOPPED
    assert s.on_report(0, 2, {"err": 0.2}) is C  # rung 2 alone
    assert s.on_report(1, 2, {"err": 0.25}) is S  # 2nd of 2
    assert s.on_report(0, 3, {"err": 0.2}) is C
    assert s.on_report(0, 4, {"err": 0.2}) is C  # r_max
    s.on_complete(0)
    reasons = [t.reason for t in s.take_transitions() if t.status is TrialStatus.STOPPED]
    assert reasons[0] == "rank 2 of 3 at rung 1: not in the top 1"


def test_asha_stopping_tie_break_metric():
    s = asha("stopping", tie_break_metric="loss")
    for i in range(3):
        new(s.suggest(), i, 1)
    assert s.on_report(0, 1, {"err": 0.9, "loss": 2.3}) is C
    assert s.on_report(1, 1, {"err": 0.9, "loss": 2.1}) is C  # same error, lower loss: 1st of 2
    assert s.on_report(2, 1, {"err": 0.9, "loss": 2.2}) is S  # 2nd of 3


def test_asha_max_mode():
    s = ASHA(SPACE, metric="acc", mode="max", max_t=4, grace_period=1, reduction_factor=2,
             type="stopping", random_seed=0)
    for i in range(3):
        s.suggest()
    assert s.on_report(0, 1, {"acc": 0.5}) is C
    assert s.on_report(1, 1, {"acc": 0.9}) is C
    assert s.on_report(2, 1, {"acc": 0.7}) is S


def test_synchronous_sh_script_with_barrier():
    s = SynchronousSuccessiveHalving(SPACE, metric="err", max_resource_attr="max_epochs",
                                     grace_period=1, reduction_factor=2, num_configs=4,
                                     random_seed=0)
    for i in range(4):
        new(s.suggest(), i, 1)
    wait = s.suggest()
    assert isinstance(wait, Wait) and wait.reason == "rung 1: 0 of 4 results in; waiting for the rest"
    assert s.on_report(0, 1, {"err": 0.4}) is P
    assert s.on_report(1, 1, {"err": 0.2}) is P
    assert s.on_report(2, 1, {"err": 0.3}) is P
    assert isinstance(s.suggest(), Wait)  # the barrier: 3 of 4 in
    s.take_transitions()
    assert s.on_report(3, 1, {"err": 0.1}) is P  # the rung is full: keep floor(4/2) = 2
    stopped = [(t.trial_id, t.reason) for t in s.take_transitions()
               if t.status is TrialStatus.STOPPED]
    assert stopped == [(2, "not in the top 2 of 4 at rung 1"), (0, "not in the top 2 of 4 at rung 1")]
    resumed(s.suggest(), 3, 1, 2)
    resumed(s.suggest(), 1, 1, 2)
    assert isinstance(s.suggest(), Wait)
    assert s.on_report(3, 2, {"err": 0.15}) is P
    assert s.on_report(1, 2, {"err": 0.05}) is P
    resumed(s.suggest(), 1, 2, 4)
    assert s.status(3) is TrialStatus.STOPPED
    assert s.on_report(1, 4, {"err": 0.01}) is C
    new(s.suggest(), 4, 1)  # the bracket is done: the next one starts
    s.on_complete(1)


def test_synchronous_sh_failure_does_not_block_the_rung():
    s = SynchronousSuccessiveHalving(SPACE, metric="err", max_t=4, grace_period=1,
                                     reduction_factor=2, num_configs=3, random_seed=0)
    for i in range(3):
        s.suggest()
    assert s.on_report(0, 1, {"err": 0.4}) is P
    assert s.on_report(1, 1, {"err": float("nan")}) is S  # fails
    assert isinstance(s.suggest(), Wait)
    s.on_fail(2, "boom")
    resumed(s.suggest(), 0, 1, 2)  # floor(1/2) = 0, but a rung always keeps its best one
    assert s.status(1) is TrialStatus.FAILED


def test_random_search_runs_every_trial_to_the_end():
    s = RandomSearch(SPACE, metric="err", max_resource_attr="max_epochs", random_seed=0)
    job = s.suggest()
    new(job, 0, 4)
    for epoch in range(1, 5):
        assert s.on_report(0, epoch, {"err": 1.0 / epoch}) is C
    s.on_complete(0)
    assert isinstance(s.suggest(allow_new=False), Wait)


@pytest.mark.parametrize("make", [
    lambda: asha("promotion"), lambda: asha("stopping"),
    lambda: SynchronousSuccessiveHalving(SPACE, metric="err", max_t=4, reduction_factor=2,
                                         random_seed=0),
    lambda: RandomSearch(SPACE, metric="err", max_t=4, random_seed=0),
])
class TestEveryScheduler:
    """One interface, the same contract for every scheduler."""

    def test_bad_reports_fail_the_trial_not_the_scheduler(self, make):
        s = make()
        for _ in range(4):
            s.suggest()
        assert s.on_report(0, 1, {"err": float("nan")}) is S
        assert s.on_report(1, 1, {"err": float("inf")}) is S
        assert s.on_report(2, 1, {"loss": 0.1}) is S  # the metric is missing
        assert s.on_report(3, 1, {"err": 0.5}) in (C, P)
        reasons = {t.trial_id: t.reason for t in s.take_transitions()
                   if t.status is TrialStatus.FAILED}
        assert reasons == {0: "reported err=nan, which must be a finite number",
                           1: "reported err=inf, which must be a finite number",
                           2: "reported err=None, which must be a finite number"}

    def test_resource_must_grow(self, make):
        s = make()
        s.suggest()
        s.suggest()
        assert s.on_report(1, 1, {"err": 0.5}) in (C, P)
        if s.status(1) is TrialStatus.RUNNING:
            assert s.on_report(1, 1, {"err": 0.4}) is S
            assert [t.reason for t in s.take_transitions()][-1] == (
                "reported epoch=1 after epoch=1: the resource must grow")
        assert s.on_report(0, "1", {"err": 0.5}) is S

    def test_reporting_for_an_unknown_or_finished_trial_raises(self, make):
        s = make()
        s.suggest()
        with pytest.raises(KeyError, match="trial 5 was never started"):
            s.on_report(5, 1, {"err": 0.1})
        s.on_fail(0, "boom")
        with pytest.raises(ValueError, match="trial 0 is failed, not running"):
            s.on_report(0, 1, {"err": 0.1})

    def test_same_seed_same_configs(self, make):
        a, b = make(), make()
        assert [a.suggest().config for _ in range(3)] == [b.suggest().config for _ in range(3)]
