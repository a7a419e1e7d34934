"""GLB files checked by an independent reader: the Khronos glTF-Validator (npm `gltf-validator`).

`make test` installs the validator into .venv/node with npm; the tests are skipped only on a machine
without Node.js and npm.
"""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from facetalk.export import export_motion
from facetalk.face.arkit import ARKIT_NAMES
from facetalk.face.default_face import default_rig
from facetalk.types import Motion

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = ROOT / ".venv" / "node" / "node_modules" / "gltf-validator"
SCRIPT = Path(__file__).with_name("validate_gltf.js")

pytestmark = pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None, reason="no Node.js/npm")


def validate(path: Path) -> dict:
    if not VALIDATOR.exists():
        pytest.fail(f"{VALIDATOR} missing: run `make test`, which installs it with npm")
    result = subprocess.run(["node", str(SCRIPT), str(VALIDATOR), str(path)], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def test_blendshape_glb_passes_the_khronos_validator(tmp_path):
    weights = np.random.default_rng(0).uniform(0, 1, (20, len(ARKIT_NAMES)))
    path = tmp_path / "face.glb"
    export_motion(Motion(weights, 30.0, "blendshapes", ARKIT_NAMES), path)
    report = validate(path)
    assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0, report["issues"]["messages"]
    assert [m["code"] for m in report["issues"]["messages"]] == []  # no infos either (e.g. degenerate triangles)
    assert report["info"]["hasMorphTargets"] and report["info"]["animationCount"] == 1


def test_vertex_glb_passes_the_khronos_validator(tmp_path):
    rig = default_rig()
    weights = np.zeros((15, rig.num_shapes), np.float32)
    weights[:, ARKIT_NAMES.index("jawOpen")] = np.linspace(0, 1, 15)
    weights[:, ARKIT_NAMES.index("eyeBlinkLeft")] = np.linspace(1, 0, 15)
    path = tmp_path / "verts.glb"
    export_motion(rig.animate(Motion(weights, 25.0, "blendshapes", rig.names)), path)
    report = validate(path)
    assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0, report["issues"]["messages"]
    assert report["info"]["animationCount"] == 1
