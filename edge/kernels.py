"""Which kernels run the ops: the runtime's optimized ones (NEON on aarch64, SSE/AVX on x86_64),
what a user's program gets, or its reference ones (plain C++, the same source on every machine).
Names only (no numpy): the runner's argument parser uses them."""

OPTIMIZED, REFERENCE = "optimized", "reference"
KERNELS = (OPTIMIZED, REFERENCE)
