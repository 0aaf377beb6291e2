"""The one stack harness (tools/harness.py) every DDS test and bench tool starts the stack with."""

from __future__ import annotations

import sys

from ftrl_ros.tools.harness import Probe, launch_command, node_command


def test_launch_command_spells_flags_and_sets():
    cmd = launch_command("bounded_soccer", "/tmp/r", {"sim_node.seed": 11, "a.b": "x"}, mode="eval", record=True, use_sim=False)
    assert cmd[:5] == [sys.executable, "-m", "ftrl_ros.cli", "launch", "bounded_soccer"]
    text = " ".join(cmd)
    assert "--run-dir /tmp/r" in text and "--quiet" in text and "--mode eval" in text
    assert "--record true" in text and "--use-sim false" in text
    assert "--set sim_node.seed=11 --set a.b=x" in text
    assert "--quiet" not in launch_command(quiet=False)


def test_node_command_spells_parameters_and_namespace():
    cmd = node_command("camera_node", {"autostart": True, "fps": 5, "file": "/x y.db3"}, namespace="/r2")
    assert cmd == [sys.executable, "-m", "ftrl_ros.nodes.camera_node", "--ros-args", "-r", "__ns:=/r2", "-p", "autostart:=true",
                   "-p", "fps:=5", "-p", "file:=/x y.db3"]  # fmt: skip


def test_probe_hears_itself_by_the_topic_table_in_its_namespace():
    from std_msgs.msg import String

    from ftrl_ros.nodes import topics

    with Probe("harness_probe", namespace="harness_test") as probe:
        assert probe.name_of(topics.EPISODE_SUMMARY) == "/harness_test/ftrl/episode/summary"
        assert probe.name_of(topics.RESET) == "/harness_test/ftrl/reset"
        heard = probe.listen(topics.EPISODE_SUMMARY)
        pub = probe.publisher(topics.EPISODE_SUMMARY)
        assert probe.spin_until(lambda: (pub.publish(String(data="hi")), bool(heard))[1], 10)
        assert heard[0][1].data == "hi"
