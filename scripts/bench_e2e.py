"""Scripted end-to-end measurement (part of `make bench`): inventory + scan of the whole demo
account (all eight services, as `make demo` seeds it), through the real function binaries and
the Lambda Runtime API, against the local AWS.

Runs the demo pipeline RUNS times (default 5) on a freshly reset local AWS each time, and prints
min / median / max of each step's wall time, of the handlers' own durations, and of the function
processes' CPU time (user + sys: their work without the local AWS, a separate process).
"""

import json
import os
import statistics
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_account  # noqa: E402
import demo  # noqa: E402


def main():
    runs = int(os.environ.get("RUNS", "5"))
    moto, endpoint = demo.start_moto()
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1", RUST_LOG="warn")
    rows = []
    try:
        for _ in range(runs):
            urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
            demo.create_tables(endpoint)
            creds = demo.seed_customer(endpoint)
            demo.seed_ec2(endpoint, creds)
            inv, t_inv, cpu_inv, _ = bench_account.run("inventory-generator", "events/inventory-generator/all.json", env)
            scan, t_scan, cpu_scan, _ = bench_account.run("policy-scanner", "events/policy-scanner/all.json", env)
            assert scan["new"] > 0, (inv, scan)
            rows.append((t_inv, t_scan, inv["duration_ms"], scan["duration_ms"], cpu_inv, cpu_scan,
                         inv["resources"], scan["evaluated"], scan["new"], len(inv["errors"])))
    finally:
        moto.terminate()
        moto.wait()

    def stats(values, unit, scale=1.0):
        v = [x * scale for x in values]
        return f"min {min(v):.0f} {unit}, median {statistics.median(v):.0f} {unit}, max {max(v):.0f} {unit}"

    print(f"demo account end to end, {runs} runs ({rows[0][6]} resources, {rows[0][7]} policy evaluations, "
          f"{rows[0][8]} findings, {rows[0][9]} collection errors where the local AWS lacks an API):")
    print("  inventory wall (process start to response):", stats([r[0] for r in rows], "ms", 1000))
    print("  scan wall (process start to response):     ", stats([r[1] for r in rows], "ms", 1000))
    print("  inventory + scan wall:                     ", stats([r[0] + r[1] for r in rows], "ms", 1000))
    print("  inventory handler:                         ", stats([r[2] for r in rows], "ms"))
    print("  scan handler:                              ", stats([r[3] for r in rows], "ms"))
    print("  inventory function CPU:                    ", stats([r[4] for r in rows], "ms", 1000))
    print("  scan function CPU:                         ", stats([r[5] for r in rows], "ms", 1000))
    print(json.dumps({"runs": rows}))


if __name__ == "__main__":
    main()
