"""QoS profiles by kind of data, shared by all nodes (publishers and subscribers must agree)."""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

IMAGES = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
"""Camera images and their CameraInfo. Reliable, as realsense-ros publishes by default: measured
here, best-effort (sensor-data) QoS lost 5 of 6 aligned-depth frames (600 KB, sent right after
the colour frame) between processes; reliable lost none. Keep 5: a YOLO frame can take longer
than a 30 Hz period and the queue absorbs it. Best-effort subscribers (rviz) still match.
Frames that size must go through shared memory, not UDP fragments (config/fastdds.xml: a lost
fragment of a reliable frame waited for the next heartbeat, up to 0.7 s)."""

STREAM = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
"""Per-tick data: states, proposals, decisions, the robot's TCP state."""

EVENTS = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
"""Episode events and summaries: none may be lost, they are few. Transient-local, so a respawned
logger or learner receives the last 50 it missed while it was down."""

DECISIONS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
"""/ftrl/decision: the safety filter keeps the last 100 (20 s at 5 Hz) for a respawned logger.
Volatile subscribers (episode manager, bag, tools) match it and see only new ones."""

COMMAND = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
"""Velocity commands: only the newest one matters."""

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
"""Status a late joiner must see at once: policy version, e-stop, episode running, diagnostics."""
