"""ROS 2 from PyPI wheels works here: two processes exchange a message over real DDS, inside the
isolated network namespace that test.sh sets up (only loopback exists there)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import uuid

import pytest
from ftrl_ros.tools.harness import node_command

TALKER = textwrap.dedent("""
    import sys, rclpy
    from std_msgs.msg import String
    rclpy.init()
    node = rclpy.create_node('smoke_talker')
    pub = node.create_publisher(String, 'ftrl_smoke', 10)
    msg = String(data=sys.argv[1])
    node.create_timer(0.05, lambda: pub.publish(msg))
    try:
        rclpy.spin(node)
    except BaseException:
        pass
""")

LISTENER = textwrap.dedent("""
    import sys, rclpy
    from std_msgs.msg import String
    rclpy.init()
    node = rclpy.create_node('smoke_listener')
    got = []
    node.create_subscription(String, 'ftrl_smoke', lambda m: got.append(m.data), 10)
    end = node.get_clock().now().nanoseconds + 20e9
    while not got and node.get_clock().now().nanoseconds < end:
        rclpy.spin_once(node, timeout_sec=0.1)
    print(got[0] if got else 'NOTHING')
    sys.exit(0 if got else 1)
""")


def test_only_loopback_when_isolated():
    if os.environ.get("FTRL_NETNS") != "isolated":
        pytest.skip("not inside the isolated namespace (needs root); DDS is limited to localhost instead")
    assert [name for _, name in socket.if_nameindex()] == ["lo"]


def test_two_nodes_exchange_a_message():
    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    token = uuid.uuid4().hex
    talker = subprocess.Popen([sys.executable, "-c", TALKER, token])
    try:
        out = subprocess.run([sys.executable, "-c", LISTENER], capture_output=True, text=True, timeout=60)
    finally:
        talker.terminate()
        talker.wait(timeout=10)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == token


@pytest.mark.parametrize("node", ["policy_server", "safety_filter", "sim_node"])
def test_a_bad_frame_name_fails_at_start_up_naming_the_parameter(node):
    out = subprocess.run(
        node_command(node, {"task": "disturbed_push", "base_frame": "/world frame"}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2, out.stdout[-1500:] + out.stderr[-1500:]
    assert "base_frame" in out.stderr and "TF frame name" in out.stderr, out.stderr[-1500:]
