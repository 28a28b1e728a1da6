"""Before Start: the time and memory a run will take, measured on this machine (issue 18, part 1).

The arithmetic and the cache are tested with measurements written by hand; one real probe measures a tiny model on
the café sample; the Train page is driven through AppTest, which has no timers, so its polling is done by hand.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace

import pytest
from streamlit.testing.v1 import AppTest

from core.config.presets import apply_preset, default_config
from core.engine.training import plan_device
from core.estimate import jobs as estimate_jobs
from core.estimate.advice import fewest_steps, fitting_memory, shorter_run
from core.estimate.extrapolation import describe, estimate, plain_duration, run_counts
from core.estimate.measurement import (
    PROBE_VERSION,
    Measurement,
    cached_measurement,
    measurement_key,
    save_measurement,
)
from tests.support.paths import ROOT

GB = 2**30


def tiny_config(dataset: str = "cafe", **changes):
    """The café classifier the Train page builds for a bag of embeddings with the Quick preset."""
    config = default_config("text-classification", dataset, source="scratch", preset="quick")
    return replace(config, model=replace(config.model, name="bag_of_embeddings", vocab_size=400), **changes)


def measured(key: str = "k", **values) -> Measurement:
    numbers = {"device": "CPU (2 threads)", "startup_s": 5.0, "setup_s": 3.0, "first_step_extra_s": 1.0,
               "step_s": 0.5, "timed_steps": 10, "check_fixed_s": 1.0, "check_s_per_unit": 0.001, "check_units": 2000,
               "save_s": 0.5, "finish_s": 2.0, "ladder_s": 1.0, "train_rows": 320, "check_rows": 80,
               "trainable_parameters": 1000, "peak_ram": GB, "ram_before_training": GB // 2, "ram_total": 24 * GB,
               "ram_available": 20 * GB}
    return Measurement(key=key, **{**numbers, **values})


def key_of(config, dataset) -> str:
    return measurement_key(config, dataset, plan_device(config.device).description)


# ---------------------------------------------------------------------------------------------------- arithmetic


def test_a_run_is_setup_plus_steps_plus_checks_plus_checkpoints_plus_the_end():
    # 320 rows: 10 steps an epoch, a check each, and a checkpoint each but the last (the final model is saved)
    config = tiny_config(epochs=3.0, batch_size=32)
    guess = estimate(config, measured(), checkpoint_every=200)
    assert (guess.counts.steps, guess.counts.checks, guess.counts.checkpoints) == (30, 3, 2)
    check = 1.0 + 0.001 * 2000
    assert guess.seconds == pytest.approx(5 + 3 + 1 + 30 * 0.5 + 3 * check + 2 * 0.5 + 2 + 1)
    assert describe(guess) == "under a minute on this CPU · needs ~1.0 GB of 24 GB"


def test_the_clock_turns_timed_steps_into_seconds_per_token_for_the_average_batch():
    from core.estimate.clock import ProbeClock, UnitCounter

    clock = ProbeClock(UnitCounter(lambda features: features))
    clock.train_begin, clock.step_ends = 0.0, [3.0, 4.0, 5.0, 6.0, 7.0, 12.0]  # the last one slowed by something
    clock.counter.train = [200, 100, 100, 100, 100, 100]  # padded tokens: the first batch holds the longest texts
    steps = clock.steps(mean_units=150)
    assert steps.count == 5 and steps.seconds == pytest.approx(1.5)  # 0.01 s a token, the slowest left out
    assert steps.first_extra == pytest.approx(1.0)  # 3 s, where its 200 tokens take 2 s
    clock.stop_at, clock.prediction_ends, clock.evaluated = 12.0, [12.5, 13.0], 13.5
    clock.counter.check, clock.counter.check_rows = [50, 50], [10, 10]
    check = clock.check(full_units=500, rows=100)
    assert (check.fixed, check.per_unit, check.units) == pytest.approx((0.5, 0.01, 500))


def test_texts_of_lengths_the_probe_never_met_add_to_the_memory_estimate():
    from core.estimate.clock import ProbeClock, UnitCounter

    clock = ProbeClock(UnitCounter(lambda features: features))
    clock.step_ends = [1.0, 2.0, 3.0, 4.0]
    clock.counter.train_shapes = [(32, 10), (32, 12), (32, 14), (32, 12)]
    clock.memory_at_steps = [100, 110, 120, 120]  # 10 bytes for each of the two lengths met after the first
    epoch = [(32, 10), (32, 12), (32, 14), (32, 16), (32, 18), (16, 9)]
    assert clock.memory_growth(epoch, step_memory=1000) == 30  # three shapes to meet
    assert clock.memory_growth(epoch, step_memory=25) == 25  # never more than a step's own memory
    assert clock.memory_growth(None, step_memory=1000) == 0  # images, tables, drawn windows: every batch alike


def test_counts_follow_the_engines_rules():
    # Checks every 7 steps over 30 steps: at 7, 14, 21, 28 and once more at the last step.
    assert run_counts(tiny_config(epochs=3.0, eval_every=7), 320, 200).checks == 5
    # A fractional epoch still ends with a check.
    assert run_counts(tiny_config(epochs=2.5), 320, 200).checks == 3
    # The installation's checkpoint interval adds checkpoints between long epochs (here at steps 4 and 8 of 10;
    # none at the last step, whose model is saved as the run's own).
    counts = run_counts(tiny_config(epochs=1.0), 320, 4)
    assert (counts.steps, counts.checks, counts.checkpoints) == (10, 1, 2)
    # max_steps decides, whatever the epochs.
    assert run_counts(tiny_config(epochs=50.0, max_steps=12), 320, 200).steps == 12


def test_a_text_generator_counts_its_live_checks():
    config = replace(default_config("text-generation", "poems", source="scratch", preset="quick"), batch_size=32)
    # One epoch of 100 steps: the live evaluation checks every 13 steps (7 times before the end) plus the epoch's end.
    assert run_counts(config, 3200, 10_000).checks == 8


def test_changing_the_epochs_needs_no_new_measurement_but_a_new_batch_size_does(sample_dataset):
    config = tiny_config()
    key = key_of(config, sample_dataset)
    assert key_of(replace(config, epochs=9.0, learning_rate=0.1, seed=3), sample_dataset) == key
    assert key_of(replace(config, batch_size=8), sample_dataset) != key
    assert key_of(replace(config, model=replace(config.model, embedding_dim=64)), sample_dataset) != key


def test_finished_runs_on_this_machine_correct_later_estimates(workspace, sample_dataset):
    from core.engine.run_folder import update_status
    from core.engine.run_status import RunState
    from core.engine.runs import create_run
    from core.estimate.extrapolation import calibrated

    config = tiny_config(epochs=3.0)
    measurement = measured(key_of(config, sample_dataset), train_rows=288)
    assert calibrated(config, measurement, workspace, sample_dataset, 200).calibrated_by == 0
    predicted = estimate(config, measurement, 200).seconds - measurement.startup_s  # a status counts from there
    run = create_run(workspace, config)
    update_status(run.folder, state=RunState.COMPLETED, started_at=1000.0, finished_at=1000.0 + 1.5 * predicted)
    create_run(workspace, replace(config, batch_size=8))  # other settings, and unfinished: says nothing
    corrected = calibrated(replace(config, epochs=6.0), measurement, workspace, sample_dataset, 200)
    assert corrected.calibrated_by == 1
    assert corrected.seconds == pytest.approx(1.5 * estimate(replace(config, epochs=6.0), measurement, 200).seconds)


def test_durations_in_plain_words():
    assert plain_duration(20) == "under a minute"
    assert plain_duration(4 * 60 + 10) == "about 4 min"
    assert plain_duration(92 * 60 + 23) == "about 1 h 32 min"


def test_the_cache_keeps_a_measurement_and_ignores_another_probes(workspace):
    save_measurement(workspace, measured("abc"))
    assert cached_measurement(workspace, "abc") == measured("abc")
    path = workspace.root / "estimates" / "abc.json"
    path.write_text(path.read_text().replace(f'"probe_version": {PROBE_VERSION}', '"probe_version": 0'))
    assert cached_measurement(workspace, "abc") is None
    path.write_text("{half a file")
    assert cached_measurement(workspace, "abc") is None


# ---------------------------------------------------------------------------------------------------- advice


def test_a_long_run_is_offered_the_quickest_cuts():
    config = tiny_config(epochs=300.0)  # 3,000 steps of 0.5 s
    slow = measured(step_s=0.5)
    remedies = shorter_run(config, slow, preset="balanced", checkpoint_every=200)
    labels = [remedy.label for remedy in remedies]
    assert labels[0] == "Use the Quick preset"
    fewer = next(r for r in remedies if "fewer examples" in r.label)
    assert estimate(replace(config, max_steps=fewer.changes["max_steps"]), slow, 200).seconds <= 15 * 60
    assert estimate(replace(config, max_steps=fewer.changes["max_steps"] + 1), slow, 200).seconds > 15 * 60
    assert any(r.changes == {"max_length": 32} for r in remedies)
    assert any("width" in r.label for r in remedies)  # a bag of embeddings gets narrower
    assert fewest_steps(tiny_config(epochs=1.0), slow, 15 * 60, 200) is None  # already short


def test_a_run_that_does_not_fit_is_offered_a_batch_that_fits():
    base = default_config("text-generation", "alpaca", source="pretrained", preset="quick")
    config = replace(base, batch_size=8, model=replace(base.model, finetune="full"))
    heavy = measured(peak_ram=14 * GB, ram_before_training=2 * GB, trainable_parameters=10_000_000)
    remedies = fitting_memory(config, heavy, available=8 * GB)
    batch = next(r for r in remedies if "batch_size" in r.changes)
    assert batch.changes == {"batch_size": 2}  # 2.1 + 12 × 2/8 = 5.1 GB fits in 90 % of 8 GB; 4 would need 8.1
    assert any(r.changes == {"model.finetune": "lora"} for r in remedies)


# ---------------------------------------------------------------------------------------------------- the probe


def test_a_real_probe_measures_a_tiny_model_and_is_cached(workspace, sample_dataset):
    config = tiny_config()
    config_file = workspace.root / "tiny.json"
    config.save(config_file)
    command = [sys.executable, "-m", "core.estimate.measurement", str(config_file), "--workspace", str(workspace.root)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    measurement = cached_measurement(workspace, key_of(config, sample_dataset))
    assert measurement is not None and measurement.usable
    assert measurement.train_rows == 288 and measurement.check_rows == 72
    assert measurement.timed_steps >= 2 and 0 < measurement.step_s < 5
    assert measurement.save_s > 0  # a checkpoint was timed, though runs skip the last step's
    assert measurement.startup_s > 0.5  # importing torch and transformers is part of every run
    assert 100 * 2**20 < measurement.peak_ram < 4 * GB
    assert "on this CPU · needs ~" in result.stdout
    # Asked again, the cached measurement answers at once.
    from core.estimate.probe import measure

    started = time.time()
    assert measure(config, workspace) == measurement
    assert time.time() - started < 5
    assert not list((workspace.root / "estimates").glob("probe-*"))  # its scratch folder is gone


def test_a_probe_about_to_run_out_of_memory_stops_and_says_it_does_not_fit(workspace, sample_dataset):
    config = tiny_config()
    config_file = workspace.root / "tiny.json"
    config.save(config_file)
    # This machine's free memory made to look tiny: the guard must end the probe and record why.
    script = ("import sys; import core.estimate.probe as probe; probe.MEMORY_SHARE = 1e-6; "
              "from core.estimate.measurement import main; main(sys.argv[1:])")
    result = subprocess.run([sys.executable, "-c", script, str(config_file), "--workspace", str(workspace.root)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 3, result.stderr[-2000:]
    measurement = cached_measurement(workspace, key_of(config, sample_dataset))
    assert measurement is not None and not measurement.fits and not measurement.usable
    assert measurement.problem.startswith("Training would need more than")
    assert not list((workspace.root / "estimates").glob("probe-*"))


# ---------------------------------------------------------------------------------------------------- the page


def train_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/train.py")
    at.run()
    at.radio(key="train_source_text-classification").set_value("scratch").run()
    at.selectbox(key="train_model_name").set_value("bag_of_embeddings").run()
    at.button_group(key="train_preset").set_value("quick").run()
    at.number_input(key="train_model_vocab_size").set_value(400).run()
    assert not at.exception, at.exception
    return at


def captions(at: AppTest) -> str:
    return " ".join(str(c.value) for c in at.caption)


def test_the_train_page_shows_the_estimate_once_measured(workspace, sample_dataset):
    at = train_page()
    assert "measured in a moment" in captions(at)  # AppTest has no timers: nothing starts by itself
    key = key_of(tiny_config(), sample_dataset)
    assert estimate_jobs.start_probe(workspace, tiny_config().to_json(), key)  # what the fragment's timer does
    at.run()
    assert "Measuring time and memory on this machine" in captions(at)
    for _ in range(240):  # poll as the fragment would
        if cached_measurement(workspace, key) is not None:
            break
        time.sleep(0.5)
    at.run()
    assert "**Quick** · " in captions(at) and " on this CPU · needs ~" in captions(at), captions(at)
    assert not at.warning and not at.error


def test_a_long_run_gets_a_warning_whose_button_picks_the_quick_preset(workspace, sample_dataset):
    at = train_page()
    at.button_group(key="train_preset").set_value("balanced").run()
    config = apply_preset(tiny_config(), "balanced")  # 8 epochs of 9 steps, texts cut at 128 tokens
    save_measurement(workspace, measured(key_of(config, sample_dataset), step_s=60.0, train_rows=288))
    at.run()
    assert "**Balanced** · about 1 h" in captions(at), captions(at)
    assert any("would take about 1 h" in warning.value for warning in at.warning)
    next(b for b in at.button if b.label.startswith("Use the Quick preset")).click().run()
    assert at.button_group(key="train_preset").value == "quick"
    assert at.number_input(key="train_hp_epochs").value == 3.0


def test_a_run_that_does_not_fit_says_so_and_its_button_sets_a_batch_that_fits(workspace, sample_dataset):
    import psutil

    at = train_page()
    free = psutil.virtual_memory().available
    config = tiny_config()
    # 0.1 of the free memory held before training, 4.9 more for a batch of 32: a batch of 4 needs 0.71 of it.
    save_measurement(workspace, measured(key_of(config, sample_dataset), peak_ram=free * 5,
                                         ram_before_training=free // 10, trainable_parameters=0))
    at.run()
    assert "would not fit in this machine's free memory" in " ".join(e.value for e in at.error)
    button = next(b for b in at.button if b.label.startswith("Batch size"))
    assert button.label.startswith("Batch size 4 instead of 32")
    button.click().run()
    assert at.number_input(key="train_hp_batch_size").value == 4


def test_where_measuring_is_manual_a_button_starts_it(workspace, sample_dataset, monkeypatch):
    monkeypatch.setenv(estimate_jobs.MODE_VARIABLE, "manual")
    at = train_page()
    key = key_of(tiny_config(), sample_dataset)
    at.button(key="train_estimate_measure").click().run()
    try:
        assert estimate_jobs.probe_started(workspace, key) is not None
        assert "Measuring time and memory on this machine" in captions(at)
    finally:
        estimate_jobs.end_probe(workspace, key)
    assert estimate_jobs.probe_started(workspace, key) is None
