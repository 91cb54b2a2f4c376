"""Tests of the training side: data, LeNet, the resumable trainer and the objective.

Tiny budgets throughout (digits, a few epochs at ~0.15 s each): the whole file runs in seconds.
"""

import contextvars
import math
import threading
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
d2l = pytest.importorskip("d2l.torch")
torchvision = pytest.importorskip("torchvision")

from asha_lesson.decisions import Decision  # noqa: E402
from asha_lesson.reporter import (  # noqa: E402
    TrialContext, TrialPaused, TrialStopped, set_current_trial)
from asha_lesson.training import (  # noqa: E402
    DATA_ENV_VAR, DigitsData, FashionMNISTData, HPOTrainer, LeNet, choose_data,
    fashion_mnist_on_disk, hpo_objective_lenet, limit_torch_threads, write_fashion_mnist_idx)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Train on one thread: with torch's default of one thread per core, anything else running
    on this 2-core machine made an epoch 0.14 s -> 7 s (threads spin-waiting for each other)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def trained(lr=0.1, batch_size=32, epochs=2, seed=0, model_seed=0):
    trainer = HPOTrainer(max_epochs=10)
    trainer.prepare(LeNet(lr=lr, seed=model_seed), DigitsData(batch_size, seed=seed))
    for _ in range(epochs):
        trainer.fit_epoch()
    return trainer


def run_trial(context, **kwargs):
    """Run the objective with ``context`` as the current trial, without leaking it."""
    def body():
        set_current_trial(context)
        return hpo_objective_lenet(**kwargs)
    return contextvars.copy_context().run(body)


def make_context(decide, checkpoint=None, resume_from=0):
    sent = []

    def send(metrics):
        sent.append(metrics)
        return decide(metrics["epoch"])
    context = TrialContext(trial_id=7, config={}, resource_attr="epoch",
                           resume_from=resume_from, send=send, checkpoint=checkpoint)
    return context, sent


# --- data ----------------------------------------------------------------------------------------

def test_digits_shapes_values_and_stratified_split():
    data = DigitsData(batch_size=64, seed=0)
    assert data.X_train.shape == (1347, 1, 28, 28) and data.X_val.shape == (450, 1, 28, 28)
    assert data.X_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert 0.0 <= float(data.X_train.min()) and float(data.X_train.max()) <= 1.0
    assert float(data.X_train.max()) > 0.9  # scaled to [0, 1], not left at 0..16 or squashed
    # Stratified: each digit's share of the validation set is its share of all 1,797 images.
    share_val = torch.bincount(data.y_val, minlength=10) / 450
    share_all = torch.bincount(torch.cat([data.y_train, data.y_val]), minlength=10) / 1797
    assert torch.allclose(share_val, share_all, atol=1 / 450)
    X, y = next(iter(data.train_dataloader()))
    assert X.shape == (64, 1, 28, 28) and y.shape == (64,)
    assert len(data.val_dataloader().dataset) == 450


def test_digits_split_and_shuffle_are_fixed_by_the_seed():
    a, b, c = DigitsData(32, seed=0), DigitsData(32, seed=0), DigitsData(32, seed=1)
    assert a.X_val is b.X_val  # one cached copy per process, shared read-only
    assert not torch.equal(a.y_val, c.y_val)
    batch_a, batch_b = next(iter(a.train_dataloader())), next(iter(b.train_dataloader()))
    assert torch.equal(batch_a[1], batch_b[1])
    assert not torch.equal(next(iter(a.train_dataloader()))[1], batch_a[1])  # reshuffled


def test_training_batches_are_the_ones_a_shuffled_dataloader_draws():
    """The same draws from the same generator, epoch after epoch: what makes our trials and the
    recorded table agree with d2l's DataLoader-based training."""
    data = DigitsData(100, seed=3)
    reference = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(data.X_train, data.y_train), 100, shuffle=True,
        generator=torch.Generator().manual_seed(3))
    ours = data.train_dataloader()
    assert len(ours) == len(reference) == 14  # 1,347 training images: 13 full batches + 47
    for _ in range(3):
        pairs = list(zip(ours, reference, strict=True))
        for (X, y), (X_ref, y_ref) in pairs:
            assert torch.equal(X, X_ref) and torch.equal(y, y_ref)


def test_validation_batches_hold_at_least_1024_images():
    batches = list(DigitsData(32).val_dataloader())
    assert [len(y) for _, y in batches] == [450]


