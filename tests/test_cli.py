import pytest

from asha_lesson.__main__ import main


def test_headless_run_writes_the_experiment_and_its_figures(tmp_path, capsys):
    assert main(["run", "--backend", "simulated", "--workers", "8", "--budget", "60",
                 "--seed", "3", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    [folder] = [p for p in tmp_path.iterdir() if p.is_dir()]
    for name in ("incumbent", "trials", "timeline", "rung_books"):
        png = folder / "figures" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
        assert f"figure: {png}" in out
    assert "workers busy: 100.0%" in out
    assert main(["figures", str(folder)]) == 0


def test_bad_settings_exit_with_the_rule(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--backend", "simulated", "--eta", "1"])
    assert exit_info.value.code == 2
    assert "reduction_factor=1 breaks the rule eta >= 2" in capsys.readouterr().err
