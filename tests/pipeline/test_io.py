"""Tests of sem_metric.io: label-map formats, file pairing and boxes.json parsing."""
import json

import numpy as np
import pytest
from PIL import Image

from sem_metric.labelmap.box import Box
from sem_metric.errors import InputError
from sem_metric.pipeline.io import BoxSpec, pair_files, read_boxes, read_label_map, validate_boxes

IDS = np.array([[0, 1, 2], [3, 4, 5]], dtype=np.uint8)


# --------------------------------------------------------------------------- read_label_map
def test_mode_L(tmp_path):
    Image.fromarray(IDS).save(tmp_path / "a.png")
    out = read_label_map(tmp_path / "a.png")
    assert out.dtype == np.uint8 and out.shape == (2, 3)  # the narrowest dtype: no widening
    np.testing.assert_array_equal(out, IDS)


def test_mode_P_uses_index_not_colour(tmp_path):
    im = Image.frombytes("P", (3, 2), IDS.tobytes())
    palette = []
    for i in range(256):  # colour of index i is (200 - i, 10 + i, 77): never equal to i
        palette += [(200 - i) % 256, (10 + i) % 256, 77]
    im.putpalette(palette)
    im.save(tmp_path / "p.png")
    assert Image.open(tmp_path / "p.png").mode == "P"
    np.testing.assert_array_equal(read_label_map(str(tmp_path / "p.png")), IDS)


def test_mode_I16_values_above_255(tmp_path):
    ids = np.array([[0, 300], [65535, 1000]], dtype=np.uint16)
    Image.fromarray(ids).save(tmp_path / "a16.png")
    assert Image.open(tmp_path / "a16.png").mode.startswith("I;16")
    np.testing.assert_array_equal(read_label_map(tmp_path / "a16.png"), ids.astype(np.int64))


def test_mode_I16B(tmp_path):
    ids = np.array([[0, 300], [4000, 1000]], dtype=">u2")
    Image.frombytes("I;16B", (2, 2), ids.tobytes()).save(tmp_path / "b.tif")
    assert Image.open(tmp_path / "b.tif").mode == "I;16B"
    np.testing.assert_array_equal(read_label_map(tmp_path / "b.tif"), ids.astype(np.int64))


def test_mode_I(tmp_path):
    ids = np.array([[0, 70000], [123456, 5]], dtype=np.int32)
    Image.fromarray(ids).save(tmp_path / "i.tif")  # Pillow writes mode I to TIFF, not PNG
    assert Image.open(tmp_path / "i.tif").mode == "I"
    np.testing.assert_array_equal(read_label_map(tmp_path / "i.tif"), ids)


def test_npy(tmp_path):
    ids = np.array([[0, 70000], [3, 5]], dtype=np.int32)
    np.save(tmp_path / "a.npy", ids)
    out = read_label_map(tmp_path / "a.npy")
    assert out.dtype == np.int32  # the file's own dtype
    np.testing.assert_array_equal(out, ids)


@pytest.mark.parametrize(
    "arr, fragment",
    [(np.zeros((2, 2), np.float32), "integer dtype"), (np.zeros((2, 2, 2), np.int64), "2-D"),
     (np.array([[None, 1]], dtype=object), "Python objects")],
)
def test_npy_rejected(tmp_path, arr, fragment):
    np.save(tmp_path / "bad.npy", arr, allow_pickle=True)
    with pytest.raises(InputError, match=fragment) as e:
        read_label_map(tmp_path / "bad.npy")
    assert "bad.npy" in str(e.value)


def test_rgb_rejected_with_hint(tmp_path):
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(InputError) as e:
        read_label_map(tmp_path / "rgb.png")
    msg = str(e.value)
    assert "rgb.png" in msg and "RGB" in msg and "color_map" in msg and "'P' (palette index = class id" in msg
    Image.fromarray(np.zeros((2, 2, 4), np.uint8)).save(tmp_path / "rgba.png")
    with pytest.raises(InputError, match="RGBA"):
        read_label_map(tmp_path / "rgba.png")


def test_rgb_with_color_map(tmp_path):
    rgb = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [255, 0, 0]]], np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    cmap = {(255, 0, 0): 26, (0, 255, 0): 1, "#0000ff": 300}
    np.testing.assert_array_equal(read_label_map(tmp_path / "rgb.png", color_map=cmap), [[26, 1], [300, 26]])


