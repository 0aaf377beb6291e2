"""Perception: RealSense frames -> task state (pure numpy/OpenCV; nodes wrap it)."""
