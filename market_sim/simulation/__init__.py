"""Discrete-event simulation: kernel, latency and network, agents, price processes, scenarios, results."""