def test_training_reproduces_the_shipped_table():
    """The simulator replays this table by default, so today's training code must give its
    numbers: same configs, same seed, same curves."""
    from asha_lesson.benchmark_tables import load_lenet_digits_table
    table = load_lenet_digits_table()
    for index in (0, 1):
        config = table.configs[index]
        trainer = HPOTrainer(max_epochs=3)
        trainer.prepare(LeNet(lr=config["learning_rate"], width=config["width"], seed=0),
                        DigitsData(config["batch_size"], seed=0))
        for epoch in range(3):
            trainer.fit_epoch()
            metrics = trainer.validation_metrics()
            assert metrics["error"] == pytest.approx(
                table.values["validation_error"][index, epoch], abs=1e-6)
            assert metrics["loss"] == pytest.approx(
                table.values["validation_loss"][index, epoch], rel=1e-4)


@pytest.mark.parametrize("make, message", [
    (lambda: DigitsData(batch_size=0), "batch_size=0 must be an integer >= 1"),
    (lambda: DigitsData(batch_size=2.5), "batch_size=2.5 must be an integer >= 1"),
    (lambda: DigitsData(batch_size=True), "batch_size=True must be an integer >= 1"),
    (lambda: DigitsData(val_fraction=1.0), "val_fraction=1.0 must lie strictly between"),
    (lambda: choose_data("mnist"), "data='mnist' must be one of"),
    (lambda: choose_data("digits", download_timeout=-1), "download_timeout=-1 must be >= 0"),
    (lambda: LeNet(lr=0), "lr=0 must be a positive number"),
    (lambda: LeNet(lr=float("nan")), "lr=nan must be a positive number"),
    (lambda: LeNet(width=0), "width=0 must be an integer >= 1"),
    (lambda: HPOTrainer(max_epochs=3, num_gpus=1), "num_gpus=1 must be 0"),
    (lambda: limit_torch_threads(0), "n_workers=0 must be an integer >= 1"),
    (lambda: hpo_objective_lenet(0.1, 32, max_epochs=0, data="digits"),
     "max_epochs=0 must be an integer >= 1"),
])
def test_bad_arguments_raise_value_error_naming_value_and_rule(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        make()


def test_batch_size_from_numpy_is_accepted():
    # numpy's Generator.integers gives numpy ints, which torch's BatchSampler rejects as is.
    assert DigitsData(np.int64(16)).train_dataloader().batch_size == 16


# --- LeNet and the trainer ----------------------------------------------------------------------

def test_relu_lenet_learns_where_d2l_sigmoid_lenet_does_not():
    assert trained(lr=0.1, batch_size=32, epochs=3).validation_error() < 0.3
    sigmoid = HPOTrainer(max_epochs=3)
    model = d2l.LeNet(lr=0.1)
    model.apply_init([torch.zeros(1, 1, 28, 28)], d2l.init_cnn)
    sigmoid.prepare(model, DigitsData(32))
    for _ in range(3):
        sigmoid.fit_epoch()
    assert sigmoid.validation_error() > 0.8
    # d2l's training_step called plot on every batch; with display off nothing was drawn.
    assert model.board.fig is None and model.board.data


def test_lenet_width_scales_channels_and_initial_weights_follow_the_seed():
    wide = LeNet(width=2)
    assert wide.net[0].weight.shape == (12, 1, 5, 5) and wide.net[7].weight.shape == (240, 800)
    assert torch.equal(LeNet(seed=3).net[0].weight, LeNet(seed=3).net[0].weight)
    assert not torch.equal(LeNet(seed=3).net[0].weight, LeNet(seed=4).net[0].weight)


def test_state_dict_round_trip_resumes_with_same_weights_and_epoch():
    first = trained(epochs=2)
    state = first.state_dict()
    saved_weight = state["model"]["net.0.weight"].clone()
    first.fit_epoch()
    a = first.validation_metrics()
    assert first.epoch == 3
    assert torch.equal(state["model"]["net.0.weight"], saved_weight)  # a copy, not live

    fresh = HPOTrainer(max_epochs=10)
    fresh.prepare(LeNet(lr=0.1, seed=99), DigitsData(32, seed=0))  # other initial weights
    fresh.load_state_dict(state)
    assert fresh.epoch == 2
    fresh.fit_epoch()
    assert fresh.epoch == 3
    b = fresh.validation_metrics()
    assert b["error"] == a["error"]
    assert b["loss"] == pytest.approx(a["loss"], rel=1e-6, abs=1e-9)
    for (name, p), q in zip(first.model.named_parameters(), fresh.model.parameters()):
        assert torch.allclose(p, q, atol=1e-6), name


def test_validation_error_is_averaged_per_example_not_per_batch():
    trainer = trained(batch_size=32, epochs=2)
    data = DigitsData(200)
    X, y = data.X_val, data.y_val
    # Batches of 200, 200 and 50, as d2l's loaders give for Fashion-MNIST-sized sets.
    trainer.val_dataloader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), 200)
    with torch.no_grad():
        expected = float((trainer.model(X).argmax(1) != y).float().mean())
    assert trainer.validation_error() == pytest.approx(expected, abs=1e-6)
    # d2l's HPOTrainer.validation_error weighs the 50-image batch like the 200-image ones.
    assert float(d2l.HPOTrainer.validation_error(trainer)) != pytest.approx(expected, abs=1e-4)


