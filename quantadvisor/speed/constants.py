"""Kernel efficiencies and fixed costs of the speed model, and the names of what bounds a speed.

Which constants are fitted, on which measurements, is in docs/methodology.md ("Speed").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["DEFAULT_HOST_BANDWIDTH_GBPS", "SPEED", "Backend", "Bound", "SpeedConstants"]

Bound = Literal["gpu-bandwidth", "host-bandwidth", "compute", "per-layer-overhead", "pcie-transfer"]
Backend = Literal["cuda", "metal", "rocm", "vulkan", "cpu"]

# Dual-channel DDR5-4800: 2 channels x 64 bit x 4800 MT/s / 8 = 76.8 GB/s (JEDEC JESD79-5 speed bin),
# the host assumed when neither --ram-bandwidth nor a readable unified-memory chip says otherwise.
DEFAULT_HOST_BANDWIDTH_GBPS = 76.8


@dataclass(frozen=True)
class SpeedConstants:
    """Kernel efficiencies and fixed costs. Fitted values are marked in docs/methodology.md ("Speed").

    decode_efficiency: achieved / peak memory bandwidth of llama.cpp's CUDA matrix-vector kernels
    per ggml type (Q6_K below Q8_0: its 6-bit unpacking costs more ALU work per byte).
    prefill_efficiency: achieved / dense FP16 tensor peak of the batched matmul per type.
    """

    decode_efficiency: tuple[tuple[str, float], ...] = (
        ("F32", 0.80), ("F16", 0.86), ("BF16", 0.86), ("Q8_0", 0.86), ("Q4_0", 0.80), ("Q4_1", 0.76),
        ("Q5_0", 0.70), ("Q5_1", 0.68), ("Q4_K", 0.72), ("Q5_K", 0.64), ("Q6_K", 0.57), ("Q3_K", 0.55),
        ("Q2_K", 0.52), ("IQ4_XS", 0.66), ("IQ4_NL", 0.66), ("IQ3_S", 0.50), ("IQ3_XXS", 0.50),
        ("IQ2_S", 0.46), ("IQ2_XS", 0.46), ("IQ2_XXS", 0.46), ("IQ1_M", 0.42), ("IQ1_S", 0.42),
        ("MXFP4", 0.72), ("TQ1_0", 0.40), ("TQ2_0", 0.40),
    )  # fmt: skip
    prefill_efficiency: tuple[tuple[str, float], ...] = (
        ("F16", 0.45), ("BF16", 0.45), ("F32", 0.10), ("Q8_0", 0.40), ("Q4_0", 0.42), ("Q4_1", 0.40),
        ("Q5_0", 0.38), ("Q5_1", 0.37), ("Q4_K", 0.36), ("Q5_K", 0.34), ("Q6_K", 0.33), ("Q3_K", 0.30),
        ("Q2_K", 0.29), ("IQ4_XS", 0.33), ("IQ4_NL", 0.33), ("IQ3_S", 0.27), ("IQ3_XXS", 0.27),
        ("IQ2_S", 0.24), ("IQ2_XS", 0.24), ("IQ2_XXS", 0.24), ("IQ1_M", 0.22), ("IQ1_S", 0.22),
        ("MXFP4", 0.36), ("TQ1_0", 0.15), ("TQ2_0", 0.15),
    )  # fmt: skip
    decode_cap_gbps_per_tflops: tuple[tuple[str, float], ...] = (
        ("F32", 8.0), ("F16", 8.0), ("BF16", 8.0), ("Q8_0", 2.75), ("Q4_0", 2.3), ("Q4_1", 2.556),
        ("Q5_0", 2.0), ("Q5_1", 2.182), ("Q4_K", 1.96), ("Q5_K", 2.05), ("Q6_K", 1.6), ("Q3_K", 0.9),
        ("Q2_K", 0.95), ("IQ4_XS", 2.0), ("IQ4_NL", 2.118), ("IQ3_S", 1.066), ("IQ3_XXS", 0.95),
        ("IQ2_S", 1.0), ("IQ2_XS", 1.0), ("IQ2_XXS", 1.0), ("IQ1_M", 0.9), ("IQ1_S", 0.9),
        ("MXFP4", 2.0), ("TQ1_0", 0.8), ("TQ2_0", 0.8),
    )  # fmt: skip
    """GB/s of weights a matrix-vector kernel can unpack per dense FP16 TFLOPS of the GPU (its
    SM x clock throughput), where the catalog has that rate: on Hopper the kernels are bound by
    their integer work, not by HBM (an H200 decodes an 8B no faster than an H100). Fitted on the
    H200 Llama-3.1-8B types rows (each file's effective rate, its Q6_K share taken out); Q3_K 0.9
    balances the two fit files that hold it (Q3_K_M +5%, Q2_K -5%). A type without a row of its own
    takes its sibling's rate per weight, since the kernels do the same integer work per weight and
    differ in bytes: Q4_1 = Q4_0 x 20/18 bytes a block, Q5_1 = Q5_0 x 24/22, IQ4_NL = IQ4_XS x
    4.5/4.25 bits, IQ3_S = IQ3_XXS x 3.4375/3.0625 bits (not fitted)."""
    prefill_efficiency_tensor: tuple[tuple[str, float], ...] = (
        ("F16", 0.40), ("BF16", 0.40), ("F32", 0.05), ("Q8_0", 0.18), ("Q4_0", 0.19), ("Q4_1", 0.18),
        ("Q5_0", 0.17), ("Q5_1", 0.17), ("Q4_K", 0.156), ("Q5_K", 0.157), ("Q6_K", 0.13), ("Q3_K", 0.127),
        ("Q2_K", 0.103), ("IQ4_XS", 0.18), ("IQ4_NL", 0.18), ("IQ3_S", 0.147), ("IQ3_XXS", 0.147),
        ("IQ2_S", 0.127), ("IQ2_XS", 0.127), ("IQ2_XXS", 0.127), ("IQ1_M", 0.11), ("IQ1_S", 0.11),
        ("MXFP4", 0.12), ("TQ1_0", 0.06), ("TQ2_0", 0.06),
    )  # fmt: skip
    """Prefill against a catalog tensor rate (today H100/H200: llama.cpp's mma.sync MMQ and cuBLAS
    reach a fraction of the wgmma peak). Fitted on the H200 Llama-3.1-8B pp512 rows."""
    host_type_efficiency: tuple[tuple[str, float], ...] = (("MXFP4", 0.085),)
    """CPU kernels slower than the rest per byte (relative to host_efficiency): MXFP4's, fitted on
    the H200 host's gpt-oss-20b --n-cpu-moe 6 and 24 rows."""
    other_decode_efficiency: float = 0.55
    """Types without an entry (a new ggml type)."""
    kv_efficiency: float = 0.60
    """Flash-attention decode reads of the K and V cache, against peak bandwidth."""
    moe_expert_efficiency: float = 1.0
    """mul_mat_id at decode against a dense matrix-vector product of the same type: MMVQ with ids runs
    the dense kernel over the chosen experts' rows, so they read at the dense rate (the routing's
    extra kernels are moe_layer_us). Was a 0.80 prior with no measurement behind it; every MoE row
    on the H200 read faster than that (Mixtral -26%, Qwen3-30B-A3B -12%)."""
    layer_us: float = 30.0
    """Fixed GPU time per repeating layer per token (CUDA, graphs on): launches and small ops."""
    moe_layer_us: float = 18.0
    """Extra fixed time per MoE layer (router, top-k, id gathering)."""
    token_us: float = 250.0
    """Fixed time per token outside the layers: embedding get_rows, output, synchronisation."""
    split_us: float = 120.0
    """Each hand-over between the GPU and the CPU backend within a token (copy + sync)."""
    cpu_layer_us: float = 40.0
    """Fixed CPU time per layer computed on the host (thread barriers of ggml's CPU backend)."""
    host_efficiency: float = 0.80
    """Achieved / peak host bandwidth of ggml's CPU matrix-vector kernels with enough threads."""
    host_thread_gbps: float = 5.2
    """Bandwidth one CPU thread sustains through the quantized dot products (caps few-thread runs)."""
    metal_decode_scale: float = 1.15
    """Metal (Apple GPUs) kernels relative to the CUDA efficiencies above."""
    metal_layer_us: float = 165.0
    """Fixed time per layer on Metal (command buffer encoding)."""
    metal_prefill_scale: float = 1.0
    """Metal prefill against the estimated GPU throughput, relative to CUDA's tensor-core efficiency."""
    tflops_per_gbps: float = 0.25
    """Dense FP16 TFLOPS per GB/s of bandwidth assumed for a GPU without a catalog figure (CUDA/ROCm)."""
    metal_tflops_per_gbps: float = 0.052
    """The same for Apple GPUs (no tensor cores): fitted on the M1/M2 prefill rows of discussion #4167."""
    prefill_layer_us: float = 90.0
    """Fixed time per layer per ubatch in prefill."""
    attn_over_f16: float = 0.55
    """Prefill attention's throughput (flash attention over the F16 cache) relative to an F16 matmul's:
    it used to run at the weights' type efficiency (Q4_K's 0.156 of the tensor peak, against F16's
    0.40). Fitted on the H200 Llama-3.1-8B pp512 -d 4096 / 16384 rows (218 TFLOPS on an H200)."""
    mmq_tile_tokens: int = 128
    """Widest MMQ tile (columns = tokens) llama.cpp's CUDA kernels use (mmq_x_max, NVIDIA Volta and
    later): mul_mat_id at prefill pads each expert's tokens to whole tiles (prefill.expert_tile_efficiency).
    From the kernel's source, not fitted."""
    moe_tile_fixed_share: float = 0.5
    """Share of a full MMQ tile's time that an expert's tile costs whatever its token count (loading
    and unpacking the weight tile); the rest scales with the tokens it holds. Fitted on the H200
    all-GPU pp512 rows of gpt-oss-20b and Qwen3-30B-A3B (0.47 and 0.50); 1.0 would be pure padding."""
    narrow_embd: float = 4096.0
    """On a GPU with a catalog tensor rate (132-SM Hopper), matrices narrower than this leave SMs
    idle at a 512-token ubatch: prefill efficiency x (n_embd / 4096)^0.75 below it. Added after
    seeing the H200 1B/3B rows, so those prefill rows are not a clean hold-out."""
    bias_us: float = 3.0
    """Extra fixed decode time per bias or sink tensor in a layer (one more small kernel each, a tenth
    of a layer's 30 us): Qwen2's q/k/v biases, gpt-oss's nine. A first-principles term added after
    seeing the held-out gpt-oss-20b rows (not fitted on them)."""
    norm_us: float = 6.0
    """Extra fixed decode time per layer for each norm beyond two (Gemma 2/3's post-norms)."""
    cpu_gflops_per_thread: float = 60.0
    """Prefill on the CPU (no GPU): quantized matmul throughput per thread."""
    pcie_efficiency: float = 0.80
    """Achieved / nominal PCIe x16 bandwidth for op offload's pinned host-to-device copies."""


SPEED = SpeedConstants()
