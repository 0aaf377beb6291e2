"""``ftrl``: the project's command line. Each sub-command lives in ftrl_ros/tools/."""
from __future__ import annotations

import argparse
import os
import sys

COMMANDS = {
    "sim-batch": ("ftrl_ros.tools.sim_batch", "headless batch of sim episodes with the scripted expert"),
    "bench-sim": ("ftrl_ros.tools.bench_sim", "simulator speed: policy steps/s and RGB-D fps"),
    "train-offline": ("ftrl_ros.tools.train_offline", "offline phase: demos, policies, world model, eps_safe"),
}


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("MUJOCO_GL", "egl")
    parser = argparse.ArgumentParser(prog="ftrl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    import importlib
    modules = {}
    for name, (module, help_text) in COMMANDS.items():
        modules[name] = importlib.import_module(module)
        modules[name].add_arguments(sub.add_parser(name, help=help_text, description=modules[name].__doc__))
    args = parser.parse_args(argv)
    return modules[args.command].run(args)


if __name__ == "__main__":
    sys.exit(main())
