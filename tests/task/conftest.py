"""Fixtures of the sem-task tests (the writers are in task_data.py)."""
import pytest

from task_data import write_camvid


@pytest.fixture
def camvid_small(tmp_path):
    """Three hand-made CamVid maps in the SegNet encoding (task_data.camvid_maps) under tmp/camvid/testannot."""
    return write_camvid(tmp_path / "camvid")
