"""Load test of the web app on 127.0.0.1: N simultaneous users, each uploading M radiographs.

Starts the app in this process on a free 127.0.0.1 port (``--model DIR``, or randomly initialised
default models when omitted: latency does not depend on the weights), then ``--users`` threads each
send ``--uploads`` DICOM uploads through ``gradio_client``. Checks that no request failed and that
nothing is left in the app's upload cache afterwards. Prints ONE JSON line with p50/p95 latency.
Usage: python benchmarks/load_app.py [--users 8] [--uploads 10] [--threads 2] [--size 512]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", help="model folder (default: random default models)")
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--uploads", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=512, help="phantom long side in pixels")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    work = Path(tempfile.mkdtemp(prefix="sijscan-load-"))
    os.environ["GRADIO_TEMP_DIR"] = str(work / "gradio")
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    import shutil

    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_predict import build_default_models
    from gradio_client import Client, handle_file

    from sijscan.app.app import build_app, launch_app
    from sijscan.phantom import simulate_case
    from sijscan.phantom.writers import write_display_dicom
    from sijscan.predict.pipeline import Pipeline

    model = Path(args.model) if args.model else build_default_models(work / "models")
    pipeline = Pipeline.from_folder(model, device="cpu")
    files = []
    for i in range(4):
        img, _, _ = simulate_case(cohort="proof", index=i, seed=11, size=args.size, n=4)
        files.append(work / f"case{i}.dcm")
        write_display_dicom(files[-1], img)
    demo = build_app(pipeline, max_upload_mb=50)
    port = _free_port()
    launch_app(demo, host="127.0.0.1", port=port, block=False)
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def user(k: int) -> None:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        for j in range(args.uploads):
            t = time.perf_counter()
            try:
                summary, _html = client.predict(handle_file(str(files[(k + j) % len(files)])), api_name="/analyse")
                ok = "Probability of sacroiliitis" in summary or "withheld" in summary
                err = None if ok else summary[:120]
            except Exception as exc:  # noqa: BLE001 - a load test counts every failure, whatever it is
                err = f"{type(exc).__name__}: {exc}"[:200]
            with lock:
                latencies.append(time.perf_counter() - t)
                if err:
                    failures.append(err)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=user, args=(k,)) for k in range(args.users)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=3600)
    wall = time.perf_counter() - t0
    demo.close()
    cache = Path(os.environ["GRADIO_TEMP_DIR"])
    left = [str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file()] if cache.exists() else []
    q = statistics.quantiles(latencies, n=20) if len(latencies) >= 2 else latencies * 19
    print(json.dumps({
        "benchmark": "load_app", "users": args.users, "uploads_per_user": args.uploads, "threads": args.threads,
        "image_px_long_side": args.size, "requests": len(latencies), "failed": len(failures),
        "p50_s": round(statistics.median(latencies), 3), "p95_s": round(q[18], 3), "wall_s": round(wall, 1),
        "files_left_in_upload_cache": len(left), "first_failures": failures[:3], "left_examples": left[:3],
    }))
    shutil.rmtree(work, ignore_errors=True)
    return 0 if not failures and not left else 1


if __name__ == "__main__":
    sys.exit(main())
