"""CUDA kernels for frames that stay on the GPU (CuPy, pycuda ``GPUArray``, torch CUDA tensors).

``edgematte.make_trimap`` and ``edgematte.composite`` run here when given device arrays (with
``stream=``); this module adds the CUDA-only stages of the pipeline:

- :func:`preprocess`: uint8 HxWx3 frame -> [1,3,h,w] float16/float32 RGB engine input, one pass;
- :func:`upsample_alpha`: model alpha [h,w] float16/float32 0..1 -> uint8 HxW;
- :func:`blur`: separable box or Gaussian blur of a uint8 HxWx3 image (blurred backgrounds).

The folder holds the kernel sources (``*.cu``, ``em_cuda.h``) and, after
``python -m edgematte.kernels.cuda.build``, one fatbin per source; without a fatbin the sources
compile at run time with NVRTC. Nothing here imports pycuda or CuPy until a kernel runs.
"""

from __future__ import annotations

from ...validate import is_cuda_array
from ._launch import blur, blur_taps, preprocess, upsample_alpha

__all__ = ["blur", "blur_taps", "is_cuda_array", "preprocess", "upsample_alpha"]
