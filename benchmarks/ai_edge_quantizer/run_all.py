"""Run every (model, runtime) pair, one after the other, each in its own process (run_eval.py).

A process that dies without writing its record (a crash in the runtime's C++ code, say) gets one
written here: the exit code and the last line of its stderr. Logs go to --work/outputs/.
"""

from __future__ import annotations

import json
import subprocess
import sys

from folders import HERE, MODELS, RUNTIMES, folder_args, parser


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=MODELS, help="default: %(default)s")
    args = p.parse_args()
    outputs = args.work / "outputs"
    outputs.mkdir(parents=True, exist_ok=True)
    for m in args.models:
        for rt in RUNTIMES:
            record, log = outputs / f"{m}.{rt}.json", outputs / f"{m}.{rt}.log"
            record.unlink(missing_ok=True)
            with log.open("w") as out:
                rc = subprocess.run([sys.executable, str(HERE / "run_eval.py"), m, rt,
                                     *folder_args(args)], stdout=out,
                                    stderr=subprocess.STDOUT).returncode
            if not record.is_file():
                lines = [line for line in log.read_text(errors="replace").splitlines()
                         if line.strip()]
                last = lines[-1].replace('"', "'") if lines else ""
                record.write_text(json.dumps(
                    {"model": m, "runtime": rt, "ok": False, "stage": "process", "exit_code": rc,
                     "error": f"process exited with code {rc}; last stderr line: {last}"}))
            summary = record.read_text().replace("\n", "")[:300]
            print(f"{m} {rt} rc={rc} {summary}")


if __name__ == "__main__":
    main()
