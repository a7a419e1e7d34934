from facetalk.face.arkit import ARKIT_NAMES, HEAD_AND_EYE_ROTATIONS, MIRROR_PAIRS, mirror_name


def test_arkit_names_are_the_52_in_canonical_order():
    assert len(ARKIT_NAMES) == len(set(ARKIT_NAMES)) == 52
    assert ARKIT_NAMES[:2] == ("eyeBlinkLeft", "eyeLookDownLeft")
    assert ARKIT_NAMES[17] == "jawOpen" and ARKIT_NAMES[-1] == "tongueOut"
    assert len(HEAD_AND_EYE_ROTATIONS) == 9


def test_mirror_pairs_cover_every_sided_shape():
    assert len(MIRROR_PAIRS) == 20  # 52 shapes - 12 unpaired = 40 sided
    for left, right in MIRROR_PAIRS:
        assert right in ARKIT_NAMES and mirror_name(right) == left
    assert mirror_name("jawOpen") == "jawOpen" and mirror_name("jawLeft") == "jawRight"
    unpaired = {n for n in ARKIT_NAMES if mirror_name(n) == n}
    assert unpaired == {
        "jawForward", "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthRollLower", "mouthRollUpper",
        "mouthShrugLower", "mouthShrugUpper", "browInnerUp", "cheekPuff", "tongueOut",
    }  # fmt: skip