def test_rgb_unknown_colours_listed(tmp_path):
    rgb = np.zeros((3, 4, 3), np.uint8)
    rgb[0, :] = [9, 9, 9]  # 4 px
    rgb[1, 0] = [1, 2, 3]  # 1 px
    rgb[2, :2] = [7, 7, 7]  # 2 px; the rest (5 px) is black
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    with pytest.raises(InputError) as e:
        read_label_map(tmp_path / "rgb.png", color_map={(0, 0, 0): 0})
    msg = str(e.value)
    assert "3 colour(s)" in msg and "(9, 9, 9): 4 px" in msg and "(7, 7, 7): 2 px" in msg and "(1, 2, 3): 1 px" in msg


def test_many_unknown_colours_truncated(tmp_path):
    rgb = np.zeros((1, 8, 3), np.uint8)
    rgb[0, :, 0] = np.arange(8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    with pytest.raises(InputError, match="and 3 more colours"):
        read_label_map(tmp_path / "rgb.png", color_map={})


def test_bad_color_map(tmp_path):
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / "rgb.png")
    for cmap in ({(0, 0): 1}, {(0, 0, 256): 1}, {(0, 0, 0): True}, [(0, 0, 0)]):
        with pytest.raises(InputError, match="color_map"):
            read_label_map(tmp_path / "rgb.png", color_map=cmap)


