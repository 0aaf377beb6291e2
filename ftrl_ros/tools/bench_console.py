"""The operator's stop buttons, timed: E-STOP click / space bar in the browser console -> first
zero command on /ftrl/cmd_vel, ``ftrl estop`` -> /ftrl/estop/engaged, and stack stopped -> the page
says "disconnected".

Starts the sim stack (``ftrl launch disturbed_push``, learner in eval mode), opens the console in
Debian's headless Chromium (Playwright, nothing downloaded), and repeats: wait until the arm is
commanded to move, engage (click or space bar, alternating), read the ROS probe for the first zero
command stamped after the press, release. Targets (issue 13): click -> zero <= 100 ms, CLI ->
engaged <= 0.5 s, disconnected shown <= 2 s. Run it isolated:
``scripts/isolated.sh .venv/bin/ftrl bench-console``.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ..utils.atomic import atomic_write_text
from .console_probe import ConsoleProbe
from .harness import Stack, wait_for

CHROMIUM = "/usr/bin/chromium"
TARGETS_MS = {"press_to_zero": 100.0, "click": 100.0, "space": 100.0, "cli_to_engaged": 500.0, "stop_to_banner": 2000.0}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--presses", type=int, default=20, help="E-STOP presses in the browser (click and space alternate)")
    p.add_argument("--cli", type=int, default=5, help="`ftrl estop` calls")
    p.add_argument("--port", type=int, default=18190, help="console port for the run")
    p.add_argument("--out", type=Path, default=Path("docs/bench_console"), help="writes <out>.md and <out>.json")


def _text_is(page, element: str, text: str, timeout_ms: int = 5000) -> None:
    page.wait_for_function(f"() => document.getElementById({json.dumps(element)}).textContent === {json.dumps(text)}", timeout=timeout_ms)


def measure(presses: int, cli_calls: int, port: int, run_dir: Path) -> dict[str, list[float]]:
    """Milliseconds per sample for each of the three paths."""
    from playwright.sync_api import sync_playwright
    from tqdm import tqdm

    stack = Stack(run_dir, sets={"operator_console.port": port, "ppo_learner.mode": "eval"}, output=False).start()
    probe = ConsoleProbe()
    out: dict[str, list[float]] = {"press_to_zero": [], "click": [], "space": [], "cli_to_engaged": [], "stop_to_banner": []}
    url = f"http://127.0.0.1:{port}/"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page()

            def loads() -> bool:
                try:
                    page.goto(url, timeout=3000)
                    return True
                except Exception:  # noqa: BLE001 - not up yet
                    time.sleep(1.0)
                    return False

            if not wait_for(loads, 90):
                raise RuntimeError(f"the console did not come up; see {run_dir / 'logs'}")
            _text_is(page, "conn", "connected", 60000)
            # the press time is the browser's own (pointerdown / keydown, before the page's handlers),
            # so Playwright's actionability checks before a click are not counted
            page.evaluate("""() => { window.__pressed = null;
                const mark = () => { window.__pressed = Date.now(); };
                document.addEventListener("pointerdown", (e) => { if (e.target.id === "estop") mark(); }, true);
                document.addEventListener("keydown", (e) => { if (e.code === "Space") mark(); }, true); }""")
            for i in tqdm(range(presses), desc="E-STOP presses", unit="press"):
                if not wait_for(probe.moving, 60):
                    raise RuntimeError("the arm was not commanded to move for 60 s")
                page.evaluate("() => { window.__pressed = null; }")
                if i % 2:
                    page.keyboard.press("Space")
                else:
                    page.click("#estop")
                t = page.evaluate("() => window.__pressed") / 1000.0
                if not wait_for(lambda t=t: probe.zero_after(t) is not None, 5):
                    raise RuntimeError("no zero command within 5 s of the E-STOP press")
                out["press_to_zero"].append((probe.zero_after(t) - t) * 1000)
                out["click" if i % 2 == 0 else "space"].append(out["press_to_zero"][-1])
                _text_is(page, "estop-state", "ENGAGED")
                page.click("#release")
                _text_is(page, "estop-state", "released")
            for _ in tqdm(range(cli_calls), desc="ftrl estop", unit="call"):
                t = time.time()
                subprocess.run(
                    [sys.executable, "-m", "ftrl_ros.cli", "estop", "--console", url.rstrip("/")],
                    check=True,
                    capture_output=True,
                    timeout=30,
                )
                if not wait_for(lambda t=t: probe.engaged_after(t) is not None, 5):
                    raise RuntimeError("ftrl estop: /ftrl/estop/engaged not true within 5 s")
                engaged = probe.engaged_after(t)
                assert engaged is not None
                out["cli_to_engaged"].append((engaged - t) * 1000)
                _text_is(page, "estop-state", "ENGAGED")
                page.click("#release")
                _text_is(page, "estop-state", "released")
            assert stack.proc is not None
            stack.proc.send_signal(signal.SIGINT)
            t = time.monotonic()
            page.wait_for_function("() => document.getElementById('banner').style.display === 'block'", timeout=10000)
            out["stop_to_banner"].append((time.monotonic() - t) * 1000)
            browser.close()
    finally:
        probe.close()
        stack.stop()
    return out


def summarise(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {
        k: {
            "n": len(v),
            "p50": float(np.percentile(v, 50)),
            "p99": float(np.percentile(v, 99)),
            "max": float(np.max(v)),
            "target": TARGETS_MS[k],
        }
        for k, v in samples.items()
        if v
    }


def report(stats: dict[str, dict[str, float]]) -> str:
    names = {
        "press_to_zero": "E-STOP press (all) -> first zero /ftrl/cmd_vel",
        "click": "... by mouse on the button",
        "space": "... by the space bar",
        "cli_to_engaged": "`ftrl estop` started -> /ftrl/estop/engaged true",
        "stop_to_banner": "stack SIGINT -> page shows DISCONNECTED",
    }
    rows = ["| path | n | p50 | p99 | max | target | met |", "|---|---|---|---|---|---|---|"]
    for k, s in stats.items():
        met = "yes" if s["max"] <= s["target"] else "no"
        rows.append(
            f"| {names[k]} | {s['n']} | {s['p50']:.0f} ms | {s['p99']:.0f} ms | {s['max']:.0f} ms | <= {s['target']:.0f} ms | {met} |"
        )
    return (
        "Operator stop paths (`ftrl bench-console`): sim stack, console in headless Chromium, "
        "times from the press to what the ROS probe sees\n\n" + "\n".join(rows) + "\n"
    )


def run(args: argparse.Namespace) -> int:
    samples = measure(args.presses, args.cli, args.port, Path("runs/bench_console").resolve())
    stats = summarise(samples)
    text = report(stats)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out.with_suffix(".md"), text)
    atomic_write_text(args.out.with_suffix(".json"), json.dumps({"stats": stats, "samples_ms": samples}, indent=2) + "\n")
    return 0
