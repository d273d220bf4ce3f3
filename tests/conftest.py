"""Shared fixtures: the real Llama-3.1-8B config the H100 calibration GGUFs were built from."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# Check every result model quantadvisor builds without validation (quantadvisor/construct.py);
# set before quantadvisor is imported, and inherited by the CLI subprocesses the tests start.
os.environ["QUANTADVISOR_VALIDATE"] = "1"

if TYPE_CHECKING:
    from quantadvisor.architecture import ModelSpec

TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(autouse=True, scope="session")
def _private_dataset_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the validated-dataset pickle out of the user's ~/.cache while tests run."""
    import os

    os.environ["QUANTADVISOR_CACHE_DIR"] = str(tmp_path_factory.mktemp("qa-cache"))


# meta-llama/Llama-3.1-8B config.json (shape fields). rope_scaling matters: llama.cpp stores the
# llama3 frequency factors as a 64-value F32 tensor, one of the 66 F32 tensors in the calibration
# files (tests/data/llama3.1-8b-h100.README.md), and 8,030,261,312 parameters only add up with it.
LLAMA31_8B_CONFIG: dict[str, Any] = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "tie_word_embeddings": False,
    "max_position_embeddings": 131072,
    "rope_scaling": {
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
        "rope_type": "llama3",
    },
}


@pytest.fixture
def llama31_8b_config() -> dict[str, Any]:
    """A fresh copy of the Llama-3.1-8B config.json (tests may mutate it)."""
    import copy

    return copy.deepcopy(LLAMA31_8B_CONFIG)


@pytest.fixture
def llama31_8b() -> ModelSpec:
    """The Llama-3.1-8B ModelSpec, exactly the calibration files' shape."""
    from quantadvisor.architecture import spec_from_config

    return spec_from_config(LLAMA31_8B_CONFIG, name="Llama-3.1-8B")
