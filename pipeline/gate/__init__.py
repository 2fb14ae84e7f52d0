"""The gate: what the stages measure against (`metrics`), the thresholds a build must meet
(`thresholds`) and the float-island policy (`islands`). Convert, `--recover` and parity import
it; it imports no stage."""
