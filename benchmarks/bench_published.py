"""Speed of the exact published segmentation arithmetic on the CPU, against this CPU's FLOP ceiling.

Prints JSON: the network's FLOPs (convolutions, counted from the network), the ceiling of this CPU for
the UNet's dominant convolution (64 -> 64, 3 x 3, 256 x 256) in torch (oneDNN) and in onnxruntime,
then each way of executing the exact published inference (768 x 768, 9 windows of 512 x 512,
overlap 0.75, constant blend) and ``--fast`` (one 768 x 768 pass): seconds per radiograph (network
only, median of ``--repeat``), GFLOP/s, fraction of the ceiling, peak RSS of the process, and max
|logit difference| / label identity against MONAI ``sliding_window_inference`` (the authors' call).
Every variant runs in its own process (so peak RSS is its own), ceiling and variants in one run (so
their ratio is meaningful on a loaded machine: the 1-minute load average is printed beside each).
The authors' app took 14.2 s per radiograph on this CPU with 2 threads (issue 12; not measured here).

    nice -n 10 python benchmarks/bench_published.py --threads 2 [--model DIR] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REFERENCE_S = 14.2  # the authors' app, per radiograph, this CPU, 2 threads (issue 12)
VARIANTS = ("monai_sw16", "sijscan_chunk9", "sijscan_chunk3", "sijscan_chunk1", "channels_last_chunk1",
            "onnxruntime_chunk1", "fast_single_pass")


def load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def network(model: str | None) -> torch.nn.Module:
    if model:
        from sijscan.modelfolder import load_model

        return load_model(model, map_location="cpu")[0].eval()
    from sijscan.anatomy.networks import PAPER_INIT
    from sijscan.modelfolder import build_network

    torch.manual_seed(0)
    return build_network("unet-paper", dict(PAPER_INIT)).eval()


def conv_flops(net: torch.nn.Module, shape: tuple[int, ...]) -> float:
    """2 x multiply-adds of every Conv2d / ConvTranspose2d for one input of ``shape``."""
    total = [0.0]

    def hook(mod: torch.nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        k = mod.kernel_size[0] * mod.kernel_size[1]
        if isinstance(mod, torch.nn.ConvTranspose2d):
            total[0] += 2.0 * inp[0].numel() * mod.out_channels // mod.groups * k
        else:
            total[0] += 2.0 * out.numel() * (mod.in_channels // mod.groups) * k

    hs = [m.register_forward_hook(hook) for m in net.modules()
          if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    with torch.inference_mode():
        net(torch.zeros(shape))
    for h in hs:
        h.remove()
    return total[0]


def _median_time(fn, repeat: int) -> float:
    fn()  # warm-up (oneDNN primitive creation)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def ceiling(threads: int, repeat: int) -> dict:
    """GFLOP/s of the UNet's dominant convolution in torch and onnxruntime (batch 1 and 9)."""
    torch.set_num_threads(threads)
    w = torch.randn(64, 64, 3, 3) * 0.05
    out: dict = {"shape": "conv 64->64, 3x3, pad 1, 256x256 (the UNet's top level)"}
    for n in (1, 9):
        x = torch.randn(n, 64, 256, 256)
        flops = 2.0 * n * 64 * 64 * 9 * 256 * 256
        with torch.inference_mode():
            s = _median_time(lambda: torch.nn.functional.conv2d(x, w, padding=1), repeat)
        out[f"torch_batch{n}_gflops"] = round(flops / s / 1e9, 1)
    try:
        import onnx
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper

        node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
        graph = helper.make_graph([node], "c", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 64, 256, 256])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                                  [numpy_helper.from_array(w.numpy(), "w")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        for n in (1, 9):
            x = np.random.default_rng(0).standard_normal((n, 64, 256, 256), dtype=np.float32)
            s = _median_time(lambda: sess.run(None, {"x": x}), repeat)
            out[f"onnxruntime_batch{n}_gflops"] = round(2.0 * n * 64 * 64 * 9 * 256 * 256 / s / 1e9, 1)
        del onnx
    except ImportError as exc:
        out["onnxruntime"] = f"not installed ({exc})"
    out["best_gflops"] = max(v for k, v in out.items() if k.endswith("_gflops"))
    return out


class _OrtNet(torch.nn.Module):
    def __init__(self, net: torch.nn.Module, threads: int, tmp: str) -> None:
        super().__init__()
        import onnxruntime as ort

        path = os.path.join(tmp, "unet.onnx")
        torch.onnx.export(net, (torch.zeros(1, 1, 512, 512),), path, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, opset_version=17, dynamo=False)
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
        self.sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.sess.run(None, {"x": x.numpy()})[0])


