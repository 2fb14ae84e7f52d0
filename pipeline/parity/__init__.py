"""Stage 4, parity, and the analyses behind it: the stage (`stage.run`), per-layer parity, GELU
sites, sensitivity, the device comparison, the metrics and the gate's thresholds."""
