"""The state machine: step catalogue, states and moves, the engine, and the ports steps talk through."""
