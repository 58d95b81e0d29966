"""MnasNet search: controller, PPO, reward, strategies, accuracy and latency oracles."""
