"""MuJoCo stand-in for the Franka + RealSense: scenes, controller, camera, envs."""
