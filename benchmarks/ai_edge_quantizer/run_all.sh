#!/bin/bash
# Runs every (model, runtime) pair sequentially, each in its own process; records crashes (non-Python errors) too.
cd /tmp/aeq-work
PY=/work/main/.venv/bin/python
for m in float_nosig float static_wi8_ai8 dynamic_wi8_afp32 static_wi8_ai16; do
  for rt in tflite_runtime litert; do
    rm -f outputs/$m.$rt.json
    $PY run_eval.py $m $rt > outputs/$m.$rt.log 2>&1; rc=$?
    if [ ! -f outputs/$m.$rt.json ]; then
      echo "{\"model\": \"$m\", \"runtime\": \"$rt\", \"ok\": false, \"stage\": \"process\", \"exit_code\": $rc, \"error\": \"process exited with code $rc; last stderr line: $(grep -v '^\s*$' outputs/$m.$rt.log | tail -1 | sed 's/\"/\x27/g')\"}" > outputs/$m.$rt.json
    fi
    echo "$m $rt rc=$rc $(cat outputs/$m.$rt.json | tr -d '\n' | cut -c1-300)"
  done
done
