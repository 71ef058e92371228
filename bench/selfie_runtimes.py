"""The selfie network alone on ONNX Runtime (edgematte's) and on LiteRT/XNNPACK (MediaPipe's), interleaved.

    python -m venv /tmp/tfl && /tmp/tfl/bin/pip install ai-edge-litert==2.3.0 onnxruntime numpy
    /tmp/tfl/bin/python bench/selfie_runtimes.py SELFIE.tflite SELFIE.onnx [--rounds 400]

Asks whether running the default model the way MediaPipe does would buy the "fast" path its 3x (issue: speed):
the same 256x256 network, the .tflite that edgematte converts and the converted .onnx (its cache, or
``edgematte export selfie``), random input, 1 and 2 threads; ONNX Runtime's threads spin only while a run lasts (edgematte's backend; a pool
spinning between runs would load the variants after it). Each round runs every variant once, so a busy machine's load
falls on all alike; medians after 10% warm-up. Imports nothing from edgematte.
"""

import argparse
import time

import numpy as np


def main() -> None:
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tflite")
    parser.add_argument("onnx")
    parser.add_argument("--rounds", type=int, default=400)
    args = parser.parse_args()
    nhwc = np.random.default_rng(0).random((1, 256, 256, 3), dtype=np.float32)
    nchw = np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2))
    runs = {}
    for threads in (1, 2):
        interpreter = Interpreter(model_path=args.tflite, num_threads=threads)
        interpreter.allocate_tensors()
        src, out = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]

        def litert(it=interpreter, src=src, out=out):
            it.set_tensor(src, nhwc)
            it.invoke()
            return it.get_tensor(out)

        runs[f"LiteRT XNNPACK, {threads} thread(s)"] = litert
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.force_spinning_stop", "1")  # as edgematte's backend: spin in a run
        session = ort.InferenceSession(args.onnx, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        runs[f"ONNX Runtime, {threads} thread(s)"] = lambda s=session, n=name: s.run(None, {n: nchw})
    times = {label: [] for label in runs}
    for _ in range(args.rounds):
        for label, run in runs.items():
            start = time.perf_counter()
            run()
            times[label].append(time.perf_counter() - start)
    skip = args.rounds // 10
    print(f"| runtime | median ms ({args.rounds - skip} interleaved rounds) |\n|---|---|")
    for label, values in times.items():
        print(f"| {label} | {1e3 * float(np.median(values[skip:])):.2f} |")


if __name__ == "__main__":
    main()
