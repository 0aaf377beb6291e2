"""bounded_soccer: the ftrl_ros stack for this task (arguments as in ftrl_bringup.launch.py).

ros2 launch ftrl_ros bounded_soccer.launch.py                     # sim, train mode
ros2 launch ftrl_ros bounded_soccer.launch.py use_sim:=false record:=true
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource


def generate_launch_description() -> LaunchDescription:
    base = os.path.join(get_package_share_directory("ftrl_ros"), "launch", "ftrl_bringup.launch.py")
    return LaunchDescription(
        [IncludeLaunchDescription(PythonLaunchDescriptionSource(base), launch_arguments={"task": "bounded_soccer"}.items())]
    )