def run_variant(name: str, args: argparse.Namespace) -> dict:
    """One variant in this process: time per radiograph (network part), peak RSS, logits saved to args.save."""
    from sijscan.anatomy.inference import infer_logits, sliding_window_logits

    torch.set_num_threads(args.threads)
    net = network(args.model)
    x = torch.randn(1, 1, 768, 768, generator=torch.Generator().manual_seed(1)).clamp(-1, 1)
    spec = {"mode": "sliding_window", "window": [512, 512], "overlap": 0.75, "sw_batch_size": 16, "blend": "constant"}
    tmp = tempfile.mkdtemp()
    if name == "monai_sw16":
        from monai.inferers import sliding_window_inference

        def fn() -> torch.Tensor:
            with torch.no_grad():
                return sliding_window_inference(x, (512, 512), 16, net, overlap=0.75, mode="constant")
    elif name.startswith("sijscan_chunk"):
        chunk = int(name.removeprefix("sijscan_chunk"))

        def fn() -> torch.Tensor:
            return sliding_window_logits(net, x, window=(512, 512), overlap=0.75, chunk=chunk)
    elif name == "channels_last_chunk1":
        net = net.to(memory_format=torch.channels_last)
        xc = x.contiguous(memory_format=torch.channels_last)

        def fn() -> torch.Tensor:
            return sliding_window_logits(net, xc, window=(512, 512), overlap=0.75, chunk=1).contiguous()
    elif name == "onnxruntime_chunk1":
        onet = _OrtNet(net, args.threads, tmp)

        def fn() -> torch.Tensor:
            return sliding_window_logits(onet, x, window=(512, 512), overlap=0.75, chunk=1)
    elif name == "fast_single_pass":
        def fn() -> torch.Tensor:
            return infer_logits(net, x, spec, fast=True)
    else:
        raise SystemExit(f"unknown variant {name}")
    with torch.inference_mode():  # warm-up: one window (oneDNN / onnxruntime set-up), not a whole radiograph
        (onet if name == "onnxruntime_chunk1" else net)(x[..., :512, :512].contiguous())
    l0 = load()
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        logits = fn()
        times.append(time.perf_counter() - t)
    s = float(np.median(times))
    np.save(args.save, logits.float().numpy())
    return {"s_per_radiograph": round(s, 3), "peak_rss_mb": _peak_rss_mb(),
            "load1_before": l0, "load1_after": load()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--model", help="a segmenter model folder of the published structure (default: random weights)")
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument("--save", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, args)))
        return
    torch.set_num_threads(args.threads)
    net = network(args.model)
    flops_window = conv_flops(net, (1, 1, 512, 512))
    flops_full = conv_flops(net, (1, 1, 768, 768))
    l0 = load()
    result: dict = {
        "machine": {"cpu": _cpu_name(), "threads": args.threads, "torch": torch.__version__},
        "flops": {"per_512_window_gflop": round(flops_window / 1e9, 1), "windows": 9,
                  "exact_per_radiograph_gflop": round(9 * flops_window / 1e9, 1),
                  "fast_per_radiograph_gflop": round(flops_full / 1e9, 1),
                  "counted": "Conv2d + ConvTranspose2d multiply-adds x 2 (norms, activations, blending excluded)"},
        "ceiling": {**ceiling(args.threads, args.repeat), "load1_before": l0, "load1_after": load()},
        "reference_authors_app_s": REFERENCE_S,
        "reference_source": "issue 12: the authors' app, 2 CPU threads, this machine (not measured by this script)",
    }
    peak = result["ceiling"]["best_gflops"]
    ref = None
    variants: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.variants:
            save = os.path.join(tmp, f"{name}.npy")
            cmd = [sys.executable, __file__, "--variant", name, "--save", save, "--threads", str(args.threads),
                   "--repeat", str(args.repeat)] + (["--model", args.model] if args.model else [])
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                variants[name] = {"error": proc.stderr.strip().splitlines()[-1:]}
                continue
            rec = json.loads(proc.stdout.strip().splitlines()[-1])
            flops = flops_full if name.startswith("fast") else 9 * flops_window
            rec["gflops_per_s"] = round(flops / rec["s_per_radiograph"] / 1e9, 1)
            rec["fraction_of_ceiling"] = round(rec["gflops_per_s"] / peak, 3)
            rec["speedup_vs_reference"] = round(REFERENCE_S / rec["s_per_radiograph"], 2)
            logits = np.load(save)
            if name == "monai_sw16":
                ref = logits
            elif ref is not None:
                rec["max_abs_logit_diff_vs_monai"] = float(np.abs(logits - ref).max())
                rec["labels_identical_to_monai"] = bool(np.array_equal(logits.argmax(1), ref.argmax(1)))
                rec["label_agreement_vs_monai"] = round(float((logits.argmax(1) == ref.argmax(1)).mean()), 5)
            variants[name] = rec
    result["variants"] = variants
    print(json.dumps(result, indent=1))


def _peak_rss_mb() -> int:
    """This process's peak RSS (VmHWM: unlike ru_maxrss it does not carry the parent's size over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip() + f" ({os.cpu_count()} cores)"
    return "unknown"


if __name__ == "__main__":
    main()
