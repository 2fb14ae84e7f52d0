"""The device's int8 outputs against this machine's, for the same model and inputs: the
last-bit differences between x86_64 and aarch64 kernels that host-only parity cannot see."""

from __future__ import annotations

import numpy as np

from pipeline.records.parity import DeviceComparison, FirstDifference, HostRun


def compare_raw(device_raw: np.ndarray, host_raw: np.ndarray, scale: float | None,
                host: HostRun) -> DeviceComparison:
    """Counts of differing outputs, the largest difference in output LSB, the first sample
    that differs (index into the compared inputs) and its values."""
    if device_raw.shape != host_raw.shape:
        raise ValueError(f"device outputs {device_raw.shape} vs host outputs {host_raw.shape}")
    if np.issubdtype(device_raw.dtype, np.integer):
        diff = np.abs(device_raw.astype(np.int64) - host_raw.astype(np.int64)).astype(np.float64)
    else:
        diff = np.abs(device_raw.astype(np.float64) - host_raw.astype(np.float64))
        diff = diff / scale if scale else diff
    per_sample = diff.reshape(len(diff), -1).max(axis=1)
    differing = np.nonzero(per_sample > 0)[0]
    first = None
    if len(differing):
        i = int(differing[0])
        first = FirstDifference(sample=i, device=device_raw[i].ravel().tolist(),
                                host=host_raw[i].ravel().tolist())
    return DeviceComparison(samples=int(len(device_raw)), outputs=int(diff.size),
                            differing_outputs=int(np.count_nonzero(diff)),
                            differing_samples=int(len(differing)),
                            max_diff_lsb=float(diff.max()) if diff.size else 0.0,
                            first_difference=first, host=host)
