"""``ftrl``: the project's command line. Each sub-command lives in ftrl_ros/tools/."""

from __future__ import annotations

import argparse
import os
import sys

COMMANDS = {
    "sim-batch": ("ftrl_ros.tools.sim_batch", "headless batch of sim episodes with the scripted expert"),
    "bench-sim": ("ftrl_ros.tools.bench_sim", "simulator speed: policy steps/s and RGB-D fps"),
    "collect": ("ftrl_ros.tools.collect", "collect task / recovery / failure demos in sim"),
    "train-offline": ("ftrl_ros.tools.train_offline", "offline phase: demos, policies, world model, eps_safe"),
    "calibrate-loop": ("ftrl_ros.tools.calibrate_loop", "eps_safe and debounce chosen in closed loop against a false-takeover budget"),
    "offline-report": ("ftrl_ros.tools.offline_report", "the offline phase's figures of every bundle, one table"),
    "finetune": ("ftrl_ros.tools.finetune", "online fine-tuning in sim with --method farl|uni_o4|recovery_rl|mppi"),
    "evaluate": ("ftrl_ros.tools.evaluate", "evaluate a bundle against the scripted expert"),
    "bench-farl": ("ftrl_ros.tools.bench_farl", "FailureBench-style comparison of the four methods"),
    "bench-sweep": ("ftrl_ros.tools.bench_sweep", "Ray sweep vs the local loop: overhead, and hours per run at each budget"),
    "bench-recovery": ("ftrl_ros.tools.bench_recovery", "FailureBench recovery controllers mid-task: hold the object vs let go"),
    "bench-speed": ("ftrl_ros.tools.bench_speed", "safety-filter latency and offline training time"),
    "perception-data": ("ftrl_ros.tools.perception_data", "render the synthetic, labelled YOLO training set"),
    "bench-perception": ("ftrl_ros.tools.bench_perception", "state-estimator accuracy and latency on rendered frames"),
    "record-sim": ("ftrl_ros.tools.record_sim", "write a RealSense recording (.db3) of a sim rollout"),
    "calibrate-camera": ("ftrl_ros.tools.calibrate_camera", "camera-to-robot extrinsics from a ChArUco board on the table"),
    "launch": ("ftrl_ros.tools.launch", "start the ROS 2 stack of a task (the nodes of its launch file)"),
    "bench-graph": ("ftrl_ros.tools.bench_graph", "end-to-end latency and highest sustained rate of the stack"),
    "bench-arm": ("ftrl_ros.tools.bench_arm", "arm control loop against franky-sim: rate, jitter, command-to-motion"),
    "bench-console": ("ftrl_ros.tools.bench_console", "operator stop paths: E-STOP click / CLI -> zero command, timed"),
    "bag-to-dataset": ("ftrl_ros.tools.bag_to_dataset", "recorded bags -> episode files (demos) for train-offline"),
    "export-lerobot": ("ftrl_ros.tools.export_lerobot", "runs / bags -> a LeRobotDataset v3.0 with failure labels"),
    "import-lerobot": ("ftrl_ros.tools.import_lerobot", "a LeRobotDataset we exported -> episode files (demos) for train-offline"),
    "export-policy": ("ftrl_ros.tools.export_policy", "a task policy as ONNX (normaliser inside, layouts declared)"),
    "summarize": ("ftrl_ros.tools.summarize_run", "table and chart of a `ftrl launch` run's episodes"),
    "estop": ("ftrl_ros.tools.operator:estop", "engage the e-stop: arm held still at once, learning paused"),
    "release": ("ftrl_ros.tools.operator:release", "release the e-stop"),
    "intervene": ("ftrl_ros.tools.operator:intervene", "flag the running episode as an IR failure; arm stops"),
    "reset": ("ftrl_ros.tools.operator:reset", "start the next episode"),
    "train-yolo": ("ftrl_ros.tools.train_yolo", "train YOLOv8n on it from its yaml and export ONNX to models/"),
}


def main(argv: list[str] | None = None) -> int:
    """Only the chosen sub-command's module is imported (``ftrl estop`` must not wait for torch
    and MuJoCo); ``ftrl`` alone or ``ftrl -h`` imports them all to list them."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="ftrl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    import importlib

    chosen = [argv[0]] if argv and argv[0] in COMMANDS else list(COMMANDS)
    modules = {}
    for name, (module, help_text) in COMMANDS.items():
        if name not in chosen:
            sub.add_parser(name, help=help_text)
            continue
        module, _, action = module.partition(":")
        modules[name] = importlib.import_module(module)
        if action:  # one module serving several commands (the operator actions)
            modules[name] = modules[name].Command(action)
        modules[name].add_arguments(sub.add_parser(name, help=help_text, description=modules[name].__doc__))
    args = parser.parse_args(argv)
    return modules[args.command].run(args)


if __name__ == "__main__":
    sys.exit(main())
