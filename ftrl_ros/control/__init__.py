"""Plain-Python logic of the online loop that the ROS nodes wrap: what to command, when an
episode ends, how logged steps become learning-core episodes. No rclpy here."""
