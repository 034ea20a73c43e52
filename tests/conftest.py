"""Shared fixtures: a small, randomly initialised but fully valid classifier weights file.

Properties of Sem (identical inputs -> 0, range, batch-size independence, determinism) hold for any
weights, so these tests do not depend on the shipped checkpoint.
"""
import pytest
import torch


@pytest.fixture(scope="session")
def random_weights_path(tmp_path_factory):
    from sem_metric.classifier import build_shape_classifier
    from sem_metric.weights import save_classifier_weights

    torch.manual_seed(0)
    model = build_shape_classifier()
    # non-trivial BN statistics so that eval-mode outputs are not degenerate
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("weights") / "random.safetensors"
    save_classifier_weights(model, path)
    return path


@pytest.fixture(scope="session")
def random_classifier(random_weights_path):
    from sem_metric.weights import load_classifier

    return load_classifier(random_weights_path, device="cpu")


@pytest.fixture
def one_torch_thread():
    """One intra-op thread during a test: on a shared, loaded CPU torch's thread pool can be far slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
