"""The ROS 2 node graph, described once.

Both ways of starting the stack read this list: the launch_ros files in launch/ (with ROS 2
installed: `ros2 launch ftrl_ros disturbed_push.launch.py`) and `ftrl launch <task>` (here and in
CI, where launch_ros has no wheel), so the two can never disagree on which nodes run.
"""

from __future__ import annotations

from dataclasses import dataclass

from .tasks import TASK_NAMES

TASKS = TASK_NAMES
MODES = ("train", "eval")
DDS_PROFILE_VAR = "FASTRTPS_DEFAULT_PROFILES_FILE"
"""Fast DDS reads its transports from this file (config/fastdds.xml: camera frames through shared
memory, UDP on loopback only); both launchers set it unless the user has."""


@dataclass(frozen=True)
class NodeSpec:
    name: str
    """Node name, and its section in config/ftrl.yaml (and the task overlay config/<task>.yaml)."""
    executable: str
    """Console script (setup.py) = module ftrl_ros.nodes.<executable>."""
    critical: bool
    """When it dies, the whole stack shuts down (the arm must not run without it)."""
    when: str = "always"
    """'always', 'sim' (use_sim only), 'real' (robot only), 'record' (record:=true only) or
    'foxglove' (foxglove:=true only)."""
    description: str = ""
    respawn_delay: float = 1.0
    """Non-critical nodes are restarted this long (s) after they die (loudly)."""
    managed: bool = False
    """A lifecycle node (holds models or hardware): lifecycle_manager configures and activates it."""
    members: tuple[str, ...] = ()
    """A process holding several of the nodes above (layout 'composed'); empty for one node."""


NODES = (
    NodeSpec("sim_node", "sim_node", True, "sim", "MuJoCo world standing in for the camera and the robot", managed=True),
    NodeSpec("camera_node", "camera_node", True, "real", "RealSense D435 capture", managed=True),
    NodeSpec(
        "franka_arm_node",
        "franka_arm_node",
        True,
        "real",
        "the Franka arm through libfranka: 1 kHz Cartesian velocity loop, stops, homing, recovery",
        managed=True,
    ),
    NodeSpec("state_estimator_node", "state_estimator_node", True, "always", "YOLO + colour filter: images -> task state", managed=True),
    NodeSpec("policy_server", "policy_server", True, "always", "task and recovery proposals per state", managed=True),
    NodeSpec(
        "safety_filter", "safety_filter", True, "always", "world-model check of each proposal; executed command; e-stop", managed=True
    ),
    NodeSpec(
        "lifecycle_manager",
        "lifecycle_manager",
        True,
        "always",
        "configures and activates the managed nodes above in order; a failed transition stops the launch",
    ),
    NodeSpec("episode_manager", "episode_manager", True, "always", "episode start/end, time limit, intervention, resets"),
    NodeSpec("trajectory_logger", "trajectory_logger", False, "always", "every episode to disk"),
    NodeSpec("ppo_learner", "ppo_learner", False, "always", "online PPO on logged episodes"),
    NodeSpec("bag_recorder", "bag_recorder", False, "record", "rosbag2 recording of chosen topics"),
    NodeSpec(
        "operator_console",
        "operator_console",
        False,
        "always",
        "browser console on 127.0.0.1:8080: camera, decisions, e-stop, teleop, record modes",
    ),
    NodeSpec(
        "foxglove_view",
        "foxglove_view",
        False,
        "foxglove",
        "Foxglove WebSocket on 127.0.0.1:8765: camera, 3D scene coloured by risk, decisions, episode events",
    ),
)
"""Learning and logging are not critical: control goes on (and is logged by whoever is left)
if they die; perception, policy, filter, episode logic and the robot are."""


COMPOSED = NodeSpec(
    "perception_control",
    "perception_control",
    True,
    "always",
    "state estimator, policy server and safety filter as three nodes in one process, one executor",
    members=("state_estimator_node", "policy_server", "safety_filter"),
)
LAYOUTS = {
    "split": "one process per node",
    "composed": "estimator, policy server and safety filter in one process, one executor",
}
"""The process layouts and what each means. Composed: the control path's three nodes share one
process (``perception_control``), so a frame's state, proposal and decision are not scheduled
across processes (measured side by side by ``ftrl bench-graph --layout``)."""
LAYOUT_HELP = "; ".join(f"{name}: {what}" for name, what in LAYOUTS.items())


def nodes_for(use_sim: bool, record: bool, use_arm: bool = True, layout: str = "split", foxglove: bool = False) -> list[NodeSpec]:
    """``use_arm`` False (robot only): no franka_arm_node -- the TCP comes from elsewhere
    (franka_ros2 driving the arm, a perception benchmark, a bag)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {list(LAYOUTS)}, got {layout!r}")
    keep = {"always", "sim" if use_sim else "real"} | ({"record"} if record else set()) | ({"foxglove"} if foxglove else set())
    nodes = [n for n in NODES if n.when in keep and (use_arm or n.name != ARM_NODE)]
    if layout == "composed":
        first = next(i for i, n in enumerate(nodes) if n.name in COMPOSED.members)
        nodes = [n for n in nodes if n.name not in COMPOSED.members]
        nodes.insert(first, COMPOSED)
    return nodes


def node_parameters(
    spec: NodeSpec, task: str, mode: str, run_dir: str, use_sim: bool, robot_ip: str, nodes: list[NodeSpec] | None = None
) -> dict:
    """What a launch passes to one node besides the params file (the same for both launchers);
    ``nodes``: the launch's node list (the lifecycle manager's ``node_names`` come from it)."""
    if spec.name == MANAGER_NODE:
        return {"node_names": managed_names(nodes or [])}
    values: dict = {"task": task, "mode": mode, "run_dir": run_dir, "use_sim": use_sim}
    if spec.name == ARM_NODE and robot_ip:
        values["robot_ip"] = robot_ip
    return values


def spec_of(name: str) -> NodeSpec:
    """The NodeSpec of a node (or composed process) by name."""
    for n in (*NODES, COMPOSED):
        if n.name == name:
            return n
    raise KeyError(f"no node {name!r} in the graph")


def managed_names(nodes: list[NodeSpec]) -> list[str]:
    """The lifecycle_manager's ``node_names``: the managed nodes a launch starts, in bring-up order
    (the members of a composed process are all managed)."""
    names: list[str] = []
    for n in nodes:
        names += list(n.members) if n.members else [n.name] if n.managed else []
    return names


ARM_NODE = "franka_arm_node"
MANAGER_NODE = "lifecycle_manager"


def params_task_error(params: dict, task: str, source: str = "params file") -> str:
    """'' if the parsed params file agrees with the launch's ``task`` (or sets none: the launch
    passes it to every node); otherwise an error naming both."""
    if not isinstance(params, dict):
        return f"{source}: expected a mapping of node sections"
    for section, body in params.items():
        values = body.get("ros__parameters", {}) if isinstance(body, dict) else {}
        if isinstance(values, dict) and "task" in values and values["task"] != task:
            return (
                f"{source} sets task: {values['task']} (section {section}) but the launch asks for task "
                f"{task}; use config/{task}.yaml or fix the file"
            )
    return ""


def parse_bool(value: str | bool, name: str) -> bool:
    if isinstance(value, bool):
        return value
    v = str(value).strip().lower()
    if v in ("true", "1", "yes", "on"):
        return True
    if v in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"launch argument '{name}' must be true or false, got {value!r}")
