"""Cost of the paste detector (`bot.domain.exposure.detect`) on realistic chat, and its hits and misses.

Corpus (bench/chat_corpus.py, seeded): ordinary engineering-chat lines with code blocks, stack traces,
YAML, JSON logs, git hashes, UUIDs, base64 blobs and key ids mentioned alone; plus credential pastes in
seven shapes with fresh random keys and secrets; plus worst cases (40,000-character messages, 1,000
key-like strings). Every line is timed on its own with perf_counter_ns over several passes.

    .venv/bin/python -m bench.exposure_detector            # 20,000 ordinary lines, 2,000 pastes, 5 passes
    .venv/bin/python -m bench.exposure_detector --quick    # 10,000 ordinary lines, 500 pastes, 3 passes
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time

from bench._common import command_line, machine_lines, percentile, publish, table, verdict
from bench.chat_corpus import key_id, ordinary_lines, pastes, secret
from bot.domain.exposure import detect

LIMIT_MS = 0.1


def timed(lines: list[str], passes: int) -> list[float]:
    """Seconds per call, each line timed `passes` times."""
    samples: list[float] = []
    clock = time.perf_counter_ns
    gc.disable()
    try:
        for _ in range(passes):
            for line in lines:
                started = clock()
                detect(line)
                samples.append((clock() - started) / 1e9)
    finally:
        gc.enable()
    return samples


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f}"


def worst_cases(rng: random.Random) -> dict[str, str]:
    many = " ".join(key_id(rng) for _ in range(1000))
    chat = " ".join(ordinary_lines(700, seed=3))
    return {
        "40,000 characters of chat": chat[:40_000],
        "40,000 characters of chat, a paste at the end": chat[:39_800] + f"\n{key_id(rng)} {secret(rng)}",
        "40,000 characters of one base64 run, a key id in front": key_id(rng) + " " + "QUJD" * 9_995,
        "40,000 characters of 'AKIA' repeated": "AKIA" * 10_000,
        "1,000 key ids and a secret": f"{many} {secret(rng)}",
        "40,000 characters of unicode": "鍵🔑ключ" * 8_000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args(argv)
    n_lines, n_pastes, passes = (10_000, 500, 3) if args.quick else (20_000, 2_000, 5)

    ordinary = ordinary_lines(n_lines)
    pasted = pastes(n_pastes)
    timed(ordinary[:500], 1)  # warm the regex caches and the interpreter
    ordinary_times = timed(ordinary, passes)
    paste_times = timed(pasted, passes)
    mention = [line for line in ordinary if "AKIA" in line]
    mention_times = timed(mention, passes)

    false_alarms = sum(1 for line in ordinary if detect(line).exposure)
    missed = sum(1 for line in pasted if not detect(line).exposure)
    rng = random.Random(5)
    worst = {name: (text, timed([text], passes)) for name, text in worst_cases(rng).items()}

    mean_ms = statistics.fmean(ordinary_times) * 1000
    lines = [
        "## Paste detector cost",
        "",
        f"Command: `{command_line('bench.exposure_detector')}`",
        "",
        *machine_lines(("SQLAlchemy",)),
        "",
        f"Corpus: {n_lines:,} ordinary chat lines (mean {statistics.fmean(len(x) for x in ordinary):.0f} characters, "
        f"{sum(chr(10) in x for x in ordinary):,} with code blocks or several lines, {len(mention):,} mention a "
        f"key id alone) and {n_pastes:,} credential pastes in 7 shapes; each line timed alone, {passes} passes.",
        "",
        *table(
            ["messages", "count", "mean µs", "p50 µs", "p99 µs", "max µs"],
            [
                [
                    name,
                    f"{len(values) // passes:,}",
                    us(statistics.fmean(values)),
                    us(percentile(values, 50)),
                    us(percentile(values, 99)),
                    us(max(values)),
                ]
                for name, values in (
                    ("ordinary chat", ordinary_times),
                    ("…of which mention a key id alone", mention_times),
                    ("credential pastes", paste_times),
                )
            ],
        ),
        "",
        *table(
            ["worst case", "characters", "mean ms", "max ms", "exposure"],
            [
                [
                    name,
                    f"{len(text):,}",
                    f"{statistics.fmean(t) * 1000:.2f}",
                    f"{max(t) * 1000:.2f}",
                    detect(text).exposure,
                ]
                for name, (text, t) in worst.items()
            ],
        ),
        "",
        f"- Ordinary messages: mean {mean_ms * 1000:.1f} µs, p99 {percentile(ordinary_times, 99) * 1e6:.1f} µs each "
        f"(goal < {LIMIT_MS} ms): {verdict(mean_ms < LIMIT_MS and percentile(ordinary_times, 99) * 1000 < LIMIT_MS)}",
        f"- False alarms on ordinary chat: {false_alarms} of {n_lines:,}; pastes missed: {missed} of {n_pastes:,}",
    ]
    publish("exposure_detector", lines, quick=args.quick, no_docs=args.no_docs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
