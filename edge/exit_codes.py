"""Exit codes of `gelu-edge` and of the device runner (`python -m edge`), in one place: the host
maps the runner's codes to its own errors. Standard library only (it runs on the device too)."""

OK = 0
CHECK_FAILED = 1  # gelu-edge: a graph check, the runtime or a threshold failed
BAD_INPUT = 2  # both: bad usage or bad input (one line saying what to do)
RUNNER_CANNOT_LOAD = 3  # runner: the runtime could not load or run the model
RUNNER_MISSING = 4  # runner: numpy or the runtime is not installed there
RUNNER_DELEGATE = 5  # runner: the external delegate could not be loaded
RUNNER_DAMAGED = 6  # runner: the model is not the one the host sent (its sha256 differs)
INTERNAL = 70  # gelu-edge: an unexpected error (EX_SOFTWARE); the traceback is in error.log
INTERRUPTED = 130  # gelu-edge: Ctrl-C or SIGTERM

# Lines the runner writes on stderr before each step that can crash the process, so the host
# can say what was going on when a signal killed it: `stage NAME` and, once the model's sha256
# matched the host's, the custody line.
STAGE = "stage"
STAGES = {"loading": "loading the model", "allocating": "allocating tensors (the kernels "
          "prepare here)", "invoking": "invoking the model"}
SHA256_MATCHED = "sha256 matched"
