"""Paper 003's Table 3 on the synthetic corpus: upper- and lower-face errors of the full model and its ablations.

Reads the `facetalk eval` reports under bench/reports/<row>/<test|unseen>/metrics.json and prints, per
split, the vertex region errors (upper face, lips, whole face; mm) and the ARKit channel MAE of the
upper face (eye and brow channels, the analogue of the paper's upper-face AUs; the brows, which the
corpus raises on prominent words, also alone) and of the lower face (mouth and jaw channels), with
each row's change against audio only.

    .venv/bin/python bench/audio_text_fusion_ablation.py [bench/reports]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from facetalk.eval.metrics import ARKIT_REGIONS

ROWS = (("audio only", "audio_text_fusion-audio_only"), ("text only", "audio_text_fusion-text_only"),
        ("audio+text (C)", "audio_text_fusion-concat"), ("audio+text (TF)", "audio_text_fusion"))  # fmt: skip
SPLITS = (("held-out sentences (test)", "test"), ("held-out speakers (test_unseen_speaker)", "unseen"))
UPPER = ARKIT_REGIONS["eyes"] + ARKIT_REGIONS["brows"]
LOWER = ARKIT_REGIONS["mouth"] + ARKIT_REGIONS["jaw"]
MM_PER_M = 1000.0
BASELINE = "audio only"


def row_values(report: dict) -> dict[str, float]:  # type: ignore[type-arg]
    """The table's columns from one metrics.json."""
    metrics, channels = report["metrics"], report["channel_mae"]
    return {
        "upper face (mm)": MM_PER_M * metrics["upper_mean"],
        "lips (mm)": MM_PER_M * metrics["lip_mean"],
        "face (mm)": MM_PER_M * metrics["face_mean"],
        "upper ARKit MAE": sum(channels[n] for n in UPPER) / len(UPPER),
        "brows ARKit MAE": metrics["blendshape_mae_brows"],
        "lower ARKit MAE": sum(channels[n] for n in LOWER) / len(LOWER),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", type=Path, nargs="?", default=Path(__file__).parent / "reports")
    reports = parser.parse_args().reports
    for title, split in SPLITS:
        values = {}
        for name, row in ROWS:
            path = reports / row / split / "metrics.json"
            if path.is_file():
                values[name] = row_values(json.loads(path.read_text()))
        if not values:
            continue
        columns = list(next(iter(values.values())))
        print(f"\n{title}\n")
        print("| model | " + " | ".join(columns) + " |")
        print("|---" * (len(columns) + 1) + "|")
        base = values.get(BASELINE)
        for name, row in values.items():
            cells = []
            for column in columns:
                change = "" if base is None or name == BASELINE else f" ({100 * (row[column] / base[column] - 1):+.1f} %)"
                cells.append(f"{row[column]:.4f}{change}")
            print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
