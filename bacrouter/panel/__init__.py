"""The web panel (``bacrouter panel``): its own process, talking to the daemon through the control methods."""