# --- the objective ------------------------------------------------------------------------------

def test_objective_reports_plain_floats_each_epoch_and_returns_the_last_error():
    context, sent = make_context(lambda epoch: Decision.CONTINUE)
    error = run_trial(context, learning_rate=0.1, batch_size=32, max_epochs=2, data="digits")
    assert [m["epoch"] for m in sent] == [1, 2]
    for m in sent:
        assert type(m["validation_error"]) is float and type(m["validation_loss"]) is float
    assert error == sent[-1]["validation_error"]
    # Outside any backend (by hand in a notebook) it just runs, to the same numbers.
    assert hpo_objective_lenet(0.1, 32, max_epochs=2, data="digits") == error


def test_objective_paused_at_epoch_2_saves_state_and_resumes_like_an_unbroken_run():
    config = dict(learning_rate=0.1, batch_size=32, data="digits")
    context, sent = make_context(lambda epoch: Decision.PAUSE if epoch == 2 else Decision.CONTINUE)
    with pytest.raises(TrialPaused):
        run_trial(context, max_epochs=4, **config)
    assert [m["epoch"] for m in sent] == [1, 2]
    assert context.saved["epoch"] == 2

    resumed, sent_after = make_context(lambda epoch: Decision.CONTINUE,
                                       checkpoint=context.saved, resume_from=2)
    run_trial(resumed, max_epochs=4, **config)
    assert [m["epoch"] for m in sent_after] == [3, 4]  # continues the count, not from 1

    unbroken, sent_unbroken = make_context(lambda epoch: Decision.CONTINUE)
    run_trial(unbroken, max_epochs=4, **config)
    assert sent_after[-1]["validation_error"] == sent_unbroken[-1]["validation_error"]
    assert sent_after[-1]["validation_loss"] == pytest.approx(
        sent_unbroken[-1]["validation_loss"], rel=1e-6)


def test_objective_stopped_unwinds_at_once():
    context, sent = make_context(lambda epoch: Decision.STOP)
    with pytest.raises(TrialStopped):
        run_trial(context, learning_rate=0.1, batch_size=64, max_epochs=5, data="digits")
    assert len(sent) == 1


def test_diverging_learning_rate_reports_nan_loss_and_chance_level_error():
    """What happens: the loss overflows to NaN; NaN logits all "predict" class 0, so the error
    is exactly 0.9 (the split is stratified). Rates from ~0.3 to 100 instead leave a dead
    network (finite loss, error 0.9). The tuner must treat NaN loss as a failed trial."""
    context, sent = make_context(lambda epoch: Decision.CONTINUE)
    run_trial(context, learning_rate=1e4, batch_size=64, max_epochs=1, data="digits")
    assert math.isnan(sent[0]["validation_loss"])
    assert sent[0]["validation_error"] == pytest.approx(0.9)


# --- choosing data, offline and with a tiny Fashion-MNIST on disk ------------------------------

@pytest.fixture
def no_data_anywhere(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # d2l's default root ../data is now tmp_path/data: empty
    return tmp_path


def test_choose_data_offline_picks_digits_quickly(no_data_anywhere):
    start = time.perf_counter()
    factory, description = choose_data("auto")
    data = factory(32)
    assert time.perf_counter() - start < 2.0
    assert isinstance(data, DigitsData)
    assert description.startswith("Training on scikit-learn's digits")
    assert "Fashion-MNIST is not on disk under ../data" in description


def test_choose_fashion_mnist_without_files_names_the_folder(no_data_anywhere):
    with pytest.raises(FileNotFoundError, match=r"data/FashionMNIST/raw must hold"):
        choose_data("fashion_mnist", download_timeout=0)


def test_fashion_mnist_download_is_bounded_in_time(no_data_anywhere, monkeypatch):
    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "download",
                        lambda self: time.sleep(3))  # a download that hangs
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError, match="took longer than 0.2 s"):
        choose_data("fashion_mnist", download_timeout=0.2)
    assert time.perf_counter() - start < 1.0

    def fail(self):
        raise OSError("[Errno -3] Temporary failure in name resolution")
    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "download", fail)
    with pytest.raises(FileNotFoundError, match="downloading failed: .*name resolution"):
        choose_data("fashion_mnist", download_timeout=5)


