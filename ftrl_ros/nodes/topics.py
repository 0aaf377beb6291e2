"""Every topic and service of the graph, named once, with its type and QoS.

Names are relative: a node resolves them in its namespace, so ``ftrl/state`` is ``/ftrl/state``
in the default namespace and ``/robot2/ftrl/state`` in a stack started with ``namespace:=robot2``
(two stacks share one graph without cross-talk). /diagnostics stays absolute, as ROS tools
aggregate it graph-wide. Tools and tests in the default namespace may keep writing the absolute
form ('/' + name).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PoseStamped, TwistStamped
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool, String
from std_srvs.srv import SetBool, Trigger
from visualization_msgs.msg import MarkerArray

from . import qos


@dataclass(frozen=True)
class Topic:
    name: str
    type: Any
    qos: QoSProfile | int


@dataclass(frozen=True)
class Service:
    name: str
    type: Any


# --- the control path (5 Hz in the paper's setup; one message per camera frame) -------------------
STATE = Topic("ftrl/state", JointState, qos.STREAM)  # estimator -> policy, filter
PROPOSAL = Topic("ftrl/proposal", JointState, qos.STREAM)  # policy server -> filter
DECISION = Topic("ftrl/decision", JointState, qos.DECISIONS)  # filter -> logger, episodes, console
CMD_VEL = Topic("ftrl/cmd_vel", TwistStamped, qos.COMMAND)  # filter -> arm (m/s, base frame)
TCP_POSE = Topic("ftrl/robot/tcp_pose", PoseStamped, qos.STREAM)  # arm -> estimator
TCP_TWIST = Topic("ftrl/robot/tcp_twist", TwistStamped, qos.STREAM)  # arm -> estimator
JOINT_STATES = Topic("joint_states", JointState, qos.STREAM)  # arm (robot_state_publisher's input)
GROUND_TRUTH = Topic("ftrl/sim/ground_truth", JointState, qos.STREAM)  # sim only, for evaluation
DETECTIONS = Topic("ftrl/perception/detections", MarkerArray, 1)
DEBUG_IMAGE = Topic("ftrl/perception/debug_image", Image, qos_profile_sensor_data)
# --- episodes, learning, operator --------------------------------------------------------------------
EPISODE_RUNNING = Topic("ftrl/episode/running", Bool, qos.LATCHED)
EPISODE_EVENT = Topic("ftrl/episode/event", String, qos.EVENTS)
EPISODE_SUMMARY = Topic("ftrl/episode/summary", String, qos.EVENTS)
POLICY_VERSION = Topic("ftrl/policy_version", String, qos.LATCHED)
ESTOP_ENGAGED = Topic("ftrl/estop/engaged", Bool, qos.LATCHED)
TELEOP_CMD = Topic("ftrl/teleop/cmd_vel", TwistStamped, qos.COMMAND)
TELEOP_ACTIVE = Topic("ftrl/teleop/active", Bool, qos.LATCHED)
RECORD_MODE = Topic("ftrl/operator/record_mode", String, qos.LATCHED)
# --- status (each also on /diagnostics) -------------------------------------------------------------
SAFETY_STATUS = Topic("ftrl/safety/status", DiagnosticStatus, qos.LATCHED)
ARM_STATUS = Topic("ftrl/arm/status", DiagnosticStatus, qos.LATCHED)
PERCEPTION_STATUS = Topic("ftrl/perception/status", DiagnosticStatus, qos.LATCHED)
DIAGNOSTICS = Topic("/diagnostics", DiagnosticArray, qos.STREAM)
CAMERA_PREFIX = "camera/camera"  # realsense-ros's default (namespace camera, node camera)

# --- services ------------------------------------------------------------------------------------------
ESTOP = Service("ftrl/estop", SetBool)
INTERVENE = Service("ftrl/intervene", Trigger)
RESET = Service("ftrl/reset", Trigger)
SIM_RESET = Service("ftrl/sim/reset", Trigger)
HOME = Service("ftrl/robot/home", Trigger)
RECOVER = Service("ftrl/robot/recover", Trigger)

RECORDED = [STATE, PROPOSAL, DECISION, CMD_VEL, EPISODE_EVENT, EPISODE_SUMMARY, POLICY_VERSION, TCP_POSE, DETECTIONS, GROUND_TRUTH]
"""What bag_recorder records by default."""


def resolved(node: Node, entry: Topic | Service) -> str:
    """The full name of a topic or service in ``node``'s namespace: what logs and tools print."""
    if isinstance(entry, Service):
        return node.resolve_service_name(entry.name)
    return node.resolve_topic_name(entry.name)


def publisher(node: Node, topic: Topic):
    return node.create_publisher(topic.type, topic.name, topic.qos)


def subscribe(node: Node, topic: Topic, callback, **kwargs):
    return node.create_subscription(topic.type, topic.name, callback, topic.qos, **kwargs)


def service(node: Node, srv: Service, callback, **kwargs):
    return node.create_service(srv.type, srv.name, callback, **kwargs)


def client(node: Node, srv: Service, **kwargs):
    return node.create_client(srv.type, srv.name, **kwargs)
