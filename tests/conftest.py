"""Shared fixtures: a device parameter (cuda cases skip without a GPU) and a small thread count."""
import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture(params=["cpu", "cuda"])
def device(request):
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    return request.param