def write_tiny_fashion_mnist(root, n_train=200, n_test=50):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n_train)
    write_fashion_mnist_idx(root, images, labels, train=True)
    write_fashion_mnist_idx(root, rng.integers(0, 256, size=(n_test, 28, 28)),
                            rng.integers(0, 10, size=n_test), train=False)
    return images, labels


def test_idx_files_are_read_by_torchvision_and_need_all_four(no_data_anywhere):
    root = no_data_anywhere / "data"
    images, labels = write_tiny_fashion_mnist(root)
    ds = torchvision.datasets.FashionMNIST(root=root, train=True, download=False)
    assert torch.equal(ds.data, torch.from_numpy(images)) and ds.targets.tolist() == labels.tolist()
    assert len(torchvision.datasets.FashionMNIST(root=root, train=False)) == 50
    assert fashion_mnist_on_disk(root)
    (root / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    assert not fashion_mnist_on_disk(root)
    with pytest.raises(RuntimeError, match="Dataset not found"):  # even for the train split
        torchvision.datasets.FashionMNIST(root=root, train=True, download=False)


def test_tiny_fashion_mnist_is_picked_up_and_trains(no_data_anywhere, monkeypatch):
    root = no_data_anywhere / "data"
    write_tiny_fashion_mnist(root)
    factory, description = choose_data("auto", root=root)
    assert description == ("Training on Fashion-MNIST (200 training images, 28x28) from "
                           f"{root / 'FashionMNIST' / 'raw'}")
    data = factory(32)
    assert isinstance(data, FashionMNISTData) and isinstance(data, d2l.FashionMNIST)
    assert data.X_train.shape == (200, 1, 28, 28) and len(data.X_val) == 50
    # The environment variable and d2l's ../data are searched when no root is given.
    monkeypatch.setenv(DATA_ENV_VAR, str(root))
    assert choose_data("auto")[1].startswith("Training on Fashion-MNIST")
    monkeypatch.delenv(DATA_ENV_VAR)
    assert choose_data("auto")[1].startswith("Training on Fashion-MNIST")  # ../data

    error = hpo_objective_lenet(0.1, 32, max_epochs=1, data="auto", root=root)
    assert 0.0 <= error <= 1.0

    # d2l's own class reads the same files from ../data (its download=True finds them and
    # does not touch the network) and trains under our trainer.
    plain = d2l.FashionMNIST(batch_size=32)
    assert len(plain.train) == 200 and len(plain.val) == 50
    plain.num_workers = 0  # d2l's default of 4 loader processes only costs start-up time here
    trainer = HPOTrainer(max_epochs=1)
    trainer.fit(LeNet(lr=0.1), plain)
    assert trainer.epoch == 1 and 0.0 <= trainer.validation_error() <= 1.0


def test_trials_on_two_threads_match_the_same_trials_run_one_after_the_other():
    # Each trial owns its generators (init, split, shuffle), so running beside another trial
    # changes nothing: what a thread backend and a simulated one rely on to agree.
    configs = [dict(learning_rate=0.1, batch_size=48), dict(learning_rate=0.05, batch_size=40)]

    def run(config, out):
        context, sent = make_context(lambda epoch: Decision.CONTINUE)
        run_trial(context, max_epochs=1, data=lambda b, seed: DigitsData(b, seed=11), **config)
        out.append(sent[-1])

    alone = []
    for config in configs:
        run(config, alone)
    together = [[], []]
    threads = [threading.Thread(target=run, args=(c, out)) for c, out in zip(configs, together)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for a, (b,) in zip(alone, together):
        assert a["validation_error"] == b["validation_error"]
        assert a["validation_loss"] == pytest.approx(b["validation_loss"], rel=1e-6)


def test_digits_cache_is_built_once_when_threads_ask_at_once():
    made = []
    threads = [threading.Thread(target=lambda: made.append(DigitsData(32, seed=12)))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(data.X_train) for data in made}) == 1


# --- threads ------------------------------------------------------------------------------------

@pytest.mark.parametrize("cores, workers, threads", [
    (2, 1, 2), (2, 2, 1), (2, 4, 1), (8, 3, 2), (8, 8, 1), (None, 2, 1),
])
def test_limit_torch_threads_divides_the_cores(monkeypatch, cores, workers, threads):
    before = torch.get_num_threads()
    monkeypatch.setattr("os.cpu_count", lambda: cores)
    try:
        assert limit_torch_threads(workers) == threads
        assert torch.get_num_threads() == threads
        assert limit_torch_threads(workers) == threads  # idempotent
        seen = []
        thread = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        thread.start()
        thread.join()
        assert seen == [threads]  # worker threads started later inherit it
    finally:
        torch.set_num_threads(before)
