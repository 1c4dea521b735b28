"""`faceapi eval liveness` on a small slice of nuaa-dev (links in a temporary folder, two subjects), and its
statistics against stated computations."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from faceapi.cli.main import main
from faceapi.errors import OptionsError
from faceapi.evaluation.liveness import (
    LivenessItem,
    evaluate_liveness,
    liveness_det_curve,
    liveness_eer,
    liveness_images,
    liveness_scores_by_class,
    liveness_threshold_for_apcer,
)


def test_rates_by_hand():
    real = np.array([0.9, 0.8, 0.3, -math.inf])  # one live face missed: always rejected
    attack = np.array([0.01, 0.2, 0.5, math.inf])  # one attack missed: always accepted
    thresholds, apcer, bpcer = liveness_det_curve(real, attack)
    i = list(thresholds).index(0.3)
    assert apcer[i] == 2 / 4 and bpcer[i] == 1 / 4  # 0.5 and the miss accepted; the miss rejected
    eer, t = liveness_eer(real, attack)
    assert eer == 0.5 and t == 0.5  # at 0.5: attacks 0.5 and the miss accepted, 0.3 and the miss rejected
    # APCER <= 25 %: only the missed attack may pass -> between the highest seen attack (0.5) and 0.8
    assert liveness_threshold_for_apcer(real, attack, 0.25) == pytest.approx((0.5 + 0.8) / 2)
    # an unreachable target (the miss alone is 25 %) does not reject every live face
    assert liveness_threshold_for_apcer(real, attack, 0.0) == pytest.approx((0.5 + 0.8) / 2)


def test_report_counts_misses_and_holds_subjects_out():
    items = [LivenessItem(f"{s}_{i}.jpg", s, a, sc) for s, a, sc, i in (
        ("01", False, 0.9, 1), ("01", False, None, 2), ("01", True, 0.001, 3), ("01", True, None, 4),
        ("02", False, 0.7, 5), ("02", False, 0.04, 6), ("02", True, 0.05, 7), ("02", True, 0.0001, 8))]
    r = evaluate_liveness(items, 0.032, 0.0)
    assert (r.real, r.attacks, r.missed_real, r.missed_attacks) == (4, 4, 1, 1)
    assert r.at_threshold.attacks_accepted == 2 and r.at_threshold.real_rejected == 1
    assert r.held_out is not None and set(r.held_out.thresholds) == {"01", "02"}
    assert r.held_out.rates.attacks == 4 and r.held_out.rates.real == 4
    real, attack = liveness_scores_by_class(items)
    assert np.isneginf(real).sum() == 1 and np.isposinf(attack).sum() == 1


def test_eval_liveness_cli_on_a_slice(nuaa, tmp_path, capsys, models_dir):
    for cls in ("real", "attack"):
        (tmp_path / cls).mkdir()
        for subject in ("0002", "0009"):
            for p in sorted((nuaa / cls).glob(f"{subject}_*"))[:3]:
                (tmp_path / cls / p.name).symlink_to(p)
    plot = tmp_path / "chart.png"
    assert main(["eval", "liveness", str(tmp_path), "--items", "--plot", str(plot)]) == 0
    out = capsys.readouterr()
    report = json.loads(out.out)  # eval's one JSON document on stdout, the summary on stderr
    assert "APCER" in out.err and "EER" in out.err
    assert report["real"] == report["attacks"] == 6
    items = [LivenessItem(**d) for d in report["items"]]
    real, attack = liveness_scores_by_class(items)
    t = report["at_threshold"]["threshold"]
    assert report["at_threshold"]["apcer"] == float(np.mean(attack >= t))
    assert report["at_threshold"]["bpcer"] == float(np.mean(real < t))
    assert report["eer"] == pytest.approx(liveness_eer(real, attack)[0])
    assert set(report["held_out"]["thresholds"]) == {"0002", "0009"}
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    figures = tmp_path / "figures.json"
    assert main(["eval", "liveness", str(tmp_path), "--limit", "2", "--json", str(figures)]) == 0
    limited = json.loads(figures.read_text())
    assert limited["real"] == limited["attacks"] == 2 and "items" not in limited
    with pytest.raises(OptionsError, match="real/ and attack/"):
        liveness_images(tmp_path / "real")