def test_missing_unreadable_and_non_image(tmp_path):
    with pytest.raises(InputError, match="not found") as e:
        read_label_map(tmp_path / "nope.png")
    assert "nope.png" in str(e.value)
    (tmp_path / "junk.png").write_bytes(b"this is not a png")
    with pytest.raises(InputError, match="junk.png"):
        read_label_map(tmp_path / "junk.png")
    (tmp_path / "junk.npy").write_bytes(b"garbage")
    with pytest.raises(InputError, match="junk.npy"):
        read_label_map(tmp_path / "junk.npy")
    with pytest.raises(InputError, match="directory"):
        read_label_map(tmp_path)
    Image.fromarray(np.zeros((2, 2), np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(InputError, match="mode F"):
        read_label_map(tmp_path / "f.tif")
    Image.new("LA", (2, 2)).save(tmp_path / "la.png")
    with pytest.raises(InputError, match="alpha"):
        read_label_map(tmp_path / "la.png")


# --------------------------------------------------------------------------- pair_files
def _touch(root, rel):
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"")


def test_pair_files_nested(tmp_path):
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    for rel in ("a.png", "sub/b.png", "sub/deep/c.npy", "notes.txt", ".hidden.png"):
        _touch(pred, rel)
    for rel in ("a.png", "sub/b.png", "sub/deep/c.npy", "readme.md"):
        _touch(gt, rel)
    pairs, skipped = pair_files(pred, gt)
    assert [p[0] for p in pairs] == ["a.png", "sub/b.png", "sub/deep/c.npy"]
    assert pairs[1] == ("sub/b.png", str(pred / "sub" / "b.png"), str(gt / "sub" / "b.png"))
    assert skipped == []


def test_pair_files_unmatched(tmp_path):
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    for rel in ("a.png", "x.npy", "only_pred.png"):
        _touch(pred, rel)
    for rel in ("a.png", "x.png", "d/only_gt.png"):
        _touch(gt, rel)
    with pytest.raises(InputError) as e:
        pair_files(pred, gt)
    msg = str(e.value)
    for name in ("only_pred.png", "x.npy", "d/only_gt.png", "x.png", "--allow-unmatched", "extension"):
        assert name in msg
    pairs, skipped = pair_files(pred, gt, allow_unmatched=True)
    assert [p[0] for p in pairs] == ["a.png"]
    assert skipped == [
        {"file": "d/only_gt.png", "reason": "missing in pred"},
        {"file": "only_pred.png", "reason": "missing in gt"},
        {"file": "x.npy", "reason": "missing in gt"},
        {"file": "x.png", "reason": "missing in pred"},
    ]


def test_pair_files_long_list_truncated(tmp_path):
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    _touch(gt, "a.png")
    for i in range(14):
        _touch(pred, f"p{i:02d}.png")
    with pytest.raises(InputError, match="and 4 more"):
        pair_files(pred, gt)


def test_pair_files_bad_dirs(tmp_path):
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir()
    _touch(gt, "a.png")
    with pytest.raises(InputError, match="no label maps"):
        pair_files(pred, gt)
    with pytest.raises(InputError, match="not found"):
        pair_files(tmp_path / "missing", gt)
    with pytest.raises(InputError, match="not a directory"):
        pair_files(gt / "a.png", gt)
    _touch(pred, "b.png")
    with pytest.raises(InputError, match="no file"):
        pair_files(pred, gt, allow_unmatched=True)


# --------------------------------------------------------------------------- boxes
def _write(tmp_path, obj):
    p = tmp_path / "boxes.json"
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return p


def test_read_boxes_ok(tmp_path):
    p = _write(tmp_path, {"a.png": [{"bbox": [1, 2, 3, 4], "label": 26}],
                          "./sub/b.png": [{"bbox": [0, 0, 5.0, 5], "label": 0}, {"bbox": [1, 1, 2, 2], "label": 3}],
                          "c.npy": []})
    boxes = read_boxes(p)
    assert boxes == {
        "a.png": [BoxSpec(Box(1, 2, 3, 4), 26)],
        "sub/b.png": [BoxSpec(Box(0, 0, 5, 5), 0), BoxSpec(Box(1, 1, 2, 2), 3)],
        "c.npy": [],
    }


def test_read_boxes_json_error_has_line_col(tmp_path):
    p = _write(tmp_path, '{\n  "a.png": [\n    {"bbox": [1, 2, 3, 4] "label": 1}\n  ]\n}')
    with pytest.raises(InputError, match=r"line 3, column 27"):
        read_boxes(p)


@pytest.mark.parametrize(
    "entry, fragment",
    [
        ({"label": 1}, "'bbox'"),
        ({"bbox": [1, 2, 3, 4]}, "'label'"),
        ({"bbox": [1, 2, 3], "label": 1}, "exactly 4"),
        ({"bbox": "1,2,3,4", "label": 1}, "must be a list"),
        ({"bbox": [1.5, 2, 3, 4], "label": 1}, "not an integer"),
        ({"bbox": [1, 2, 3, True], "label": 1}, "bool"),
        ({"bbox": [1, 2, 3, 4], "label": True}, "integer class id"),
        ({"bbox": [1, 2, 3, 4], "label": 1.0}, "integer class id"),
        ({"bbox": [1, 2, 3, 4], "label": -1}, "non-negative"),
        ({"bbox": [3, 2, 3, 4], "label": 1}, "x1 > x0"),
        ({"bbox": [1, 4, 3, 2], "label": 1}, "empty"),
        ({"bbox": [-1, 2, 3, 4], "label": 1}, "negative"),
        ([1, 2, 3, 4], "expected an object"),
        ({"bbox": [1, 2, 3, 4], "lable": 1}, r"unknown key\(s\) 'lable'.*did you mean 'lable' -> 'label'"),
        ({"bbox": [1, 2, 3, 4], "label": 1, "score": 0.3}, r"unknown key\(s\) 'score'"),
    ],
)
def test_read_boxes_entry_errors(tmp_path, entry, fragment):
    p = _write(tmp_path, {"ok.png": [{"bbox": [0, 0, 1, 1], "label": 1}],
                          "dir/img.png": [{"bbox": [0, 0, 1, 1], "label": 1}, entry]})
    with pytest.raises(InputError, match=fragment) as e:
        read_boxes(p)
    msg = str(e.value)
    assert "'dir/img.png'" in msg and "box 1" in msg and "boxes.json" in msg


@pytest.mark.parametrize(
    "content, fragment",
    [('[{"bbox": [0, 0, 1, 1], "label": 1}]', "top level"),
     ('{"a.png": {"bbox": [0, 0, 1, 1], "label": 1}}', "'a.png': expected a list"),
     ('{"a.png": [], "a.png": []}', "duplicate key"),
     ('{"a.png": [], "./a.png": []}', "both name"),
     ('{"../a.png": []}', "relative")],
)
def test_read_boxes_structure_errors(tmp_path, content, fragment):
    with pytest.raises(InputError, match=fragment):
        read_boxes(_write(tmp_path, content))


def test_read_boxes_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_boxes(tmp_path / "none.json")


def test_validate_boxes(tmp_path):
    specs = [BoxSpec(Box(0, 0, 4, 3), 1), BoxSpec(Box(2, 1, 5, 3), 2)]
    validate_boxes(specs[:1], "a/b.png", (3, 4))
    with pytest.raises(InputError) as e:
        validate_boxes(specs, "a/b.png", (3, 4))
    msg = str(e.value)
    assert "'a/b.png'" in msg and "box 1" in msg and "width 4 and height 3" in msg


# --------------------------------------------------------------------------- narrow dtypes (issue #10)
def test_narrowest_dtype_per_mode(tmp_path):
    """Each mode keeps the narrowest native integer dtype holding its ids (no int64 copy of the map)."""
    Image.fromarray(np.array([[0, 65535], [300, 7]], np.uint16)).save(tmp_path / "a16.png")
    Image.frombytes("I;16B", (2, 1), np.array([[1, 4000]], ">u2").tobytes()).save(tmp_path / "b.tif")
    Image.fromarray(np.array([[5, 70000]], np.int32)).save(tmp_path / "i.tif")
    Image.fromarray(np.array([[True, False]])).save(tmp_path / "one.png")
    cases = {"a16.png": (np.uint16, [[0, 65535], [300, 7]]), "b.tif": (np.uint16, [[1, 4000]]),
             "i.tif": (np.int32, [[5, 70000]]), "one.png": (np.uint8, [[1, 0]])}
    for name, (dtype, values) in cases.items():
        out = read_label_map(tmp_path / name)
        assert out.dtype == dtype and out.dtype.isnative, name
        np.testing.assert_array_equal(out, values)
        out[0, 0] = 1  # writable


@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", "<u2", ">i4", "u4", "i8", ">u8"])
def test_npy_keeps_its_integer_dtype(tmp_path, dtype):
    ids = np.array([[0, 1], [2, 100]], dtype=dtype)
    np.save(tmp_path / "a.npy", ids)
    out = read_label_map(tmp_path / "a.npy")
    expected = np.dtype(dtype).newbyteorder("=")
    assert out.dtype == (np.int64 if expected == np.uint64 else expected) and out.dtype.isnative
    np.testing.assert_array_equal(out, ids)


def test_npy_uint64_above_int64_is_refused(tmp_path):
    np.save(tmp_path / "big.npy", np.array([[0, 2**63]], dtype=np.uint64))
    with pytest.raises(InputError, match="larger than"):
        read_label_map(tmp_path / "big.npy")


def test_color_map_output_dtype_fits_ids(tmp_path):
    rgb = np.array([[[255, 0, 0], [0, 255, 0]]], np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    assert read_label_map(tmp_path / "rgb.png", color_map={(255, 0, 0): 3, (0, 255, 0): 200}).dtype == np.uint8
    out = read_label_map(tmp_path / "rgb.png", color_map={(255, 0, 0): 3, (0, 255, 0): 70000})
    assert out.dtype == np.int32 and out.tolist() == [[3, 70000]]


# ------------------------------------------------------------------------------ issue 9: one policy for negative ids
def test_negative_class_ids_are_rejected_in_files_and_api_alike(tmp_path):
    """Policy (docs/ARCHITECTURE.md): class ids are non-negative everywhere; the message says how to fix."""
    from sem_metric import compute_sem, context_classes, evaluate_samples, noise_count, object_map, tiou

    seg = np.zeros((4, 5), np.int32)
    seg[1, 1] = -1
    Image.fromarray(seg, mode="I").save(tmp_path / "neg.tif")  # 32-bit signed (PNG cannot hold negatives)
    np.save(tmp_path / "neg.npy", seg.astype(np.int64))
    for path in (tmp_path / "neg.tif", tmp_path / "neg.npy"):
        with pytest.raises(InputError, match="non-negative.*seg\\[seg < 0\\] = 255") as e:
            read_label_map(path)
        assert str(path) in str(e.value)
    ok = np.zeros((4, 5), np.int64)
    box = (0, 0, 3, 3)
    for call in (lambda: tiou(seg, ok, box, 0), lambda: noise_count(ok, seg, box), lambda: object_map(seg, box, 0),
                 lambda: context_classes(seg, box), lambda: compute_sem(seg, ok, box, 0),
                 lambda: tiou(ok, ok, box, -1), lambda: noise_count(ok, ok, box, allowed=[-1, 0]),
                 lambda: evaluate_samples({"x": (ok, ok)}, {"x": [{"bbox": [0, 0, 3, 3], "label": -1}]})):
        with pytest.raises(InputError, match="non-negative"):
            call()
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(InputError, match="non-negative"):
        read_label_map(tmp_path / "rgb.png", color_map={(0, 0, 0): -1})
