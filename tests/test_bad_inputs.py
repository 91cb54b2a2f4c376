"""Bad settings raise a ValueError naming the value and the rule it breaks."""

import pytest

from asha_lesson import (ASHA, RandomSearch, SimulatedBackend, StoppingCriterion,
                         SynchronousSuccessiveHalving, SyntheticLeNet, Tuner, loguniform)

SPACE = {"lr": loguniform(1e-3, 1), "max_epochs": 10}
OK = dict(metric="err", max_resource_attr="max_epochs")


@pytest.mark.parametrize("make, message", [
    (lambda: ASHA(SPACE, reduction_factor=1, **OK), r"reduction_factor=1 breaks the rule eta >= 2"),
    (lambda: ASHA(SPACE, reduction_factor=2.5, **OK), r"reduction_factor=2.5 must be a whole number"),
    (lambda: ASHA(SPACE, grace_period=0, **OK), r"min_resource=0 breaks the rule r_min >= 1"),
    (lambda: ASHA(SPACE, grace_period=11, **OK),
     r"min_resource=11 breaks the rule r_min <= r_max \(r_max=10\)"),
    (lambda: ASHA(SPACE, mode="minimize", **OK), r"mode='minimize' must be 'min' or 'max'"),
    (lambda: ASHA(SPACE, type="hyperband", **OK),
     r"type='hyperband' must be one of \('stopping', 'promotion'\)"),
    (lambda: ASHA(SPACE, brackets=0, **OK), r"brackets=0 must be an integer from 1 to the number"),
    (lambda: ASHA(SPACE, brackets=5, grace_period=2, reduction_factor=2, **OK),
     r"brackets=5 must be an integer from 1 to the number of rung levels \(4: \[2, 4, 8, 10\]\)"),
    (lambda: ASHA(SPACE, metric="err"), r"give max_t or max_resource_attr"),
    (lambda: ASHA(SPACE, metric="err", max_resource_attr="epochs"),
     r"max_resource_attr='epochs' is not a key of the config space"),
    (lambda: ASHA(SPACE, metric="err", max_resource_attr="lr"),
     r"config_space\['lr'\]=.* must be a constant integer: it is the maximum resource r_max"),
    (lambda: ASHA(SPACE, metric="", max_t=10), r"metric='' must be the name of a reported value"),
    (lambda: ASHA(SPACE, random_seed=-1, **OK), r"random_seed=-1 must be an integer in \[0, 2\*\*32\)"),
    (lambda: ASHA(SPACE, points_to_evaluate=[{"lr": 0.1, "momentum": 0.9}], **OK),
     r"has keys \['momentum'\] that are not in the config space"),
    (lambda: ASHA([1, 2], **OK), r"config_space=\[1, 2\] must be a dict"),
    (lambda: SynchronousSuccessiveHalving(SPACE, num_configs=0, **OK),
     r"num_configs=0 must be a positive integer"),
    (lambda: RandomSearch(SPACE, metric="err", max_t=0), r"max_resource=0 breaks the rule r_max >= 1"),
    (lambda: StoppingCriterion(max_wallclock_time=0),
     r"max_wallclock_time=0 must be a positive number"),
    (lambda: StoppingCriterion(max_num_trials_started=2.5),
     r"max_num_trials_started=2.5 must be a positive integer"),
    (lambda: Tuner(SimulatedBackend(SyntheticLeNet()), RandomSearch(SPACE, **OK),
                   StoppingCriterion(max_num_results=5), n_workers=0),
     r"n_workers=0 must be an integer >= 1"),
    (lambda: Tuner(SimulatedBackend(SyntheticLeNet()), "asha", StoppingCriterion()),
     r"scheduler='asha' must be an asha_lesson scheduler"),
    (lambda: SimulatedBackend(42), r"objective=42 must be callable"),
    (lambda: SyntheticLeNet(straggler_spread=-1), r"straggler_spread=-1 must be >= 0"),
])
def test_bad_input_message(make, message):
    with pytest.raises(ValueError, match=message):
        make()
