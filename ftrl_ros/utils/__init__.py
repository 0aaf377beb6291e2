"""Small shared helpers with no ROS and no learning in them."""
