"""ament_python packaging: `colcon build` installs the package, its data and one executable per
node under lib/ftrl_ros (so `ros2 run ftrl_ros <node>` and launch files find them)."""
import xml.etree.ElementTree as ET
from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "ftrl_ros"
VERSION = ET.parse(Path(__file__).with_name("package.xml")).getroot().findtext("version")  # the one place


def data(folder: str, pattern: str = "*") -> tuple[str, list[str]]:
    return (f"share/{PACKAGE}/{folder}", sorted(f for f in glob(f"{folder}/{pattern}") if "." in f.rsplit("/", 1)[-1]))


setup(
    name=PACKAGE,
    version=VERSION,
    packages=find_packages(exclude=["test"]),
    package_data={PACKAGE: ["console/page.html"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        data("launch", "*.py"),
        data("config", "*.yaml"),
        data("config", "*.xml"),
        data("config", "*.json"),
        data("models"),
        data("models/failurebench"),
        data("sim", "*.xml"),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="ftrl_ros developers",
    maintainer_email="ftrl-ros@example.org",
    description="Failure-aware offline-to-online RL on a Franka Panda as a ROS 2 stack, with a MuJoCo sim.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "ftrl = ftrl_ros.cli:main",
            "camera_node = ftrl_ros.nodes.camera_node:main",
            "state_estimator_node = ftrl_ros.nodes.state_estimator_node:main",
            "sim_node = ftrl_ros.nodes.sim_node:main",
            "policy_server = ftrl_ros.nodes.policy_server:main",
            "safety_filter = ftrl_ros.nodes.safety_filter:main",
            "lifecycle_manager = ftrl_ros.nodes.lifecycle_manager:main",
            "perception_control = ftrl_ros.nodes.perception_control:main",
            "episode_manager = ftrl_ros.nodes.episode_manager:main",
            "trajectory_logger = ftrl_ros.nodes.trajectory_logger:main",
            "ppo_learner = ftrl_ros.nodes.ppo_learner:main",
            "bag_recorder = ftrl_ros.nodes.bag_recorder:main",
            "franka_arm_node = ftrl_ros.nodes.franka_arm_node:main",
            "operator_console = ftrl_ros.nodes.operator_console:main",
            "foxglove_view = ftrl_ros.nodes.foxglove_view:main",
        ],
    },
)
