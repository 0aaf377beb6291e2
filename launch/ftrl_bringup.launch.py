"""Base launch file: the ftrl_ros node graph for one task (nodes listed in ftrl_ros/graph.py,
the same list `ftrl launch` starts where launch_ros is not installed).

    ros2 launch ftrl_ros ftrl_bringup.launch.py task:=disturbed_push use_sim:=true record:=false mode:=train
    ros2 launch ftrl_ros ftrl_bringup.launch.py task:=disturbed_push use_sim:=false robot_ip:=172.16.0.2
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, LogInfo, OpaqueFunction, RegisterEventHandler, SetEnvironmentVariable
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

import yaml

from ftrl_ros.graph import (
    DDS_PROFILE_VAR,
    LAYOUT_HELP,
    LAYOUTS,
    MODES,
    TASKS,
    node_parameters,
    nodes_for,
    params_task_error,
    parse_bool,
    spec_of,
)

ARGUMENTS = [
    DeclareLaunchArgument("task", default_value="disturbed_push", choices=list(TASKS), description="task to run"),
    DeclareLaunchArgument(
        "use_sim", default_value="true", description="true: MuJoCo sim node stands in for camera and robot; false: real D435 + arm"
    ),
    DeclareLaunchArgument(
        "robot_ip", default_value="", description="the arm's control unit (FCI) address; '' = the params file's robot_ip"
    ),
    DeclareLaunchArgument(
        "use_arm",
        default_value="true",
        description="with use_sim:=false, drive the arm with franka_arm_node; false: camera only "
        "(the arm is driven by other software, e.g. franka_ros2)",
    ),
    DeclareLaunchArgument("record", default_value="false", description="record a rosbag2 of the control topics"),
    DeclareLaunchArgument("foxglove", default_value="false", description="serve the live Foxglove view (ws://127.0.0.1:8765)"),
    DeclareLaunchArgument(
        "mode",
        default_value="train",
        choices=list(MODES),
        description="train: sample actions and fine-tune; eval: deterministic, no learning",
    ),
    DeclareLaunchArgument(
        "params_file",
        default_value="",
        description="node parameters, loaded after config/ftrl.yaml (default: the task's overlay config/<task>.yaml)",
    ),
    DeclareLaunchArgument(
        "namespace", default_value="", description="ROS namespace of the whole stack (topics /<ns>/ftrl/...): two robots on one graph"
    ),
    DeclareLaunchArgument("run_dir", default_value="", description="episodes, checkpoints, bags (default runs/ros/<task>_<time>)"),
    DeclareLaunchArgument(
        "layout",
        default_value="split",
        choices=list(LAYOUTS),
        description=LAYOUT_HELP,
    ),
]


def _nodes(context):
    task = LaunchConfiguration("task").perform(context)
    use_sim = parse_bool(LaunchConfiguration("use_sim").perform(context), "use_sim")
    record = parse_bool(LaunchConfiguration("record").perform(context), "record")
    use_arm = parse_bool(LaunchConfiguration("use_arm").perform(context), "use_arm")
    robot_ip = LaunchConfiguration("robot_ip").perform(context)
    mode = LaunchConfiguration("mode").perform(context)
    namespace = LaunchConfiguration("namespace").perform(context).strip("/")
    config = os.path.join(get_package_share_directory("ftrl_ros"), "config")
    params = LaunchConfiguration("params_file").perform(context) or os.path.join(config, f"{task}.yaml")
    with open(params) as fh:
        params_yaml = yaml.safe_load(fh) or {}
        error = params_task_error(params_yaml, task, params)
    with open(os.path.join(config, "ftrl.yaml")) as fh:  # common to all tasks; the overlay wins
        common_yaml = yaml.safe_load(fh) or {}
    if error:
        raise RuntimeError(error)  # fails the launch at start-up, naming both
    run_dir = LaunchConfiguration("run_dir").perform(context) or os.path.abspath(
        os.path.join("runs", "ros", f"{task}_{datetime.now():%Y%m%d_%H%M%S}")
    )
    actions = []
    if not os.environ.get(DDS_PROFILE_VAR):  # camera frames through shared memory (config/fastdds.xml)
        actions.append(
            SetEnvironmentVariable(DDS_PROFILE_VAR, os.path.join(get_package_share_directory("ftrl_ros"), "config", "fastdds.xml"))
        )
    foxglove = parse_bool(LaunchConfiguration("foxglove").perform(context), "foxglove")
    nodes = nodes_for(use_sim, record, use_arm, LaunchConfiguration("layout").perform(context), foxglove)

    def section_of(name: str) -> dict:
        # the node's section as a dict: a params file keyed 'node:' would not match /<ns>/node
        section = {}
        for sections in (common_yaml, params_yaml):
            for key in ("/**", name):
                section.update((sections.get(key) or {}).get("ros__parameters", {}))
        return {**section, **node_parameters(spec_of(name), task, mode, run_dir, use_sim, robot_ip, nodes)}

    for spec in nodes:
        if spec.members:  # one process, several nodes: a params file with a section per node
            prefix = f"/{namespace}/" if namespace else ""
            path = os.path.join(tempfile.mkdtemp(prefix="ftrl_params_"), f"{spec.name}.yaml")
            with open(path, "w") as fh:
                yaml.safe_dump({prefix + m: {"ros__parameters": section_of(m)} for m in spec.members}, fh)
            parameters: list = [path]
        else:
            parameters = [section_of(spec.name)]
        node = Node(
            package="ftrl_ros",
            executable=spec.executable,
            name=None if spec.members else spec.name,
            namespace=namespace,
            output="screen",
            parameters=parameters,
            respawn=not spec.critical,
            respawn_delay=spec.respawn_delay,
        )
        actions.append(node)
        if not spec.critical:  # respawned by launch; say so loudly
            actions.append(
                RegisterEventHandler(
                    OnProcessExit(
                        target_action=node,
                        on_exit=[LogInfo(msg=f"!!! non-critical node {spec.name} died; respawning in {spec.respawn_delay:g} s")],
                    )
                )
            )
        if spec.critical:  # the arm must not run without it: take the whole launch down
            actions.append(
                RegisterEventHandler(
                    OnProcessExit(target_action=node, on_exit=[EmitEvent(event=Shutdown(reason=f"critical node {spec.name} exited"))])
                )
            )
    return actions


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(ARGUMENTS + [OpaqueFunction(function=_nodes)])
